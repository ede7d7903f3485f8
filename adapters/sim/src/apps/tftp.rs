//! The TFTP client on a simulated host: a list of transfers run one after
//! another, each from a fresh ephemeral port, each a core [`Transfer`]
//! driven with [`file::drive`] against the host's disk. (The server is the
//! shipped one: [`SimServer::tftp`](crate::apps::server::SimServer::tftp).)

use std::collections::VecDeque;
use std::net::{SocketAddr, SocketAddrV4};

use netboot_core::storage::{Storage, StoreError};
use netboot_core::tftp::file::{self, CLIENT_DOWNLOAD_MODE, TransferFile};
use netboot_core::tftp::options::Request;
use netboot_core::tftp::{Event, Transfer, TransferConfig, TransferError};
use netboot_core::time::Instant;
use netboot_core::wire::tftp::{MAX_PACKET_LEN, Mode};

use crate::apps::v4;
use crate::store::Disk;
use crate::world::{App, Cx};

/// Runs `t` through [`file::drive`] and sends what it produced from `port`.
/// Returns the outcome event, if the transfer reported one.
fn drive(
    cx: &mut Cx<'_>,
    port: u16,
    t: &mut Transfer,
    files: &mut TransferFile<Disk>,
    tx: &mut [u8],
    rx: &mut [u8],
) -> Option<Event> {
    let now = cx.now();
    let mut out: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
    let mut outcome = None;
    file::drive(
        file::Driven {
            transfer: t,
            file: files,
            store: cx.store,
            received: rx,
        },
        now,
        tx,
        &mut |bytes, to| out.push((bytes.to_vec(), to)),
        &mut |_, e| {
            if matches!(e, Event::Done { .. } | Event::Failed(_)) {
                outcome = Some(e);
            }
        },
    );
    for (bytes, to) in out {
        cx.send(port, v4(to), &bytes);
    }
    outcome
}

/// One transfer a [`TftpClient`] makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// Download `remote` into the local file `local`.
    Get {
        /// Name on the server.
        remote: String,
        /// Local path.
        local: String,
        /// Transfer mode.
        mode: Mode,
        /// Options to ask for.
        request: Request,
    },
    /// Upload the local file `local` as `remote`.
    Put {
        /// Local path.
        local: String,
        /// Name on the server.
        remote: String,
        /// Transfer mode.
        mode: Mode,
        /// Options to ask for (`tsize` is filled in for octet uploads).
        request: Request,
    },
}

impl Job {
    /// An octet download with these options.
    pub fn get(remote: &str, local: &str, request: Request) -> Job {
        Job::Get {
            remote: remote.to_string(),
            local: local.to_string(),
            mode: Mode::Octet,
            request,
        }
    }

    /// An octet upload with these options.
    pub fn put(local: &str, remote: &str, request: Request) -> Job {
        Job::Put {
            local: local.to_string(),
            remote: remote.to_string(),
            mode: Mode::Octet,
            request,
        }
    }
}

/// What became of a [`Job`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobResult {
    /// The job.
    pub job: Job,
    /// File bytes moved, or why it failed (a local storage error opening
    /// the file is reported as [`TransferError::Storage`]).
    pub result: Result<u64, TransferError>,
    /// When it started (host time).
    pub started: Instant,
    /// When the transfer ended (host time).
    pub finished: Instant,
}

struct Running {
    t: Transfer,
    files: TransferFile<Disk>,
    port: u16,
    job: Job,
    started: Instant,
    outcome: Option<Event>,
}

/// A TFTP client running [`Job`]s one after another.
pub struct TftpClient {
    server: SocketAddrV4,
    config: TransferConfig,
    jobs: VecDeque<Job>,
    current: Option<Running>,
    tx: Vec<u8>,
    /// Every finished job, in order.
    pub results: Vec<JobResult>,
    /// Most bytes the client's machine said it needs for a buffer.
    pub max_buffer: usize,
}

impl TftpClient {
    /// A client for the server at `server` (its port 69).
    pub fn new(
        server: SocketAddrV4,
        config: TransferConfig,
        jobs: impl IntoIterator<Item = Job>,
    ) -> Self {
        TftpClient {
            server,
            config,
            jobs: jobs.into_iter().collect(),
            current: None,
            tx: vec![0; MAX_PACKET_LEN],
            results: Vec::new(),
            max_buffer: 0,
        }
    }

    /// True once every job has ended.
    pub fn is_done(&self) -> bool {
        self.current.is_none() && self.jobs.is_empty()
    }

    /// The running transfer's machine.
    pub fn transfer(&self) -> Option<&Transfer> {
        self.current.as_ref().map(|r| &r.t)
    }

    fn next_job(&mut self, cx: &mut Cx<'_>) {
        while self.current.is_none() {
            let Some(job) = self.jobs.pop_front() else {
                return;
            };
            let now = cx.now();
            let opened = match &job {
                Job::Get {
                    remote,
                    local,
                    mode,
                    request,
                } => cx.store.open_write(local, CLIENT_DOWNLOAD_MODE).map(|w| {
                    (
                        Transfer::client_read(
                            now,
                            &self.config,
                            SocketAddr::V4(self.server),
                            remote,
                            *mode,
                            *request,
                        ),
                        TransferFile::writing(w),
                    )
                }),
                Job::Put {
                    local,
                    remote,
                    mode,
                    request,
                } => cx.store.open_read(local).map(|(r, meta)| {
                    let mut request = *request;
                    if *mode == Mode::Octet {
                        request.tsize = Some(meta.len);
                    }
                    (
                        Transfer::client_write(
                            now,
                            &self.config,
                            SocketAddr::V4(self.server),
                            remote,
                            *mode,
                            request,
                        ),
                        TransferFile::reading(r),
                    )
                }),
            };
            let (t, files) = match opened {
                Ok((Ok(t), files)) => (t, files),
                Ok((Err(_), mut files)) => {
                    files.discard(cx.store);
                    self.fail_job(job, now, StoreError::PermissionDenied);
                    continue;
                }
                Err(e) => {
                    self.fail_job(job, now, e);
                    continue;
                }
            };
            self.max_buffer = self.max_buffer.max(t.buffer_len());
            let port = cx.bind_ephemeral();
            self.current = Some(Running {
                t,
                files,
                port,
                job,
                started: now,
                outcome: None,
            });
            self.pump(cx, &mut []);
        }
    }

    fn fail_job(&mut self, job: Job, now: Instant, e: StoreError) {
        self.results.push(JobResult {
            job,
            result: Err(TransferError::Storage(e)),
            started: now,
            finished: now,
        });
    }

    fn pump(&mut self, cx: &mut Cx<'_>, rx: &mut [u8]) {
        let Some(r) = self.current.as_mut() else {
            return;
        };
        if let Some(o) = drive(cx, r.port, &mut r.t, &mut r.files, &mut self.tx, rx)
            && r.outcome.is_none()
        {
            {
                r.outcome = Some(o);
                self.results.push(JobResult {
                    job: r.job.clone(),
                    result: match o {
                        Event::Done { bytes } => Ok(bytes),
                        Event::Failed(e) => Err(e),
                        _ => unreachable!("only outcomes are passed"),
                    },
                    started: r.started,
                    finished: cx.now(),
                });
            }
        }
        self.max_buffer = self.max_buffer.max(r.t.buffer_len());
        if r.t.is_closed() {
            let mut r = self.current.take().expect("running");
            r.files.discard(cx.store);
            cx.unbind(r.port);
            self.next_job(cx);
        }
    }
}

impl App for TftpClient {
    fn start(&mut self, cx: &mut Cx<'_>) {
        self.next_job(cx);
    }

    fn datagram(
        &mut self,
        cx: &mut Cx<'_>,
        local: SocketAddrV4,
        from: SocketAddrV4,
        bytes: &mut [u8],
    ) {
        let Some(r) = self.current.as_mut() else {
            return;
        };
        if r.port != local.port() {
            return;
        }
        r.t.handle_datagram(cx.now(), SocketAddr::V4(from), bytes);
        self.pump(cx, bytes);
    }

    fn timeout(&mut self, cx: &mut Cx<'_>) {
        let Some(r) = self.current.as_mut() else {
            return;
        };
        r.t.handle_timeout(cx.now());
        self.pump(cx, &mut []);
    }

    fn deadline(&mut self) -> Option<Instant> {
        self.current.as_ref().and_then(|r| r.t.poll_timeout())
    }
}

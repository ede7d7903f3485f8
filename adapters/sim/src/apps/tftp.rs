//! The TFTP client on a simulated host: a list of transfers run one after
//! another, each from a fresh ephemeral port, each a core
//! [`ClientTransfer`] driven against the host's disk. (The server is the
//! shipped one: [`SimServer::tftp`](crate::apps::server::SimServer::tftp).)

use std::collections::VecDeque;
use std::net::{SocketAddr, SocketAddrV4};

use netboot_core::storage::StoreError;
use netboot_core::tftp::client::ClientTransfer;
use netboot_core::tftp::options::Request;
use netboot_core::tftp::{Transfer, TransferConfig, TransferError};
use netboot_core::time::Instant;
use netboot_core::wire::tftp::{MAX_PACKET_LEN, Mode};

use crate::apps::v4;
use crate::store::Disk;
use crate::world::{App, Cx};

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
    c: ClientTransfer<Disk>,
    port: u16,
    job: Job,
    started: Instant,
    reported: bool,
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
        self.current.as_ref().map(|r| r.c.transfer())
    }

    fn next_job(&mut self, cx: &mut Cx<'_>) {
        while self.current.is_none() {
            let Some(job) = self.jobs.pop_front() else {
                return;
            };
            let now = cx.now();
            let server = SocketAddr::V4(self.server);
            let opened = match &job {
                Job::Get {
                    remote,
                    local,
                    mode,
                    request,
                } => ClientTransfer::get(
                    cx.store,
                    now,
                    &self.config,
                    server,
                    remote,
                    local,
                    *mode,
                    *request,
                ),
                Job::Put {
                    local,
                    remote,
                    mode,
                    request,
                } => ClientTransfer::put(
                    cx.store,
                    now,
                    &self.config,
                    server,
                    local,
                    remote,
                    *mode,
                    *request,
                    *mode == Mode::Octet,
                ),
            };
            let c = match opened {
                Ok(c) => c,
                Err(e) => {
                    self.fail_job(job, now, e);
                    continue;
                }
            };
            self.max_buffer = self.max_buffer.max(c.transfer().buffer_len());
            let port = cx.bind_ephemeral();
            self.current = Some(Running {
                c,
                port,
                job,
                started: now,
                reported: false,
            });
            self.pump(cx, Input::Start);
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

    /// Hands the running transfer its input, drains it and sends what
    /// it produced from its port.
    fn pump(&mut self, cx: &mut Cx<'_>, input: Input<'_>) {
        let Some(r) = self.current.as_mut() else {
            return;
        };
        let now = cx.now();
        let mut out: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        let mut send = |bytes: &[u8], to| out.push((bytes.to_vec(), to));
        let (c, store, tx) = (&mut r.c, &mut *cx.store, &mut self.tx);
        let _ = match input {
            Input::Start => c.drive(store, now, &mut [], tx, &mut send),
            Input::Datagram(from, rx) => c.handle_datagram(store, now, from, rx, tx, &mut send),
            Input::Timeout => c.handle_timeout(store, now, tx, &mut send),
        };
        for (bytes, to) in out {
            cx.send(r.port, v4(to), &bytes);
        }
        if let (Some(result), false) = (r.c.result(), r.reported) {
            r.reported = true;
            self.results.push(JobResult {
                job: r.job.clone(),
                result,
                started: r.started,
                finished: now,
            });
        }
        self.max_buffer = self.max_buffer.max(r.c.transfer().buffer_len());
        if r.c.transfer().is_closed() {
            let mut r = self.current.take().expect("running");
            r.c.discard(cx.store);
            cx.unbind(r.port);
            self.next_job(cx);
        }
    }
}

/// What [`TftpClient::pump`] hands the running transfer.
enum Input<'a> {
    Start,
    Datagram(SocketAddr, &'a mut [u8]),
    Timeout,
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
        if self
            .current
            .as_ref()
            .is_some_and(|r| r.port == local.port())
        {
            self.pump(cx, Input::Datagram(SocketAddr::V4(from), bytes));
        }
    }

    fn timeout(&mut self, cx: &mut Cx<'_>) {
        self.pump(cx, Input::Timeout);
    }

    fn deadline(&mut self) -> Option<Instant> {
        self.current
            .as_ref()
            .and_then(|r| r.c.transfer().poll_timeout())
    }
}

//! The [`Provision`] machine: its state, the driving contract, and the boot
//! phase (BOOTP rounds and TFTP stage downloads). The FTP phase is in
//! [`super::fetch`].

use core::net::{Ipv4Addr, SocketAddr};

use super::config::{Config, ConfigError};
use super::event::{Channel, Event, FlowError, Message, Outgoing, Progress};
use crate::bootp::client::{Client as BootpClient, ClientConfig, Event as BootpEvent};
use crate::ftp::client::ClientSession;
use crate::path::{self, DotDot, PathBuf};
use crate::plan::Position;
use crate::storage::{Storage, StoreError};
use crate::tftp::file::{CLIENT_DOWNLOAD_MODE, Driven, TransferFile};
use crate::tftp::{Event as TftpEvent, Transfer, TransferError};
use crate::time::{Duration, Instant};
use crate::wire::tftp::{ErrorCode, Mode};

/// Events waiting for `poll_event` (an input produces at most a handful).
const EVENTS: usize = 8;
/// How long to wait before asking again when BOOTP names the stage just
/// fetched (the server may not have seen our final ACK yet).
pub(super) const RECHECK_DELAY: Duration = Duration::from_millis(100);
/// Consecutive answers naming the stage just fetched before giving up.
const MAX_SAME_ANSWERS: u8 = 4;

/// Why a BOOTP round runs, which decides what its silence means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Round {
    /// The first: silence means nobody answers.
    First,
    /// After a stage arrived: silence means the boot phase is over.
    AfterStage,
    /// After a failed download: silence means the failure stands.
    AfterFailure,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// A BOOTP round is running.
    Asking(Round),
    /// Waiting until `wait` to start a round.
    Pause(Round),
    /// Waiting for the driver's TFTP socket.
    OpeningTftp,
    /// A stage download is running.
    Fetching,
    /// Waiting for the FTP control connection.
    Connecting,
    /// Waiting for the FTP greeting.
    Greeting,
    /// `USER`/`PASS` sent.
    LoggingIn,
    /// A `RETR` is running (data connection included).
    Retrieving,
    /// Waiting until `wait` to reconnect.
    RetryWait,
    /// `QUIT` sent.
    Quitting,
    /// Finished or failed.
    Over,
}

/// The file an FTP download is writing.
pub(super) struct Download<S: Storage> {
    pub(super) path: PathBuf,
    pub(super) expected: Option<[u8; 32]>,
    pub(super) writer: Option<S::Writer>,
    pub(super) hasher: sha2::Sha256,
    pub(super) bytes: u64,
    pub(super) size: Option<u64>,
    /// Where the manifest walk stood before this file (to retry it).
    pub(super) restart: Position,
}

/// The client side of the provisioning flow as one sans-IO machine: BOOTP,
/// TFTP each stage, repeat until BOOTP is silent, read the last stage as the
/// manifest, log in over FTP, fetch and verify every file.
///
/// `S` is the store downloads go to (a directory, memory, flash); `B` is the
/// buffer the manifest is read into, lent by the caller (its size bounds the
/// manifest). See the [module docs](super) for the driving contract.
pub struct Provision<S: Storage, B> {
    pub(super) config: Config,
    pub(super) store: S,
    pub(super) manifest: B,
    pub(super) manifest_len: usize,
    pub(super) phase: Phase,
    pub(super) started: Instant,
    // Boot phase.
    pub(super) bootp: Option<BootpClient>,
    pub(super) round_deadline: Option<Instant>,
    pub(super) wait: Option<Instant>,
    pub(super) ip: Ipv4Addr,
    pub(super) server: Ipv4Addr,
    pub(super) tftp: Option<Transfer>,
    pub(super) tftp_files: Option<TransferFile<S>>,
    pub(super) tftp_running: bool,
    pub(super) stage_total: Option<u64>,
    pub(super) stage: PathBuf,
    pub(super) last_stage: Option<PathBuf>,
    pub(super) stages: u16,
    pub(super) same_answers: u8,
    pub(super) stage_failures: u8,
    pub(super) stage_error: Option<FlowError>,
    /// The chainloaded program ([`Config::chain`]) runs: BOOTP asks as it.
    pub(super) chained: bool,
    // FTP phase.
    pub(super) ftp_addr: Option<SocketAddr>,
    pub(super) ftp: Option<ClientSession>,
    pub(super) cursor: Position,
    pub(super) files: usize,
    pub(super) file_index: usize,
    pub(super) download: Option<Download<S>>,
    pub(super) ftp_failures: u8,
    // Output.
    pub(super) events: heapless::Deque<Event, EVENTS>,
    pub(super) error: Option<FlowError>,
}

impl<S: Storage, B: AsRef<[u8]> + AsMut<[u8]>> Provision<S, B> {
    /// A flow that sends its first BOOTP request at the next
    /// `poll_transmit`, storing downloads in `store` and reading the manifest
    /// into `manifest`.
    pub fn new(now: Instant, config: Config, store: S, manifest: B) -> Result<Self, ConfigError> {
        config.check()?;
        if manifest.as_ref().is_empty() {
            return Err(ConfigError::NoManifestBuffer);
        }
        let mut flow = Provision {
            config,
            store,
            manifest,
            manifest_len: 0,
            phase: Phase::Over,
            started: now,
            bootp: None,
            round_deadline: None,
            wait: None,
            ip: Ipv4Addr::UNSPECIFIED,
            server: Ipv4Addr::UNSPECIFIED,
            tftp: None,
            tftp_files: None,
            tftp_running: false,
            stage_total: None,
            stage: PathBuf::new(),
            last_stage: None,
            stages: 0,
            same_answers: 0,
            stage_failures: 0,
            stage_error: None,
            chained: false,
            ftp_addr: None,
            ftp: None,
            cursor: Position::START,
            files: 0,
            file_index: 0,
            download: None,
            ftp_failures: 0,
            events: heapless::Deque::new(),
            error: None,
        };
        flow.start_round(now, Round::First);
        Ok(flow)
    }

    // ---- getters ----

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store downloads went to.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// The manifest as read (empty before the boot phase ends).
    pub fn manifest(&self) -> &[u8] {
        &self.manifest.as_ref()[..self.manifest_len]
    }

    /// The address BOOTP gave us (unspecified before the first answer).
    pub fn address(&self) -> Ipv4Addr {
        self.ip
    }

    /// Stages downloaded so far.
    pub fn stages(&self) -> u16 {
        self.stages
    }

    /// True once the flow finished or failed.
    pub fn is_over(&self) -> bool {
        self.phase == Phase::Over
    }

    /// Why the flow failed, once it has.
    pub fn error(&self) -> Option<&FlowError> {
        self.error.as_ref()
    }

    /// The current download's progress.
    pub fn progress(&self) -> Option<Progress> {
        match self.phase {
            Phase::Fetching => self.tftp.as_ref().map(|t| Progress {
                stage: true,
                bytes: t.bytes(),
                total: self.stage_total,
            }),
            Phase::Retrieving => self.download.as_ref().map(|d| Progress {
                stage: false,
                bytes: d.bytes,
                total: d.size,
            }),
            _ => None,
        }
    }

    // ---- input ----

    /// Feeds a datagram that arrived on `channel` ([`Channel::Bootp`] or
    /// [`Channel::Tftp`]) from `from`. The buffer may be modified (a TFTP
    /// payload is stored from it).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        channel: Channel,
        from: SocketAddr,
        bytes: &mut [u8],
    ) {
        match channel {
            Channel::Bootp => {
                if let Some(c) = self.bootp.as_mut() {
                    c.handle_datagram(now, from, bytes);
                    self.pump_bootp(now);
                }
            }
            Channel::Tftp => {
                if let Some(t) = self.tftp.as_mut() {
                    t.handle_datagram(now, from, bytes);
                    self.pump_tftp(now, bytes);
                }
            }
            Channel::FtpControl => {
                self.handle_control(now, bytes);
            }
        }
    }

    /// Handles every deadline that has passed (early calls do nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(c) = self.bootp.as_mut() {
            c.handle_timeout(now);
            self.pump_bootp(now);
        }
        if let Some(t) = self.tftp.as_mut() {
            t.handle_timeout(now);
            self.pump_tftp(now, &mut []);
        }
        if let Some(s) = self.ftp.as_mut() {
            s.handle_timeout(now);
            self.pump_ftp(now);
        }
        if self.round_deadline.is_some_and(|d| now >= d) {
            self.round_deadline = None;
            self.round_silent(now);
        }
        if self.wait.is_some_and(|d| now >= d) {
            self.wait = None;
            match self.phase {
                Phase::Pause(round) => self.start_round(now, round),
                Phase::RetryWait => self.connect(now),
                Phase::Connecting | Phase::Retrieving | Phase::Greeting | Phase::LoggingIn => {
                    self.ftp_failed(now, super::event::FtpFailure::Timeout)
                }
                _ => {}
            }
        }
    }

    // ---- output ----

    /// Writes the next datagram (or control-connection bytes) into `buf`,
    /// which must hold at least 1,500 bytes.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Outgoing> {
        if let Some(t) = self.tftp.as_mut() {
            if let Some(transmit) = t.poll_transmit(now, buf) {
                return Some(Outgoing {
                    channel: Channel::Tftp,
                    transmit,
                });
            }
            if t.is_closed() && !self.tftp_running {
                self.tftp = None;
            }
        }
        if let Some(c) = self.bootp.as_mut()
            && let Some(transmit) = c.poll_transmit(now, buf)
        {
            return Some(Outgoing {
                channel: Channel::Bootp,
                transmit,
            });
        }
        if let (Some(s), Some(peer)) = (self.ftp.as_mut(), self.ftp_addr)
            && let Some(n) = s.poll_transmit(now, buf)
        {
            return Some(Outgoing {
                channel: Channel::FtpControl,
                transmit: crate::Transmit::to(peer, n),
            });
        }
        None
    }

    /// When [`Provision::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.bootp.as_ref().and_then(BootpClient::poll_timeout),
            self.tftp.as_ref().and_then(Transfer::poll_timeout),
            self.ftp.as_ref().and_then(ClientSession::poll_timeout),
            self.round_deadline,
            self.wait,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- commands ----

    /// The socket asked for by [`Event::OpenTftp`] is ready: the download
    /// starts (its request goes out at the next `poll_transmit`).
    pub fn tftp_opened(&mut self, now: Instant) -> Result<(), ApiError> {
        if self.phase != Phase::OpeningTftp {
            return Err(ApiError::NotExpected);
        }
        let file = self.stage.clone();
        let opened = make_parents(&mut self.store, &file)
            .and_then(|()| self.store.open_write(&file, CLIENT_DOWNLOAD_MODE));
        let writer = match opened {
            Ok(w) => w,
            Err(error) => {
                self.fail(FlowError::Local { path: file, error });
                return Ok(());
            }
        };
        let server = SocketAddr::new(self.server.into(), self.config.tftp_port);
        let transfer = Transfer::client_read(
            now,
            &self.config.tftp,
            server,
            &file,
            Mode::Octet,
            self.config.tftp_options,
        );
        match transfer {
            Ok(t) => {
                self.tftp = Some(t);
                self.tftp_files = Some(TransferFile::writing(writer));
                self.tftp_running = true;
                self.stage_total = None;
                self.phase = Phase::Fetching;
                if self.chaining() {
                    self.push(Event::ChainStarted { file });
                } else {
                    self.push(Event::StageStarted {
                        index: self.stages,
                        file,
                    });
                }
            }
            Err(_) => {
                self.store.discard(writer);
                self.fail(FlowError::BadStageName);
            }
        }
        Ok(())
    }

    /// Stops the flow: running downloads are discarded (nothing partial is
    /// left in the store) and the flow fails with [`FlowError::Cancelled`].
    pub fn cancel(&mut self, now: Instant) {
        if let Some(t) = self.tftp.as_mut() {
            t.close(now);
        }
        if !self.is_over() {
            self.fail(FlowError::Cancelled);
        }
    }

    // ---- the boot phase ----

    pub(super) fn push(&mut self, event: Event) {
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(event);
    }

    pub(super) fn fail(&mut self, error: FlowError) {
        self.drop_downloads();
        if self.ftp.take().is_some() {
            self.push(Event::CloseFtp);
        }
        self.bootp = None;
        self.round_deadline = None;
        self.wait = None;
        self.phase = Phase::Over;
        self.error = Some(error);
        self.push(Event::Failed);
    }

    /// Discards whatever is half written.
    pub(super) fn drop_downloads(&mut self) {
        if let Some(mut files) = self.tftp_files.take() {
            files.discard(&mut self.store);
        }
        self.tftp_running = false;
        if let Some(w) = self.download.as_mut().and_then(|d| d.writer.take()) {
            self.store.discard(w);
        }
        self.download = None;
    }

    /// True while the client is the boot ROM whose next download is the
    /// program it chainloads.
    fn chaining(&self) -> bool {
        self.config.chain.is_some() && !self.chained
    }

    /// What BOOTP requests say about the client now.
    fn identity(&self) -> &super::config::Identity {
        match &self.config.chain {
            Some(program) if self.chained => program,
            _ => &self.config.identity,
        }
    }

    pub(super) fn start_round(&mut self, now: Instant, round: Round) {
        let window = match round {
            Round::AfterStage => self.config.silence,
            Round::First | Round::AfterFailure => self.config.first_answer,
        };
        let initial = self
            .config
            .bootp_timeout
            .min(window / 4)
            .max(Duration::from_millis(10));
        let mut c = ClientConfig::new(self.config.hw, self.config.rng.fork());
        c.dhcp = self.config.dhcp;
        c.server = self.config.bootp_server;
        c.vendor_class = self.identity().vendor_class.clone();
        c.options = self.identity().options.clone();
        c.broadcast_flag = self.config.bootp_server.ip().is_broadcast();
        c.attempts = u32::MAX;
        c.initial_timeout = initial;
        // Capped so that about ten requests fit in the window: silence is
        // told from loss only by asking often enough that every request
        // (and, for DHCP, both exchanges) getting lost is unlikely.
        c.max_timeout = (initial * 8).min(window / 8).max(initial);
        c.jitter = initial / 8;
        // The configuration is valid by construction (attempts and timeout
        // are positive).
        self.bootp = BootpClient::new(c, now).ok();
        self.round_deadline = Some(now + window);
        self.phase = Phase::Asking(round);
    }

    fn pump_bootp(&mut self, now: Instant) {
        let Some(c) = self.bootp.as_mut() else { return };
        let mut answer = None;
        while let Some(event) = c.poll_event() {
            match event {
                BootpEvent::Assigned(a) => {
                    let file = a.file.as_deref().map(|f| {
                        let f = crate::wire::bootp::until_nul(f);
                        core::str::from_utf8(f)
                            .ok()
                            .and_then(|s| path::resolve("", s, DotDot::Reject).ok())
                            .filter(|p| !p.is_empty())
                            .ok_or(())
                    });
                    answer = Some(Ok((a.ip, a.netmask, a.server, file)));
                }
                BootpEvent::Refused | BootpEvent::TimedOut { .. } => answer = Some(Err(())),
                _ => {}
            }
        }
        match answer {
            None => {}
            Some(Err(())) => {
                self.bootp = None;
                self.fail(FlowError::BootpRefused);
            }
            Some(Ok((ip, netmask, server, file))) => {
                self.bootp = None;
                self.round_deadline = None;
                self.answered(now, (ip, netmask), server, file);
            }
        }
    }

    fn answered(
        &mut self,
        now: Instant,
        (ip, netmask): (Ipv4Addr, Option<Ipv4Addr>),
        server: Option<Ipv4Addr>,
        file: Option<Result<PathBuf, ()>>,
    ) {
        let Phase::Asking(round) = self.phase else {
            return;
        };
        let server = server.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let file = match file {
            None | Some(Ok(_)) if server.is_unspecified() => {
                return self.fail(FlowError::NoBootFile { server });
            }
            None => return self.fail(FlowError::NoBootFile { server }),
            Some(Err(())) => return self.fail(FlowError::BadStageName),
            Some(Ok(f)) => f,
        };
        self.ip = ip;
        self.server = server;
        self.push(Event::Assigned {
            ip,
            netmask,
            server,
            file: file.clone(),
        });
        if round == Round::AfterStage && self.last_stage.as_ref() == Some(&file) {
            if self.tftp.as_ref().is_some_and(|t| !t.is_closed()) {
                // The download that fetched it still answers the server's
                // repeats of its last block (our final ACK was lost): the
                // server moves on when one of our repeated ACKs gets
                // through. Ask again later rather than fetch the stage anew,
                // which would end that chance.
                self.phase = Phase::Pause(Round::AfterStage);
                self.wait = Some(now + RECHECK_DELAY);
                return;
            }
            self.same_answers += 1;
            if self.same_answers >= MAX_SAME_ANSWERS {
                return self.fail(FlowError::NotAdvancing { file });
            }
            if self.same_answers == 1 {
                // Most likely the server has not yet seen our final ACK:
                // ask again shortly before fetching the stage once more.
                self.phase = Phase::Pause(Round::AfterStage);
                self.wait = Some(now + RECHECK_DELAY);
                return;
            }
        } else if round != Round::AfterFailure {
            self.same_answers = 0;
        }
        if self.stages >= self.config.max_stages {
            return self.fail(FlowError::TooManyStages {
                max: self.config.max_stages,
            });
        }
        // A new download gets a new socket: the old transfer stops
        // lingering for a lost final ACK.
        self.tftp = None;
        self.stage = file;
        self.phase = Phase::OpeningTftp;
        self.push(Event::OpenTftp { local: ip });
    }

    fn round_silent(&mut self, now: Instant) {
        let Phase::Asking(round) = self.phase else {
            return;
        };
        self.bootp = None;
        match round {
            Round::First => self.fail(FlowError::NoBootpAnswer {
                waited: now.saturating_duration_since(self.started),
            }),
            Round::AfterFailure => {
                let error = self.stage_error.take().unwrap_or(FlowError::NoBootpAnswer {
                    waited: self.config.first_answer,
                });
                self.fail(error);
            }
            Round::AfterStage => self.boot_over(now),
        }
    }

    fn pump_tftp(&mut self, now: Instant, rx: &mut [u8]) {
        let Some(t) = self.tftp.as_mut() else { return };
        let mut outcome = None;
        while let Some(event) = t.poll_event() {
            if let Some(file) = self.tftp_files.as_mut()
                && (Driven {
                    transfer: t,
                    file,
                    store: &mut self.store,
                    received: rx,
                })
                .answer(now, &event, &mut [], None)
            {
                continue;
            }
            match event {
                TftpEvent::Negotiated(n) => self.stage_total = n.tsize,
                TftpEvent::Done { bytes } => outcome = Some(Ok(bytes)),
                TftpEvent::Failed(e) => outcome = Some(Err(e)),
                _ => {}
            }
        }
        if !self.tftp_running {
            return;
        }
        match outcome {
            None => {}
            Some(Ok(bytes)) => {
                // The last block was committed before its ACK was queued.
                self.tftp_files = None;
                self.tftp_running = false;
                let file = self.stage.clone();
                if self.chaining() {
                    // The ROM runs what it fetched: the program starts over
                    // with BOOTP, as itself.
                    self.push(Event::Chainloaded { file, bytes });
                    self.chained = true;
                    self.same_answers = 0;
                    self.stage_failures = 0;
                    self.stage_error = None;
                    self.start_round(now, Round::First);
                    return;
                }
                self.push(Event::StageDone {
                    index: self.stages,
                    file: file.clone(),
                    bytes,
                });
                self.stages = self.stages.saturating_add(1);
                self.last_stage = Some(file);
                self.stage_failures = 0;
                self.stage_error = None;
                self.start_round(now, Round::AfterStage);
            }
            Some(Err(error)) => {
                if let Some(mut files) = self.tftp_files.take() {
                    files.discard(&mut self.store);
                }
                self.tftp_running = false;
                let message = t.peer_message();
                let message = Message::try_from(message).unwrap_or_default();
                let file = self.stage.clone();
                if let TransferError::Storage(error) = error {
                    return self.fail(FlowError::Local { path: file, error });
                }
                let failure = FlowError::Tftp {
                    file: file.clone(),
                    error,
                    message,
                };
                self.stage_failures += 1;
                if retryable(&error) && self.stage_failures < self.config.stage_attempts {
                    self.stage_error = Some(failure);
                    self.push(Event::StageRetry { file, error });
                    self.start_round(now, Round::AfterFailure);
                } else {
                    self.fail(failure);
                }
            }
        }
    }

    /// BOOTP fell silent after a stage: read the last stage as the manifest.
    fn boot_over(&mut self, now: Instant) {
        self.push(Event::BootDone);
        let Some(file) = self.last_stage.clone() else {
            return self.fail(FlowError::NoBootpAnswer {
                waited: self.config.first_answer,
            });
        };
        let limit = self.manifest.as_ref().len();
        match read_all(&mut self.store, &file, self.manifest.as_mut()) {
            Ok(n) => self.manifest_len = n,
            Err(ReadError::TooLarge) => {
                return self.fail(FlowError::ManifestTooLarge { file, limit });
            }
            Err(ReadError::Store(error)) => {
                return self.fail(FlowError::Local { path: file, error });
            }
        }
        let summary = match crate::plan::check_manifest(self.manifest()) {
            Ok(s) => s,
            Err(error) => return self.fail(FlowError::Manifest { file, error }),
        };
        let server = self
            .config
            .ftp_server
            .or_else(|| summary.ftp_server.map(|s| s.addr(self.config.ftp_port)))
            .unwrap_or_else(|| SocketAddr::new(self.server.into(), self.config.ftp_port));
        self.files = summary.files;
        self.ftp_addr = Some(server);
        self.push(Event::ManifestRead {
            file,
            files: summary.files,
            server,
        });
        if summary.files == 0 {
            self.phase = Phase::Over;
            self.push(Event::Finished);
        } else {
            self.connect(now);
        }
    }
}

/// Misuse of a [`Provision`]'s commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The flow did not ask for this now.
    #[error("not expected now")]
    NotExpected,
}

/// True for the download failures worth another try after BOOTP: the server
/// went away or cancelled (a restart), or the network lost too much. ERROR
/// 5 (unknown transfer ID) from the server's own port of our transfer
/// means it no longer knows the transfer: it restarted, and a new transfer
/// took that port.
fn retryable(e: &TransferError) -> bool {
    match e {
        TransferError::TimedOut { .. } | TransferError::Protocol(_) => true,
        TransferError::Peer { code } => {
            matches!(code, ErrorCode::NotDefined | ErrorCode::UnknownTid)
        }
        _ => false,
    }
}

/// Creates the directories above `file` that do not exist yet.
pub(super) fn make_parents<S: Storage>(store: &mut S, file: &str) -> Result<(), StoreError> {
    let parent = path::parent(file);
    if parent.is_empty() {
        return Ok(());
    }
    let mut end = 0;
    for part in parent.split('/') {
        end += part.len();
        match store.create_dir(&parent[..end]) {
            Ok(()) | Err(StoreError::AlreadyExists) => {}
            Err(e) => {
                // An existing directory may be refused for other reasons
                // (a read-only parent): only fail if it is really missing.
                if !store.metadata(&parent[..end]).is_ok_and(|m| m.is_dir()) {
                    return Err(e);
                }
            }
        }
        end += 1;
    }
    Ok(())
}

enum ReadError {
    TooLarge,
    Store(StoreError),
}

/// Reads a whole file into `buf`.
fn read_all<S: Storage>(store: &mut S, file: &str, buf: &mut [u8]) -> Result<usize, ReadError> {
    let (mut reader, meta) = store.open_read(file).map_err(ReadError::Store)?;
    if meta.len > buf.len() as u64 {
        return Err(ReadError::TooLarge);
    }
    let mut got = 0;
    loop {
        if got == buf.len() {
            // The file grew past its metadata: make sure it ends here.
            let mut probe = [0u8; 1];
            return match store.read_at(&mut reader, got as u64, &mut probe) {
                Ok(0) => Ok(got),
                Ok(_) => Err(ReadError::TooLarge),
                Err(e) => Err(ReadError::Store(e)),
            };
        }
        match store.read_at(&mut reader, got as u64, &mut buf[got..]) {
            Ok(0) => return Ok(got),
            Ok(n) => got += n,
            Err(e) => return Err(ReadError::Store(e)),
        }
    }
}

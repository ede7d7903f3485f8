//! The provisioning client on a simulated host: the core's [`Provision`]
//! flow (BOOTP → TFTP stages → manifest → FTP files with their SHA-256
//! digests) driven over simulated sockets and streams, as
//! `netboot_mio::provision` drives it over OS sockets.
//!
//! [`Provisioner`] only moves bytes and opens what the flow asks for: the
//! BOOTP socket on port 68, a fresh ephemeral TFTP socket per stage
//! ([`Event::OpenTftp`]), the FTP control and passive data connections as
//! simulated streams. The flow's downloads go to the host's disk: the
//! flow holds a handle on it ([`Disk`]). A client that crashes keeps what
//! it had published and starts the flow again from the beginning when it
//! restarts.
//!
//! The host takes the address BOOTP gave it ([`Event::Assigned`]), so its
//! TFTP requests come from that address, which is how the server's plan
//! attributes a download to a client.
//!
//! What the program adds is bookkeeping a test can read: the flow's
//! [`Report`], its stage downloads in order, when it ended, and how
//! often it resent a BOOTP request.

use std::net::{SocketAddr, SocketAddrV4};

use netboot_core::provision::{Channel, Config, ConfigError, Event, FlowError, Provision, Report};
use netboot_core::time::Instant;
use netboot_core::wire::bootp::{CLIENT_PORT, Message, MessageType};

use crate::apps::v4;
use crate::store::Disk;
use crate::trace::hash_bytes;
use crate::world::{App, Cx, StreamEvent, StreamId};

/// The flow over the host's disk, with a manifest buffer on the heap.
pub type Flow = Provision<Disk, Vec<u8>>;

/// The largest manifest a [`Provisioner`] reads by default.
pub const MANIFEST_LIMIT: usize = 4096;

/// The FTP data connection the flow asked for.
struct Data {
    id: StreamId,
    connected: bool,
    /// The flow asked for the data ([`Event::ReadData`]).
    reading: bool,
    /// Bytes that arrived before the flow asked for them.
    early: Vec<u8>,
    /// The connection ended (`true`: cleanly) before the flow asked.
    ended: Option<bool>,
}

/// The FTP control connection.
struct Control {
    id: StreamId,
    peer: SocketAddr,
    connected: bool,
}

/// What makes a BOOTP request a resend of another: its `xid` and its DHCP
/// message type (a DHCPREQUEST carries the `xid` of the DHCPDISCOVER
/// before it).
pub type RequestId = (u32, Option<MessageType>);

/// The [`RequestId`] of a BOOTP/DHCP message, if it parses.
///
/// ```
/// use netboot_sim::apps::provision::request_id;
///
/// assert_eq!(request_id(b"too short"), None);
/// ```
pub fn request_id(bytes: &[u8]) -> Option<RequestId> {
    let m = Message::new_checked(bytes).ok()?;
    Some((m.packet().xid(), m.message_type()))
}

/// A provisioning client.
///
/// ```
/// use netboot_core::bootp::HwAddr;
/// use netboot_core::provision::Config;
/// use netboot_core::rng::Rng;
/// use netboot_sim::apps::provision::Provisioner;
///
/// let client = Provisioner::new(Config::new(HwAddr::ethernet([2, 0, 0, 0, 0, 1]), Rng::new(1)));
/// assert!(client.outcome.is_none());
/// ```
pub struct Provisioner {
    config: Config,
    manifest_limit: usize,
    /// Boxed: it is taken out and put back in every callback.
    flow: Option<Box<Flow>>,
    tftp_port: Option<u16>,
    bootp_bound: bool,
    ctrl: Option<Control>,
    data: Option<Data>,
    tx: Vec<u8>,
    /// The [`request_id`] and fingerprint of the last BOOTP request sent.
    last_request: Option<(RequestId, u64)>,
    /// What the flow did, folded from its events.
    pub report: Report,
    /// The stage downloads, in order: the file, and `false` when it
    /// started or `true` when it arrived whole (a stage fetched again
    /// appears again).
    pub stage_log: Vec<(String, bool)>,
    /// The downloads of the program a boot ROM chainloads
    /// ([`Config::chain`]), in order, as in [`Provisioner::stage_log`].
    pub chain_log: Vec<(String, bool)>,
    /// How the flow ended, once it has.
    pub outcome: Option<Result<(), FlowError>>,
    /// When it ended (host time).
    pub finished_at: Option<Instant>,
    /// BOOTP requests resent within one exchange (same [`request_id`]).
    pub bootp_resent: u64,
    /// Stages and files published to the disk so far.
    pub published: u64,
    /// Stage downloads that failed and were tried again after BOOTP.
    pub stage_retries: u64,
    /// FTP attempts that failed and were made again.
    pub ftp_retries: u64,
    /// The flow refused its configuration (nothing ran).
    pub config_error: Option<ConfigError>,
}

impl Provisioner {
    /// A client running the flow with `config` when its host boots (the
    /// generator in `config` is replaced by one forked from the host's at
    /// each boot).
    pub fn new(config: Config) -> Self {
        Provisioner {
            config,
            manifest_limit: MANIFEST_LIMIT,
            flow: None,
            tftp_port: None,
            bootp_bound: false,
            ctrl: None,
            data: None,
            tx: vec![0; 2048],
            last_request: None,
            report: Report::default(),
            stage_log: Vec::new(),
            chain_log: Vec::new(),
            outcome: None,
            finished_at: None,
            bootp_resent: 0,
            published: 0,
            stage_retries: 0,
            ftp_retries: 0,
            config_error: None,
        }
    }

    /// Accepts manifests of up to `limit` bytes.
    pub fn manifest_limit(mut self, limit: usize) -> Self {
        self.manifest_limit = limit;
        self
    }

    /// The running flow (gone once it has ended).
    pub fn flow(&self) -> Option<&Flow> {
        self.flow.as_deref()
    }

    /// True once the flow finished or failed.
    pub fn is_over(&self) -> bool {
        self.outcome.is_some()
    }

    /// Runs `f` on the flow, then does what the flow asks until it has
    /// nothing more to say.
    fn with_flow(&mut self, cx: &mut Cx<'_>, f: impl FnOnce(&mut Self, &mut Flow, &mut Cx<'_>)) {
        let Some(mut flow) = self.flow.take() else {
            return;
        };
        f(self, &mut flow, cx);
        self.drain(&mut flow, cx);
        if !flow.is_over() {
            self.flow = Some(flow);
            return;
        }
        self.outcome = Some(match flow.error() {
            None => Ok(()),
            Some(e) => Err(e.clone()),
        });
        if let Some(e) = flow.error() {
            self.report.fail(e);
        }
        self.finished_at = Some(cx.now());
        self.close_all(cx);
    }

    /// Sends what the flow has to send and answers its events.
    fn drain(&mut self, flow: &mut Flow, cx: &mut Cx<'_>) {
        let now = cx.now();
        loop {
            while let Some(out) = flow.poll_transmit(now, &mut self.tx) {
                let bytes = &self.tx[..out.transmit.len];
                let to = v4(out.transmit.destination);
                match out.channel {
                    Channel::Bootp => {
                        let h = hash_bytes(bytes);
                        if let Some(id) = request_id(bytes) {
                            if let Some((last, last_h)) = self.last_request
                                && last == id
                            {
                                self.bootp_resent += 1;
                                // A resent request differs in `secs`: the
                                // network's exact-repeat detector misses it.
                                if last_h != h {
                                    cx.retransmitted();
                                }
                            }
                            self.last_request = Some((id, h));
                        }
                        if self.bootp_bound {
                            cx.send(CLIENT_PORT, to, bytes);
                        }
                    }
                    Channel::Tftp => {
                        if let Some(port) = self.tftp_port {
                            cx.send(port, to, bytes);
                        }
                    }
                    Channel::FtpControl => {
                        if let Some(c) = self.ctrl.as_ref().filter(|c| c.connected) {
                            cx.write(c.id, bytes);
                        }
                    }
                }
            }
            let mut any = false;
            while let Some(event) = flow.poll_event() {
                any = true;
                self.answer(flow, cx, &event);
                self.report.record(&event);
                match &event {
                    Event::StageStarted { file, .. } => {
                        self.stage_log.push((file.to_string(), false));
                    }
                    Event::StageDone { file, .. } => {
                        self.stage_log.push((file.to_string(), true));
                        self.published += 1;
                    }
                    Event::ChainStarted { file } => {
                        self.chain_log.push((file.to_string(), false));
                    }
                    Event::Chainloaded { file, .. } => {
                        self.chain_log.push((file.to_string(), true));
                        self.published += 1;
                    }
                    Event::FileDone { .. } => self.published += 1,
                    Event::StageRetry { .. } => self.stage_retries += 1,
                    Event::FtpRetry { .. } => self.ftp_retries += 1,
                    _ => {}
                }
            }
            if !any {
                return;
            }
        }
    }

    fn answer(&mut self, flow: &mut Flow, cx: &mut Cx<'_>, event: &Event) {
        let now = cx.now();
        match event {
            Event::Assigned { ip, .. } => cx.set_ip(*ip),
            Event::OpenTftp { .. } => {
                if let Some(old) = self.tftp_port.take() {
                    cx.unbind(old);
                }
                self.tftp_port = Some(cx.bind_ephemeral());
                let _ = flow.tftp_opened(now);
            }
            Event::BootDone => {
                if let Some(p) = self.tftp_port.take() {
                    cx.unbind(p);
                }
                if std::mem::take(&mut self.bootp_bound) {
                    cx.unbind(CLIENT_PORT);
                }
            }
            Event::ConnectFtp(addr) => {
                if let Some(old) = self.ctrl.take() {
                    cx.reset(old.id);
                }
                self.ctrl = Some(Control {
                    id: cx.connect(v4(*addr)),
                    peer: *addr,
                    connected: false,
                });
            }
            Event::OpenData(addr) => {
                if let Some(old) = self.data.take() {
                    cx.reset(old.id);
                }
                self.data = Some(Data {
                    id: cx.connect(v4(*addr)),
                    connected: false,
                    reading: false,
                    early: Vec::new(),
                    ended: None,
                });
            }
            Event::ReadData => {
                let Some(d) = self.data.as_mut() else { return };
                d.reading = true;
                let early = std::mem::take(&mut d.early);
                let ended = d.ended;
                if !early.is_empty() {
                    flow.handle_data(now, &early);
                }
                if let Some(ok) = ended {
                    self.data = None;
                    let _ = flow.data_end(now, ok);
                }
            }
            Event::CloseFtp => {
                if let Some(c) = self.ctrl.take() {
                    cx.close(c.id);
                }
                if let Some(d) = self.data.take() {
                    cx.close(d.id);
                }
            }
            _ => {}
        }
    }

    fn close_all(&mut self, cx: &mut Cx<'_>) {
        if let Some(c) = self.ctrl.take() {
            cx.close(c.id);
        }
        if let Some(d) = self.data.take() {
            cx.close(d.id);
        }
        if let Some(p) = self.tftp_port.take() {
            cx.unbind(p);
        }
        if std::mem::take(&mut self.bootp_bound) {
            cx.unbind(CLIENT_PORT);
        }
    }

    fn control_event(&mut self, flow: &mut Flow, cx: &mut Cx<'_>, event: StreamEvent<'_>) {
        let now = cx.now();
        let Some(c) = self.ctrl.as_mut() else { return };
        match event {
            StreamEvent::Connected => {
                c.connected = true;
                let _ = flow.ftp_connected(now);
            }
            StreamEvent::Data(bytes) => {
                let peer = c.peer;
                flow.handle_datagram(now, Channel::FtpControl, peer, &mut bytes.to_vec());
            }
            StreamEvent::Refused => {
                self.ctrl = None;
                let _ = flow.ftp_connect_failed(now);
            }
            StreamEvent::Eof | StreamEvent::Reset => {
                let (id, connected) = (c.id, c.connected);
                self.ctrl = None;
                if matches!(event, StreamEvent::Eof) {
                    cx.close(id);
                }
                if connected {
                    flow.ftp_closed(now);
                } else {
                    let _ = flow.ftp_connect_failed(now);
                }
            }
            _ => {}
        }
    }

    fn data_event(&mut self, flow: &mut Flow, cx: &mut Cx<'_>, event: StreamEvent<'_>) {
        let now = cx.now();
        let Some(d) = self.data.as_mut() else { return };
        match event {
            StreamEvent::Connected => {
                d.connected = true;
                let _ = flow.data_connected(now);
            }
            StreamEvent::Refused => {
                self.data = None;
                let _ = flow.data_connect_failed(now);
            }
            StreamEvent::Data(bytes) => {
                if d.reading {
                    flow.handle_data(now, bytes);
                } else {
                    d.early.extend_from_slice(bytes);
                }
            }
            StreamEvent::Eof | StreamEvent::Reset => {
                let ok = matches!(event, StreamEvent::Eof);
                let id = d.id;
                if ok {
                    cx.close(id);
                }
                if !d.connected {
                    self.data = None;
                    let _ = flow.data_connect_failed(now);
                } else if d.reading {
                    self.data = None;
                    let _ = flow.data_end(now, ok);
                } else {
                    d.ended = Some(ok);
                }
            }
            _ => {}
        }
    }
}

impl App for Provisioner {
    fn start(&mut self, cx: &mut Cx<'_>) {
        let mut config = self.config.clone();
        config.rng = cx.rng.fork();
        let disk = cx.store.clone();
        match Provision::new(cx.now(), config, disk, vec![0; self.manifest_limit]) {
            Ok(flow) => {
                self.bootp_bound = cx.bind(CLIENT_PORT);
                self.flow = Some(Box::new(flow));
                self.with_flow(cx, |_, _, _| {});
            }
            Err(e) => self.config_error = Some(e),
        }
    }

    fn datagram(
        &mut self,
        cx: &mut Cx<'_>,
        local: SocketAddrV4,
        from: SocketAddrV4,
        bytes: &mut [u8],
    ) {
        let channel = if local.port() == CLIENT_PORT {
            Channel::Bootp
        } else if Some(local.port()) == self.tftp_port {
            Channel::Tftp
        } else {
            return;
        };
        self.with_flow(cx, |_, flow, cx| {
            flow.handle_datagram(cx.now(), channel, SocketAddr::V4(from), bytes);
        });
    }

    fn stream(&mut self, cx: &mut Cx<'_>, id: StreamId, event: StreamEvent<'_>) {
        if self.ctrl.as_ref().is_some_and(|c| c.id == id) {
            self.with_flow(cx, |me, flow, cx| me.control_event(flow, cx, event));
        } else if self.data.as_ref().is_some_and(|d| d.id == id) {
            self.with_flow(cx, |me, flow, cx| me.data_event(flow, cx, event));
        }
    }

    fn timeout(&mut self, cx: &mut Cx<'_>) {
        self.with_flow(cx, |_, flow, cx| flow.handle_timeout(cx.now()));
    }

    fn deadline(&mut self) -> Option<Instant> {
        self.flow.as_deref().and_then(Flow::poll_timeout)
    }
}

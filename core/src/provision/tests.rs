//! The client flow against the core's own servers on virtual time: the BOOTP
//! server with a [`PlanPolicy`], the TFTP server through `tftp::file`,
//! and a scripted FTP server, all in memory. Time jumps straight to the next
//! deadline, so a run that would take minutes on a wire takes milliseconds.

use core::net::{Ipv4Addr, SocketAddr};
use std::collections::VecDeque;

use sha2::Digest;

use super::*;
use crate::bootp::HwAddr;
use crate::bootp::hosts::Host;
use crate::bootp::leases::LeaseSlot;
use crate::bootp::server::{Server as BootpServer, ServerConfig};
use crate::plan::{Hex, PlanPolicy, ProfileTable, Reset};
use crate::rng::Rng;
use crate::storage::{MemStore, Storage};
use crate::tftp::file::{self, Accepted, TransferFile};
use crate::tftp::{Event as TftpEvent, Server as TftpServer, ServerConfig as TftpConfig, Transfer};
use crate::time::{Duration, Instant};
use crate::wire::tftp::ErrorCode;

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
const STAGES: [&str; 3] = ["boot/stage1.bin", "boot/stage2.bin", "manifest.txt"];

type Policy = PlanPolicy<ProfileTable, crate::plan::Fixed<64>>;
type Bootp = BootpServer<Vec<Host>, Vec<LeaseSlot>, Policy>;
type Flow = Provision<MemStore, Vec<u8>>;

fn sha(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u32() as u8).collect()
}

fn bootp_server(profiles: ProfileTable) -> Bootp {
    let mut config = ServerConfig::new(SERVER, Ipv4Addr::new(255, 255, 255, 0));
    config.net.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 150)));
    config.bootp_dynamic = true;
    let policy = PlanPolicy::new(profiles, Reset::Never);
    BootpServer::with_policy(config, Vec::new(), vec![LeaseSlot::EMPTY; 51], policy).unwrap()
}

fn default_profiles() -> ProfileTable {
    let mut t = ProfileTable::new();
    t.set_default(&STAGES).unwrap();
    t
}

/// What the scripted FTP server does.
#[derive(Default)]
struct Ftp {
    up: bool,
    refuse_connects: u32,
    connected: bool,
    to_client: Vec<u8>,
    line: Vec<u8>,
    retr: Option<String>,
    /// Flip a byte of this file on the wire.
    corrupt: Option<String>,
    logins: u32,
    retrs: Vec<String>,
}

struct Lab {
    now: Instant,
    bootp: Bootp,
    tftp: TftpServer,
    store: MemStore,
    transfers: Vec<(u16, Transfer, TransferFile<MemStore>)>,
    next_port: u16,
    ftp: Ftp,
    /// Datagrams to the server are dropped until then.
    down_until: Option<Instant>,
    /// Drop the client's next final ACK of this stage.
    drop_final_ack_of: Option<String>,
    /// ...and every repeat of it until then.
    drop_final_acks_until: Option<Instant>,
    /// A restart loses the transfers without a word, and a new transfer on
    /// the same port answers the client's next packet with ERROR 5.
    restart_reuses_ports: bool,
    /// Restart the servers right after this stage completes.
    restart_after: Option<String>,
    /// Restart the servers once this stage has sent this many bytes.
    restart_during: Option<(String, u64)>,
    restart_pending: bool,
    restarts: u32,
    /// RRQs the TFTP server accepted, by file.
    rrqs: Vec<String>,
    queue: VecDeque<(To, SocketAddr, Vec<u8>)>,
    client_tftp_port: u16,
    events: Vec<Event>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum To {
    ServerBootp,
    ServerTftp(u16),
    ClientBootp,
    ClientTftp(u16),
}

impl Lab {
    fn new(profiles: ProfileTable) -> Lab {
        let mut store = MemStore::new();
        store.insert("boot/stage1.bin", bytes(1, 3000));
        store.insert("boot/stage2.bin", bytes(2, 70_000));
        let kernel = bytes(3, 100_000);
        store.insert(
            "manifest.txt",
            format!(
                "# lab files\nkernel: images/kernel.img sha256:{}\ninitrd: images/initrd.img\nreadme: README  # empty\n",
                Hex(&sha(&kernel))
            )
            .into_bytes(),
        );
        store.insert("images/kernel.img", kernel);
        store.insert("images/initrd.img", bytes(4, 5_000));
        store.insert("README", Vec::new());
        Lab {
            now: Instant::from_secs(1000),
            bootp: bootp_server(profiles),
            tftp: TftpServer::new(TftpConfig::default()),
            store,
            transfers: Vec::new(),
            next_port: 10_000,
            ftp: Ftp {
                up: true,
                ..Ftp::default()
            },
            down_until: None,
            drop_final_ack_of: None,
            drop_final_acks_until: None,
            restart_reuses_ports: false,
            restart_after: None,
            restart_during: None,
            restart_pending: false,
            restarts: 0,
            rrqs: Vec::new(),
            queue: VecDeque::new(),
            client_tftp_port: 40_000,
            events: Vec::new(),
        }
    }

    fn config() -> Config {
        let mut c = Config::new(HwAddr::ethernet(MAC), Rng::new(7));
        c.silence = Duration::from_secs(3);
        c.first_answer = Duration::from_secs(20);
        c
    }

    fn flow(&self, config: Config) -> Flow {
        Provision::new(self.now, config, MemStore::new(), vec![0; 4096]).unwrap()
    }

    fn server_up(&self) -> bool {
        self.down_until.is_none_or(|d| self.now >= d)
    }

    /// Runs until the flow is over; returns its events.
    fn run(&mut self, flow: &mut Flow) {
        let mut buf = vec![0u8; 2048];
        for _ in 0..100_000 {
            self.drain(flow, &mut buf);
            if flow.is_over() {
                return;
            }
            let deadlines = [
                flow.poll_timeout(),
                self.transfers
                    .iter()
                    .filter_map(|t| t.1.poll_timeout())
                    .min(),
                self.down_until.filter(|d| *d > self.now),
            ];
            let Some(next) = deadlines.into_iter().flatten().min() else {
                panic!("flow stuck with nothing to wait for: {:?}", self.events);
            };
            self.now = self.now.max(next);
            flow.handle_timeout(self.now);
            for i in 0..self.transfers.len() {
                if self.transfers[i]
                    .1
                    .poll_timeout()
                    .is_some_and(|d| d <= self.now)
                {
                    self.transfers[i].1.handle_timeout(self.now);
                    self.drive_transfer(i, &mut []);
                }
            }
            self.transfers.retain(|t| !t.1.is_closed());
            if core::mem::take(&mut self.restart_pending) {
                self.restart();
            }
        }
        panic!("flow did not end: {:?}", self.events);
    }

    fn drain(&mut self, flow: &mut Flow, buf: &mut [u8]) {
        loop {
            let mut progressed = false;
            while let Some(out) = flow.poll_transmit(self.now, buf) {
                progressed = true;
                let data = buf[..out.transmit.len].to_vec();
                let from = SocketAddr::new(flow.address().into(), self.client_tftp_port);
                match out.channel {
                    Channel::Bootp => {
                        let from = SocketAddr::from(([0, 0, 0, 0], 68));
                        self.queue.push_back((To::ServerBootp, from, data));
                    }
                    Channel::Tftp => {
                        let port = out.transmit.destination.port();
                        if self.drops_final_ack(&data, port) {
                            continue;
                        }
                        self.queue.push_back((To::ServerTftp(port), from, data));
                    }
                    Channel::FtpControl => self.ftp_command(&data),
                }
            }
            while let Some(event) = flow.poll_event() {
                progressed = true;
                self.answer(flow, &event);
                self.events.push(event);
            }
            if !self.ftp.to_client.is_empty() {
                progressed = true;
                let mut bytes = core::mem::take(&mut self.ftp.to_client);
                let peer = SocketAddr::from((SERVER, 21));
                flow.handle_datagram(self.now, Channel::FtpControl, peer, &mut bytes);
            }
            while let Some((to, from, mut data)) = self.queue.pop_front() {
                progressed = true;
                self.deliver(flow, to, from, &mut data);
                if core::mem::take(&mut self.restart_pending) {
                    self.restart();
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn drops_final_ack(&mut self, data: &[u8], port: u16) -> bool {
        let Some(file) = &self.drop_final_ack_of else {
            return false;
        };
        // 70,000 bytes in blocks of 1,468: the last is block 48.
        let is_final = data.len() == 4 && data[..2] == [0, 4] && data[2..] == 48u16.to_be_bytes();
        let of_file = self
            .transfers
            .iter()
            .any(|(p, t, _)| *p == port && t.path() == file);
        if is_final && of_file {
            if self.drop_final_acks_until.is_none_or(|t| self.now >= t) {
                self.drop_final_ack_of = None;
            }
            return true;
        }
        false
    }

    fn answer(&mut self, flow: &mut Flow, event: &Event) {
        match event {
            Event::OpenTftp { local } => {
                assert_eq!(*local, flow.address());
                self.client_tftp_port += 1;
                flow.tftp_opened(self.now).unwrap();
            }
            Event::ConnectFtp(addr) => {
                assert_eq!(*addr, SocketAddr::from((SERVER, 21)));
                if self.ftp.up && self.ftp.refuse_connects == 0 {
                    self.ftp.connected = true;
                    flow.ftp_connected(self.now).unwrap();
                    self.ftp.to_client.extend_from_slice(b"220 fake FTP\r\n");
                } else {
                    self.ftp.refuse_connects = self.ftp.refuse_connects.saturating_sub(1);
                    flow.ftp_connect_failed(self.now).unwrap();
                }
            }
            Event::OpenData(_) => flow.data_connected(self.now).unwrap(),
            Event::ReadData => {
                let path = self.ftp.retr.take().expect("data without RETR");
                let mut data = self.store.get(&path).unwrap().to_vec();
                if self.ftp.corrupt.as_deref() == Some(path.as_str()) {
                    data[10] ^= 1;
                }
                for chunk in data.chunks(8192) {
                    flow.handle_data(self.now, chunk);
                }
                flow.data_end(self.now, true).unwrap();
                self.ftp
                    .to_client
                    .extend_from_slice(b"226 Transfer complete\r\n");
            }
            Event::CloseFtp => self.ftp.connected = false,
            _ => {}
        }
    }

    fn ftp_command(&mut self, data: &[u8]) {
        assert!(self.ftp.connected, "command on a closed connection");
        self.ftp.line.extend_from_slice(data);
        while let Some(end) = self.ftp.line.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8(self.ftp.line[..end].to_vec()).unwrap();
            self.ftp.line.drain(..end + 2);
            let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
            let reply = match verb {
                "USER" => "331 password please".to_string(),
                "PASS" => {
                    self.ftp.logins += 1;
                    "230 logged in".to_string()
                }
                "TYPE" => "200 binary".to_string(),
                "EPSV" => "229 Entering Extended Passive Mode (|||2121|)".to_string(),
                "RETR" => match self.store.get(arg) {
                    Some(d) => {
                        self.ftp.retrs.push(arg.to_string());
                        self.ftp.retr = Some(arg.to_string());
                        format!(
                            "150 Opening BINARY connection for {arg} ({} bytes)",
                            d.len()
                        )
                    }
                    None => "550 No such file".to_string(),
                },
                "QUIT" => "221 bye".to_string(),
                _ => "502 not implemented".to_string(),
            };
            self.ftp.to_client.extend_from_slice(reply.as_bytes());
            self.ftp.to_client.extend_from_slice(b"\r\n");
        }
    }

    fn deliver(&mut self, flow: &mut Flow, to: To, from: SocketAddr, data: &mut [u8]) {
        let now = self.now;
        match to {
            To::ServerBootp | To::ServerTftp(_) if !self.server_up() => {}
            To::ServerBootp => {
                self.bootp.handle_datagram(now, from, data);
                let mut buf = [0u8; 1500];
                while let Some(t) = self.bootp.poll_transmit(now, &mut buf) {
                    self.queue.push_back((
                        To::ClientBootp,
                        SocketAddr::from((SERVER, 67)),
                        buf[..t.len].to_vec(),
                    ));
                }
                while self.bootp.poll_event().is_some() {}
            }
            To::ServerTftp(69) => {
                let mut buf = vec![0u8; 2048];
                match file::accept(&self.tftp, &mut self.store, now, from, data, &mut buf) {
                    Accepted::Transfer(t, files) => {
                        self.rrqs.push(t.path().to_string());
                        self.next_port += 1;
                        self.transfers.push((self.next_port, t, files));
                        let i = self.transfers.len() - 1;
                        self.drive_transfer(i, &mut []);
                    }
                    Accepted::Reply(t) => self.queue.push_back((
                        To::ClientTftp(from.port()),
                        SocketAddr::from((SERVER, 69)),
                        buf[..t.len].to_vec(),
                    )),
                    Accepted::Dropped(_) => {}
                }
            }
            To::ServerTftp(port) => {
                if let Some(i) = self.transfers.iter().position(|t| t.0 == port) {
                    self.transfers[i].1.handle_datagram(now, from, data);
                    self.drive_transfer(i, data);
                }
            }
            To::ClientBootp => flow.handle_datagram(now, Channel::Bootp, from, data),
            To::ClientTftp(port) => {
                // A datagram for a socket the client has replaced is lost.
                if port == self.client_tftp_port {
                    flow.handle_datagram(now, Channel::Tftp, from, data);
                }
            }
        }
    }

    fn drive_transfer(&mut self, i: usize, rx: &mut [u8]) {
        let now = self.now;
        let (port, t, files) = &mut self.transfers[i];
        let mut tx = vec![0u8; t.buffer_len()];
        let mut out = Vec::new();
        let mut done = None;
        file::drive(
            file::Driven {
                transfer: t,
                file: files,
                store: &mut self.store,
                received: rx,
            },
            now,
            &mut tx,
            &mut |bytes, to| out.push((to, bytes.to_vec())),
            &mut |t, e| {
                if let TftpEvent::Done { .. } = e {
                    done = Some((t.peer().ip(), t.path().to_string()));
                }
            },
        );
        let from = SocketAddr::from((SERVER, *port));
        for (to, bytes) in out {
            self.queue
                .push_back((To::ClientTftp(to.port()), from, bytes));
        }
        if let Some((ip, path)) = done {
            self.bootp.policy_mut().transfer_complete(now, ip, &path);
            if self.restart_after.as_deref() == Some(path.as_str()) {
                self.restart_after = None;
                self.restart_pending = true;
            }
        }
        if let Some((file, at)) = &self.restart_during
            && let Some((_, t, _)) = self.transfers.get(i)
            && t.path() == file
            && t.bytes() >= *at
        {
            self.restart_during = None;
            self.restart_pending = true;
        }
    }

    /// Stops and restarts both servers with leases and plan progress saved
    /// and restored (as the mio adapter does through its files); they stay
    /// down for two seconds.
    fn restart(&mut self) {
        let now = self.now;
        self.restarts += 1;
        for (port, t, files) in &mut self.transfers {
            if self.restart_reuses_ports {
                let mut bytes = [0u8; 64];
                let error = crate::wire::tftp::Packet::Error {
                    code: ErrorCode::UnknownTid,
                    message: "Unknown transfer ID",
                };
                let n = error.emit(&mut bytes).unwrap();
                let to = t.peer().port();
                let from = SocketAddr::from((SERVER, *port));
                self.queue
                    .push_back((To::ClientTftp(to), from, bytes[..n].to_vec()));
                files.discard(&mut self.store);
                continue;
            }
            t.close(now);
            let mut tx = vec![0u8; t.buffer_len()];
            let mut out = Vec::new();
            file::drive(
                file::Driven {
                    transfer: t,
                    file: files,
                    store: &mut self.store,
                    received: &mut [],
                },
                now,
                &mut tx,
                &mut |b, to| out.push((to, b.to_vec())),
                &mut |_, _| {},
            );
            for (to, bytes) in out {
                let from = SocketAddr::from((SERVER, *port));
                self.queue
                    .push_back((To::ClientTftp(to.port()), from, bytes));
            }
        }
        self.transfers.clear();
        let leases: Vec<_> = self.bootp.leases().collect();
        let progress: Vec<(Vec<u8>, usize)> = self
            .bootp
            .policy()
            .plan()
            .progress()
            .map(|(hw, s)| (hw.to_vec(), s))
            .collect();
        let profiles = self.bootp.policy().plan().profiles().clone();
        self.bootp = bootp_server(profiles);
        for lease in &leases {
            assert!(self.bootp.restore(lease));
            self.bootp.policy_mut().learn(now, lease.ip, lease.hw);
        }
        for (hw, stage) in progress {
            assert!(self.bootp.policy_mut().plan_mut().restore(now, &hw, stage));
        }
        self.down_until = Some(now + Duration::from_secs(2));
    }

    fn stage_events(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::StageDone { file, .. } => Some(file.to_string()),
                _ => None,
            })
            .collect()
    }
}

fn assert_files_arrived(lab: &Lab, flow: &Flow) {
    for path in STAGES
        .iter()
        .chain(&["images/kernel.img", "images/initrd.img", "README"])
    {
        assert_eq!(
            flow.store().get(path),
            lab.store.get(path),
            "{path} differs"
        );
    }
}

#[test]
fn the_whole_flow_arrives_byte_identical() {
    let mut lab = Lab::new(default_profiles());
    let mut flow = lab.flow(Lab::config());
    let start = lab.now;
    lab.run(&mut flow);
    assert!(flow.error().is_none(), "{:?}", flow.error());
    assert_eq!(lab.events.last(), Some(&Event::Finished));
    assert_files_arrived(&lab, &flow);
    assert_eq!(lab.stage_events(), STAGES);
    assert_eq!(lab.rrqs, STAGES, "every stage fetched exactly once");
    assert_eq!(
        lab.ftp.retrs,
        ["images/kernel.img", "images/initrd.img", "README"]
    );
    assert!(lab.events.contains(&Event::BootDone));
    let verified: Vec<bool> = lab
        .events
        .iter()
        .filter_map(|e| match e {
            Event::FileDone {
                verified,
                sha256,
                path,
                ..
            } => {
                assert_eq!(*sha256, sha(lab.store.get(path).unwrap()));
                Some(*verified)
            }
            _ => None,
        })
        .collect();
    assert_eq!(verified, [true, false, false]);
    // The address came from the pool; the boot phase ended after the
    // configured silence.
    assert_eq!(flow.address(), Ipv4Addr::new(10, 0, 0, 100));
    let took = lab.now.saturating_duration_since(start);
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // The server's plan knows the client has finished.
    assert_eq!(lab.bootp.policy().plan().stage_of(&MAC), Some(3));
    let mut report = Report::default();
    lab.events.iter().for_each(|e| report.record(e));
    assert!(report.is_success());
    assert_eq!(report.stages.len(), 3);
    assert_eq!(report.files.len(), 3);
    assert_eq!(
        report.bytes(),
        3000 + 70_000 + 105_000 + lab.store.get("manifest.txt").unwrap().len() as u64
    );
}

#[test]
fn dhcp_clients_follow_the_same_plan() {
    let mut lab = Lab::new(default_profiles());
    let mut config = Lab::config();
    config.dhcp = true;
    let mut flow = lab.flow(config);
    lab.run(&mut flow);
    assert!(flow.error().is_none(), "{:?}", flow.error());
    assert_eq!(lab.rrqs, STAGES);
    assert_files_arrived(&lab, &flow);
}

#[test]
fn nobody_answering_is_reported_after_the_first_wait() {
    let mut lab = Lab::new(default_profiles());
    lab.down_until = Some(Instant::MAX);
    let mut flow = lab.flow(Lab::config());
    let start = lab.now;
    lab.run(&mut flow);
    assert_eq!(
        flow.error(),
        Some(&FlowError::NoBootpAnswer {
            waited: Duration::from_secs(20)
        })
    );
    assert_eq!(flow.error().unwrap().step(), FailedStep::Bootp);
    assert_eq!(lab.now - start, Duration::from_secs(20));
}

#[test]
fn a_missing_stage_fails_at_once_and_leaves_nothing_behind() {
    let mut lab = Lab::new(default_profiles());
    lab.store.remove_file("boot/stage2.bin").unwrap();
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    let e = flow.error().unwrap();
    assert_eq!(e.step(), FailedStep::Tftp);
    assert_eq!(
        e.to_string(),
        "TFTP download of boot/stage2.bin failed: server: file not found (1)"
    );
    assert!(matches!(
        e,
        FlowError::Tftp {
            error: crate::tftp::TransferError::Peer {
                code: ErrorCode::FileNotFound
            },
            ..
        }
    ));
    // Not retried: the server said the file does not exist.
    assert_eq!(lab.rrqs, ["boot/stage1.bin"]);
    assert!(flow.store().get("boot/stage2.bin").is_none());
    assert_eq!(
        flow.store()
            .files()
            .filter(|f| f.contains("stage2"))
            .count(),
        0
    );
}

#[test]
fn a_wrong_digest_fails_and_the_file_is_not_kept() {
    let mut lab = Lab::new(default_profiles());
    lab.ftp.corrupt = Some("images/kernel.img".into());
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    let e = flow.error().unwrap();
    assert_eq!(e.step(), FailedStep::Digest);
    let FlowError::Digest {
        path,
        expected,
        actual,
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(path, "images/kernel.img");
    assert_eq!(*expected, sha(lab.store.get("images/kernel.img").unwrap()));
    assert_ne!(expected, actual);
    assert!(flow.store().get("images/kernel.img").is_none());
    assert!(
        e.to_string()
            .starts_with("images/kernel.img: SHA-256 mismatch: manifest says ")
    );
}

#[test]
fn a_bad_manifest_names_its_line() {
    let mut lab = Lab::new(default_profiles());
    lab.store.insert(
        "manifest.txt",
        b"kernel: k.img\nthis line is bad\n".to_vec(),
    );
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    let e = flow.error().unwrap();
    assert_eq!(e.step(), FailedStep::Manifest);
    assert_eq!(
        e.to_string(),
        "manifest.txt: manifest line 2: expected 'key: filename'"
    );
    assert!(!lab.ftp.connected && lab.ftp.logins == 0);
}

#[test]
fn a_server_restart_between_stages_is_survived_without_refetching() {
    let mut lab = Lab::new(default_profiles());
    lab.restart_after = Some("boot/stage1.bin".into());
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    assert!(flow.error().is_none(), "{:?}", flow.error());
    assert_eq!(lab.restarts, 1);
    // The restarted server remembered the client's progress: stage 1 was
    // not handed out again.
    assert_eq!(lab.rrqs, STAGES);
    assert_eq!(lab.stage_events(), STAGES);
    assert_files_arrived(&lab, &flow);
}

#[test]
fn a_restart_during_a_download_is_retried_after_bootp() {
    let mut lab = Lab::new(default_profiles());
    lab.restart_during = Some(("boot/stage2.bin".into(), 20_000));
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    assert!(flow.error().is_none(), "{:?}", flow.error());
    assert_eq!(lab.restarts, 1);
    assert!(
        lab.events
            .iter()
            .any(|e| matches!(e, Event::StageRetry { file, .. } if file == "boot/stage2.bin"))
    );
    assert_eq!(
        lab.rrqs,
        [
            "boot/stage1.bin",
            "boot/stage2.bin",
            "boot/stage2.bin",
            "manifest.txt"
        ]
    );
    // Completed once each: the cut download was never published.
    assert_eq!(lab.stage_events(), STAGES);
    assert_files_arrived(&lab, &flow);
}

#[test]
fn a_lost_final_ack_is_answered_by_the_lingering_transfer() {
    let mut lab = Lab::new(default_profiles());
    lab.drop_final_ack_of = Some("boot/stage2.bin".into());
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    assert!(flow.error().is_none(), "{:?}", flow.error());
    assert!(lab.drop_final_ack_of.is_none(), "the ACK was dropped");
    assert_files_arrived(&lab, &flow);
    assert_eq!(lab.stage_events(), STAGES);
}

#[test]
fn a_client_waits_for_its_lingering_transfer_before_fetching_again() {
    // The final ACK and its repeats are lost for 300 ms: the server keeps
    // naming the stage just fetched meanwhile. Fetching it again would end
    // the lingering transfer, whose next repeated ACK moves the server on.
    let mut lab = Lab::new(default_profiles());
    lab.drop_final_ack_of = Some("boot/stage2.bin".into());
    lab.drop_final_acks_until = Some(lab.now + Duration::from_millis(300));
    let mut config = Lab::config();
    config.tftp.dally = Duration::from_secs(2);
    let mut flow = lab.flow(config);
    lab.run(&mut flow);
    assert!(flow.error().is_none(), "{:?}", flow.error());
    assert!(lab.drop_final_ack_of.is_none(), "the ACKs were dropped");
    assert_eq!(lab.rrqs, STAGES, "every stage fetched exactly once");
    assert_eq!(lab.stage_events(), STAGES);
    assert_files_arrived(&lab, &flow);
}

#[test]
fn unknown_transfer_id_after_a_restart_is_retried_after_bootp() {
    // A crashed server's new transfer took the port of ours: its ERROR 5
    // means the server no longer knows our download.
    let mut lab = Lab::new(default_profiles());
    lab.restart_during = Some(("boot/stage2.bin".into(), 20_000));
    lab.restart_reuses_ports = true;
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    assert!(flow.error().is_none(), "{:?}", flow.error());
    assert!(lab.events.iter().any(|e| matches!(
        e,
        Event::StageRetry { file, error: crate::tftp::TransferError::Peer { code: ErrorCode::UnknownTid } }
            if file == "boot/stage2.bin"
    )));
    assert_eq!(lab.stage_events(), STAGES);
    assert_files_arrived(&lab, &flow);
}

#[test]
fn ftp_failures_are_retried_then_final() {
    let mut lab = Lab::new(default_profiles());
    lab.ftp.refuse_connects = 2;
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    assert!(flow.error().is_none(), "{:?}", flow.error());
    let retries = lab
        .events
        .iter()
        .filter(|e| matches!(e, Event::FtpRetry { .. }))
        .count();
    assert_eq!(retries, 2);
    assert_files_arrived(&lab, &flow);

    let mut lab = Lab::new(default_profiles());
    lab.ftp.refuse_connects = 3;
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    let e = flow.error().unwrap();
    assert_eq!(e.step(), FailedStep::Ftp);
    assert_eq!(e.to_string(), "FTP server 10.0.0.1:21: cannot connect");
}

#[test]
fn a_file_the_ftp_server_refuses_is_final() {
    let mut lab = Lab::new(default_profiles());
    lab.store.remove_file("images/initrd.img").unwrap();
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    let e = flow.error().unwrap();
    assert_eq!(
        e.to_string(),
        "FTP server refused images/initrd.img: 550 No such file"
    );
    // The file before it arrived and stays.
    assert!(flow.store().get("images/kernel.img").is_some());
    assert!(flow.store().get("images/initrd.img").is_none());
}

#[test]
fn a_server_that_never_advances_is_detected() {
    // The client is outside the plan: the server hands out its default file
    // every time.
    let mut lab = Lab::new(ProfileTable::new());
    let mut config = ServerConfig::new(SERVER, Ipv4Addr::new(255, 255, 255, 0));
    config.net.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 150)));
    config.bootp_dynamic = true;
    config.file.push_str("boot/stage1.bin").unwrap();
    lab.bootp = BootpServer::with_policy(
        config,
        Vec::new(),
        vec![LeaseSlot::EMPTY; 51],
        PlanPolicy::new(ProfileTable::new(), Reset::Never),
    )
    .unwrap();
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    let e = flow.error().unwrap();
    assert!(
        matches!(e, FlowError::NotAdvancing { file } if file == "boot/stage1.bin"),
        "{e:?}"
    );
    assert_eq!(
        lab.rrqs.len(),
        3,
        "fetched, then twice more after asking again"
    );
}

#[test]
fn the_manifest_can_name_the_ftp_server_and_is_bounded() {
    let mut lab = Lab::new(default_profiles());
    lab.store
        .insert("manifest.txt", b"ftp-server: 10.0.0.9:2121\n".to_vec());
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    assert!(flow.error().is_none());
    assert!(lab.events.contains(&Event::ManifestRead {
        file: "manifest.txt".try_into().unwrap(),
        files: 0,
        server: "10.0.0.9:2121".parse().unwrap(),
    }));

    let mut lab = Lab::new(default_profiles());
    let mut flow = Provision::new(lab.now, Lab::config(), MemStore::new(), vec![0; 16]).unwrap();
    lab.run(&mut flow);
    assert_eq!(
        flow.error(),
        Some(&FlowError::ManifestTooLarge {
            file: "manifest.txt".try_into().unwrap(),
            limit: 16
        })
    );
}

#[test]
fn per_client_stages_and_cancel() {
    let mut t = default_profiles();
    t.add_client(&MAC, &["boot/stage2.bin", "manifest.txt"])
        .unwrap();
    let mut lab = Lab::new(t);
    let mut flow = lab.flow(Lab::config());
    lab.run(&mut flow);
    assert!(flow.error().is_none());
    assert_eq!(lab.rrqs, ["boot/stage2.bin", "manifest.txt"]);

    let lab = Lab::new(default_profiles());
    let mut flow = lab.flow(Lab::config());
    flow.cancel(lab.now);
    assert_eq!(flow.error(), Some(&FlowError::Cancelled));
    assert_eq!(flow.poll_event(), Some(Event::Failed));
    assert_eq!(flow.tftp_opened(lab.now), Err(ApiError::NotExpected));
}

#[test]
fn bad_configurations_are_refused() {
    let mut c = Lab::config();
    c.silence = Duration::ZERO;
    let r = Provision::new(Instant::ZERO, c, MemStore::new(), vec![0; 8]);
    assert_eq!(r.err(), Some(ConfigError::ZeroTime));
    let r = Provision::new(Instant::ZERO, Lab::config(), MemStore::new(), Vec::new());
    assert_eq!(r.err(), Some(ConfigError::NoManifestBuffer));
    let mut c = Lab::config();
    assert_eq!(c.login(&"u".repeat(65), "p"), Err(ConfigError::TooLong));
}

/// A BIOS PXE ROM whose profile chainloads iPXE, and the iPXE it becomes.
fn rom_config(chain: bool) -> Config {
    use crate::wire::bootp::options;
    let mut c = Lab::config();
    let rom = Identity::vendor(b"PXEClient:Arch:00000:UNDI:002001")
        .unwrap()
        .with(options::CLIENT_ARCH, &[0, 0])
        .unwrap();
    let ipxe = rom
        .clone()
        .with(options::USER_CLASS, b"iPXE")
        .unwrap()
        .with(options::IPXE, &[19, 1, 1])
        .unwrap();
    c.identity = rom;
    c.chain = chain.then_some(ipxe);
    c
}

fn chaining_lab() -> Lab {
    use crate::plan::Profile;
    use crate::plan::rules::{Arch, Match};
    let mut t = ProfileTable::new();
    let bios = Match {
        arch: Match::archs(&[Arch::BIOS]),
        ..Match::ANY
    };
    let profile = Profile::new("bios", &STAGES)
        .unwrap()
        .chain("ipxe/undionly.kpxe")
        .unwrap();
    t.add_rule(bios, profile).unwrap();
    let mut lab = Lab::new(t);
    lab.store.insert("ipxe/undionly.kpxe", bytes(9, 4000));
    lab
}

#[test]
fn a_rom_chainloads_ipxe_once_and_ipxe_fetches_the_stages() {
    let mut lab = chaining_lab();
    let mut flow = lab.flow(rom_config(true));
    lab.run(&mut flow);
    assert!(flow.error().is_none(), "{:?}", flow.error());
    assert_files_arrived(&lab, &flow);
    assert_eq!(
        flow.store().get("ipxe/undionly.kpxe"),
        lab.store.get("ipxe/undionly.kpxe")
    );
    // The program once, then the stages, each once; the program is no
    // stage.
    let mut rrqs = vec!["ipxe/undionly.kpxe"];
    rrqs.extend(STAGES);
    assert_eq!(lab.rrqs, rrqs);
    assert_eq!(lab.stage_events(), STAGES);
    assert_eq!(flow.stages(), 3);
    let chain_events: Vec<_> = lab
        .events
        .iter()
        .filter(|e| matches!(e, Event::ChainStarted { .. } | Event::Chainloaded { .. }))
        .collect();
    assert_eq!(
        chain_events,
        [
            &Event::ChainStarted {
                file: "ipxe/undionly.kpxe".try_into().unwrap()
            },
            &Event::Chainloaded {
                file: "ipxe/undionly.kpxe".try_into().unwrap(),
                bytes: 4000
            }
        ]
    );
    assert_eq!(lab.bootp.policy().plan().stage_of(&MAC), Some(3));
    let mut report = Report::default();
    lab.events.iter().for_each(|e| report.record(e));
    assert!(report.is_success());
    assert_eq!(report.chain.as_ref().map(|c| c.bytes), Some(4000));
    assert_eq!(report.stages.len(), 3);
}

#[test]
fn a_rom_that_does_not_become_ipxe_is_caught_not_advancing() {
    // The same ROM, modelled as running what it fetched as a stage and
    // asking again as itself: the plan hands it iPXE forever.
    let mut lab = chaining_lab();
    let mut flow = lab.flow(rom_config(false));
    lab.run(&mut flow);
    assert!(
        matches!(flow.error(), Some(FlowError::NotAdvancing { file }) if file == "ipxe/undionly.kpxe"),
        "{:?}",
        flow.error()
    );
    assert_eq!(lab.bootp.policy().plan().stage_of(&MAC), Some(0));
}

#[test]
fn the_machine_is_as_small_as_documented() {
    let size = std::mem::size_of::<Flow>();
    assert!(size <= 17 * 1024, "{size} bytes");
}

mod hostile {
    //! Whatever the network says, in whatever order, and whatever the driver
    //! does: the machine never panics, its output stays bounded, and nothing
    //! is stored outside the names a peer may use.

    use proptest::prelude::*;

    use super::*;
    use crate::wire::bootp::{Op, Repr, Vend};

    #[derive(Clone, Debug)]
    enum Input {
        /// A BOOTREPLY to the last request, naming `file` at `siaddr`.
        Reply {
            file: String,
            siaddr: [u8; 4],
        },
        Bytes {
            channel: u8,
            bytes: Vec<u8>,
        },
        /// DATA of `len` bytes for `block`, from the server's transfer port.
        Data {
            block: u16,
            len: usize,
        },
        Control(String),
        Stream(Vec<u8>),
        Advance(u32),
        Command(u8),
    }

    fn input() -> impl Strategy<Value = Input> {
        prop_oneof![
            (
                "[a-z./]{0,12}|\\.\\./x|/etc/passwd|a/../../b",
                prop_oneof![3 => Just([10, 0, 0, 1]), 1 => any::<[u8; 4]>()],
            )
                .prop_map(|(file, siaddr)| Input::Reply { file, siaddr }),
            (0u8..3, proptest::collection::vec(any::<u8>(), 0..64))
                .prop_map(|(channel, bytes)| Input::Bytes { channel, bytes }),
            (1u16..4, prop_oneof![Just(1468usize), 0usize..1500])
                .prop_map(|(block, len)| Input::Data { block, len }),
            "(220|230|331|150|226|229|550|421|500) [ -~]{0,30}\r\n".prop_map(Input::Control),
            proptest::collection::vec(any::<u8>(), 0..128).prop_map(Input::Stream),
            (0u32..40_000).prop_map(Input::Advance),
            (0u8..8).prop_map(Input::Command),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_input_never_panics(inputs in proptest::collection::vec(input(), 0..120)) {
            let mut now = Instant::from_secs(1);
            let mut flow: Flow =
                Provision::new(now, Lab::config(), MemStore::new(), vec![0; 256]).unwrap();
            let mut buf = vec![0u8; 2048];
            let mut xid = 0u32;
            let server = SocketAddr::from((SERVER, 67));
            let tid = SocketAddr::from((SERVER, 7000));
            for input in inputs {
                match input {
                    Input::Reply { file, siaddr } => {
                        let mut repr = Repr::new(Op::Reply, xid, MAC);
                        repr.yiaddr = Ipv4Addr::new(10, 0, 0, 100);
                        repr.siaddr = Ipv4Addr::from(siaddr);
                        repr.file = file.as_bytes();
                        repr.vend = Vend::Options(&[]);
                        let mut out = [0u8; 600];
                        if let Ok(n) = repr.emit(&mut out) {
                            flow.handle_datagram(now, Channel::Bootp, server, &mut out[..n]);
                        }
                    }
                    Input::Bytes { channel, mut bytes } => {
                        let channel = [Channel::Bootp, Channel::Tftp, Channel::FtpControl][channel as usize];
                        flow.handle_datagram(now, channel, tid, &mut bytes);
                    }
                    Input::Data { block, len } => {
                        let mut d = vec![0u8, 3];
                        d.extend_from_slice(&block.to_be_bytes());
                        d.extend(std::iter::repeat_n(0x5a, len));
                        flow.handle_datagram(now, Channel::Tftp, tid, &mut d);
                    }
                    Input::Control(line) => {
                        let mut bytes = line.into_bytes();
                        flow.handle_datagram(now, Channel::FtpControl, server, &mut bytes);
                    }
                    Input::Stream(bytes) => flow.handle_data(now, &bytes),
                    Input::Advance(ms) => {
                        now += Duration::from_millis(u64::from(ms));
                        flow.handle_timeout(now);
                    }
                    Input::Command(c) => {
                        // Misuse is refused with an error, never a panic.
                        let _ = match c {
                            0 => flow.tftp_opened(now),
                            1 => flow.ftp_connected(now),
                            2 => flow.ftp_connect_failed(now),
                            3 => flow.data_connected(now),
                            4 => flow.data_end(now, true),
                            5 => flow.data_end(now, false),
                            6 => {
                                flow.ftp_closed(now);
                                Ok(())
                            }
                            _ => {
                                flow.cancel(now);
                                Ok(())
                            }
                        };
                    }
                }
                let mut sent = 0;
                while let Some(out) = flow.poll_transmit(now, &mut buf) {
                    if out.channel == Channel::Bootp && out.transmit.len >= 8 {
                        xid = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                    }
                    sent += 1;
                    prop_assert!(sent < 64, "transmit does not drain");
                }
                let mut events = 0;
                while flow.poll_event().is_some() {
                    events += 1;
                    prop_assert!(events <= 8);
                }
            }
            for path in flow.store().files() {
                prop_assert!(!path.split('/').any(|c| c == ".." || c.is_empty()), "{}", path);
            }
        }
    }
}

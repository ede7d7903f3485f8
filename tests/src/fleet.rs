//! The fleet: many provisioning clients running the whole flow (BOOTP →
//! TFTP stages → manifest → FTP files with SHA-256 digests) against one
//! combined server, under whatever weather and faults a scenario sets.
//!
//! [`Fleet`] builds the world: a [`SimServer`] (the netboot server that
//! ships: BOOTP/DHCP with the plan, TFTP, FTP, leases and progress kept on
//! its disk) at [`SERVER`] whose plan gives every client the same stages
//! (two boot stages and a manifest naming three files with their
//! digests), and `clients` [`Provisioner`]s with distinct MACs, started
//! over the first [`Fleet::start_spread`]. The clients differ on purpose,
//! so that one run covers what separate per-protocol fleets used to:
//!
//! * odd clients ask with DHCP (DISCOVER/OFFER/REQUEST/ACK), even ones with
//!   plain BOOTP (the server hands out dynamic BOOTP addresses);
//! * TFTP `windowsize` 1, 4 and 8 in turn (`blksize` 1468, `tsize`);
//! * every fourth client logs in to FTP as a named user, the others
//!   anonymously.
//!
//! A mixed fleet ([`Fleet::mixed`]) is built of [`Class::MIXED`] in turn
//! instead, and its server has no default profile, only match rules
//! (architecture, and architecture with the relay's subnet):
//!
//! * legacy BIOS PXE ROMs (vendor class `PXEClient:Arch:00000:UNDI:002001`,
//!   option 93 = 0, or none for every other one) and UEFI x64 PXE ROMs
//!   (93 = 7) chainload their profile's iPXE build
//!   ([`Config::chain`](netboot_core::provision::Config::chain)): round one
//!   fetches it, then iPXE asks again from scratch with option 175 and
//!   user class `iPXE`, and gets the stages;
//! * BIOS iPXE ROMs (93 = 0 with 175, as QEMU's) get the BIOS stages at
//!   once (they share the BIOS profile: nothing in a request tells
//!   chainloaded iPXE from iPXE in ROM);
//! * UEFI x64 ROMs behind a relay: they sit on broadcast segment 1
//!   ([`Sim::set_segment`]) with a [`Relay`] at [`RELAY`], so the server
//!   hears their requests only through the relay, with `giaddr` set, and
//!   answers the relay, which passes the reply on to their segment. The
//!   server hands out one subnet, so the relay is inside it, in a /28
//!   ([`RELAY_SUBNET`]) a rule picks [`RELAYED_PROFILE`] by. TFTP and FTP
//!   go straight to the server (unicast crosses segments as through a
//!   router).
//!
//! Every mixed client speaks DHCP (PXE ROMs and iPXE do).
//!
//! Invariants are checked after every event (a violation stops the run
//! with the seed and the replay command):
//!
//! * no two hosts ever hold the same address;
//! * no client starts or completes a stage out of the plan's order (a
//!   stage fetched again after the server lost track of it is allowed; a
//!   later stage before an earlier one is not);
//! * every file a client has published (a chain file, a stage or a
//!   manifest file) is byte-identical to the server's and one its own
//!   profile gives it (a client that gets another profile's file, or an
//!   iPXE ROM that gets a chain file, fails): nothing fetched twice, cut
//!   short or corrupted on the wire is ever visible;
//! * a boot ROM fetches only its own chain file, and starts it at most as
//!   often as the flow tries a download (once, more only after a failed
//!   download); the chain file handed out as a stage (a loop: iPXE not
//!   told from the ROM) is a stage out of the plan's order;
//! * the server's persistence policy: an address the server hands out (a
//!   DHCPACK or BOOTREPLY) is held by no other client, and a server that
//!   boots again has a bound lease for every address a client holds (so
//!   it never hands one out twice).
//!
//! [`Fleet::run`] then checks that every client finished with every file
//! of its profile byte-exact and no other file, that each boot ROM
//! chainloaded exactly once and the server sent it the chain file whole
//! at most once, that the server's plan has every client at its last
//! stage, and that the server leased one distinct address per client, and
//! returns a [`FleetReport`]: simulated time, packets sent and
//! retransmitted per protocol, stream traffic, retries, and per class.
//!
//! "Retransmitted" counts a datagram identical to one of the last 16 its
//! sender sent on the same flow (a resent DATA block, a repeated ACK or
//! reply), and a BOOTP request of the same `xid` and DHCP message type as
//! its client's previous one (resent requests differ in `secs`). This is the simulator's own
//! definition ([`Stats::retransmitted`]), counted again here per protocol;
//! the two totals must agree.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use netboot_core::bootp::HwAddr;
use netboot_core::bootp::leases::LeaseState;
use netboot_core::bootp::server::Event as BootpEvent;
use netboot_core::bootp::server::ServerConfig as BootpConfig;
use netboot_core::ftp::server::ServerConfig as FtpConfig;
use netboot_core::plan::rules::{Arch, Match};
use netboot_core::plan::{Hex, Profile};
use netboot_core::provision::{Config, Identity};
use netboot_core::rng::Rng;
use netboot_core::server::{Event, NetbootConfig};
use netboot_core::tftp::ServerConfig as TftpConfig;
use netboot_core::tftp::TransferConfig;
use netboot_core::tftp::options::Limits;
use netboot_core::tftp::rto::RtoConfig;
use netboot_core::time::{Duration, Instant};
use netboot_core::wire::bootp::{CLIENT_PORT, SERVER_PORT, options};

use netboot_sim::apps::provision::{Provisioner, RequestId, request_id};
use netboot_sim::apps::relay::Relay;
use netboot_sim::apps::server::{SimServer, User, bootp_setup, ftp_endpoint, tftp_endpoint};
use netboot_sim::faults::{Fault, LinkFaults};
use netboot_sim::trace::hash_bytes;
use netboot_sim::world::{HostId, Observed, Sim, Stats};

/// The server's address.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// The boot stages every client fetches over TFTP, before the manifest:
/// name and size.
pub const STAGES: [(&str, usize); 2] = [("boot/stage1.img", 24_000), ("boot/stage2.img", 9_000)];

/// The last stage.
pub const MANIFEST: &str = "manifest.txt";

/// The files the manifest names, fetched over FTP: name and size.
pub const FILES: [(&str, usize); 3] = [
    ("files/kernel", 60_000),
    ("files/rootfs", 120_000),
    ("files/node.conf", 700),
];

/// The named FTP user every fourth client logs in as.
pub const FTP_USER: (&str, &str) = ("node", "node-password");

/// The relay agent of the mixed fleet ([`Class::RelayedUefiRom`]): inside
/// the server's subnet (the server hands out one pool) but in a /28 of its
/// own, which the relayed clients' profile is chosen by.
pub const RELAY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 17);

/// The subnet of [`RELAY`] that a rule of the mixed fleet matches.
pub const RELAY_SUBNET: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 0, 0, 16), 28);

/// One boot profile of the fleet's server, and the files behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetProfile {
    /// The profile's name.
    pub name: &'static str,
    /// The iPXE build a boot ROM of this profile chainloads, and its size.
    pub chain: Option<(&'static str, usize)>,
    /// The boot stages before the manifest: name and size.
    pub stages: &'static [(&'static str, usize)],
    /// The last stage.
    pub manifest: &'static str,
    /// The files the manifest names: name and size.
    pub files: &'static [(&'static str, usize)],
}

/// The plain fleet's only profile: [`STAGES`], [`MANIFEST`], [`FILES`].
pub const DEFAULT_PROFILE: FleetProfile = FleetProfile {
    name: "default",
    chain: None,
    stages: &STAGES,
    manifest: MANIFEST,
    files: &FILES,
};

/// BIOS clients: PXE ROMs chainload `undionly.kpxe`; iPXE (chainloaded, or
/// a BIOS iPXE ROM) gets the stages.
pub const BIOS_PROFILE: FleetProfile = FleetProfile {
    name: "bios",
    chain: Some(("ipxe/undionly.kpxe", 30_000)),
    stages: &[("bios/boot.ipxe", 1_200), ("bios/stage2.img", 9_000)],
    manifest: "bios/manifest.txt",
    files: &[
        ("bios/files/vmlinuz", 50_000),
        ("bios/files/initrd", 40_000),
    ],
};

/// UEFI x64 clients: PXE ROMs chainload `ipxe.efi`.
pub const UEFI_PROFILE: FleetProfile = FleetProfile {
    name: "uefi",
    chain: Some(("ipxe/ipxe.efi", 40_000)),
    stages: &[("efi/boot.ipxe", 1_500), ("efi/stage2.efi", 12_000)],
    manifest: "efi/manifest.txt",
    files: &[
        ("efi/files/vmlinuz.efi", 60_000),
        ("efi/files/initrd", 30_000),
    ],
};

/// UEFI x64 clients behind [`RELAY`]: the same iPXE build, a site's own
/// stages and files.
pub const RELAYED_PROFILE: FleetProfile = FleetProfile {
    name: "site2-uefi",
    chain: Some(("ipxe/ipxe.efi", 40_000)),
    stages: &[("site2/boot.ipxe", 1_000)],
    manifest: "site2/manifest.txt",
    files: &[
        ("site2/files/vmlinuz.efi", 55_000),
        ("site2/files/site.conf", 400),
    ],
};

impl FleetProfile {
    /// The plan's stages, in order (the manifest last).
    pub fn plan_stages(&self) -> Vec<&'static str> {
        self.stages
            .iter()
            .map(|(p, _)| *p)
            .chain([self.manifest])
            .collect()
    }

    /// The stages and the manifest's files (not the chain file).
    pub fn paths(&self) -> Vec<&'static str> {
        self.plan_stages()
            .into_iter()
            .chain(self.files.iter().map(|(p, _)| *p))
            .collect()
    }
}

/// What a client of the fleet is: its firmware, and where it sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// The plain fleet's client: it says nothing about itself and follows
    /// the default profile.
    Plain,
    /// A legacy BIOS PXE ROM (vendor class
    /// `PXEClient:Arch:00000:UNDI:002001`, option 93 = 0 or none at all, no
    /// 175): it chainloads the BIOS iPXE build, which asks again with
    /// option 175 and user class `iPXE`.
    BiosRom,
    /// A UEFI x64 PXE ROM (93 = 7, `PXEClient:Arch:00007:UNDI:003000`): the
    /// same with the UEFI iPXE build.
    UefiRom,
    /// iPXE from the start (93 = 0 with 175, as QEMU's BIOS ROM): straight
    /// to the BIOS stages, never the chain file.
    Ipxe,
    /// A UEFI x64 PXE ROM on another segment, behind [`RELAY`]: its
    /// requests reach the server with `giaddr` set, and the subnet rule
    /// gives it [`RELAYED_PROFILE`].
    RelayedUefiRom,
}

impl Class {
    /// Every class of the mixed fleet, in report order.
    pub const MIXED: [Class; 4] = [
        Class::BiosRom,
        Class::UefiRom,
        Class::Ipxe,
        Class::RelayedUefiRom,
    ];

    /// The profile the server's rules should choose for it.
    pub fn profile(self) -> &'static FleetProfile {
        match self {
            Class::Plain => &DEFAULT_PROFILE,
            Class::BiosRom | Class::Ipxe => &BIOS_PROFILE,
            Class::UefiRom => &UEFI_PROFILE,
            Class::RelayedUefiRom => &RELAYED_PROFILE,
        }
    }

    /// True for the boot ROMs, which chainload iPXE first.
    pub fn chains(self) -> bool {
        matches!(
            self,
            Class::BiosRom | Class::UefiRom | Class::RelayedUefiRom
        )
    }

    /// Every file a client of the class ends with: the chain file (ROMs
    /// only), the stages, the manifest's files.
    pub fn paths(self) -> Vec<&'static str> {
        let p = self.profile();
        let chain = p.chain.filter(|_| self.chains()).map(|(c, _)| c);
        chain.into_iter().chain(p.paths()).collect()
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::Plain => "plain",
            Class::BiosRom => "BIOS PXE ROM -> iPXE",
            Class::UefiRom => "UEFI x64 PXE ROM -> iPXE",
            Class::Ipxe => "BIOS iPXE ROM",
            Class::RelayedUefiRom => "relayed UEFI x64 ROM -> iPXE",
        }
    }
}

/// iPXE's encapsulated options (175) as a build announces them: a few
/// feature indicators (PXE extensions, HTTP, DNS, bzImage, EFI).
const IPXE_FEATURES: [u8; 15] = [
    0x10, 1, 1, // PXE extensions
    0x13, 1, 1, // HTTP
    0x17, 1, 1, // DNS
    0x18, 1, 1, // bzImage
    0x24, 1, 1, // EFI
];

/// The identity of a PXE ROM (or of iPXE, which sends the same vendor
/// class and architecture, plus 175 and user class `iPXE`).
fn identity(vendor: &[u8], arch: Option<u16>, ipxe: bool) -> Identity {
    let mut id = Identity::vendor(vendor).expect("the fleet's vendor classes fit");
    if let Some(a) = arch {
        id = id
            .with(options::CLIENT_ARCH, &a.to_be_bytes())
            .expect("fits");
    }
    if ipxe {
        id = id
            .with(options::USER_CLASS, b"iPXE")
            .and_then(|id| id.with(options::IPXE, &IPXE_FEATURES))
            .expect("fits");
    }
    id
}

/// What one class of a fleet came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassReport {
    /// The class.
    pub class: Class,
    /// Its clients.
    pub clients: usize,
    /// Of which finished.
    pub finished: usize,
    /// Of which have every file of their profile byte-identical.
    pub byte_exact: usize,
    /// Clients that chainloaded iPXE.
    pub chainloaded: usize,
    /// Chain-file downloads started, in all (more than one per client only
    /// after a failed download).
    pub chain_downloads: usize,
    /// Most chain-file downloads one client started.
    pub most_chain_downloads: usize,
}

/// A server crash: when, and how long the server stays down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crash {
    /// When the server loses power.
    pub at: Instant,
    /// How long until it boots again (shorter than the clients' BOOTP
    /// silence, or they take the pause for the end of the boot phase).
    pub down: Duration,
}

/// A fleet scenario.
///
/// ```
/// use netboot_tests::fleet::Fleet;
///
/// let report = Fleet::new(3, 42).run();
/// assert_eq!(report.byte_exact, 3);
/// assert!(report.bootp.sent > 0 && report.tftp.sent > 0 && report.ftp_connections >= 3);
/// ```
#[derive(Clone, Debug)]
pub struct Fleet {
    /// Number of clients.
    pub clients: usize,
    /// The run's seed.
    pub seed: u64,
    /// The weather on every link.
    pub weather: LinkFaults,
    /// Clients boot at evenly spread instants over this time.
    pub start_spread: Duration,
    /// Server crashes and restarts, in order (each restart before the next
    /// crash).
    pub crashes: Vec<Crash>,
    /// Simulated time after which the run is stopped (and fails).
    pub time_limit: Instant,
    /// A mixed fleet ([`Class::MIXED`] in turn) whose server chooses each
    /// client's profile by match rules; otherwise every client is
    /// [`Class::Plain`].
    pub mixed: bool,
}

/// Where TFTP retransmissions came from: each one classified by its
/// kind, by what its sending host last reacted to (its own timer, or the
/// datagram just delivered to it, which for a server with many transfers
/// may belong to another one) and by whether the receiver had already
/// been handed an identical copy (a resend it did not need, unless it had
/// dropped that copy after a gap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TftpRetransmissions {
    /// DATA resent when the sender's timer fired: (all, already delivered).
    pub data_after_timeout: (u64, u64),
    /// DATA resent after an ACK inside the window (RFC 7440 go-back):
    /// (all, already delivered).
    pub data_after_ack: (u64, u64),
    /// DATA resent after some other datagram (an OACK, a repeated
    /// request): (all, already delivered).
    pub data_other: (u64, u64),
    /// ACKs (and OACKs) repeated when the receiver's timer fired.
    pub ack_after_timeout: u64,
    /// ACKs repeated in answer to a DATA block (a gap, or a block the
    /// sender repeated because it lost our ACK).
    pub ack_after_data: u64,
    /// Requests (RRQ/WRQ) and errors repeated.
    pub other: u64,
}

impl TftpRetransmissions {
    /// All of them (equals [`Traffic::retransmitted`] of TFTP).
    pub fn total(&self) -> u64 {
        self.data_after_timeout.0
            + self.data_after_ack.0
            + self.data_other.0
            + self.ack_after_timeout
            + self.ack_after_data
            + self.other
    }
}

/// Datagrams of one protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Sent by any host.
    pub sent: u64,
    /// Of which retransmissions (see the module docs).
    pub retransmitted: u64,
}

/// What a fleet run came to.
#[derive(Clone, Debug)]
pub struct FleetReport {
    /// The run's seed.
    pub seed: u64,
    /// Number of clients.
    pub clients: usize,
    /// Clients whose flow finished.
    pub finished: usize,
    /// Clients with every stage and file byte-identical to the server's.
    pub byte_exact: usize,
    /// When the last client finished (simulated time).
    pub last_finished: Instant,
    /// Median client finishing time.
    pub median_finished: Instant,
    /// The simulator's counters.
    pub stats: Stats,
    /// BOOTP/DHCP datagrams (ports 67 and 68).
    pub bootp: Traffic,
    /// TFTP datagrams (everything else).
    pub tftp: Traffic,
    /// Where the TFTP retransmissions came from.
    pub tftp_why: TftpRetransmissions,
    /// FTP control and data connections opened.
    pub ftp_connections: u64,
    /// Bytes carried by the streams.
    pub stream_bytes: u64,
    /// Stage downloads that failed and were retried after BOOTP.
    pub stage_retries: u64,
    /// Stages fetched more than once (after the server lost track).
    pub stage_refetches: u64,
    /// FTP attempts made again.
    pub ftp_retries: u64,
    /// Most TFTP transfers the server ran at once.
    pub peak_transfers: usize,
    /// Times the server booted.
    pub server_boots: u32,
    /// Per class (the plain fleet has one).
    pub classes: Vec<ClassReport>,
    /// Requests and replies the relay forwarded (mixed fleet only).
    pub relayed: (u64, u64),
    /// The run's trace hash (the same seed gives the same hash).
    pub trace_hash: u64,
}

impl fmt::Display for FleetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |t: Instant| t.as_micros() as f64 / 1e6;
        writeln!(
            f,
            "fleet of {} clients (seed {:#x}): {} finished, {} byte-exact; last finished at {:.3} s of simulated time (median {:.3} s)",
            self.clients,
            self.seed,
            self.finished,
            self.byte_exact,
            secs(self.last_finished),
            secs(self.median_finished)
        )?;
        writeln!(
            f,
            "  packets sent {} (retransmitted {}): BOOTP/DHCP {} ({}), TFTP {} ({}); dropped {}, duplicated {}",
            self.stats.sent,
            self.stats.retransmitted,
            self.bootp.sent,
            self.bootp.retransmitted,
            self.tftp.sent,
            self.tftp.retransmitted,
            self.stats.dropped,
            self.stats.duplicated
        )?;
        writeln!(
            f,
            "  FTP: {} connections, {} stream bytes, {} resets; retries: {} stage downloads, {} stages fetched again, {} FTP attempts",
            self.ftp_connections,
            self.stream_bytes,
            self.stats.resets,
            self.stage_retries,
            self.stage_refetches,
            self.ftp_retries
        )?;
        let w = &self.tftp_why;
        writeln!(
            f,
            "  TFTP resent: DATA after a timeout {} ({} already delivered), after an ACK inside the window {} ({}), after other {} ({}); ACK after a timeout {}, answering DATA {}; requests {}",
            w.data_after_timeout.0,
            w.data_after_timeout.1,
            w.data_after_ack.0,
            w.data_after_ack.1,
            w.data_other.0,
            w.data_other.1,
            w.ack_after_timeout,
            w.ack_after_data,
            w.other
        )?;
        write!(
            f,
            "  server: at most {} TFTP transfers at once, booted {} time(s); {} events, trace hash {:016x}",
            self.peak_transfers, self.server_boots, self.stats.events, self.trace_hash
        )?;
        if self.relayed != (0, 0) {
            write!(
                f,
                "\n  relay: {} requests and {} replies forwarded",
                self.relayed.0, self.relayed.1
            )?;
        }
        if self.classes.len() > 1 {
            for c in &self.classes {
                write!(
                    f,
                    "\n  {:<30} {:>4} clients, {:>4} finished, {:>4} byte-exact (profile {}); chainloaded {}, chain downloads {} (at most {} by one client)",
                    c.class.name(),
                    c.clients,
                    c.finished,
                    c.byte_exact,
                    c.class.profile().name,
                    c.chainloaded,
                    c.chain_downloads,
                    c.most_chain_downloads
                )?;
            }
        }
        Ok(())
    }
}

/// What a host last reacted to: its timer, or a TFTP datagram (opcode).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Timer,
    Tftp(u16),
    Other,
}

/// Per-protocol datagram counts, kept by an observer.
#[derive(Default)]
struct Counter {
    bootp: Traffic,
    tftp: Traffic,
    tftp_why: TftpRetransmissions,
    /// What each host last reacted to.
    trigger: HashMap<HostId, Trigger>,
    /// TFTP datagrams delivered: (from, to, fingerprint).
    delivered: std::collections::HashSet<(SocketAddrV4, SocketAddrV4, u64)>,
    /// The last 16 fingerprints per sender and flow.
    flows: HashMap<(HostId, SocketAddrV4, SocketAddrV4), ([u64; 16], usize)>,
    /// The last BOOTP request's [`RequestId`] per host.
    requests: HashMap<HostId, RequestId>,
}

impl Counter {
    fn sent(&mut self, host: HostId, from: SocketAddrV4, to: SocketAddrV4, bytes: &[u8]) {
        let h = hash_bytes(bytes);
        let (recent, next) = self.flows.entry((host, from, to)).or_insert(([0; 16], 0));
        let mut repeat = recent.contains(&h);
        if !repeat {
            recent[*next] = h;
            *next = (*next + 1) % recent.len();
        }
        let bootp = [from.port(), to.port()]
            .iter()
            .any(|p| *p == SERVER_PORT || *p == CLIENT_PORT);
        if bootp
            && to.port() == SERVER_PORT
            && let Some(id) = request_id(bytes)
            && self.requests.insert(host, id) == Some(id)
        {
            repeat = true;
        }
        let class = if bootp {
            &mut self.bootp
        } else {
            &mut self.tftp
        };
        class.sent += 1;
        if repeat {
            class.retransmitted += 1;
            if !bootp {
                self.classify(host, from, to, bytes, h);
            }
        }
    }

    /// Files a TFTP retransmission under its cause.
    fn classify(
        &mut self,
        host: HostId,
        from: SocketAddrV4,
        to: SocketAddrV4,
        bytes: &[u8],
        h: u64,
    ) {
        let trigger = self.trigger.get(&host).copied().unwrap_or(Trigger::Other);
        let had = self.delivered.contains(&(from, to, h));
        let w = &mut self.tftp_why;
        match opcode(bytes) {
            3 => {
                let slot = match trigger {
                    Trigger::Timer => &mut w.data_after_timeout,
                    Trigger::Tftp(4) => &mut w.data_after_ack,
                    _ => &mut w.data_other,
                };
                slot.0 += 1;
                slot.1 += u64::from(had);
            }
            4 | 6 => match trigger {
                Trigger::Timer => w.ack_after_timeout += 1,
                _ => w.ack_after_data += 1,
            },
            _ => w.other += 1,
        }
    }

    fn delivered(&mut self, host: HostId, from: SocketAddrV4, to: SocketAddrV4, bytes: &[u8]) {
        let bootp = [from.port(), to.port()]
            .iter()
            .any(|p| *p == SERVER_PORT || *p == CLIENT_PORT);
        if bootp {
            self.trigger.insert(host, Trigger::Other);
            return;
        }
        self.trigger.insert(host, Trigger::Tftp(opcode(bytes)));
        self.delivered.insert((from, to, hash_bytes(bytes)));
    }
}

/// A TFTP datagram's opcode (0 when too short).
fn opcode(bytes: &[u8]) -> u16 {
    match bytes {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

/// Deterministic file content.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u32() as u8).collect()
}

/// The MAC of client `i` (0-based).
pub fn mac(i: usize) -> HwAddr {
    HwAddr::ethernet([0x02, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8])
}

/// The TFTP timers of both ends: a LAN's.
pub fn transfer() -> TransferConfig {
    TransferConfig {
        rto: RtoConfig {
            initial: Duration::from_millis(200),
            min: Duration::from_millis(5),
            max: Duration::from_secs(2),
        },
        max_retries: 10,
        give_up_after: Duration::from_secs(10),
        dally: Duration::ZERO,
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// Every stage and file a plain client ends up with: the stages, the
/// manifest, the manifest's files.
pub fn all_paths() -> Vec<&'static str> {
    STAGES
        .iter()
        .map(|(p, _)| *p)
        .chain([MANIFEST])
        .chain(FILES.iter().map(|(p, _)| *p))
        .collect()
}

/// The plain fleet's plan stages, in order.
pub fn plan_stages() -> Vec<&'static str> {
    STAGES.iter().map(|(p, _)| *p).chain([MANIFEST]).collect()
}

impl Fleet {
    /// `clients` clients, seed `seed`, a perfect network, starts spread
    /// over two seconds, no crash, a one-hour time limit, not mixed.
    pub fn new(clients: usize, seed: u64) -> Self {
        Fleet {
            clients,
            seed,
            weather: LinkFaults::PERFECT,
            start_spread: Duration::from_secs(2),
            crashes: Vec::new(),
            time_limit: Instant::from_secs(3600),
            mixed: false,
        }
    }

    /// The class of client `i` (0-based).
    pub fn class(&self, i: usize) -> Class {
        if self.mixed {
            Class::MIXED[i % Class::MIXED.len()]
        } else {
            Class::Plain
        }
    }

    /// The profiles the server has.
    pub fn profiles(&self) -> Vec<&'static FleetProfile> {
        if self.mixed {
            vec![&BIOS_PROFILE, &UEFI_PROFILE, &RELAYED_PROFILE]
        } else {
            vec![&DEFAULT_PROFILE]
        }
    }

    /// The server's configuration: BOOTP/DHCP (DHCP and dynamic BOOTP) on
    /// a pool with room for every client, the plan, read-only TFTP with
    /// the fleet's timers, anonymous FTP.
    pub fn server_config(&self) -> NetbootConfig {
        let mut bootp = BootpConfig::new(SERVER, Ipv4Addr::new(255, 255, 0, 0));
        let first = Ipv4Addr::new(10, 0, 1, 1);
        let last = Ipv4Addr::from(u32::from(first) + self.clients as u32 + 16);
        bootp.net.pool = Some((first, last));
        bootp.bootp_dynamic = true;
        let mut config = NetbootConfig::new();
        config.bootp = Some(bootp_setup(bootp, Vec::new()));
        if self.mixed {
            // Rules only: a client none matches gets nothing, and fails.
            let rule = |arch: Arch, subnet| Match {
                arch: Match::archs(&[arch]),
                subnet,
                ..Match::ANY
            };
            let profile = |p: &FleetProfile| {
                let (chain, _) = p.chain.expect("the mixed profiles chain");
                Profile::new(p.name, &p.plan_stages())
                    .and_then(|prof| prof.chain(chain))
                    .expect("the fleet's profiles are valid")
            };
            let t = &mut config.profiles;
            let added = t
                .add_rule(rule(Arch::BIOS, None), profile(&BIOS_PROFILE))
                .and_then(|_| t.add_rule(rule(Arch::EFI_X64, None), profile(&UEFI_PROFILE)))
                .and_then(|_| {
                    // Architecture and subnet: ranks above architecture
                    // alone. A rule on the subnet alone would rank below
                    // it, and the relayed ROMs would get UEFI_PROFILE.
                    t.add_rule(
                        rule(Arch::EFI_X64, Some(RELAY_SUBNET)),
                        profile(&RELAYED_PROFILE),
                    )
                });
            added.expect("the fleet's rules are valid");
        } else {
            config
                .profiles
                .set_default(&plan_stages())
                .expect("the fleet's stages are valid");
        }
        config.tftp = Some(tftp_endpoint(TftpConfig {
            limits: Limits::default(),
            writable: false,
            overwrite: false,
            transfer: transfer(),
        }));
        config.ftp = Some(ftp_endpoint(FtpConfig {
            anonymous: true,
            login_delay: Duration::from_millis(10),
            ..FtpConfig::default()
        }));
        config
    }

    /// The server: [`Fleet::server_config`], the named FTP user, leases and
    /// progress kept in their files.
    pub fn server(&self) -> SimServer {
        SimServer::new(self.server_config()).users(vec![User {
            name: FTP_USER.0.into(),
            password: FTP_USER.1.into(),
            writable: false,
        }])
    }

    /// The configuration of client `i` (0-based).
    pub fn client_config(&self, i: usize) -> Config {
        let mut c = Config::new(mac(i), Rng::new(self.seed ^ i as u64));
        c.dhcp = i % 2 == 1;
        c.tftp_options.windowsize = Some([1, 4, 8][i % 3]);
        c.tftp = transfer();
        // A LAN's BOOTP timer: eight requests fit in the ten seconds of
        // silence that end the boot phase, so that loss alone almost never
        // passes for silence.
        c.bootp_timeout = Duration::from_millis(250);
        // Enough FTP attempts to ride out a server that is down for a few
        // seconds.
        c.ftp_attempts = 8;
        c.ftp_retry_delay = Duration::from_secs(1);
        if i.is_multiple_of(4) {
            c.login(FTP_USER.0, FTP_USER.1)
                .expect("the fleet's user fits");
        }
        const BIOS: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";
        const UEFI: &[u8] = b"PXEClient:Arch:00007:UNDI:003000";
        // PXE ROMs and iPXE speak DHCP (the PXE specification asks for
        // it), whatever the plain fleet's alternation would say.
        match self.class(i) {
            Class::Plain => {}
            Class::BiosRom => {
                c.dhcp = true;
                // The oldest ROMs send no option 93; the plan counts them
                // as BIOS.
                let arch = (!i.is_multiple_of(8)).then_some(0);
                c.identity = identity(BIOS, arch, false);
                c.chain = Some(identity(BIOS, Some(0), true));
            }
            Class::UefiRom | Class::RelayedUefiRom => {
                c.dhcp = true;
                c.identity = identity(UEFI, Some(7), false);
                c.chain = Some(identity(UEFI, Some(7), true));
            }
            Class::Ipxe => {
                c.dhcp = true;
                c.identity = identity(BIOS, Some(0), true);
            }
        }
        c
    }

    /// The server's files: those of [`Fleet::profile_files`] for every
    /// profile.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        for p in self.profiles() {
            for (path, data) in Fleet::profile_files(p) {
                if !out.iter().any(|(q, _)| *q == path) {
                    out.push((path, data));
                }
            }
        }
        out
    }

    /// The files of one profile: its chain file, stages, a manifest with
    /// every file's digest, the files. The default profile's are
    /// [`Fleet::server_files`]; the others' content derives from each
    /// path.
    pub fn profile_files(p: &FleetProfile) -> Vec<(String, Vec<u8>)> {
        if *p == DEFAULT_PROFILE {
            return Fleet::server_files();
        }
        let data = |path: &str, len| content(hash_bytes(path.as_bytes()), len);
        let mut out = Vec::new();
        for (path, len) in p.chain.iter().chain(p.stages) {
            out.push((path.to_string(), data(path, *len)));
        }
        let mut manifest = format!("# the {} profile's files\n", p.name);
        let mut files = Vec::new();
        for (path, len) in p.files {
            let bytes = data(path, *len);
            let key = path.rsplit('/').next().unwrap_or(path).replace('.', "-");
            manifest += &format!("{key}: {path} sha256:{}\n", Hex(&sha256(&bytes)));
            files.push((path.to_string(), bytes));
        }
        out.push((p.manifest.to_string(), manifest.into_bytes()));
        out.extend(files);
        out
    }

    /// The default profile's files: the stages, a manifest with every
    /// file's digest, the files.
    pub fn server_files() -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (i, (path, len)) in STAGES.iter().enumerate() {
            out.push((path.to_string(), content(i as u64 + 1, *len)));
        }
        let mut manifest = String::from("# the fleet's files\n");
        let mut files = Vec::new();
        for (i, (path, len)) in FILES.iter().enumerate() {
            let data = content(100 + i as u64, *len);
            let key = path.rsplit('/').next().unwrap_or(path).replace('.', "-");
            manifest += &format!("{key}: {path} sha256:{}\n", Hex(&sha256(&data)));
            files.push((path.to_string(), data));
        }
        out.push((MANIFEST.to_string(), manifest.into_bytes()));
        out.extend(files);
        out
    }

    /// What every client must end with, by host (index 0 unused).
    fn expected(&self) -> Rc<Vec<Expect>> {
        let mut out = vec![Expect::default()];
        for i in 0..self.clients {
            let class = self.class(i);
            out.push(Expect {
                class,
                stages: class
                    .profile()
                    .plan_stages()
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                paths: class.paths().iter().map(|s| s.to_string()).collect(),
                files: class.profile().files.len(),
                chain: class
                    .profile()
                    .chain
                    .filter(|_| class.chains())
                    .map(|(c, _)| c.to_string()),
                chain_attempts: usize::from(self.client_config(i).stage_attempts),
            });
        }
        Rc::new(out)
    }

    /// The world, ready to run: the server (host 0), the clients (hosts 1
    /// to `clients`), the relay of a mixed fleet (host `clients + 1`, on
    /// segment 1 with the relayed clients), the invariants, and the
    /// per-protocol counter.
    fn build(&self) -> (Sim, Rc<RefCell<Counter>>) {
        let mut sim = Sim::new(self.seed);
        sim.set_weather(self.weather);
        let fleet = self.clone();
        let server = sim.add_host("server", SERVER, move || Box::new(fleet.server()));
        for (path, data) in self.files() {
            sim.store_mut(server).insert(&path, data);
        }
        let n = self.clients.max(1) as u128;
        for i in 0..self.clients {
            let at = Instant::from_micros((self.start_spread.as_micros() * i as u128 / n) as u64);
            let config = self.client_config(i);
            let h = sim.add_host_at(
                &format!("client{i}"),
                Ipv4Addr::UNSPECIFIED,
                at,
                move || Box::new(Provisioner::new(config.clone())),
            );
            if self.class(i) == Class::RelayedUefiRom {
                sim.set_segment(h, 1);
            }
        }
        for h in 0..=self.clients {
            sim.strict_timers(h);
        }
        if self.mixed {
            let relay = sim.add_host("relay", RELAY, || Box::new(Relay::new(SERVER)));
            sim.set_segment(relay, 1);
            sim.strict_timers(relay);
        }
        for c in &self.crashes {
            sim.schedule(c.at, Fault::Crash(server));
            sim.schedule(c.at + c.down, Fault::Restart(server));
        }
        sim.set_time_limit(self.time_limit);
        add_invariants(&mut sim, self.expected());
        let counter = Rc::new(RefCell::new(Counter::default()));
        let c = counter.clone();
        sim.observe(move |_, ev| match ev {
            Observed::Sent {
                host,
                from,
                to,
                bytes,
            } => c.borrow_mut().sent(*host, *from, *to, bytes),
            Observed::Delivered {
                host,
                from,
                to,
                bytes,
            } => c.borrow_mut().delivered(*host, *from, *to, bytes),
            Observed::Timer { host } => {
                c.borrow_mut().trigger.insert(*host, Trigger::Timer);
            }
        });
        (sim, counter)
    }

    /// Runs the scenario to its end, checks the outcome (panicking with the
    /// seed and the replay command when something is wrong) and reports.
    pub fn run(&self) -> FleetReport {
        let (mut sim, counter) = self.build();
        sim.run();
        let expected = self.expected();
        if let Err(why) = check(&sim, &expected) {
            sim.fail(&why);
        }
        let counter = counter.borrow();
        let mut report = FleetReport {
            seed: self.seed,
            clients: self.clients,
            finished: 0,
            byte_exact: 0,
            last_finished: Instant::ZERO,
            median_finished: Instant::ZERO,
            stats: sim.stats(),
            bootp: counter.bootp,
            tftp: counter.tftp,
            tftp_why: counter.tftp_why,
            ftp_connections: sim.stats().connections,
            stream_bytes: sim.stats().stream_bytes,
            stage_retries: 0,
            stage_refetches: 0,
            ftp_retries: 0,
            peak_transfers: 0,
            server_boots: sim.boots(0),
            classes: Vec::new(),
            relayed: (0, 0),
            trace_hash: sim.trace_hash(),
        };
        let mut classes: Vec<ClassReport> = Vec::new();
        let mut times = Vec::new();
        for h in 1..=self.clients {
            let c = client(&sim, h);
            let e = &expected[h];
            let at = match classes.iter().position(|r| r.class == e.class) {
                Some(at) => at,
                None => {
                    classes.push(ClassReport {
                        class: e.class,
                        clients: 0,
                        finished: 0,
                        byte_exact: 0,
                        chainloaded: 0,
                        chain_downloads: 0,
                        most_chain_downloads: 0,
                    });
                    classes.len() - 1
                }
            };
            let class = &mut classes[at];
            class.clients += 1;
            if c.outcome == Some(Ok(())) {
                report.finished += 1;
                class.finished += 1;
            }
            if let Some(t) = c.finished_at {
                times.push(t);
            }
            report.stage_retries += c.stage_retries;
            report.ftp_retries += c.ftp_retries;
            report.stage_refetches += (c.report.stages.len() - e.stages.len()) as u64;
            if exact(&sim, h, e) {
                report.byte_exact += 1;
                class.byte_exact += 1;
            }
            let started = c.chain_log.iter().filter(|(_, done)| !done).count();
            class.chain_downloads += started;
            class.most_chain_downloads = class.most_chain_downloads.max(started);
            if c.report.chain.is_some() {
                class.chainloaded += 1;
            }
        }
        classes.sort_by_key(|c| c.class);
        report.classes = classes;
        if self.mixed
            && let Some(r) = sim.app::<Relay>(self.clients + 1)
        {
            report.relayed = (r.requests, r.replies);
        }
        times.sort();
        report.last_finished = times.last().copied().unwrap_or(Instant::ZERO);
        report.median_finished = times.get(times.len() / 2).copied().unwrap_or(Instant::ZERO);
        if let Some(s) = sim.app::<SimServer>(0) {
            report.peak_transfers = s.peak_transfers();
        }
        if report.tftp_why.total() != report.tftp.retransmitted {
            sim.fail(&format!(
                "TFTP retransmissions by cause ({}) differ from their count ({})",
                report.tftp_why.total(),
                report.tftp.retransmitted
            ));
        }
        if report.bootp.retransmitted + report.tftp.retransmitted != report.stats.retransmitted {
            sim.fail(&format!(
                "retransmissions counted per protocol ({} + {}) differ from the simulator's ({})",
                report.bootp.retransmitted, report.tftp.retransmitted, report.stats.retransmitted
            ));
        }
        report
    }
}

/// What one client must end with, and may hold on the way.
#[derive(Clone, Debug)]
struct Expect {
    class: Class,
    /// Its profile's stages, in the plan's order.
    stages: Vec<String>,
    /// Every file it must end with, byte-identical to the server's, and
    /// the only files it may ever hold.
    paths: Vec<String>,
    /// The number of files the manifest names.
    files: usize,
    /// The iPXE build it chainloads (boot ROMs only).
    chain: Option<String>,
    /// Most downloads of the chain file it may start: one, and one more
    /// per failed download (the flow's stage attempts).
    chain_attempts: usize,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            class: Class::Plain,
            stages: Vec::new(),
            paths: Vec::new(),
            files: 0,
            chain: None,
            chain_attempts: 0,
        }
    }
}

fn client(sim: &Sim, h: HostId) -> &Provisioner {
    sim.app::<Provisioner>(h)
        .expect("every client host runs a Provisioner")
}

/// True when client `h` has every file of its profile, identical to the
/// server's.
fn exact(sim: &Sim, h: HostId, e: &Expect) -> bool {
    e.paths
        .iter()
        .all(|p| sim.store(h).get(p).is_some() && sim.store(h).get(p) == sim.store(0).get(p))
}

/// The first file client `h` holds that is not its profile's, or that
/// differs from the server's.
fn wrong_file(sim: &Sim, h: HostId, e: &Expect) -> Option<String> {
    let store = sim.store(h);
    let server = sim.store(0);
    store
        .mem()
        .files()
        .find(|p| !e.paths.iter().any(|q| q == p) || server.get(p) != store.get(p))
        .map(str::to_string)
}

/// The end-of-run checks.
fn check(sim: &Sim, expected: &[Expect]) -> Result<(), String> {
    let clients = expected.len() - 1;
    let mut addresses = HashMap::new();
    for (h, e) in expected.iter().enumerate().skip(1) {
        let c = client(sim, h);
        match &c.outcome {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(format!("{} failed: {e}", sim.name(h))),
            None => return Err(format!("{} did not finish", sim.name(h))),
        }
        if !exact(sim, h, e) {
            return Err(format!(
                "{} ({}): a file of profile {} differs from the server's",
                sim.name(h),
                e.class.name(),
                e.class.profile().name
            ));
        }
        if let Some(p) = wrong_file(sim, h, e) {
            return Err(format!(
                "{} ({}) holds {p}, which is not its profile's ({}) or differs",
                sim.name(h),
                e.class.name(),
                e.class.profile().name
            ));
        }
        if c.report.files.len() != e.files || !c.report.files.iter().all(|f| f.verified) {
            return Err(format!(
                "{}: files not all verified: {:?}",
                sim.name(h),
                c.report.files
            ));
        }
        let loaded = c.chain_log.iter().filter(|(_, done)| *done).count();
        if loaded != usize::from(e.chain.is_some()) {
            return Err(format!(
                "{} ({}) chainloaded {loaded} time(s) (its chain downloads: {:?})",
                sim.name(h),
                e.class.name(),
                c.chain_log
            ));
        }
        let ip = sim.ip(h);
        if let Some(other) = addresses.insert(ip, h) {
            return Err(format!(
                "{} and {} both have {ip}",
                sim.name(other),
                sim.name(h)
            ));
        }
    }
    let Some(app) = sim.app::<SimServer>(0) else {
        return Err("the server is not running".into());
    };
    let Some(server) = app.server() else {
        return Err("the server is not running".into());
    };
    // The server served each chain file whole at most once per client: a
    // second time would be a boot loop (a transfer that ended well means
    // the client had the file, and ran it).
    let mut served: HashMap<Ipv4Addr, usize> = HashMap::new();
    for done in app.completions().filter(|c| c.is_success()) {
        let std::net::SocketAddr::V4(peer) = done.peer else {
            continue;
        };
        let Some(&h) = addresses.get(peer.ip()) else {
            continue;
        };
        if expected[h].chain.as_deref() == Some(done.path.as_str()) {
            let n = served.entry(*peer.ip()).or_default();
            *n += 1;
            if *n > 1 {
                return Err(format!(
                    "the server sent {} to {} {n} times",
                    done.path,
                    sim.name(h)
                ));
            }
        }
    }
    // Also after a restart: the server saved every client's progress as it
    // changed, so the restarted one knows who finished.
    for (h, e) in expected.iter().enumerate().skip(1) {
        let hw = mac(h - 1);
        let at = server.stage_of(&hw);
        if at != Some(e.stages.len()) {
            let log = &client(sim, h).stage_log;
            return Err(format!(
                "the plan has {} at stage {at:?}, not finished (its stage downloads: {log:?})",
                sim.name(h)
            ));
        }
    }
    let bound: Vec<_> = server
        .leases()
        .filter(|l| l.state == LeaseState::Bound)
        .collect();
    if bound.len() != clients {
        return Err(format!(
            "{} bound leases for {clients} clients",
            bound.len()
        ));
    }
    for l in bound {
        match addresses.get(&l.ip) {
            Some(&h) if mac(h - 1) == l.hw => {}
            _ => {
                return Err(format!(
                    "lease {} to {} is not what the client holds",
                    l.ip, l.hw
                ));
            }
        }
    }
    Ok(())
}

/// What the invariants remember about each client.
#[derive(Clone)]
struct Seen {
    /// The plan's next stage for it (stages completed in order).
    next: usize,
    /// Entries of the client's stage log checked.
    logged: usize,
    published: u64,
}

impl Seen {
    const NEW: Seen = Seen {
        next: 0,
        logged: 0,
        published: 0,
    };

    /// Checks that stage `file` may be started (`done`: completed) now and
    /// moves the client along. A stage is the plan's next or the one just
    /// fetched (handed out again because the server had not seen the
    /// download end). Nothing earlier, even after a server restart: the
    /// server saves a client's progress before it hands out the next stage,
    /// so a restart forgets none of it. A file of another profile, or the
    /// chain file handed out as a stage (iPXE not recognised, a loop), is
    /// no stage of the plan and fails.
    fn stage(&mut self, stages: &[String], file: &str, done: bool) -> bool {
        let Some(j) = stages.iter().position(|s| *s == file) else {
            return false;
        };
        if j != self.next && j + 1 != self.next {
            return false;
        }
        self.next = if done { j + 1 } else { j };
        true
    }
}

/// What the persistence invariant remembers.
#[derive(Default)]
struct Holders {
    /// The client last seen holding each address.
    holder: HashMap<Ipv4Addr, HostId>,
    /// The server boot whose events are being read, and how many of them
    /// were checked.
    boot: u32,
    checked: usize,
}

impl Holders {
    /// After an event that touched `touched`.
    fn check(&mut self, sim: &Sim, touched: HostId, clients: usize) -> Result<(), String> {
        if touched != 0 {
            let ip = sim.ip(touched);
            if touched <= clients && !ip.is_unspecified() {
                self.holder.insert(ip, touched);
            }
            return Ok(());
        }
        let Some(app) = sim.app::<SimServer>(0) else {
            return Ok(());
        };
        let Some(server) = app.server() else {
            return Ok(());
        };
        if sim.boots(0) != self.boot {
            self.boot = sim.boots(0);
            self.checked = 0;
            // Just booted: it must know every address a client holds.
            let bound: HashMap<Ipv4Addr, HwAddr> = server
                .leases()
                .filter(|l| l.state == LeaseState::Bound)
                .map(|l| (l.ip, l.hw))
                .collect();
            for h in 1..=clients {
                let ip = sim.ip(h);
                if !ip.is_unspecified() && bound.get(&ip) != Some(&mac(h - 1)) {
                    return Err(format!(
                        "{} holds {ip}, which the server booted again without (its lease: {:?})",
                        sim.name(h),
                        bound.get(&ip)
                    ));
                }
            }
        }
        for event in &app.events[self.checked..] {
            let (Event::Bootp(BootpEvent::Acked { hw, ip, .. })
            | Event::Bootp(BootpEvent::BootpReplied { hw, ip, .. })) = event
            else {
                continue;
            };
            if let Some(&h) = self.holder.get(ip)
                && sim.ip(h) == *ip
                && mac(h - 1) != *hw
            {
                return Err(format!(
                    "the server gave {ip} to {hw}, but {} holds it",
                    sim.name(h)
                ));
            }
        }
        self.checked = app.events.len();
        Ok(())
    }
}

fn add_invariants(sim: &mut Sim, expected: Rc<Vec<Expect>>) {
    let clients = expected.len() - 1;
    let mut holders = Holders::default();
    sim.invariant(
        "an address handed out survives the server",
        move |sim, touched| touched.map_or(Ok(()), |h| holders.check(sim, h, clients)),
    );
    sim.invariant("no two hosts hold one address", |sim, _| {
        match sim.conflicts().first() {
            None => Ok(()),
            Some((ip, a, b)) => Err(format!(
                "{} and {} both took {ip}",
                sim.name(*a),
                sim.name(*b)
            )),
        }
    });
    let mut seen = vec![Seen::NEW; clients + 1];
    sim.invariant(
        "stages in the plan's order, the chain file at most once, published files exact and the client's own",
        move |sim, touched| {
            let Some(h) = touched.filter(|&h| h >= 1 && h <= clients) else {
                return Ok(());
            };
            let Some(c) = sim.app::<Provisioner>(h) else {
                // Down: its program is gone.
                return Ok(());
            };
            let e = &expected[h];
            let s = &mut seen[h];
            if c.stage_log.len() < s.logged {
                // The client rebooted and started over.
                *s = Seen::NEW;
            }
            for (file, done) in &c.stage_log[s.logged..] {
                if !s.stage(&e.stages, file, *done) {
                    let what = if *done { "completed" } else { "started" };
                    return Err(format!(
                        "{} ({}) {what} {file} when its next stage is {:?} (its stage downloads: {:?})",
                        sim.name(h),
                        e.class.name(),
                        e.stages.get(s.next),
                        c.stage_log
                    ));
                }
            }
            s.logged = c.stage_log.len();
            // A boot ROM fetches its own chain file, whole once, started
            // again only after a failed download; nobody else fetches one.
            let started = c.chain_log.iter().filter(|(_, done)| !done).count();
            if c.chain_log.iter().any(|(f, _)| Some(f) != e.chain.as_ref())
                || started > e.chain_attempts
            {
                return Err(format!(
                    "{} ({}) chainloads {:?}, expected {:?} at most {} time(s)",
                    sim.name(h),
                    e.class.name(),
                    c.chain_log,
                    e.chain,
                    e.chain_attempts
                ));
            }
            if c.published != s.published {
                s.published = c.published;
                if let Some(p) = wrong_file(sim, h, e) {
                    return Err(format!(
                        "{} ({}) published {p}, which is not its profile's ({}) or has the wrong content",
                        sim.name(h),
                        e.class.name(),
                        e.class.profile().name
                    ));
                }
            }
            Ok(())
        },
    );
}

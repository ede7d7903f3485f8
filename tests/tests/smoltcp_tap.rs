//! The firmware adapter (`netboot-smoltcp`) netbooting on the host: a
//! smoltcp interface on a TAP device inside a network namespace this test
//! creates, against our own BOOTP and TFTP servers (the mio adapter) on the
//! kernel's side of the TAP. The board asks BOOTP for its address and boot
//! file, configures itself, and downloads the file over TFTP into a RAM
//! region, which must hold the file byte for byte. A second download,
//! too large for its region, must fail with TFTP's "disk full" and leave the
//! region without a file.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant as StdInstant};

use netboot_core::bootp::HwAddr;
use netboot_core::bootp::client::ClientConfig;
use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::server::ServerConfig;
use netboot_core::rng::Rng;
use netboot_core::storage::StoreError;
use netboot_core::tftp::options::Request;
use netboot_core::tftp::{TransferConfig, TransferError};
use netboot_mio::server::Server;
use netboot_smoltcp::time::{from_smoltcp, to_smoltcp};
use netboot_smoltcp::{Bootp, Lease, SliceStore, TftpGet, configure};
use netboot_std::setup::ServerSetup;
use netboot_tests::netns::{enter, ip};
use netboot_tests::{require_root, test_bytes, unique_name};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, Medium, TunTapInterface, wait};
use smoltcp::socket::udp;
use smoltcp::wire::{EthernetAddress, HardwareAddress};

const BOARD_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x42];
const IMAGE_LEN: usize = 700_000 + 77;

/// Deletes the namespace when dropped.
struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// The board: a smoltcp interface and its two UDP sockets.
struct Board<'a> {
    iface: Interface,
    device: TunTapInterface,
    sockets: SocketSet<'a>,
    bootp: SocketHandle,
    tftp: SocketHandle,
    epoch: StdInstant,
}

impl Board<'_> {
    fn now(&self) -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    /// Polls the interface, runs `step` with the current time, then sleeps
    /// until the next deadline (at most 50 ms) or a frame; gives up after
    /// `limit`.
    fn run<T>(
        &mut self,
        limit: Duration,
        mut step: impl FnMut(
            &mut Self,
            netboot_core::time::Instant,
        ) -> (Option<T>, Option<netboot_core::time::Instant>),
    ) -> Option<T> {
        let start = StdInstant::now();
        while start.elapsed() < limit {
            let now = self.now();
            self.iface.poll(now, &mut self.device, &mut self.sockets);
            let (done, deadline) = step(self, from_smoltcp(now));
            // Send what the step queued.
            self.iface
                .poll(self.now(), &mut self.device, &mut self.sockets);
            if done.is_some() {
                return done;
            }
            let now = self.now();
            let mut delay = self
                .iface
                .poll_delay(now, &self.sockets)
                .unwrap_or(smoltcp::time::Duration::from_millis(50));
            if let Some(d) = deadline {
                let until = to_smoltcp(d) - now;
                delay = delay.min(until);
            }
            delay = delay.min(smoltcp::time::Duration::from_millis(50));
            let _ = wait(self.device.as_raw_fd(), Some(delay));
        }
        None
    }
}

fn socket<'a>(port: u16) -> udp::Socket<'a> {
    let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 16], vec![0u8; 16 * 1600]);
    let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0u8; 4 * 1600]);
    let mut s = udp::Socket::new(rx, tx);
    s.bind(port).unwrap();
    s
}

#[test]
fn firmware_netboots_over_a_tap_against_our_servers() {
    if !require_root("firmware_netboots_over_a_tap_against_our_servers") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("boot")).unwrap();
    let image = test_bytes(77, IMAGE_LEN);
    std::fs::write(root.path().join("boot/firmware.img"), &image).unwrap();
    let ns = Namespace(unique_name("nbfw"));
    ip(&["netns", "add", &ns.0]);
    let tap = unique_name("nbtap");
    let (ns_name, root_path) = (ns.0.clone(), root.path().to_path_buf());
    let result = std::thread::spawn(move || {
        enter(&ns_name).unwrap();
        // The TAP is created in the namespace; the kernel's side of it is
        // the server's link.
        let device = TunTapInterface::new(&tap, Medium::Ethernet).unwrap();
        ip(&["-n", &ns_name, "link", "set", "lo", "up"]);
        ip(&["-n", &ns_name, "addr", "add", "10.65.0.1/24", "dev", &tap]);
        ip(&["-n", &ns_name, "link", "set", &tap, "up"]);
        // Our servers, bound inside the namespace.
        let mut config =
            ServerConfig::new(Ipv4Addr::new(10, 65, 0, 1), Ipv4Addr::new(255, 255, 255, 0));
        config.net.router = Some(Ipv4Addr::new(10, 65, 0, 1));
        let mut host = Host::new(HwAddr::ethernet(BOARD_MAC));
        host.ip = Some(Ipv4Addr::new(10, 65, 0, 10));
        host.set_file("boot/firmware.img").unwrap();
        host.next_server = Some(Ipv4Addr::new(10, 65, 0, 1));
        // BOOTP on the TAP and TFTP, on one loop.
        let setup = ServerSetup::new(&root_path)
            .no_ftp()
            .bootp(config)
            .hosts(vec![host])
            .bootp_listen("0.0.0.0:67".parse().unwrap())
            .interface(&tap)
            .unwrap()
            .tftp_listen("10.65.0.1:69".parse().unwrap());
        let _servers = Server::bind(setup).unwrap().spawn().unwrap();
        netboot(device)
    })
    .join()
    .unwrap();
    let (lease, got, too_big) = result;
    assert_eq!(lease.ip, Ipv4Addr::new(10, 65, 0, 10));
    assert_eq!(lease.netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(lease.server, Some(Ipv4Addr::new(10, 65, 0, 1)));
    assert_eq!(lease.file.as_str(), "boot/firmware.img");
    assert_eq!(got.0, "boot/firmware.img");
    assert_eq!(got.1.len(), IMAGE_LEN);
    assert!(got.1 == image, "the downloaded image differs");
    assert_eq!(
        too_big,
        (Err(TransferError::Storage(StoreError::Full)), false),
        "a file larger than its region fails and leaves no file"
    );
}

/// The board's side: BOOTP, configure, TFTP into RAM; then a download
/// into a region too small. Returns the lease, the file, and the second
/// download's outcome with whether a file is left.
#[allow(clippy::type_complexity)]
fn netboot(
    mut device: TunTapInterface,
) -> (Lease, (String, Vec<u8>), (Result<u64, TransferError>, bool)) {
    let epoch = StdInstant::now();
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(BOARD_MAC)));
    config.random_seed = 7;
    let iface = Interface::new(config, &mut device, smoltcp::time::Instant::from_micros(0));
    assert!(device.capabilities().max_transmission_unit >= 1500);
    let mut sockets = SocketSet::new(vec![]);
    let bootp = sockets.add(socket(68));
    let tftp = sockets.add(socket(49_152 + 77));
    let mut board = Board {
        iface,
        device,
        sockets,
        bootp,
        tftp,
        epoch,
    };

    // BOOTP: the machine's own back-off, from 250 ms.
    let mut c = ClientConfig::new(HwAddr::ethernet(BOARD_MAC), Rng::new(42));
    c.initial_timeout = netboot_core::time::Duration::from_millis(250);
    c.max_timeout = netboot_core::time::Duration::from_secs(1);
    c.jitter = netboot_core::time::Duration::from_millis(50);
    c.attempts = 8;
    let mut client = Bootp::new(c, from_smoltcp(board.now())).unwrap();
    let lease = board
        .run(Duration::from_secs(20), |b, now| {
            let s = b.sockets.get_mut::<udp::Socket>(b.bootp);
            (client.poll(now, s), client.poll_at())
        })
        .expect("no BOOTP answer in 20 s")
        .expect("BOOTP failed");
    configure(&mut board.iface, &lease);

    // TFTP into a RAM region of exactly the advertised size plus slack.
    let server = SocketAddr::V4(SocketAddrV4::new(lease.server.unwrap(), 69));
    let request = Request {
        blksize: Some(1468),
        windowsize: Some(4),
        tsize: Some(0),
        timeout: None,
    };
    let mut region = vec![0u8; 1 << 20];
    let mut store = SliceStore::new(&mut region);
    let (mut tx, mut rx) = ([0u8; 1472], [0u8; 1472]);
    let mut get = TftpGet::start(
        from_smoltcp(board.now()),
        &TransferConfig::default(),
        server,
        lease.file.as_str(),
        request,
        &mut store,
        lease.file.as_str(),
    )
    .unwrap();
    let outcome = board
        .run(Duration::from_secs(30), |b, now| {
            let s = b.sockets.get_mut::<udp::Socket>(b.tftp);
            let out = get.poll(now, s, &mut store, &mut tx, &mut rx);
            // Done once it has also stopped lingering for a lost final ACK.
            (out.filter(|_| get.is_closed()), get.poll_at())
        })
        .expect("the download did not finish in 30 s");
    assert_eq!(outcome, Ok(IMAGE_LEN as u64));
    let got = store
        .file()
        .map(|(n, b)| (n.to_string(), b.to_vec()))
        .unwrap();

    // The same file into a region too small for it.
    let mut small = vec![0u8; 100_000];
    let mut store = SliceStore::new(&mut small);
    let mut get = TftpGet::start(
        from_smoltcp(board.now()),
        &TransferConfig::default(),
        server,
        lease.file.as_str(),
        request,
        &mut store,
        "small",
    )
    .unwrap();
    let failed = board
        .run(Duration::from_secs(30), |b, now| {
            let s = b.sockets.get_mut::<udp::Socket>(b.tftp);
            (
                get.poll(now, s, &mut store, &mut tx, &mut rx),
                get.poll_at(),
            )
        })
        .expect("the failing download did not end in 30 s");
    (lease, got, (failed, store.file().is_some()))
}

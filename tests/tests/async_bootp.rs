//! The async BOOTP/DHCP server and client (`netboot-async-std`): against
//! each other on loopback, and ISC dhclient against the async server inside
//! network namespaces this test creates.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use async_std::task::block_on;
use netboot_async_std::bootp::{BootpServer, RequestError, RequestOptions, request};
use netboot_core::bootp::HwAddr;
use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::server::ServerConfig;
use netboot_tests::dhcp::script;
use netboot_tests::netns::{NetnsPair, enter};
use netboot_tests::{
    BoundedOutput, ChildGuard, free_udp_port, require_program, require_root, wait_for,
};

/// A pool of 50 addresses and one fixed host, listening on `listen`.
fn bootp_server(net: [u8; 3], host_mac: [u8; 6], listen: &str) -> BootpServer {
    let ip = |last| Ipv4Addr::new(net[0], net[1], net[2], last);
    let mut c = ServerConfig::new(ip(1), Ipv4Addr::new(255, 255, 255, 0));
    c.net.pool = Some((ip(100), ip(149)));
    c.net.router = Some(ip(1));
    c.file.push_str("pool.img").unwrap();
    let mut h = Host::new(HwAddr::ethernet(host_mac));
    h.ip = Some(ip(10));
    h.set_hostname("client").unwrap();
    h.set_file("host/boot.img").unwrap();
    h.next_server = Some(ip(2));
    BootpServer::new(c)
        .hosts(vec![h])
        .listen(listen.parse().unwrap())
}

fn options(server: SocketAddr, mac: [u8; 6], dhcp: bool) -> RequestOptions {
    let mut o = RequestOptions::new(HwAddr::ethernet(mac));
    o.dhcp = dhcp;
    o.server = Some(server);
    o.client_port = free_udp_port();
    o.initial_timeout = Duration::from_millis(200);
    o.max_timeout = Duration::from_millis(400);
    o.attempts = 3;
    o.seed = Some(u64::from(mac[5]));
    o
}

#[test]
fn async_dhcp_and_bootp_clients_over_loopback_and_leases_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases");
    block_on(async {
        let server = bootp_server([10, 9, 0], [2, 0, 0, 0, 0, 7], "127.0.0.1:0")
            .lease_file(&leases)
            .spawn()
            .unwrap();
        let addr = server.local_addr();
        let a = request(&options(addr, [2, 0, 0, 0, 0, 1], true))
            .await
            .unwrap();
        assert_eq!((a.ip, a.dhcp), (Ipv4Addr::new(10, 9, 0, 100), true));
        assert_eq!(a.file.as_deref(), Some("pool.img"));
        let h = request(&options(addr, [2, 0, 0, 0, 0, 7], false))
            .await
            .unwrap();
        assert_eq!((h.ip, h.dhcp), (Ipv4Addr::new(10, 9, 0, 10), false));
        assert_eq!(h.file.as_deref(), Some("host/boot.img"));
        assert_eq!(h.server, Some(Ipv4Addr::new(10, 9, 0, 2)));
        server.shutdown().await.unwrap();
        // Saved at shutdown; the same client gets the same address back
        // from a new server.
        let text = std::fs::read_to_string(&leases).unwrap();
        assert!(text.contains("10.9.0.100"), "{text}");
        let server = bootp_server([10, 9, 0], [2, 0, 0, 0, 0, 7], "127.0.0.1:0")
            .lease_file(&leases)
            .spawn()
            .unwrap();
        let b = request(&options(server.local_addr(), [2, 0, 0, 0, 0, 2], true))
            .await
            .unwrap();
        assert_eq!(
            b.ip,
            Ipv4Addr::new(10, 9, 0, 101),
            "the restored lease stays taken"
        );
        let again = request(&options(server.local_addr(), [2, 0, 0, 0, 0, 1], true))
            .await
            .unwrap();
        assert_eq!(again.ip, Ipv4Addr::new(10, 9, 0, 100));
        server.shutdown().await.unwrap();
        // Nobody answers: the client times out after its attempts.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = request(&options(
            silent.local_addr().unwrap(),
            [2, 0, 0, 0, 0, 3],
            true,
        ))
        .await
        .unwrap_err();
        assert!(
            matches!(err, RequestError::TimedOut { attempts: 3 }),
            "{err}"
        );
    });
}

#[test]
fn isc_dhclient_against_the_async_server_in_namespaces() {
    let test = "isc_dhclient_against_the_async_server_in_namespaces";
    if !require_root(test) || require_program(test, "dhclient").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pair = NetnsPair::new(63);
    let mac_text = pair
        .in_client("cat")
        .arg(format!("/sys/class/net/{}/address", pair.client_if))
        .bounded_output()
        .unwrap();
    let mac: HwAddr = String::from_utf8(mac_text.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut octets = [0u8; 6];
    octets.copy_from_slice(mac.as_bytes());
    // Our async server, in-process, on a thread inside the server namespace.
    let (ns, dev) = (pair.server.clone(), pair.server_if.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let server_thread = std::thread::spawn(move || {
        enter(&ns).expect("enter the server namespace");
        let server = bootp_server([10, 63, 0], octets, "0.0.0.0:67")
            .interface(&dev)
            .unwrap()
            .build()
            .expect("bind port 67 in the namespace");
        tx.send(server.stopper()).unwrap();
        block_on(server.run())
    });
    let stopper = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server started");
    let out = dir.path().join("dhclient.out");
    let script = script(
        dir.path(),
        "dhclient-script",
        &format!(
            "echo \"reason=$reason ip=$new_ip_address mask=$new_subnet_mask file=$new_filename next=$new_next_server host=$new_host_name\" >> {}",
            out.display()
        ),
    );
    let _dhclient = ChildGuard::spawn(
        "dhclient",
        pair.in_client("dhclient")
            .args(["-d", "-1", "-sf"])
            .arg(&script)
            .arg("-lf")
            .arg(dir.path().join("dhclient.leases"))
            .arg("-pf")
            .arg(dir.path().join("dhclient.pid"))
            .arg(&pair.client_if),
    )
    .unwrap();
    let bound = wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("reason=BOUND"))
            .map(str::to_string)
    });
    stopper.stop();
    server_thread.join().unwrap().unwrap();
    assert_eq!(
        bound.as_deref(),
        Some(
            "reason=BOUND ip=10.63.0.10 mask=255.255.255.0 file=host/boot.img next=10.63.0.2 host=client"
        )
    );
}

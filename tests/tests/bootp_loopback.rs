//! The mio BOOTP server and blocking client against each other on
//! loopback: no root, no namespaces. Real-peer interop lives in
//! `bootp_interop.rs`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use netboot_core::bootp::HwAddr;
use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::leases::LeaseState;
use netboot_core::bootp::server::ServerConfig;
use netboot_mio::bootp::client::{Assigned, RequestError, RequestOptions, request};
use netboot_mio::server::{NetbootHandle, Server};
use netboot_std::setup::ServerSetup;
use netboot_tests::free_udp_port;

fn config() -> ServerConfig {
    let mut c = ServerConfig::new(Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(255, 255, 255, 0));
    c.net.pool = Some((Ipv4Addr::new(10, 9, 0, 100), Ipv4Addr::new(10, 9, 0, 149)));
    c.net.router = Some(Ipv4Addr::new(10, 9, 0, 1));
    c.file.push_str("default.ipxe").unwrap();
    c
}

/// A server with BOOTP only (its root is opened, never served).
fn start(hosts: Vec<Host>, lease_file: Option<&Path>) -> (NetbootHandle, SocketAddr) {
    let mut setup = ServerSetup::new(std::env::temp_dir())
        .no_tftp()
        .no_ftp()
        .bootp(config())
        .hosts(hosts)
        .bootp_listen("127.0.0.1:0".parse().unwrap());
    if let Some(path) = lease_file {
        setup = setup.lease_file(path);
    }
    let server = Server::bind(setup).unwrap();
    let addr = server.bootp_addr().unwrap();
    (server.spawn().unwrap(), addr)
}

fn ask(server: SocketAddr, mac: [u8; 6], dhcp: bool) -> Result<Assigned, RequestError> {
    let mut o = RequestOptions::new(HwAddr::ethernet(mac));
    o.dhcp = dhcp;
    o.server = Some(server);
    o.client_port = free_udp_port();
    o.initial_timeout = Duration::from_millis(200);
    o.max_timeout = Duration::from_millis(400);
    o.attempts = 3;
    o.seed = Some(u64::from(mac[5]));
    request(&o)
}

#[test]
fn dhcp_and_bootp_clients_get_address_and_boot_file_over_loopback() {
    let mut h = Host::new(HwAddr::ethernet([2, 0, 0, 0, 0, 7]));
    h.ip = Some(Ipv4Addr::new(10, 9, 0, 7));
    h.set_file("node7.img").unwrap();
    h.next_server = Some(Ipv4Addr::new(10, 9, 0, 2));
    let (handle, addr) = start(vec![h], None);

    let a = ask(addr, [2, 0, 0, 0, 0, 1], true).unwrap();
    assert_eq!(a.ip, Ipv4Addr::new(10, 9, 0, 100));
    assert_eq!(a.file.as_deref(), Some("default.ipxe"));
    assert_eq!(a.server, Some(Ipv4Addr::new(10, 9, 0, 1)));
    assert_eq!(a.netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(a.lease_time, Some(3600));
    assert!(a.dhcp);
    assert!(
        a.options
            .iter()
            .any(|(c, v)| *c == 54 && v == &[10, 9, 0, 1])
    );

    let b = ask(addr, [2, 0, 0, 0, 0, 7], false).unwrap();
    assert_eq!(b.ip, Ipv4Addr::new(10, 9, 0, 7));
    assert_eq!(b.file.as_deref(), Some("node7.img"));
    assert_eq!(b.server, Some(Ipv4Addr::new(10, 9, 0, 2)));
    assert!(!b.dhcp);

    // An unknown plain BOOTP client gets nothing (no bootp_dynamic): a
    // clean time-out after the configured attempts.
    match ask(addr, [2, 0, 0, 0, 0, 9], false) {
        Err(RequestError::TimedOut { attempts: 3 }) => {}
        other => panic!("expected a time-out, got {other:?}"),
    }
    handle.shutdown().unwrap();
}

#[test]
fn leases_are_saved_atomically_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bootp.leases");
    let (handle, addr) = start(Vec::new(), Some(&path));
    let first = ask(addr, [2, 0, 0, 0, 0, 1], true).unwrap();
    let second = ask(addr, [2, 0, 0, 0, 0, 2], true).unwrap();
    assert_ne!(first.ip, second.ip);
    handle.shutdown().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# netboot leases v1\n"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains(" bound ")).count(),
        2,
        "{text}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "bootp.leases")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (restored, bad) =
        netboot_std::leasefile::load(&path, netboot_core::time::Instant::ZERO).unwrap();
    assert!(bad.is_empty());
    assert_eq!(restored.len(), 2);
    assert!(restored.iter().all(|l| l.state == LeaseState::Bound));

    // A new server reads the file. The second client asks first: without
    // the restored leases it would get the first client's address.
    let (handle, addr) = start(Vec::new(), Some(&path));
    let again2 = ask(addr, [2, 0, 0, 0, 0, 2], true).unwrap();
    let again1 = ask(addr, [2, 0, 0, 0, 0, 1], true).unwrap();
    assert_eq!(again2.ip, second.ip);
    assert_eq!(again1.ip, first.ip);
    handle.shutdown().unwrap();
}

#[test]
fn an_address_is_never_acknowledged_unsaved_and_a_failed_final_save_fails_the_stop() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let (handle, addr) = start(Vec::new(), Some(&state.join("bootp.leases")));
    // The disk goes away: the lease cannot be saved, so the DHCPACK is held
    // and the client hears nothing back.
    std::fs::remove_dir(&state).unwrap();
    std::fs::write(&state, b"not a directory").unwrap();
    match ask(addr, [2, 0, 0, 0, 0, 1], true) {
        Err(RequestError::TimedOut { .. }) => {}
        other => panic!("an unsaved lease was acknowledged: {other:?}"),
    }
    // Stopping tries the save once more; it fails, and the stop says so.
    let e = handle.shutdown().unwrap_err();
    assert!(e.to_string().contains("the final save failed"), "{e}");
}

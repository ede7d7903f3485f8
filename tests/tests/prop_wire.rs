//! Wire round trips that the property tests beside the code leave out.
//!
//! `core/src/wire/*` already checks TFTP packets of every type, BOOTP
//! messages and options, FTP replies and thirteen FTP commands. This file
//! covers the rest: every FTP command variant (all 41 verbs, each `TYPE`,
//! `EPSV`, `EPRT` for both families), the host-port and extended address
//! forms, lease-file lines, and parse-never-panics for the text formats
//! that had no such test (extended addresses, `227` replies, lease lines).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use netboot_core::bootp::leasefile::{parse_lease, write_lease};
use netboot_core::bootp::leases::{Lease, LeaseState};
use netboot_core::bootp::{ClientKey, HwAddr};
use netboot_core::time::Instant;
use netboot_core::wire::ftp::{
    Command, EpsvArg, TypeCode, format_host_port, parse_extended, parse_host_port, parse_pasv_reply,
};
use proptest::prelude::*;

fn arg() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._/-][A-Za-z0-9 ._/-]{0,40}".prop_filter("no trailing blank", |s| !s.ends_with(' '))
}

fn every_command<'a>(
    a: &'a str,
    n: u64,
    v4: SocketAddrV4,
    v6: SocketAddr,
    byte: u8,
    form: Option<u8>,
) -> Vec<Command<'a>> {
    vec![
        Command::User(a),
        Command::Pass(a),
        Command::Acct(a),
        Command::Cwd(a),
        Command::Cdup,
        Command::Smnt(a),
        Command::Rein,
        Command::Quit,
        Command::Port(v4),
        Command::Pasv,
        Command::Type(TypeCode::Ascii(form)),
        Command::Type(TypeCode::Ebcdic(form)),
        Command::Type(TypeCode::Image),
        Command::Type(TypeCode::Local(byte.max(1))),
        Command::Stru(b'F'),
        Command::Mode(b'S'),
        Command::Retr(a),
        Command::Stor(a),
        Command::Stou,
        Command::Appe(a),
        Command::Allo,
        Command::Rest(n),
        Command::Rnfr(a),
        Command::Rnto(a),
        Command::Abor,
        Command::Dele(a),
        Command::Rmd(a),
        Command::Mkd(a),
        Command::Pwd,
        Command::List(Some(a)),
        Command::List(None),
        Command::Nlst(Some(a)),
        Command::Nlst(None),
        Command::Site(a),
        Command::Syst,
        Command::Stat(Some(a)),
        Command::Stat(None),
        Command::Help(Some(a)),
        Command::Help(None),
        Command::Noop,
        Command::Feat,
        Command::Opts(a),
        Command::Eprt(SocketAddr::V4(v4)),
        Command::Eprt(v6),
        Command::Epsv(None),
        Command::Epsv(Some(EpsvArg::All)),
        Command::Epsv(Some(EpsvArg::Protocol(byte))),
        Command::Size(a),
        Command::Mdtm(a),
        Command::Mlst(Some(a)),
        Command::Mlst(None),
        Command::Mlsd(Some(a)),
        Command::Mlsd(None),
    ]
}

proptest! {
    #[test]
    fn every_ftp_command_round_trips(
        a in arg(),
        n in any::<u64>(),
        ip in any::<[u8; 4]>(),
        ip6 in any::<[u16; 8]>(),
        port in any::<u16>(),
        byte in any::<u8>(),
        form in proptest::option::of(prop_oneof![Just(b'N'), Just(b'T'), Just(b'C')]),
    ) {
        let v4 = SocketAddrV4::new(ip.into(), port);
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip6)), port);
        for cmd in every_command(&a, n, v4, v6, byte, form) {
            let mut buf = [0u8; 256];
            let len = cmd.emit(&mut buf).unwrap();
            prop_assert!(buf[..len].ends_with(b"\r\n"));
            let back = Command::parse(&buf[..len - 2]);
            prop_assert_eq!(back, Ok(cmd), "{}", String::from_utf8_lossy(&buf[..len]));
            // A buffer one byte short is refused and left untouched.
            let mut short = [0xA5u8; 256];
            prop_assert!(cmd.emit(&mut short[..len - 1]).is_err());
            prop_assert!(short.iter().all(|&b| b == 0xA5));
        }
    }

    #[test]
    fn host_port_and_227_replies_round_trip(ip in any::<[u8; 4]>(), port in any::<u16>()) {
        let addr = SocketAddrV4::new(Ipv4Addr::from(ip), port);
        let text = format_host_port(addr).to_string();
        prop_assert_eq!(parse_host_port(&text), Some(addr));
        let reply = format!("Entering Passive Mode ({text}).");
        prop_assert_eq!(parse_pasv_reply(&reply), Some(addr));
    }

    #[test]
    fn address_parsers_never_panic(text in "\\PC{0,80}", bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let lossy = String::from_utf8_lossy(&bytes);
        for t in [text.as_str(), &lossy] {
            let _ = parse_host_port(t);
            let _ = parse_pasv_reply(t);
            let _ = parse_extended(t);
            let _ = parse_lease(t, Instant::from_secs(5), 1_700_000_000);
        }
    }

    #[test]
    fn lease_lines_round_trip(
        ip in any::<[u8; 4]>(),
        mac in any::<[u8; 6]>(),
        id in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..32)),
        state in prop_oneof![Just(LeaseState::Bound), Just(LeaseState::Released), Just(LeaseState::Declined)],
        expires in prop_oneof![Just(None), (0u64..10_000_000).prop_map(Some)],
    ) {
        let hw = HwAddr::ethernet(mac);
        let lease = Lease {
            ip: Ipv4Addr::from(ip),
            hw,
            client: id.as_deref().map_or(ClientKey::hw(&hw), ClientKey::id),
            state,
            expires: expires.map_or(Instant::MAX, Instant::from_secs),
        };
        let now = Instant::from_secs(1_000);
        let mut line = String::new();
        write_lease(&mut line, &lease, now, 1_700_000_000).unwrap();
        prop_assert_eq!(parse_lease(&line, now, 1_700_000_000).unwrap(), Some(lease));
    }
}

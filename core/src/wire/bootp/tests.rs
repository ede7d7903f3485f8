use core::net::Ipv4Addr;

use proptest::prelude::*;

use super::options::{self, Area, OptionProblem, OptionsWriter};
use super::*;

/// A DHCPDISCOVER as ISC dhclient sends it (trimmed options), byte by byte.
fn discover_bytes() -> [u8; 300] {
    let mut b = [0u8; 300];
    b[0] = 1;
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&[0x3d, 0x1e, 0x2f, 0x01]);
    b[8..10].copy_from_slice(&[0, 3]);
    b[10] = 0x80;
    b[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    let opts = [
        99, 130, 83, 99, 53, 1, 1, 55, 4, 1, 3, 66, 67, 50, 4, 10, 0, 0, 9, 255,
    ];
    b[236..236 + opts.len()].copy_from_slice(&opts);
    b
}

#[test]
fn parses_every_header_field() {
    let b = discover_bytes();
    let msg = Message::new_checked(&b).unwrap();
    let p = msg.packet();
    assert_eq!(p.op(), Op::Request);
    assert_eq!((p.htype(), p.hlen(), p.hops()), (1, 6, 0));
    assert_eq!(p.xid(), 0x3d1e_2f01);
    assert_eq!(p.secs(), 3);
    assert!(p.broadcast());
    assert_eq!(p.flags(), FLAG_BROADCAST);
    assert_eq!(p.client_hw_addr(), &[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    assert!(p.has_cookie());
    assert_eq!(msg.message_type(), Some(MessageType::Discover));
    assert_eq!(msg.requested_ip(), Some(Ipv4Addr::new(10, 0, 0, 9)));
    assert_eq!(msg.parameter_list().as_deref(), Some(&[1, 3, 66, 67][..]));
    assert!(msg.requests(options::TFTP_SERVER_NAME));
    assert!(!msg.requests(options::HOSTNAME));
    assert_eq!(msg.server_id(), None);
}

#[test]
fn repr_round_trips_byte_for_byte() {
    let b = discover_bytes();
    let packet = Packet::new_checked(&b[..]).unwrap();
    let repr = Repr::parse(&packet);
    let mut out = [0xEEu8; 400];
    let n = repr.emit(&mut out).unwrap();
    assert_eq!(n, 300);
    assert_eq!(&out[..300], &b[..]);
}

#[test]
fn emit_into_small_buffer_touches_nothing() {
    let b = discover_bytes();
    let packet = Packet::new_checked(&b[..]).unwrap();
    let repr = Repr::parse(&packet);
    let mut out = [0xEEu8; 299];
    assert_eq!(
        repr.emit(&mut out),
        Err(EmitError::BufferTooSmall(BufferTooSmall { required: 300 }))
    );
    assert!(out.iter().all(|&x| x == 0xEE));
}

#[test]
fn names_must_leave_room_for_their_zero() {
    let mut repr = Repr::new(Op::Reply, 1, [0; 6]);
    let long = [b'a'; FILE_LEN];
    repr.file = &long;
    assert_eq!(
        repr.emit(&mut [0; 600]),
        Err(EmitError::NameTooLong {
            field: "file",
            len: 128
        })
    );
    repr.file = &long[..127];
    let mut buf = [0; 600];
    repr.emit(&mut buf).unwrap();
    assert_eq!(buf[108 + 126], b'a');
    assert_eq!(buf[108 + 127], 0);
    let sname = [b's'; 64];
    repr.sname = &sname;
    assert!(matches!(
        repr.emit(&mut buf),
        Err(EmitError::NameTooLong { field: "sname", .. })
    ));
}

#[test]
fn short_header_bad_op_and_hlen_are_refused() {
    let b = discover_bytes();
    assert_eq!(
        Packet::new_checked(&b[..235]),
        Err(ParseError::Truncated { len: 235 })
    );
    let mut c = b;
    c[0] = 3;
    assert_eq!(Packet::new_checked(&c[..]), Err(ParseError::BadOp(3)));
    let mut c = b;
    c[2] = 17;
    assert_eq!(Packet::new_checked(&c[..]), Err(ParseError::BadHlen(17)));
    // The bare header is enough.
    assert!(Message::new_checked(&b[..236]).is_ok());
}

#[test]
fn no_cookie_means_no_options_and_raw_vend() {
    let mut b = discover_bytes();
    b[236..240].copy_from_slice(&[1, 2, 3, 4]);
    let msg = Message::new_checked(&b).unwrap();
    assert!(!msg.packet().has_cookie());
    assert_eq!(msg.options().count(), 0);
    assert_eq!(msg.message_type(), None);
    let repr = Repr::parse(msg.packet());
    assert!(matches!(repr.vend, Vend::Raw(v) if v.len() == 64 && v[..4] == [1, 2, 3, 4]));
    let mut out = [0u8; 300];
    assert_eq!(repr.emit(&mut out).unwrap(), 300);
    assert_eq!(out, b);
}

/// Options split across the options field, `file` and `sname` (RFC 3396),
/// joined in that order.
#[test]
fn split_option_joins_across_overloaded_fields() {
    let mut b = [0u8; 300];
    b[0] = 2;
    b[1] = 1;
    b[2] = 6;
    // file: 43 "cd", then End
    b[108..113].copy_from_slice(&[43, 2, b'c', b'd', 255]);
    // sname: 43 "e", hostname "h"
    b[44..52].copy_from_slice(&[43, 1, b'e', 12, 1, b'h', 255, 0]);
    let opts = [99, 130, 83, 99, 52, 1, 3, 43, 2, b'a', b'b', 255];
    b[236..236 + opts.len()].copy_from_slice(&opts);
    let msg = Message::new_checked(&b).unwrap();
    assert_eq!(msg.packet().overload(), 3);
    assert_eq!(msg.vendor_specific().as_deref(), Some(&b"abcde"[..]));
    assert!(matches!(msg.get(43), Some(Value::Joined(_))));
    assert!(matches!(msg.hostname(), Some(Value::Borrowed(b"h"))));
    assert_eq!(msg.file(), b"");
    assert_eq!(msg.sname(), b"");
    let areas: std::vec::Vec<Area> = msg.options().map(|o| o.unwrap().area).collect();
    assert_eq!(
        areas,
        [
            Area::Options,
            Area::Options,
            Area::File,
            Area::Sname,
            Area::Sname
        ]
    );
    // The overloaded fields survive a round trip through Repr verbatim.
    let repr = Repr::parse(msg.packet());
    assert_eq!(repr.file.len(), 128);
    let mut out = [0u8; 300];
    repr.emit(&mut out).unwrap();
    assert_eq!(out, b);
}

#[test]
fn joined_values_are_bounded() {
    // Five 255-byte instances of option 43 join to 1275 > MAX_JOINED.
    let mut b = std::vec![0u8; 236];
    b[0] = 1;
    b.extend_from_slice(&MAGIC_COOKIE);
    for _ in 0..5 {
        b.push(43);
        b.push(255);
        b.extend_from_slice(&[0x11; 255]);
    }
    b.push(255);
    assert_eq!(
        Message::new_checked(&b),
        Err(ParseError::Options {
            code: 43,
            problem: OptionProblem::JoinedTooLong
        })
    );
}

#[test]
fn typed_accessors_read_their_options() {
    let mut opts = [0u8; 512];
    let mut w = OptionsWriter::new(&mut opts);
    w.message_type(MessageType::Ack).unwrap();
    w.ip(options::SUBNET_MASK, Ipv4Addr::new(255, 255, 255, 0))
        .unwrap();
    w.ips(
        options::ROUTER,
        &[Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
    )
    .unwrap();
    w.ips(options::DNS_SERVERS, &[Ipv4Addr::new(10, 0, 0, 53)])
        .unwrap();
    w.push(options::HOSTNAME, b"node1").unwrap();
    w.push(options::DOMAIN_NAME, b"lab").unwrap();
    w.ip(options::BROADCAST_ADDRESS, Ipv4Addr::new(10, 0, 0, 255))
        .unwrap();
    w.u32(options::LEASE_TIME, 3600).unwrap();
    w.ip(options::SERVER_ID, Ipv4Addr::new(10, 0, 0, 1))
        .unwrap();
    w.u16(options::MAX_MESSAGE_SIZE, 1472).unwrap();
    w.u32(options::RENEWAL_TIME, 1800).unwrap();
    w.u32(options::REBINDING_TIME, 3150).unwrap();
    w.push(options::VENDOR_CLASS, b"PXEClient:Arch:00000")
        .unwrap();
    w.push(options::CLIENT_ID, &[1, 2, 3, 4, 5, 6, 7]).unwrap();
    w.push(options::TFTP_SERVER_NAME, b"10.0.0.1").unwrap();
    w.push(options::BOOTFILE_NAME, b"pxelinux.0").unwrap();
    w.u16(options::CLIENT_ARCH, 7).unwrap();
    w.push(options::CLIENT_NDI, &[1, 2, 1]).unwrap();
    let mut uuid = [0u8; 17];
    uuid[16] = 9;
    w.push(options::CLIENT_UUID, &uuid).unwrap();
    w.push(options::VENDOR_SPECIFIC, &[6, 1, 8]).unwrap();
    let n = w.finish().unwrap();
    let mut repr = Repr::new(Op::Reply, 9, [1; 6]);
    repr.vend = Vend::Options(&opts[..n]);
    let mut buf = [0u8; 1024];
    let len = repr.emit(&mut buf).unwrap();
    let m = Message::new_checked(&buf[..len]).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Ack));
    assert_eq!(m.subnet_mask(), Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(m.router(), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(m.ip_list(options::ROUTER).count(), 2);
    assert_eq!(
        m.ip_list(options::DNS_SERVERS)
            .collect::<std::vec::Vec<_>>(),
        [Ipv4Addr::new(10, 0, 0, 53)]
    );
    assert_eq!(m.hostname().as_deref(), Some(&b"node1"[..]));
    assert_eq!(m.domain_name().as_deref(), Some(&b"lab"[..]));
    assert_eq!(m.broadcast_address(), Some(Ipv4Addr::new(10, 0, 0, 255)));
    assert_eq!(m.lease_time(), Some(3600));
    assert_eq!(m.server_id(), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(m.max_message_size(), Some(1472));
    assert_eq!(m.renewal_time(), Some(1800));
    assert_eq!(m.rebinding_time(), Some(3150));
    assert_eq!(
        m.vendor_class().as_deref(),
        Some(&b"PXEClient:Arch:00000"[..])
    );
    assert_eq!(m.client_id().as_deref(), Some(&[1, 2, 3, 4, 5, 6, 7][..]));
    assert_eq!(m.tftp_server_name().as_deref(), Some(&b"10.0.0.1"[..]));
    assert_eq!(m.bootfile_name().as_deref(), Some(&b"pxelinux.0"[..]));
    assert_eq!(m.client_arch(), Some(7));
    assert_eq!(m.client_ndi(), Some([1, 2, 1]));
    assert_eq!(m.client_uuid().map(|u| u[16]), Some(9));
    assert_eq!(m.vendor_specific().as_deref(), Some(&[6, 1, 8][..]));
    // Raw access to anything else.
    assert!(m.get(200).is_none());
    // A typed option of the wrong length reads as absent.
    let mut bad = buf;
    bad[240] = options::REQUESTED_IP; // was 53, length 1
    assert_eq!(
        Message::new_checked(&bad[..len]).unwrap().requested_ip(),
        None
    );
}

#[test]
fn setters_patch_relay_fields() {
    let mut b = discover_bytes();
    let mut p = Packet::new_unchecked(&mut b[..]);
    p.set_hops(2);
    p.set_giaddr(Ipv4Addr::new(192, 0, 2, 1));
    p.set_secs(9);
    p.set_flags(0);
    assert_eq!(p.hops(), 2);
    assert_eq!(p.giaddr(), Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(p.secs(), 9);
    assert!(!p.broadcast());
}

fn arb_option() -> impl Strategy<Value = (u8, std::vec::Vec<u8>)> {
    (1u8..=254, proptest::collection::vec(any::<u8>(), 0..300))
        .prop_filter("not the overload option", |(c, _)| *c != options::OVERLOAD)
}

proptest! {
    /// Any header and any set of options (long ones split) survive
    /// emit -> parse -> emit unchanged, and every option reads back joined.
    #[test]
    fn emit_parse_round_trip(
        xid in any::<u32>(), secs in any::<u16>(), flags in any::<u16>(),
        hops in any::<u8>(), hlen in 0u8..=16, chaddr in any::<[u8; 16]>(),
        ips in any::<[u32; 4]>(),
        sname in proptest::collection::vec(1u8..=255, 0..64),
        file in proptest::collection::vec(1u8..=255, 0..128),
        opts in proptest::collection::vec(arb_option(), 0..4),
    ) {
        let mut encoded = [0u8; 1400];
        let mut w = OptionsWriter::new(&mut encoded);
        for (code, value) in &opts {
            w.push(*code, value).unwrap();
        }
        let n = w.finish().unwrap();
        let repr = Repr {
            op: Op::Reply, htype: 1, hlen, hops, xid, secs, flags,
            ciaddr: Ipv4Addr::from(ips[0]), yiaddr: Ipv4Addr::from(ips[1]),
            siaddr: Ipv4Addr::from(ips[2]), giaddr: Ipv4Addr::from(ips[3]),
            chaddr, sname: &sname, file: &file, vend: Vend::Options(&encoded[..n]),
        };
        let mut buf = [0u8; 1800];
        let len = repr.emit(&mut buf).unwrap();
        prop_assert_eq!(len, repr.buffer_len());
        let total: usize = opts.iter().map(|(_, v)| v.len()).sum();
        let msg = Message::new_checked(&buf[..len]);
        if opts.iter().any(|(c, _)| {
            opts.iter().filter(|(d, _)| d == c).map(|(_, v)| v.len()).sum::<usize>() > options::MAX_JOINED
        }) {
            prop_assert!(msg.is_err());
            return Ok(());
        }
        let msg = msg.unwrap();
        prop_assert!(total < 1400);
        let back = Repr::parse(msg.packet());
        prop_assert_eq!(back.xid, xid);
        prop_assert_eq!(back.flags, flags);
        prop_assert_eq!(back.sname, &sname[..]);
        prop_assert_eq!(back.file, &file[..]);
        for (code, _) in &opts {
            let expected: std::vec::Vec<u8> = opts.iter().filter(|(c, _)| c == code)
                .flat_map(|(_, v)| v.iter().copied()).collect();
            let got = msg.get(*code);
            prop_assert_eq!(got.as_deref(), Some(&expected[..]));
        }
        let mut again = [0u8; 1800];
        let len2 = back.emit(&mut again).unwrap();
        prop_assert_eq!(&buf[..len], &again[..len2]);
    }

    /// Arbitrary bytes never panic the parser, and whatever parses re-emits
    /// to a message that parses to the same header and options.
    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..700), cookie in any::<bool>()) {
        if cookie && bytes.len() >= 240 {
            bytes[236..240].copy_from_slice(&MAGIC_COOKIE);
        }
        if let Ok(msg) = Message::new_checked(&bytes) {
            for code in 0..=255u8 {
                let _ = msg.get(code);
            }
            let _ = (msg.message_type(), msg.client_arch(), msg.file(), msg.sname());
            let repr = Repr::parse(msg.packet());
            let mut out = [0u8; 800];
            let n = match repr.emit(&mut out) {
                Ok(n) => n,
                // A name filling its whole field has no room for the zero
                // an emitted name needs; that is the only refusal.
                Err(EmitError::NameTooLong { len, .. }) => {
                    prop_assert!(len == SNAME_LEN || len == FILE_LEN);
                    return Ok(());
                }
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            };
            let again = Message::new_checked(&out[..n]).unwrap();
            prop_assert_eq!(Repr::parse(again.packet()).xid, repr.xid);
            let a: std::vec::Vec<_> = msg.options().collect();
            let b: std::vec::Vec<_> = again.options().collect();
            prop_assert_eq!(a, b);
        }
    }
}

/// Encodes `opts` and End into a field of exactly `cap` bytes, or `None`
/// when they do not fit.
fn field_of(opts: &[(u8, std::vec::Vec<u8>)], cap: usize) -> Option<std::vec::Vec<u8>> {
    let mut buf = std::vec![0u8; cap];
    let mut w = OptionsWriter::new(&mut buf);
    for (code, value) in opts {
        w.push(*code, value).ok()?;
    }
    w.finish().ok()?;
    Some(buf)
}

fn small_options(max: usize) -> impl Strategy<Value = std::vec::Vec<(u8, std::vec::Vec<u8>)>> {
    proptest::collection::vec(
        (
            prop_oneof![Just(12u8), Just(43u8), Just(60u8), 200u8..=203],
            proptest::collection::vec(any::<u8>(), 0..12),
        ),
        0..max,
    )
}

proptest! {
    /// Options spread over the options field, an overloaded `file` and an
    /// overloaded `sname` read back joined in RFC 3396 order, and the
    /// message re-emits byte for byte.
    #[test]
    fn overloaded_fields_join_in_order(
        main in small_options(4), in_file in small_options(5), in_sname in small_options(3),
        overload in 1u8..=3,
    ) {
        let file_bytes = field_of(&in_file, FILE_LEN);
        let sname_bytes = field_of(&in_sname, SNAME_LEN);
        prop_assume!(file_bytes.is_some() && sname_bytes.is_some());
        let (file_bytes, sname_bytes) = (file_bytes.unwrap(), sname_bytes.unwrap());
        let mut opts = [0u8; 400];
        let mut w = OptionsWriter::new(&mut opts);
        w.push(options::OVERLOAD, &[overload]).unwrap();
        for (code, value) in &main {
            w.push(*code, value).unwrap();
        }
        let n = w.finish().unwrap();
        let mut repr = Repr::new(Op::Reply, 5, [1; 6]);
        repr.vend = Vend::Options(&opts[..n]);
        if overload & options::OVERLOAD_FILE != 0 {
            repr.file = &file_bytes;
        }
        if overload & options::OVERLOAD_SNAME != 0 {
            repr.sname = &sname_bytes;
        }
        let mut buf = [0u8; 800];
        let len = repr.emit(&mut buf).unwrap();
        let msg = Message::new_checked(&buf[..len]).unwrap();
        prop_assert_eq!(msg.packet().overload(), overload);
        let mut order: std::vec::Vec<&(u8, std::vec::Vec<u8>)> = main.iter().collect();
        if overload & options::OVERLOAD_FILE != 0 {
            order.extend(in_file.iter());
        }
        if overload & options::OVERLOAD_SNAME != 0 {
            order.extend(in_sname.iter());
        }
        for (code, _) in &order {
            let expected: std::vec::Vec<u8> = order.iter().filter(|(c, _)| c == code)
                .flat_map(|(_, v)| v.iter().copied()).collect();
            let got = msg.get(*code);
            prop_assert_eq!(got.as_deref(), Some(&expected[..]));
        }
        let back = Repr::parse(msg.packet());
        let mut again = [0u8; 800];
        let len2 = back.emit(&mut again).unwrap();
        prop_assert_eq!(&buf[..len], &again[..len2]);
    }

    /// A vendor area without the cookie is opaque: no options, and it
    /// survives a round trip unchanged.
    #[test]
    fn no_cookie_vendor_area_round_trips(vend in proptest::collection::vec(any::<u8>(), 0..=64), xid in any::<u32>()) {
        prop_assume!(!vend.starts_with(&MAGIC_COOKIE));
        let mut repr = Repr::new(Op::Request, xid, [2; 6]);
        repr.vend = Vend::Raw(&vend);
        let mut buf = [0u8; 400];
        let len = repr.emit(&mut buf).unwrap();
        prop_assert_eq!(len, MIN_LEN);
        let msg = Message::new_checked(&buf[..len]).unwrap();
        prop_assert_eq!(msg.options().count(), 0);
        prop_assert_eq!(&msg.packet().vend()[..vend.len()], &vend[..]);
        let back = Repr::parse(msg.packet());
        let mut again = [0u8; 400];
        let len2 = back.emit(&mut again).unwrap();
        prop_assert_eq!(&buf[..len], &again[..len2]);
    }
}

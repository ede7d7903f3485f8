//! The provisioning client machine (`netboot_core::provision::Provision`)
//! fed whatever the network and its driver might do.
//!
//! The input is a sequence of operations, an opcode byte then its
//! arguments: a BOOTP reply to the client's last request naming one of a
//! few boot files (stage names, `..` tricks, absolute paths) at one of a few
//! servers; raw bytes on the BOOTP, TFTP or FTP control channel; a TFTP
//! DATA block whose payload comes from the input (so a manifest can be
//! built); an FTP reply line; bytes on the FTP data connection; time
//! passing; a driver call made at any moment (connection opened, failed,
//! closed, data ended, cancel).
//!
//! Whatever arrives: no panic; every call the machine does not expect is
//! refused with an error; transmissions and events drain in bounded numbers;
//! after time passes, the next deadline is in the future; nothing is stored
//! under a name with `..` or an empty component; a finished machine stays
//! finished.

use core::net::{Ipv4Addr, SocketAddr};

use crate::bootp::HwAddr;
use crate::provision::{Channel, Config, Provision};
use crate::rng::Rng;
use crate::storage::MemStore;
use crate::time::{Duration, Instant};
use crate::wire::bootp::{Op, Repr, Vend};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
const FILES: [&[u8]; 8] = [
    b"boot/stage1.bin",
    b"manifest.txt",
    b"../escape",
    b"/etc/passwd",
    b"a/../../b",
    b"a//b",
    b"",
    b"boot/stage1.bin\0trailing",
];
const REPLIES: [&str; 10] = [
    "220 ready",
    "331 password",
    "230 in",
    "200 ok",
    "227 Entering Passive Mode (10,0,0,1,4,1)",
    "229 Entering Extended Passive Mode (|||1025|)",
    "150 opening",
    "226 done",
    "550 no",
    "421 bye",
];

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut now = Instant::from_secs(1);
    let mut config = Config::new(HwAddr::ethernet(MAC), Rng::new(7));
    config.dhcp = data.first().is_some_and(|b| b & 1 == 1);
    config.silence = Duration::from_secs(3);
    config.first_answer = Duration::from_secs(20);
    let Ok(mut flow) = Provision::new(now, config, MemStore::new(), vec![0u8; 512]) else {
        panic!("the harness's configuration is valid");
    };
    let mut buf = vec![0u8; 2048];
    let mut xid = 0u32;
    let bootp = SocketAddr::from((SERVER, 67));
    let tid = SocketAddr::from((SERVER, 7000));
    let mut rest = data.get(1..).unwrap_or_default();
    let mut was_over = false;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n.min(rest.len()));
            rest = tail;
            head
        };
        match op % 9 {
            0 => {
                let args = take(2);
                let file = FILES[usize::from(args.first().copied().unwrap_or(0)) % FILES.len()];
                let mut repr = Repr::new(Op::Reply, xid, MAC);
                repr.yiaddr = Ipv4Addr::new(10, 0, 0, 100);
                repr.siaddr = match args.get(1).copied().unwrap_or(0) % 4 {
                    0 => Ipv4Addr::UNSPECIFIED,
                    1 => Ipv4Addr::new(10, 0, 0, 2),
                    _ => SERVER,
                };
                repr.file = file;
                repr.vend = Vend::Options(&[]);
                let mut out = [0u8; 600];
                if let Ok(n) = repr.emit(&mut out) {
                    flow.handle_datagram(now, Channel::Bootp, bootp, &mut out[..n]);
                }
            }
            1..=3 => {
                let len = usize::from(take(1).first().copied().unwrap_or(0));
                let mut bytes = take(len).to_vec();
                let channel =
                    [Channel::Bootp, Channel::Tftp, Channel::FtpControl][usize::from(op % 9 - 1)];
                flow.handle_datagram(now, channel, tid, &mut bytes);
            }
            4 => {
                let args = take(3);
                let block = u16::from(args.first().copied().unwrap_or(1) % 4);
                let len = usize::from(u16::from_be_bytes([
                    args.get(1).copied().unwrap_or(0) % 6,
                    args.get(2).copied().unwrap_or(0),
                ]));
                let mut datagram = vec![0, 3];
                datagram.extend_from_slice(&block.to_be_bytes());
                datagram.extend_from_slice(take(len));
                flow.handle_datagram(now, Channel::Tftp, tid, &mut datagram);
            }
            5 => {
                let args = take(2);
                let mut line = REPLIES
                    [usize::from(args.first().copied().unwrap_or(0)) % REPLIES.len()]
                .as_bytes()
                .to_vec();
                if args.get(1).is_some_and(|b| b & 1 == 1) {
                    line.extend_from_slice(b"\r\n");
                }
                flow.handle_datagram(now, Channel::FtpControl, bootp, &mut line);
            }
            6 => {
                let len = usize::from(take(1).first().copied().unwrap_or(0));
                let bytes = take(len);
                flow.handle_data(now, bytes);
            }
            7 => {
                let args = take(2);
                let ms = u16::from_be_bytes([
                    args.first().copied().unwrap_or(0),
                    args.get(1).copied().unwrap_or(0),
                ]);
                now += Duration::from_millis(u64::from(ms));
                flow.handle_timeout(now);
                // Every deadline that passed was handled: no busy loop.
                if let Some(deadline) = flow.poll_timeout() {
                    assert!(deadline > now, "deadline {deadline:?} not after {now:?}");
                }
            }
            _ => {
                let call = take(1).first().copied().unwrap_or(0);
                // Misuse is refused with an error, never a panic.
                let _ = match call % 9 {
                    0 => flow.tftp_opened(now),
                    1 => flow.ftp_connected(now),
                    2 => flow.ftp_connect_failed(now),
                    3 => flow.data_connected(now),
                    4 => flow.data_connect_failed(now),
                    5 => flow.data_end(now, true),
                    6 => flow.data_end(now, false),
                    7 => {
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
            assert!(out.transmit.len <= buf.len());
            if out.channel == Channel::Bootp && out.transmit.len >= 8 {
                xid = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
            }
            sent += 1;
            assert!(sent < 64, "transmit does not drain");
        }
        let mut events = 0;
        while flow.poll_event().is_some() {
            events += 1;
            assert!(events <= 16, "events do not drain");
        }
        let _ = flow.progress();
        assert!(!was_over || flow.is_over(), "a finished flow started again");
        was_over = flow.is_over();
    }
    for path in flow.store().files() {
        assert!(
            !path.split('/').any(|c| c == ".." || c.is_empty()),
            "stored {path:?}"
        );
    }
}

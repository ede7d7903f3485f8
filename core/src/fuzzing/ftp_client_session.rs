//! The FTP client session machine running every kind of operation against
//! arbitrary reply bytes cut at arbitrary points, with data connections
//! that connect, fail, finish or break as the input says, and time steps.
//!
//! Invariants: no panic; consumed ≤ offered; every answer the machine
//! asked for is accepted; one `Done` per started operation; the command
//! output stays bounded.

use crate::ftp::client::{ClientSession, Event, ListKind, Request, StoreMode};
use crate::time::{Duration, Instant};

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut now = Instant::ZERO;
    let mut c = ClientSession::new(now, "192.0.2.1:21".parse().unwrap());
    c.set_reply_timeout(Duration::from_secs(5));
    let requests = [
        Request::Login {
            user: "u",
            password: "p",
        },
        Request::Retrieve {
            path: "f",
            offset: 0,
        },
        Request::Retrieve {
            path: "f",
            offset: 7,
        },
        Request::Store {
            path: "g",
            mode: StoreMode::Replace,
        },
        Request::Store {
            path: "g",
            mode: StoreMode::Resume(3),
        },
        Request::Store {
            path: "g",
            mode: StoreMode::Append,
        },
        Request::List {
            path: None,
            kind: ListKind::Facts,
        },
        Request::Rename { from: "a", to: "b" },
        Request::Size("f"),
        Request::ChangeDir("d"),
        Request::Quit,
    ];
    let mut out = [0u8; 1024];
    let mut rest = data;
    let mut started = 0u32;
    let mut done = 0u32;
    for _ in 0..4_000 {
        let Some((&ctl, tail)) = rest.split_first() else {
            break;
        };
        let take = usize::from(ctl & 0x1f).min(tail.len());
        let chunk = &tail[..take];
        rest = &tail[take..];
        let used = c.handle_bytes(now, chunk);
        assert!(used <= chunk.len());
        assert!(c.output().len() <= out.len());
        while c.poll_transmit(Instant::ZERO, &mut out).is_some() {}
        while let Some(ev) = c.poll_event() {
            match ev {
                Event::OpenData(_) => {
                    if ctl & 0x20 == 0 {
                        c.data_connected(now).unwrap();
                    } else {
                        c.data_connect_failed(now).unwrap();
                    }
                }
                Event::TransferStarted { .. } => {
                    if ctl & 0x40 != 0 {
                        c.abort(now).unwrap();
                    } else {
                        c.data_finished(now, ctl & 0x80 == 0).unwrap();
                    }
                }
                Event::Done(_) => done += 1,
            }
        }
        if c.is_idle() && done + 1 >= started {
            let r = requests[usize::from(ctl) % requests.len()];
            if c.start(now, r).is_ok() {
                started += 1;
            }
        }
        now += Duration::from_millis(u64::from(ctl >> 5) * 900);
        c.handle_timeout(now);
        while c.poll_event().is_some() {
            done += 1;
        }
        if c.is_closed() {
            assert!(c.start(now, Request::Noop).is_err());
            break;
        }
    }
    // The greeting counts as one Done too.
    assert!(
        done <= started + 1,
        "{done} outcomes for {started} operations"
    );
}

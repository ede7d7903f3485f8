//! Client-machine tests: against scripted replies, and paired with the
//! server machine on virtual time.

use super::*;
use crate::ftp::listing::Listing;
use crate::ftp::server::pump::{Opened, ReceivePump, SendPump, perform};
use crate::ftp::server::{self, ServerConfig, ServerSession, TransferKind, TransferOutcome};
use crate::storage::{MemReader, MemStore, MemWriter};

fn sent(c: &mut ClientSession) -> String {
    let mut buf = [0u8; 2048];
    let n = c.poll_transmit(Instant::ZERO, &mut buf).unwrap_or(0);
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

fn greeted() -> ClientSession {
    let now = Instant::ZERO;
    let mut c = ClientSession::new(now, "192.0.2.10:21".parse().unwrap());
    c.handle_bytes(now, b"220 hi\r\n");
    assert!(matches!(c.poll_event(), Some(Event::Done(Ok(_)))));
    c
}

#[test]
fn multi_line_replies_with_foreign_lines_inside() {
    let now = Instant::ZERO;
    let mut c = ClientSession::new(now, "192.0.2.10:21".parse().unwrap());
    assert_eq!(c.start(now, Request::Noop), Err(ClientError::Busy));
    let input = b"220-first\r\n230 not the end\r\n   indented\r\n220 last\r\n";
    assert_eq!(c.handle_bytes(now, input), input.len());
    assert_eq!(
        c.poll_event(),
        Some(Event::Done(Ok(Reply {
            code: 220,
            text: "last"
        })))
    );
    assert!(c.is_idle());
}

#[test]
fn login_user_pass_and_refusal() {
    let now = Instant::ZERO;
    let mut c = greeted();
    c.start(
        now,
        Request::Login {
            user: "alice",
            password: "pw",
        },
    )
    .unwrap();
    assert_eq!(sent(&mut c), "USER alice\r\n");
    c.handle_bytes(now, b"331 Password\r\n");
    assert_eq!(sent(&mut c), "PASS pw\r\n");
    c.handle_bytes(now, b"530 Login incorrect.\r\n");
    assert_eq!(
        c.poll_event(),
        Some(Event::Done(Err(Failure::Refused(Reply {
            code: 530,
            text: "Login incorrect."
        }))))
    );
    assert!(!c.is_closed());
    assert_eq!(
        c.start(
            now,
            Request::Retrieve {
                path: "a\r\nDELE b",
                offset: 0
            }
        ),
        Err(ClientError::BadArgument)
    );
}

#[test]
fn epsv_refused_falls_back_to_pasv_and_ignores_its_address() {
    let now = Instant::ZERO;
    let mut c = greeted();
    c.start(
        now,
        Request::Retrieve {
            path: "f",
            offset: 7,
        },
    )
    .unwrap();
    assert_eq!(sent(&mut c), "TYPE I\r\n");
    c.handle_bytes(now, b"200 ok\r\n");
    assert_eq!(sent(&mut c), "EPSV\r\n");
    c.handle_bytes(now, b"500 What?\r\n");
    assert_eq!(sent(&mut c), "PASV\r\n");
    assert!(c.uses_pasv());
    // A server behind NAT announcing a private (or bogus) address.
    c.handle_bytes(now, b"227 Entering Passive Mode (10,1,2,3,4,1)\r\n");
    assert_eq!(
        c.poll_event(),
        Some(Event::OpenData("192.0.2.10:1025".parse().unwrap()))
    );
    c.data_connected(now).unwrap();
    assert_eq!(sent(&mut c), "REST 7\r\n");
    c.handle_bytes(now, b"350 ok\r\n");
    assert_eq!(sent(&mut c), "RETR f\r\n");
    c.handle_bytes(
        now,
        b"150 Opening BINARY mode data connection for f (1000 bytes).\r\n",
    );
    assert_eq!(
        c.poll_event(),
        Some(Event::TransferStarted { size: Some(1000) })
    );
    // The 226 may arrive before the data connection reaches its end.
    c.handle_bytes(now, b"226 done\r\n");
    assert_eq!(c.poll_event(), None);
    c.data_finished(now, true).unwrap();
    assert_eq!(
        c.poll_event(),
        Some(Event::Done(Ok(Reply {
            code: 226,
            text: "done"
        })))
    );
    // Later transfers go straight to PASV.
    c.start(
        now,
        Request::List {
            path: None,
            kind: ListKind::Names,
        },
    )
    .unwrap();
    assert_eq!(sent(&mut c), "PASV\r\n");
}

#[test]
fn abort_a_running_transfer() {
    let now = Instant::ZERO;
    let mut c = greeted();
    c.start(
        now,
        Request::Store {
            path: "f",
            mode: StoreMode::Append,
        },
    )
    .unwrap();
    c.handle_bytes(
        now,
        b"200 ok\r\n229 Entering Extended Passive Mode (|||6446|)\r\n",
    );
    assert_eq!(sent(&mut c), "TYPE I\r\nEPSV\r\n");
    assert_eq!(
        c.poll_event(),
        Some(Event::OpenData("192.0.2.10:6446".parse().unwrap()))
    );
    c.data_connected(now).unwrap();
    assert_eq!(sent(&mut c), "APPE f\r\n");
    c.handle_bytes(now, b"150 go\r\n");
    assert_eq!(c.poll_event(), Some(Event::TransferStarted { size: None }));
    c.abort(now).unwrap();
    assert_eq!(sent(&mut c), "ABOR\r\n");
    c.handle_bytes(now, b"426 aborted\r\n226 ABOR ok\r\n");
    assert_eq!(c.poll_event(), Some(Event::Done(Err(Failure::Aborted))));
}

/// Found by the FTP model test in the simulator: an `ABOR` that crosses
/// the `226` of a transfer that had just finished gets a second reply
/// (`225`). The client must wait for it, or the `225` is taken as the
/// reply to its next command.
#[test]
fn abort_crossing_the_transfer_reply_waits_for_both_replies() {
    let now = Instant::ZERO;
    let mut c = greeted();
    c.start(
        now,
        Request::Retrieve {
            path: "f",
            offset: 0,
        },
    )
    .unwrap();
    c.handle_bytes(
        now,
        b"200 ok\r\n229 Entering Extended Passive Mode (|||6446|)\r\n",
    );
    assert_eq!(sent(&mut c), "TYPE I\r\nEPSV\r\n");
    assert!(matches!(c.poll_event(), Some(Event::OpenData(_))));
    c.data_connected(now).unwrap();
    assert_eq!(sent(&mut c), "RETR f\r\n");
    c.handle_bytes(now, b"150 go\r\n");
    assert_eq!(c.poll_event(), Some(Event::TransferStarted { size: None }));
    c.abort(now).unwrap();
    assert_eq!(sent(&mut c), "ABOR\r\n");
    c.handle_bytes(now, b"226 Transfer complete\r\n");
    assert_eq!(c.poll_event(), None, "the reply to ABOR is still owed");
    c.handle_bytes(now, b"225 No transfer to abort\r\n");
    assert_eq!(c.poll_event(), Some(Event::Done(Err(Failure::Aborted))));
    c.start(now, Request::Quit).unwrap();
    assert_eq!(sent(&mut c), "QUIT\r\n");
    c.handle_bytes(now, b"221 bye\r\n");
    assert!(matches!(
        c.poll_event(),
        Some(Event::Done(Ok(Reply { code: 221, .. })))
    ));
}

/// An `ABOR` after the transfer's final reply arrived is owed one reply.
#[test]
fn abort_after_the_final_reply_waits_for_one_reply() {
    let now = Instant::ZERO;
    let mut c = greeted();
    c.start(
        now,
        Request::Retrieve {
            path: "f",
            offset: 0,
        },
    )
    .unwrap();
    c.handle_bytes(
        now,
        b"200 ok\r\n229 Entering Extended Passive Mode (|||6446|)\r\n",
    );
    let _ = sent(&mut c);
    assert!(matches!(c.poll_event(), Some(Event::OpenData(_))));
    c.data_connected(now).unwrap();
    let _ = sent(&mut c);
    c.handle_bytes(now, b"150 go\r\n");
    assert_eq!(c.poll_event(), Some(Event::TransferStarted { size: None }));
    c.handle_bytes(now, b"226 done\r\n");
    assert_eq!(c.poll_event(), None, "waiting for the end of the data");
    c.abort(now).unwrap();
    assert_eq!(sent(&mut c), "ABOR\r\n");
    c.handle_bytes(now, b"225 No transfer to abort\r\n");
    assert_eq!(c.poll_event(), Some(Event::Done(Err(Failure::Aborted))));
}

#[test]
fn timeouts_and_421_close_the_session() {
    let now = Instant::ZERO;
    let mut c = greeted();
    c.start(now, Request::Noop).unwrap();
    let deadline = c.poll_timeout().unwrap();
    c.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(c.poll_event(), None);
    c.handle_timeout(deadline);
    assert_eq!(c.poll_event(), Some(Event::Done(Err(Failure::Timeout))));
    assert!(c.is_closed());
    let mut c = greeted();
    c.start(now, Request::PrintDir).unwrap();
    c.handle_bytes(now, b"421 bye\r\n");
    assert_eq!(c.poll_event(), Some(Event::Done(Err(Failure::Closed))));
    assert_eq!(c.start(now, Request::Noop), Err(ClientError::Closed));
    let mut c = greeted();
    c.start(now, Request::Noop).unwrap();
    c.handle_bytes(now, b"garbage\r\n");
    assert_eq!(c.poll_event(), Some(Event::Done(Err(Failure::Protocol))));
}

#[test]
fn a_reply_timeout_set_while_awaiting_the_greeting_applies_to_it() {
    let start = Instant::from_secs(100);
    let mut c = ClientSession::new(start, "192.0.2.10:21".parse().unwrap());
    c.set_reply_timeout(Duration::from_secs(2));
    assert_eq!(c.poll_timeout(), Some(start + Duration::from_secs(2)));
    // Bytes that never complete the greeting do not push the deadline back.
    c.handle_bytes(start + Duration::from_secs(1), b"2");
    c.handle_timeout(start + Duration::from_secs(2));
    assert_eq!(c.poll_event(), Some(Event::Done(Err(Failure::Timeout))));
    // Set after a command went out, the timeout counts from its sending.
    let mut c = greeted();
    c.start(Instant::ZERO, Request::Noop).unwrap();
    c.set_reply_timeout(Duration::from_secs(5));
    assert_eq!(c.poll_timeout(), Some(Instant::from_secs(5)));
}

#[test]
fn a_server_hanging_up_on_quit_is_a_221_not_the_previous_reply() {
    let now = Instant::ZERO;
    let mut c = greeted();
    c.start(now, Request::Noop).unwrap();
    c.handle_bytes(now, b"200 ok\r\n");
    assert!(matches!(c.poll_event(), Some(Event::Done(Ok(r))) if r.code == 200));
    c.start(now, Request::Quit).unwrap();
    assert_eq!(sent(&mut c), "NOOP\r\nQUIT\r\n");
    c.handle_close(now);
    match c.poll_event() {
        Some(Event::Done(Ok(r))) => {
            assert_eq!((r.code, r.text), (221, "connection closed"));
        }
        other => panic!("{other:?}"),
    }
    assert!(c.is_closed());
}

#[test]
fn quoted_path_and_size_helpers() {
    let r = Reply {
        code: 257,
        text: "\"/a \"\"q\"\" b\" is current",
    };
    let mut buf = heapless::String::new();
    assert_eq!(r.quoted_path(&mut buf), Some("/a \"q\" b"));
    assert_eq!(
        Reply {
            code: 213,
            text: "12"
        }
        .size(),
        Some(12)
    );
    assert_eq!(announced_size("Opening (123 bytes)."), Some(123));
    assert_eq!(announced_size("Here comes"), None);
    // Found by the ftp_reply fuzz target: a multi-byte character right
    // before the number.
    assert_eq!(announced_size("\u{f9399}12 bytes"), Some(12));
    assert_eq!(announced_size("\u{f9399} bytes"), None);
}

/// The client machine driving the server machine, on virtual time.
struct Pair {
    c: ClientSession,
    s: ServerSession,
    store: MemStore,
    now: Instant,
    reader: Option<MemReader>,
    writer: Option<MemWriter>,
    upload: Vec<u8>,
    download: Vec<u8>,
    server_transfer: Option<(TransferKind, heapless::String<512>, u64, bool)>,
    client_data_open: bool,
    /// Replies not yet taken by the client.
    to_client: Vec<u8>,
    /// Most reply bytes handed to the client at once.
    chunk: usize,
}

impl Pair {
    fn new() -> Pair {
        let mut store = MemStore::new();
        store.insert("pub/f.bin", (0..100u8).collect());
        let now = Instant::ZERO;
        let config = ServerConfig {
            anonymous: true,
            ..ServerConfig::default()
        };
        let mut p = Pair {
            c: ClientSession::new(now, "127.0.0.1:21".parse().unwrap()),
            s: ServerSession::new(
                now,
                config,
                "127.0.0.1:4000".parse().unwrap(),
                "127.0.0.1:21".parse().unwrap(),
            ),
            store,
            now,
            reader: None,
            writer: None,
            upload: Vec::new(),
            download: Vec::new(),
            server_transfer: None,
            client_data_open: false,
            to_client: Vec::new(),
            chunk: usize::MAX,
        };
        assert!(p.run().is_ok());
        p
    }

    /// Runs until the client reports the operation done.
    fn run(&mut self) -> Result<u16, String> {
        for _ in 0..1000 {
            let mut buf = [0u8; 4096];
            let n = self.c.poll_transmit(Instant::ZERO, &mut buf).unwrap_or(0);
            let mut off = 0;
            while off < n {
                off += self.s.handle_bytes(self.now, &buf[off..n]);
                self.server_events();
            }
            self.server_events();
            let n = self.s.poll_transmit(Instant::ZERO, &mut buf).unwrap_or(0);
            self.to_client.extend_from_slice(&buf[..n]);
            let offer = self.to_client.len().min(self.chunk);
            let used = self.c.handle_bytes(self.now, &self.to_client[..offer]);
            self.to_client.drain(..used);
            while let Some(ev) = self.c.poll_event() {
                match ev {
                    Event::OpenData(addr) => {
                        assert_eq!(addr.port(), 50_000);
                        assert!(
                            self.s.accept_data_connection(
                                self.now,
                                "127.0.0.1:4001".parse().unwrap()
                            )
                        );
                        self.client_data_open = true;
                        self.c.data_connected(self.now).unwrap();
                    }
                    Event::TransferStarted { .. } => {
                        self.server_events();
                        self.move_data();
                        self.c.data_finished(self.now, true).unwrap();
                    }
                    Event::Done(Ok(r)) => return Ok(r.code),
                    Event::Done(Err(e)) => return Err(format!("{e:?}")),
                }
            }
        }
        panic!("no progress");
    }

    fn server_events(&mut self) {
        while let Some(ev) = self.s.poll_event() {
            match ev {
                server::Event::Storage(op) => {
                    let (answer, opened) = perform(&mut self.store, &op);
                    match opened {
                        Opened::Reader(r) => self.reader = Some(r),
                        Opened::Writer(w) => self.writer = Some(w),
                        Opened::Nothing => {}
                    }
                    self.s.storage_done(self.now, answer).unwrap();
                }
                server::Event::Listen => self.s.passive_listening(self.now, 50_000).unwrap(),
                server::Event::Transfer(t) => {
                    self.server_transfer =
                        Some((t.kind, t.path.try_into().unwrap(), t.offset, t.ascii));
                }
                _ => {}
            }
        }
    }

    fn move_data(&mut self) {
        let (kind, path, offset, ascii) = self
            .server_transfer
            .take()
            .expect("server transfer running");
        let mut buf = [0u8; 1024];
        let outcome = match kind {
            TransferKind::Retr => {
                let mut r = self.reader.take().unwrap();
                let mut pump = SendPump::new(offset, ascii);
                self.download.clear();
                loop {
                    let n = pump.fill(&mut self.store, &mut r, &mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    self.download.extend_from_slice(&buf[..n]);
                }
                TransferOutcome::Complete {
                    bytes: self.download.len() as u64,
                }
            }
            TransferKind::List(format, facts) => {
                let mut l = Listing::new(&path, format, facts, None).unwrap();
                self.download.clear();
                loop {
                    let n = l.fill(&mut self.store, &mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    self.download.extend_from_slice(&buf[..n]);
                }
                TransferOutcome::Complete {
                    bytes: self.download.len() as u64,
                }
            }
            TransferKind::Stor => {
                let mut w = self.writer.take().unwrap();
                let mut pump = ReceivePump::new(ascii);
                let mut data = self.upload.clone();
                pump.absorb(&mut self.store, &mut w, &mut data).unwrap();
                TransferOutcome::Complete {
                    bytes: pump.finish(&mut self.store, w).unwrap(),
                }
            }
        };
        self.s.transfer_done(self.now, outcome).unwrap();
    }
}

#[test]
fn client_and_server_machines_agree() {
    let mut p = Pair::new();
    let now = p.now;
    p.c.start(
        now,
        Request::Login {
            user: "anonymous",
            password: "x",
        },
    )
    .unwrap();
    assert_eq!(p.run(), Ok(230));
    p.c.start(
        now,
        Request::Retrieve {
            path: "pub/f.bin",
            offset: 90,
        },
    )
    .unwrap();
    assert_eq!(p.run(), Ok(226));
    assert_eq!(p.download, (90..100u8).collect::<Vec<_>>());
    p.c.start(now, Request::Size("pub/f.bin")).unwrap();
    assert_eq!(p.run(), Ok(213));
    p.c.start(
        now,
        Request::List {
            path: Some("pub"),
            kind: ListKind::Names,
        },
    )
    .unwrap();
    assert_eq!(p.run(), Ok(226));
    assert_eq!(p.download, b"f.bin\r\n");
    p.c.start(
        now,
        Request::Store {
            path: "up",
            mode: StoreMode::Replace,
        },
    )
    .unwrap();
    let r = p.run();
    assert!(matches!(&r, Err(e) if e.contains("code: 550")), "{r:?}");
    p.c.start(now, Request::ChangeDir("pub")).unwrap();
    assert_eq!(p.run(), Ok(250));
    p.c.start(now, Request::PrintDir).unwrap();
    assert_eq!(p.run(), Ok(257));
    p.c.start(now, Request::Quit).unwrap();
    assert_eq!(p.run(), Ok(221));
    assert!(p.s.is_closed());
    assert!(p.c.is_closed());
}

#[test]
fn client_and_server_machines_upload() {
    let mut p = Pair::new();
    let now = p.now;
    p.s = ServerSession::new(
        now,
        ServerConfig::default(),
        "127.0.0.1:4000".parse().unwrap(),
        "127.0.0.1:21".parse().unwrap(),
    );
    p.c = ClientSession::new(now, "127.0.0.1:21".parse().unwrap());
    assert!(p.run().is_ok());
    p.c.start(
        now,
        Request::Login {
            user: "alice",
            password: "pw",
        },
    )
    .unwrap();
    // The server asks its driver; answer as a verifier would.
    let mut buf = [0u8; 256];
    let n = p.c.poll_transmit(Instant::ZERO, &mut buf).unwrap_or(0);
    p.s.handle_bytes(now, &buf[..n]);
    let n = p.s.poll_transmit(Instant::ZERO, &mut buf).unwrap_or(0);
    p.c.handle_bytes(now, &buf[..n]);
    let n = p.c.poll_transmit(Instant::ZERO, &mut buf).unwrap_or(0);
    p.s.handle_bytes(now, &buf[..n]);
    assert!(matches!(
        p.s.poll_event(),
        Some(server::Event::VerifyLogin {
            user: "alice",
            password: "pw"
        })
    ));
    p.s.login_verified(now, Some(true)).unwrap();
    assert_eq!(p.run(), Ok(230));
    p.upload = b"new content".to_vec();
    p.c.start(
        now,
        Request::Store {
            path: "up.bin",
            mode: StoreMode::Replace,
        },
    )
    .unwrap();
    assert_eq!(p.run(), Ok(226));
    assert_eq!(p.store.get("up.bin").unwrap(), b"new content");
    p.upload = b"!".to_vec();
    p.c.start(
        now,
        Request::Store {
            path: "up.bin",
            mode: StoreMode::Resume(3),
        },
    )
    .unwrap();
    assert_eq!(p.run(), Ok(226));
    assert_eq!(p.store.get("up.bin").unwrap(), b"new!");
    p.c.start(
        now,
        Request::Rename {
            from: "up.bin",
            to: "moved.bin",
        },
    )
    .unwrap();
    assert_eq!(p.run(), Ok(250));
    p.c.start(now, Request::MakeDir("d")).unwrap();
    assert_eq!(p.run(), Ok(257));
    p.c.start(now, Request::Delete("moved.bin")).unwrap();
    assert_eq!(p.run(), Ok(250));
    p.c.start(now, Request::RemoveDir("d")).unwrap();
    assert_eq!(p.run(), Ok(250));
    assert!(p.store.files().all(|f| f == "pub/f.bin"));
}

mod pair_properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Get(&'static str, u64),
        Put(&'static str, Vec<u8>, u8),
        List(Option<&'static str>, u8),
        Size(&'static str),
        Delete(&'static str),
        Mkdir(&'static str),
        Rmdir(&'static str),
        Rename(&'static str, &'static str),
        Cwd(&'static str),
        Pwd,
        Noop,
    }

    fn name() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "pub/f.bin",
            "pub",
            "x",
            "d/y",
            "d",
            "..",
            "/",
            "missing",
        ])
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (name(), 0u64..120).prop_map(|(n, o)| Op::Get(n, o)),
            (name(), prop::collection::vec(any::<u8>(), 0..300), 0u8..3)
                .prop_map(|(n, d, m)| Op::Put(n, d, m)),
            (prop::option::of(name()), 0u8..3).prop_map(|(n, k)| Op::List(n, k)),
            name().prop_map(Op::Size),
            name().prop_map(Op::Delete),
            name().prop_map(Op::Mkdir),
            name().prop_map(Op::Rmdir),
            (name(), name()).prop_map(|(a, b)| Op::Rename(a, b)),
            name().prop_map(Op::Cwd),
            Just(Op::Pwd),
            Just(Op::Noop),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever a client asks, in whatever pieces the replies arrive,
        /// every operation ends with a reply, the two machines stay in step,
        /// and uploads land byte for byte.
        #[test]
        fn client_and_server_never_desynchronise(ops in prop::collection::vec(op(), 1..25), chunk in 1usize..64) {
            let mut p = Pair::new();
            p.chunk = chunk;
            let now = p.now;
            p.s = ServerSession::new(now, ServerConfig::default(), "127.0.0.1:4000".parse().unwrap(), "127.0.0.1:21".parse().unwrap());
            p.c = ClientSession::new(now, "127.0.0.1:21".parse().unwrap());
            prop_assert!(p.run().is_ok());
            p.c.start(now, Request::Login { user: "alice", password: "pw" }).unwrap();
            // Answer the verifier.
            for _ in 0..10 {
                let mut buf = [0u8; 512];
                let n = p.c.poll_transmit(Instant::ZERO, &mut buf).unwrap_or(0);
                p.s.handle_bytes(now, &buf[..n]);
                if let Some(server::Event::VerifyLogin { .. }) = p.s.poll_event() {
                    p.s.login_verified(now, Some(true)).unwrap();
                    break;
                }
                let n = p.s.poll_transmit(Instant::ZERO, &mut buf).unwrap_or(0);
                p.c.handle_bytes(now, &buf[..n]);
            }
            prop_assert_eq!(p.run(), Ok(230));
            for op in ops {
                let request = match &op {
                    Op::Get(n, o) => Request::Retrieve { path: n, offset: *o },
                    Op::Put(n, d, m) => {
                        p.upload = d.clone();
                        let mode = match m { 0 => StoreMode::Replace, 1 => StoreMode::Append, _ => StoreMode::Resume(1) };
                        Request::Store { path: n, mode }
                    }
                    Op::List(n, k) => Request::List { path: *n, kind: [ListKind::Long, ListKind::Names, ListKind::Facts][usize::from(*k)] },
                    Op::Size(n) => Request::Size(n),
                    Op::Delete(n) => Request::Delete(n),
                    Op::Mkdir(n) => Request::MakeDir(n),
                    Op::Rmdir(n) => Request::RemoveDir(n),
                    Op::Rename(a, b) => Request::Rename { from: a, to: b },
                    Op::Cwd(n) => Request::ChangeDir(n),
                    Op::Pwd => Request::PrintDir,
                    Op::Noop => Request::Noop,
                };
                p.c.start(now, request).unwrap();
                let result = p.run();
                match &result {
                    Ok(code) => prop_assert!((200..300).contains(code), "{:?} -> {}", op, code),
                    Err(e) => prop_assert!(e.starts_with("Refused"), "{:?} -> {}", op, e),
                }
                if let (Op::Put(n, d, 0), Ok(_)) = (&op, &result) {
                    let path = crate::path::resolve(p.s.cwd(), n, crate::path::DotDot::Clamp).unwrap();
                    prop_assert_eq!(p.store.get(&path), Some(d.as_slice()));
                }
                prop_assert!(p.c.is_idle());
                prop_assert!(!p.s.is_closed());
                prop_assert!(p.to_client.is_empty());
            }
        }
    }
}

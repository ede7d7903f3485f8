//! FTP replies: arbitrary bytes through the line assembler and the
//! multi-line reply parser, and through the client session machine; single
//! lines that parse must emit and parse back unchanged.

use crate::ftp::client::{ClientSession, Request};
use crate::time::{Duration, Instant};
use crate::wire::ftp::{LineBuffer, Reply, ReplyLine, ReplyParser, ReplyProgress};

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut lines = LineBuffer::<256>::new();
    let mut parser = ReplyParser::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (used, found) = lines.push(rest);
        rest = &rest[used..];
        if found.is_none() {
            break;
        }
        if let Ok(ReplyProgress::Complete(r)) = parser.feed(lines.line()) {
            let mut buf = [0u8; 512];
            if !r.text.contains(['\r', '\n']) {
                let n = Reply::new(r.code, r.text).emit(&mut buf).unwrap();
                let back = ReplyLine::parse(&buf[..n - 2]).unwrap();
                assert_eq!((back.code, back.text), (r.code, r.text));
            }
        }
        lines.clear();
    }

    // The client machine in the middle of a download.
    let mut now = Instant::ZERO;
    let mut c = ClientSession::new(now, "127.0.0.1:21".parse().unwrap());
    let mut out = [0u8; 1024];
    let mut rest = data;
    for _ in 0..10_000 {
        if rest.is_empty() {
            break;
        }
        let used = c.handle_bytes(now, rest);
        rest = &rest[used..];
        let _ = c.poll_transmit(crate::time::Instant::ZERO, &mut out);
        let mut progressed = used > 0;
        while let Some(ev) = c.poll_event() {
            progressed = true;
            use crate::ftp::client::Event;
            match ev {
                Event::OpenData(_) => {
                    let _ = c.data_connected(now);
                }
                Event::TransferStarted { .. } => {
                    let _ = c.data_finished(now, true);
                }
                Event::Done(_) => {
                    let _ = c.start(
                        now,
                        Request::Retrieve {
                            path: "f",
                            offset: 3,
                        },
                    );
                }
            }
        }
        now += Duration::from_secs(1);
        c.handle_timeout(now);
        if !progressed && c.is_closed() {
            break;
        }
    }
}

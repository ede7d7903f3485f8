//! FTP command lines: parse arbitrary bytes; whatever parses must emit and
//! parse back to the same command, and emitting into a short buffer must
//! leave it untouched.

use crate::wire::ftp::{Command, LineBuffer};

/// Runs one input.
pub fn run(data: &[u8]) {
    // Through the line assembler, the way sessions see it.
    let mut lines = LineBuffer::<1024>::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (used, found) = lines.push(rest);
        assert!(used <= rest.len());
        assert!(lines.line().len() <= 1024);
        rest = &rest[used..];
        if found.is_some() {
            check(lines.line());
            lines.clear();
        } else {
            break;
        }
    }
    check(data);
}

fn check(line: &[u8]) {
    let Ok(cmd) = Command::parse(line) else {
        return;
    };
    // Emitting normalises (upper-case verb, canonical numbers) but never
    // grows a line by more than the CRLF and a few digits.
    let mut buf = vec![0u8; line.len() + 64];
    let n = cmd
        .emit(&mut buf)
        .expect("an emitted command is no longer than its line");
    assert!(buf[..n].ends_with(b"\r\n"));
    let again = Command::parse(&buf[..n - 2]).expect("emitted command parses");
    assert_eq!(again, cmd);
    let mut small = [0xA5u8; 8];
    if cmd.emit(&mut small).is_err() {
        assert!(small.iter().all(|b| *b == 0xA5));
    }
}

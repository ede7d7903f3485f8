//! The manifest: the last boot stage, naming the files to fetch over FTP.
//!
//! ```text
//! # files for board A
//! ftp-server: 10.0.0.2:2121          # optional; default: the boot server
//! kernel: boot/vmlinuz  sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! initrd: boot/initrd.img
//! rootfs: images/root fs.ext4        # names may contain spaces
//! ```
//!
//! * A line is `key: filename`, with an optional final
//!   `sha256:<64 hex digits>` token. The key is 1 to [`MAX_KEY_LEN`]
//!   letters, digits, `-`, `_` or `.`; the file name is everything between
//!   the colon and the digest, trimmed.
//! * `#` at the start of a line or after whitespace starts a comment; blank
//!   lines are ignored; lines end in `\n` or `\r\n`.
//! * The key [`FTP_SERVER_KEY`] (`ftp-server`) is reserved: its value is the
//!   address of the FTP server to fetch from, `ADDRESS[:PORT]` (an IPv4
//!   address or a bracketed IPv6 one; no host names, the core has no
//!   resolver). At most one such line.
//! * File names are validated like any other path a peer names
//!   ([`crate::path::resolve`] with `..` refused): a manifest can never name
//!   a file outside the served root, and an absolute name stays inside it.
//!
//! Every bad line is reported with its 1-based line number. The parser
//! borrows the text and allocates nothing; [`ManifestLines::position`] and
//! [`ManifestLines::resume`] let a machine walk the entries across calls
//! without holding the iterator.

use core::fmt;
use core::net::{IpAddr, SocketAddr};

use crate::path::{self, DotDot, PathBuf, PathError};

/// Longest manifest key accepted.
pub const MAX_KEY_LEN: usize = 64;

/// The reserved key naming the FTP server.
pub const FTP_SERVER_KEY: &str = "ftp-server";

/// One file named by a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry<'a> {
    /// 1-based line number in the manifest.
    pub line: usize,
    /// The key before the colon (what the file is for).
    pub key: &'a str,
    /// The file, as a normalised path relative to the served root.
    pub path: PathBuf,
    /// The expected SHA-256 of the file's content, if the line gives one.
    pub sha256: Option<[u8; 32]>,
}

/// The FTP server a manifest names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FtpServer {
    /// 1-based line number in the manifest.
    pub line: usize,
    /// The server's address.
    pub ip: IpAddr,
    /// Its port, when the line gives one.
    pub port: Option<u16>,
}

impl FtpServer {
    /// The server's socket address, with `default_port` when the manifest
    /// gave none.
    pub fn addr(&self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.ip, self.port.unwrap_or(default_port))
    }
}

/// One meaningful line of a manifest.
// The entry holds its path inline (no allocator); items are moved once.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// A file to fetch.
    File(ManifestEntry<'a>),
    /// The `ftp-server:` line.
    FtpServer(FtpServer),
}

/// What is wrong with a manifest line.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestErrorKind {
    /// The line has no `:` separating key and file name.
    #[error("expected 'key: filename'")]
    MissingColon,
    /// The key is empty, too long, or has characters other than letters,
    /// digits, `-`, `_` and `.`.
    #[error("bad key (letters, digits, '-', '_' and '.' only)")]
    BadKey,
    /// Nothing after the colon.
    #[error("missing file name")]
    MissingFileName,
    /// The file name is not a valid path inside the root.
    #[error("bad file name: {0}")]
    BadPath(PathError),
    /// The file name is the root itself.
    #[error("file name names the root directory")]
    RootPath,
    /// `sha256:` is not followed by exactly 64 hexadecimal digits.
    #[error("bad digest: expected sha256:<64 hex digits>")]
    BadDigest,
    /// The `ftp-server:` value is not `ADDRESS[:PORT]`.
    #[error("bad ftp-server: expected ADDRESS or ADDRESS:PORT")]
    BadServer,
    /// A second `ftp-server:` line.
    #[error("ftp-server given twice")]
    DuplicateServer,
    /// The manifest is not valid UTF-8.
    #[error("manifest is not valid UTF-8")]
    NotUtf8,
}

/// A manifest line that could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("manifest line {line}: {kind}")]
pub struct ManifestError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub kind: ManifestErrorKind,
}

/// Parses a manifest, yielding each item or the error of each bad line, in
/// order (see the [module docs](self) for the format).
///
/// ```
/// use netboot_core::plan::{parse_manifest, Item, ManifestErrorKind};
///
/// let text = "# files for the lab\nkernel: boot/vmlinuz\n\ninitrd: boot/initrd.img  # compressed\n\
///             rootfs: ../etc/shadow\nftp-server: 10.0.0.2:2121\n";
/// let items: Vec<_> = parse_manifest(text).collect();
/// assert_eq!(items.len(), 4);
/// let Ok(Item::File(kernel)) = &items[0] else { panic!() };
/// assert_eq!((kernel.line, kernel.key, kernel.path.as_str()), (2, "kernel", "boot/vmlinuz"));
/// let err = items[2].as_ref().unwrap_err();
/// assert_eq!(err.line, 5);
/// assert!(matches!(err.kind, ManifestErrorKind::BadPath(_)));
/// let Ok(Item::FtpServer(server)) = &items[3] else { panic!() };
/// assert_eq!(server.addr(21).to_string(), "10.0.0.2:2121");
/// ```
pub fn parse_manifest(text: &str) -> ManifestLines<'_> {
    ManifestLines::resume(text, Position::START)
}

/// Parses manifest bytes, which must be UTF-8 (see [`parse_manifest`]).
pub fn parse_manifest_bytes(bytes: &[u8]) -> Result<ManifestLines<'_>, ManifestError> {
    core::str::from_utf8(bytes)
        .map(parse_manifest)
        .map_err(|e| ManifestError {
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            kind: ManifestErrorKind::NotUtf8,
        })
}

/// What a whole manifest holds, once every line has been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Number of file lines.
    pub files: usize,
    /// The `ftp-server:` line, if any.
    pub ftp_server: Option<FtpServer>,
}

/// Checks every line of a manifest and returns the first error, or what it
/// holds.
///
/// ```
/// use netboot_core::plan::{check_manifest, ManifestErrorKind};
///
/// let s = check_manifest(b"a: x\nb: y\nftp-server: [::1]\n").unwrap();
/// assert_eq!(s.files, 2);
/// assert_eq!(s.ftp_server.unwrap().addr(21).to_string(), "[::1]:21");
/// let e = check_manifest(b"a: x\nftp-server: 10.0.0.1\nftp-server: 10.0.0.2\n").unwrap_err();
/// assert_eq!((e.line, e.kind), (3, ManifestErrorKind::DuplicateServer));
/// ```
pub fn check_manifest(bytes: &[u8]) -> Result<Summary, ManifestError> {
    let mut summary = Summary {
        files: 0,
        ftp_server: None,
    };
    for item in parse_manifest_bytes(bytes)? {
        match item? {
            Item::File(_) => summary.files += 1,
            Item::FtpServer(s) if summary.ftp_server.is_some() => {
                return Err(ManifestError {
                    line: s.line,
                    kind: ManifestErrorKind::DuplicateServer,
                });
            }
            Item::FtpServer(s) => summary.ftp_server = Some(s),
        }
    }
    Ok(summary)
}

/// Where a [`ManifestLines`] iterator stands: a byte offset and the number
/// of lines before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Position {
    /// Byte offset of the next line.
    pub offset: usize,
    /// Lines already read.
    pub line: usize,
}

impl Position {
    /// The start of the text.
    pub const START: Position = Position { offset: 0, line: 0 };
}

/// Iterator over the items of a manifest; see [`parse_manifest`].
#[derive(Clone, Debug)]
pub struct ManifestLines<'a> {
    text: &'a str,
    at: Position,
}

impl<'a> ManifestLines<'a> {
    /// Continues parsing `text` from `at` (a value of
    /// [`ManifestLines::position`] taken on the same text).
    ///
    /// ```
    /// use netboot_core::plan::{parse_manifest, Item, ManifestLines};
    ///
    /// let text = "a: one\nb: two\n";
    /// let mut it = parse_manifest(text);
    /// it.next();
    /// let at = it.position();
    /// let Some(Ok(Item::File(e))) = ManifestLines::resume(text, at).next() else { panic!() };
    /// assert_eq!((e.line, e.key), (2, "b"));
    /// ```
    pub fn resume(text: &'a str, at: Position) -> Self {
        let offset = at.offset.min(text.len());
        ManifestLines {
            text,
            at: Position {
                offset,
                line: at.line,
            },
        }
    }

    /// Where the iterator stands.
    pub fn position(&self) -> Position {
        self.at
    }

    /// Only the file entries (and errors), skipping the `ftp-server:` line.
    pub fn files(self) -> impl Iterator<Item = Result<ManifestEntry<'a>, ManifestError>> {
        self.filter_map(|item| match item {
            Ok(Item::File(e)) => Some(Ok(e)),
            Ok(Item::FtpServer(_)) => None,
            Err(e) => Some(Err(e)),
        })
    }
}

impl<'a> Iterator for ManifestLines<'a> {
    type Item = Result<Item<'a>, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.text.get(self.at.offset..)?;
            if rest.is_empty() {
                return None;
            }
            let (raw, consumed) = match rest.find('\n') {
                Some(i) => (&rest[..i], i + 1),
                None => (rest, rest.len()),
            };
            self.at.offset += consumed;
            self.at.line += 1;
            let content = strip_comment(raw.strip_suffix('\r').unwrap_or(raw)).trim();
            if content.is_empty() {
                continue;
            }
            let line = self.at.line;
            return Some(parse_line(line, content).map_err(|kind| ManifestError { line, kind }));
        }
    }
}

fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn parse_line(line: usize, content: &str) -> Result<Item<'_>, ManifestErrorKind> {
    let (key, value) = content
        .split_once(':')
        .ok_or(ManifestErrorKind::MissingColon)?;
    let key = key.trim();
    let valid_key = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid_key {
        return Err(ManifestErrorKind::BadKey);
    }
    let value = value.trim();
    if key.eq_ignore_ascii_case(FTP_SERVER_KEY) {
        return parse_server(line, value).map(Item::FtpServer);
    }
    let (name, sha256) = match value.rsplit_once(char::is_whitespace) {
        Some((name, last)) if last.starts_with("sha256:") => (name.trim_end(), Some(last)),
        _ if value.starts_with("sha256:") => ("", Some(value)),
        _ => (value, None),
    };
    if name.is_empty() {
        return Err(ManifestErrorKind::MissingFileName);
    }
    let sha256 = match sha256 {
        Some(token) => Some(parse_digest(&token["sha256:".len()..])?),
        None => None,
    };
    let path = path::resolve("", name, DotDot::Reject).map_err(ManifestErrorKind::BadPath)?;
    if path.is_empty() {
        return Err(ManifestErrorKind::RootPath);
    }
    Ok(Item::File(ManifestEntry {
        line,
        key,
        path,
        sha256,
    }))
}

fn parse_server(line: usize, value: &str) -> Result<FtpServer, ManifestErrorKind> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(FtpServer {
            line,
            ip: addr.ip(),
            port: Some(addr.port()),
        });
    }
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    bare.parse::<IpAddr>()
        .map(|ip| FtpServer {
            line,
            ip,
            port: None,
        })
        .map_err(|_| ManifestErrorKind::BadServer)
}

fn parse_digest(hex: &str) -> Result<[u8; 32], ManifestErrorKind> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return Err(ManifestErrorKind::BadDigest);
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let hi = hex_value(pair[0]).ok_or(ManifestErrorKind::BadDigest)?;
        let lo = hex_value(pair[1]).ok_or(ManifestErrorKind::BadDigest)?;
        *byte = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Lower-case hexadecimal display of a digest.
///
/// ```
/// use netboot_core::plan::Hex;
/// assert_eq!(format!("{}", Hex(&[0xde, 0xad, 0x01])), "dead01");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Parsed = Result<(usize, String, String), (usize, ManifestErrorKind)>;

    fn kinds(text: &str) -> Vec<Parsed> {
        parse_manifest(text)
            .files()
            .map(|r| {
                r.map(|e| (e.line, e.key.to_string(), e.path.to_string()))
                    .map_err(|e| (e.line, e.kind))
            })
            .collect()
    }

    #[test]
    fn manifest_lines() {
        let digest = "ab".repeat(32);
        let text = format!(
            "a: x.bin\r\n  # indented comment\nb : dir/with space.img sha256:{digest}\nc:#notacomment\n"
        );
        let entries: Vec<_> = parse_manifest(&text).files().map(Result::unwrap).collect();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].path, "x.bin");
        assert_eq!(entries[1].line, 3);
        assert_eq!(entries[1].path, "dir/with space.img");
        assert_eq!(entries[1].sha256, Some([0xab; 32]));
        assert_eq!(entries[2].path, "#notacomment");
    }

    #[test]
    fn manifest_errors_carry_line_numbers() {
        let text = "no colon here\n: x\nk:\nk: sha256:00\nk: f sha256:zz\nk: /\nk: a\0b\nk y: f\n";
        assert_eq!(
            kinds(text),
            vec![
                Err((1, ManifestErrorKind::MissingColon)),
                Err((2, ManifestErrorKind::BadKey)),
                Err((3, ManifestErrorKind::MissingFileName)),
                Err((4, ManifestErrorKind::MissingFileName)),
                Err((5, ManifestErrorKind::BadDigest)),
                Err((6, ManifestErrorKind::RootPath)),
                Err((7, ManifestErrorKind::BadPath(PathError::ControlCharacter))),
                Err((8, ManifestErrorKind::BadKey)),
            ]
        );
    }

    #[test]
    fn ftp_server_lines() {
        let ok = |v: &str| match parse_manifest(&format!("ftp-server: {v}")).next() {
            Some(Ok(Item::FtpServer(s))) => (s.ip.to_string(), s.port),
            other => panic!("{v}: {other:?}"),
        };
        assert_eq!(ok("10.0.0.2"), ("10.0.0.2".into(), None));
        assert_eq!(ok("10.0.0.2:2121"), ("10.0.0.2".into(), Some(2121)));
        assert_eq!(ok("[fe80::1]:21"), ("fe80::1".into(), Some(21)));
        assert_eq!(ok("[::1]"), ("::1".into(), None));
        for bad in ["ftp.example.org", "10.0.0.2:99999", "", "10.0.0.2:21 extra"] {
            let text = format!("\nFTP-Server: {bad}");
            let got = parse_manifest(&text).next();
            assert_eq!(
                got,
                Some(Err(ManifestError {
                    line: 2,
                    kind: ManifestErrorKind::BadServer
                })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn resuming_walks_the_same_items() {
        let text = "# c\na: one\n\nftp-server: 10.0.0.1\nb: two\nbad\nc: three";
        let all: Vec<_> = parse_manifest(text).collect();
        let mut at = Position::START;
        let mut walked = Vec::new();
        loop {
            let mut it = ManifestLines::resume(text, at);
            let Some(item) = it.next() else { break };
            walked.push(item);
            at = it.position();
        }
        assert_eq!(walked, all);
        assert_eq!(all.len(), 5);
        assert_eq!(
            at,
            Position {
                offset: text.len(),
                line: 7
            }
        );
    }

    #[test]
    fn absolute_names_stay_in_the_root() {
        let e = parse_manifest("k: /etc/passwd")
            .files()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(e.path, "etc/passwd");
    }

    #[test]
    fn non_utf8_reports_its_line() {
        let err = parse_manifest_bytes(b"a: b\nc: \xff\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.kind, ManifestErrorKind::NotUtf8);
        assert_eq!(check_manifest(b"a: b\nc: \xff\n"), Err(err));
    }

    proptest! {
        #[test]
        fn parser_never_panics(text in ".{0,400}") {
            for entry in parse_manifest(&text).files().flatten() {
                prop_assert!(!entry.path.is_empty());
                prop_assert!(!entry.path.split('/').any(|c| c == ".."));
            }
        }

        #[test]
        fn digests_round_trip(bytes in proptest::array::uniform32(any::<u8>())) {
            let line = format!("k: f sha256:{}", Hex(&bytes));
            let e = parse_manifest(&line).files().next().unwrap().unwrap();
            prop_assert_eq!(e.sha256, Some(bytes));
        }
    }
}

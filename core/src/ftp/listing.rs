//! Directory listings: `LIST`, `NLST`, `MLSD` and `MLST` lines.
//!
//! * `LIST` (RFC 959 §4.1.3 leaves the format open) uses the `ls -l` form
//!   every client parses: `-rw-r--r-- 1 ftp ftp 1234 Mar  5 14:02 name`, with
//!   the year instead of the time for entries more than six months from now.
//! * `NLST` sends bare names, one per line.
//! * `MLSD`/`MLST` send RFC 3659 §7 facts: `type`, `size`, `modify`, `perm`.
//!
//! Every line ends in CRLF. A name containing CR, LF or another control
//! character is left out of every listing: it could not be sent without
//! breaking the line structure (and would let a file name inject fake
//! entries).
//!
//! [`Listing`] is the one place that produces a listing from any
//! [`Storage`] into caller buffers, a chunk at a time, without allocating:
//! each call re-reads the directory and skips what was already sent
//! (stores return entries in a stable order), so memory stays bounded
//! whatever the directory's size.

use core::fmt::{self, Write};
use core::ops::ControlFlow;

use super::date::DateTime;
use crate::path::PathBuf;
use crate::storage::{EntryKind, Metadata, Storage, StoreError};

/// Which listing a data transfer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// `LIST`: `ls -l` lines.
    Long,
    /// `NLST`: names only.
    Names,
    /// `MLSD`: RFC 3659 facts.
    Facts,
}

/// Which RFC 3659 facts to show (`OPTS MLST`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// `type=`.
    pub kind: bool,
    /// `size=`.
    pub size: bool,
    /// `modify=`.
    pub modify: bool,
    /// `perm=`.
    pub perm: bool,
}

impl Facts {
    /// Every fact we support.
    pub const ALL: Facts = Facts {
        kind: true,
        size: true,
        modify: true,
        perm: true,
    };

    /// Selects facts from an `OPTS MLST type;size;` list (unknown names are
    /// ignored, as RFC 3659 §7.9 says).
    pub fn select(list: &str) -> Facts {
        let mut f = Facts {
            kind: false,
            size: false,
            modify: false,
            perm: false,
        };
        for name in list.split(';') {
            match name.trim().to_ascii_lowercase_fixed().as_str() {
                "type" => f.kind = true,
                "size" => f.size = true,
                "modify" => f.modify = true,
                "perm" => f.perm = true,
                _ => {}
            }
        }
        f
    }

    /// Writes the `FEAT`/`OPTS` form: `type*;size*;modify*;perm*;`, with a
    /// star on the selected facts.
    pub fn write_feature(&self, w: &mut dyn Write) -> fmt::Result {
        for (name, on) in [
            ("type", self.kind),
            ("size", self.size),
            ("modify", self.modify),
            ("perm", self.perm),
        ] {
            write!(w, "{name}{};", if on { "*" } else { "" })?;
        }
        Ok(())
    }
}

trait LowerFixed {
    fn to_ascii_lowercase_fixed(&self) -> heapless::String<8>;
}

impl LowerFixed for str {
    fn to_ascii_lowercase_fixed(&self) -> heapless::String<8> {
        let mut s = heapless::String::new();
        for c in self.chars() {
            if s.push(c.to_ascii_lowercase()).is_err() {
                return heapless::String::new();
            }
        }
        s
    }
}

/// True when `name` can appear on a listing line.
pub fn listable(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_control)
}

/// Writes one `ls -l` line (CRLF included). `now_unix` decides between the
/// time and the year form.
///
/// ```
/// use netboot_core::ftp::listing::write_long;
/// use netboot_core::storage::Metadata;
///
/// let mut line = String::new();
/// let meta = Metadata { modified: Some(1_700_000_000), ..Metadata::file(1234) };
/// write_long(&mut line, "kernel", &meta, Some(1_700_000_100)).unwrap();
/// assert_eq!(line, "-rw-r--r--   1 ftp      ftp          1234 Nov 14 22:13 kernel\r\n");
/// ```
pub fn write_long(
    w: &mut dyn Write,
    name: &str,
    meta: &Metadata,
    now_unix: Option<u64>,
) -> fmt::Result {
    let mode = match (meta.kind, meta.readonly) {
        (EntryKind::Directory, false) => "drwxr-xr-x",
        (EntryKind::Directory, true) => "dr-xr-xr-x",
        (_, false) => "-rw-r--r--",
        (_, true) => "-r--r--r--",
    };
    let links = if meta.is_dir() { 2 } else { 1 };
    write!(w, "{mode} {links:>3} ftp      ftp      {:>8} ", meta.len)?;
    let secs = meta.modified.unwrap_or(0);
    let d = DateTime::from_unix(secs);
    const HALF_YEAR: u64 = 182 * 86_400;
    let recent = now_unix.is_some_and(|now| secs <= now + 3_600 && now - secs.min(now) < HALF_YEAR);
    if recent {
        write!(
            w,
            "{} {:>2} {:02}:{:02}",
            d.month_name(),
            d.day,
            d.hour,
            d.minute
        )?;
    } else {
        write!(w, "{} {:>2}  {:>4}", d.month_name(), d.day, d.year)?;
    }
    write!(w, " {name}\r\n")
}

/// Writes the RFC 3659 facts of an entry followed by a space (no name).
///
/// ```
/// use netboot_core::ftp::listing::{write_facts, Facts};
/// use netboot_core::storage::Metadata;
///
/// let mut s = String::new();
/// let meta = Metadata { modified: Some(0), ..Metadata::file(5) };
/// write_facts(&mut s, &meta, Facts::ALL).unwrap();
/// assert_eq!(s, "type=file;size=5;modify=19700101000000;perm=rwadf; ");
/// ```
pub fn write_facts(w: &mut dyn Write, meta: &Metadata, facts: Facts) -> fmt::Result {
    if facts.kind {
        let t = match meta.kind {
            EntryKind::File => "file",
            EntryKind::Directory => "dir",
            EntryKind::Other => "OS.unix=other",
        };
        write!(w, "type={t};")?;
    }
    if facts.size && meta.kind != EntryKind::Directory {
        write!(w, "size={};", meta.len)?;
    }
    if facts.modify
        && let Some(m) = meta.modified
    {
        write!(w, "modify={};", DateTime::from_unix(m))?;
    }
    if facts.perm {
        let perm = match (meta.kind, meta.readonly) {
            (EntryKind::File, false) => "rwadf",
            (EntryKind::File, true) => "r",
            (EntryKind::Directory, false) => "elcmpdf",
            (EntryKind::Directory, true) => "el",
            (EntryKind::Other, _) => "",
        };
        write!(w, "perm={perm};")?;
    }
    w.write_char(' ')
}

/// Writes one listing line of `format` (CRLF included).
pub fn write_entry(
    w: &mut dyn Write,
    format: ListFormat,
    name: &str,
    meta: &Metadata,
    facts: Facts,
    now_unix: Option<u64>,
) -> fmt::Result {
    match format {
        ListFormat::Long => write_long(w, name, meta, now_unix),
        ListFormat::Names => write!(w, "{name}\r\n"),
        ListFormat::Facts => {
            write_facts(w, meta, facts)?;
            write!(w, "{name}\r\n")
        }
    }
}

/// A writer into a slice that fails (and reports it) when the slice is full.
pub(crate) struct Cursor<'a> {
    pub buf: &'a mut [u8],
    pub len: usize,
}

impl Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A listing being produced from a [`Storage`], chunk by chunk.
///
/// ```
/// use netboot_core::ftp::listing::{Facts, ListFormat, Listing};
/// use netboot_core::storage::MemStore;
///
/// let mut store = MemStore::new();
/// store.insert("pub/a.txt", b"aaa".to_vec());
/// store.insert("pub/b.txt", b"bb".to_vec());
/// let mut listing = Listing::new("pub", ListFormat::Names, Facts::ALL, None).unwrap();
/// let mut out = Vec::new();
/// let mut buf = [0u8; 8]; // room for one line at a time
/// loop {
///     let n = listing.fill(&mut store, &mut buf).unwrap();
///     if n == 0 { break }
///     out.extend_from_slice(&buf[..n]);
/// }
/// assert_eq!(out, b"a.txt\r\nb.txt\r\n");
/// ```
#[derive(Clone, Debug)]
pub struct Listing {
    path: PathBuf,
    format: ListFormat,
    facts: Facts,
    now_unix: Option<u64>,
    sent: u64,
    done: bool,
}

impl Listing {
    /// A listing of the normalised path `path` (a directory, or a single
    /// file). `now_unix` is the wall-clock time for `LIST`'s date column.
    pub fn new(
        path: &str,
        format: ListFormat,
        facts: Facts,
        now_unix: Option<u64>,
    ) -> Result<Self, StoreError> {
        Ok(Listing {
            path: PathBuf::try_from(path).map_err(|_| StoreError::NotFound)?,
            format,
            facts,
            now_unix,
            sent: 0,
            done: false,
        })
    }

    /// True once every entry has been written.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Writes the next lines into `buf`; returns 0 when the listing is
    /// complete. `buf` should hold at least 1 KiB: a line that does not fit
    /// in an empty `buf` is skipped.
    pub fn fill<S: Storage + ?Sized>(
        &mut self,
        store: &mut S,
        buf: &mut [u8],
    ) -> Result<usize, StoreError> {
        if self.done {
            return Ok(0);
        }
        let meta = store.metadata(&self.path)?;
        let mut cursor = Cursor { buf, len: 0 };
        if !meta.is_dir() {
            let name = crate::path::file_name(&self.path);
            let _ = write_entry(
                &mut cursor,
                self.format,
                name,
                &meta,
                self.facts,
                self.now_unix,
            );
            self.done = true;
            return Ok(cursor.len);
        }
        let mut index = 0u64;
        let mut finished = true;
        let (format, facts, now, skip) = (self.format, self.facts, self.now_unix, self.sent);
        let mut sent = skip;
        store.read_dir(&self.path, &mut |name, meta| {
            if !listable(name) || meta.kind == EntryKind::Other {
                return ControlFlow::Continue(());
            }
            index += 1;
            if index <= skip {
                return ControlFlow::Continue(());
            }
            let before = cursor.len;
            if write_entry(&mut cursor, format, name, meta, facts, now).is_err() {
                cursor.len = before;
                if before == 0 {
                    // Too long for any buffer we were given: skip it.
                    sent += 1;
                    return ControlFlow::Continue(());
                }
                finished = false;
                return ControlFlow::Break(());
            }
            sent += 1;
            ControlFlow::Continue(())
        })?;
        self.sent = sent;
        if finished {
            self.done = true;
        }
        Ok(cursor.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStore;

    #[test]
    fn old_files_show_the_year() {
        let mut s = String::new();
        let meta = Metadata {
            modified: Some(0),
            readonly: true,
            ..Metadata::file(7)
        };
        write_long(&mut s, "x", &meta, Some(1_700_000_000)).unwrap();
        assert_eq!(
            s,
            "-r--r--r--   1 ftp      ftp             7 Jan  1  1970 x\r\n"
        );
    }

    #[test]
    fn control_characters_never_reach_a_listing() {
        let mut store = MemStore::new();
        store.insert("ok", vec![]);
        store.insert("evil\r\n-rw-r--r-- fake", vec![]);
        let mut l = Listing::new("", ListFormat::Long, Facts::ALL, None).unwrap();
        let mut buf = [0u8; 2048];
        let n = l.fill(&mut store, &mut buf).unwrap();
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.ends_with(" ok\r\n"));
        assert_eq!(l.fill(&mut store, &mut buf).unwrap(), 0);
    }

    #[test]
    fn mlsd_facts_and_selection() {
        let mut store = MemStore::new();
        store.set_time(86_400);
        store.insert("d/f", vec![1, 2]);
        let mut l = Listing::new(
            "",
            ListFormat::Facts,
            Facts::select("type;perm;bogus"),
            None,
        )
        .unwrap();
        let mut buf = [0u8; 256];
        let n = l.fill(&mut store, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"type=dir;perm=elcmpdf; d\r\n");
        let mut feat = String::new();
        Facts::select("size").write_feature(&mut feat).unwrap();
        assert_eq!(feat, "type;size*;modify;perm;");
    }

    #[test]
    fn a_file_lists_as_itself() {
        let mut store = MemStore::new();
        store.insert("d/f", vec![1, 2]);
        let mut l = Listing::new("d/f", ListFormat::Names, Facts::ALL, None).unwrap();
        let mut buf = [0u8; 64];
        let n = l.fill(&mut store, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"f\r\n");
        assert_eq!(l.fill(&mut store, &mut buf).unwrap(), 0);
    }
}

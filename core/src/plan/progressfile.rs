//! The plan-progress file: which stage each client has reached, so that a
//! server restart does not send clients back to their first stage.
//!
//! ```text
//! # netboot plan progress v1
//! 52:54:00:12:34:56 2
//! 52:54:00:aa:bb:cc 3
//! ```
//!
//! One client per line: its hardware address and the number of stages it has
//! completed (the index of the stage it gets next). A client at its stage
//! count has finished and stays silent; a restored finished client's
//! [`Reset::After`](super::Reset::After) time-out starts again at the
//! restore, since the file holds no clock. `#` starts a comment; blank lines
//! are ignored.

#[cfg(feature = "alloc")]
use alloc::{string::String, vec::Vec};
use core::fmt;

use super::stages::{HwAddr, MAX_HWADDR};

/// The first line of a progress file.
pub const HEADER: &str = "# netboot plan progress v1";

/// One client's line: its hardware address and the number of stages it
/// has completed.
pub type Entry = (HwAddr, usize);

/// Writes one client's line (with its newline).
///
/// ```
/// use netboot_core::plan::progressfile;
///
/// let mut out = String::new();
/// progressfile::write_line(&mut out, &[0x52, 0x54, 0, 0x12, 0x34, 0x56], 2).unwrap();
/// assert_eq!(out, "52:54:00:12:34:56 2\n");
/// let (hw, stage) = progressfile::parse_line(&out).unwrap().unwrap();
/// assert_eq!((hw.as_slice(), stage), (&[0x52, 0x54, 0, 0x12, 0x34, 0x56][..], 2));
/// ```
pub fn write_line(out: &mut impl fmt::Write, hw: &[u8], stage: usize) -> fmt::Result {
    for (i, b) in hw.iter().enumerate() {
        if i > 0 {
            out.write_str(":")?;
        }
        write!(out, "{b:02x}")?;
    }
    writeln!(out, " {stage}")
}

/// What is wrong with a progress line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProgressLineError {
    /// Not two fields.
    #[error("expected 2 fields: hwaddr stage")]
    Fields,
    /// The hardware address is not 1 to 16 hex bytes separated by `:`.
    #[error("bad hardware address")]
    HwAddr,
    /// The stage is not a number.
    #[error("bad stage number")]
    Stage,
}

/// Parses one line: `Ok(None)` for blank and comment lines.
pub fn parse_line(line: &str) -> Result<Option<(HwAddr, usize)>, ProgressLineError> {
    let content = line.split('#').next().unwrap_or("").trim();
    if content.is_empty() {
        return Ok(None);
    }
    let mut fields = content.split_ascii_whitespace();
    let (Some(hw), Some(stage), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(ProgressLineError::Fields);
    };
    let mut bytes = HwAddr::new();
    for part in hw.split(':') {
        if part.is_empty() || part.len() > 2 || bytes.len() == MAX_HWADDR {
            return Err(ProgressLineError::HwAddr);
        }
        let b = u8::from_str_radix(part, 16).map_err(|_| ProgressLineError::HwAddr)?;
        let _ = bytes.push(b);
    }
    let stage = stage.parse().map_err(|_| ProgressLineError::Stage)?;
    Ok(Some((bytes, stage)))
}

/// Renders a whole progress file: the [`HEADER`] line, then one line per
/// `(hardware address, stage)` entry (as [`write_line`] writes it).
///
/// ```
/// use netboot_core::plan::progressfile;
///
/// let hw = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
/// let text = progressfile::render([(&hw[..], 2)].into_iter());
/// assert_eq!(text, "# netboot plan progress v1\n52:54:00:12:34:56 2\n");
/// let (entries, bad) = progressfile::parse(&text);
/// assert_eq!((entries[0].0.as_slice(), entries[0].1), (&hw[..], 2));
/// assert!(bad.is_empty());
/// ```
#[cfg(feature = "alloc")]
pub fn render<'a>(entries: impl Iterator<Item = (&'a [u8], usize)>) -> String {
    crate::textfile::render(HEADER, entries, |out, (hw, stage)| {
        write_line(out, hw, stage)
    })
}

/// Parses a whole progress file: the `(hardware address, stage)` entries
/// it holds, and the 1-based line number and error of every line that does
/// not parse (blank lines and comments are neither), for the caller to warn
/// about.
///
/// ```
/// use netboot_core::plan::progressfile::{self, ProgressLineError};
///
/// let (entries, bad) = progressfile::parse("# netboot plan progress v1\n01:02 3\nzz 1\n");
/// assert_eq!((entries[0].0.as_slice(), entries[0].1), (&[1, 2][..], 3));
/// assert_eq!(bad, [(3, ProgressLineError::HwAddr)]);
/// ```
#[cfg(feature = "alloc")]
pub fn parse(text: &str) -> (Vec<Entry>, Vec<(usize, ProgressLineError)>) {
    crate::textfile::parse(text, parse_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_errors_are_named() {
        assert_eq!(parse_line("  # comment"), Ok(None));
        assert_eq!(parse_line(""), Ok(None));
        let (hw, stage) = parse_line("01:ff 0 # note").unwrap().unwrap();
        assert_eq!((hw.as_slice(), stage), (&[1, 0xff][..], 0));
        assert_eq!(parse_line("01:ff"), Err(ProgressLineError::Fields));
        assert_eq!(parse_line("01:ff 1 2"), Err(ProgressLineError::Fields));
        assert_eq!(parse_line("01::ff 1"), Err(ProgressLineError::HwAddr));
        assert_eq!(parse_line("zz 1"), Err(ProgressLineError::HwAddr));
        assert_eq!(parse_line("123 1"), Err(ProgressLineError::HwAddr));
        let long = ["00"; 17].join(":");
        assert_eq!(
            parse_line(&format!("{long} 1")),
            Err(ProgressLineError::HwAddr)
        );
        assert_eq!(parse_line("01 -1"), Err(ProgressLineError::Stage));
    }

    #[test]
    fn whole_files_round_trip_and_name_their_bad_lines() {
        let clients: [(&[u8], usize); 3] = [(&[1, 2, 3, 4, 5, 6], 1), (&[0xff; 16], 7), (&[9], 0)];
        let text = render(clients.into_iter());
        assert_eq!(
            text,
            std::format!(
                "{HEADER}\n01:02:03:04:05:06 1\n{} 7\n09 0\n",
                ["ff"; 16].join(":")
            )
        );
        let (entries, bad) = parse(&text);
        let entries: std::vec::Vec<_> = entries.iter().map(|(hw, s)| (hw.as_slice(), *s)).collect();
        assert_eq!(entries, clients);
        assert!(bad.is_empty());
        assert_eq!(render(core::iter::empty()), std::format!("{HEADER}\n"));
        let (entries, bad) = parse("# c\n\n01 1\n01\n02 x\n03 3 # ok\n");
        assert_eq!(entries.len(), 2);
        assert_eq!(
            bad,
            [
                (4, ProgressLineError::Fields),
                (5, ProgressLineError::Stage)
            ]
        );
    }
}

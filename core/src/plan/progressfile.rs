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

use core::fmt;

use super::stages::{HwAddr, MAX_HWADDR};

/// The first line of a progress file.
pub const HEADER: &str = "# netboot plan progress v1";

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
}

//! Extra DHCP options a boot profile gives the clients it selects (RFC 2132
//! codes and site-specific ones such as 252, the WPAD URL), held encoded
//! in bounded storage.
//!
//! The server writes them after its own options. A code the server sets
//! too (the router, 66 and 67, a host name, ...) is the rule's on purpose:
//! the rule's value replaces the server's, so no code appears twice in a
//! reply. Codes that frame the message or are the server's own business
//! are refused: 0 (pad) and 255 (end), 53 (message type), 54 (server
//! identifier), 51 (lease time) and 52 (option overload, which would
//! change how the rest of the message is read). A value is one instance,
//! at most 255 bytes (no RFC 3396 splitting), and all of a profile's
//! options take at most [`MAX_EXTRA_OPTIONS`] bytes encoded.

use super::hosts::MAX_EXTRA_OPTIONS;

/// A profile's extra options, encoded (code, length, value), each code
/// once.
pub type ExtraOptions = heapless::Vec<u8, MAX_EXTRA_OPTIONS>;

/// Codes no profile may set.
pub const RESERVED: [u8; 6] = [0, 51, 52, 53, 54, 255];

/// Why an extra option was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtraError {
    /// The code is one the server alone sets (see [`RESERVED`]).
    #[error("option {0} is the server's own (0, 51, 52, 53, 54 and 255 cannot be set)")]
    Reserved(u8),
    /// The value is longer than one option holds.
    #[error("option {0}: value longer than 255 bytes")]
    TooLong(u8),
    /// The options together take more than [`MAX_EXTRA_OPTIONS`] bytes.
    #[error("option {0}: the options take more than {MAX_EXTRA_OPTIONS} bytes encoded")]
    Full(u8),
    /// The code was given twice.
    #[error("option {0} given twice")]
    Duplicate(u8),
}

/// Appends option `code` with `value` to `options`, checked.
///
/// ```
/// use netboot_core::bootp::extra::{ExtraError, ExtraOptions, push};
///
/// let mut o = ExtraOptions::new();
/// push(&mut o, 252, b"http://10.0.0.1/wpad.dat").unwrap();
/// assert_eq!(&o[..2], &[252, 24]);
/// assert_eq!(push(&mut o, 252, b"x"), Err(ExtraError::Duplicate(252)));
/// assert_eq!(push(&mut o, 54, &[10, 0, 0, 1]), Err(ExtraError::Reserved(54)));
/// assert_eq!(push(&mut o, 43, &[0; 256]), Err(ExtraError::TooLong(43)));
/// ```
pub fn push(options: &mut ExtraOptions, code: u8, value: &[u8]) -> Result<(), ExtraError> {
    if RESERVED.contains(&code) {
        return Err(ExtraError::Reserved(code));
    }
    let len = u8::try_from(value.len()).map_err(|_| ExtraError::TooLong(code))?;
    if codes(options).any(|c| c == code) {
        return Err(ExtraError::Duplicate(code));
    }
    if options.len() + 2 + value.len() > options.capacity() {
        return Err(ExtraError::Full(code));
    }
    let _ = options.extend_from_slice(&[code, len]);
    let _ = options.extend_from_slice(value);
    Ok(())
}

/// Each option of an encoded list: code and the whole encoded option.
pub fn iter(encoded: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = encoded;
    core::iter::from_fn(move || {
        let (&code, tail) = rest.split_first()?;
        let len = usize::from(*tail.first()?);
        let end = (2 + len).min(rest.len());
        let (option, next) = rest.split_at(end);
        rest = next;
        Some((code, option))
    })
}

/// The codes of an encoded list.
pub fn codes(encoded: &[u8]) -> impl Iterator<Item = u8> + '_ {
    iter(encoded).map(|(code, _)| code)
}

/// Removes from the options in `buf[..len]` every one whose code is in
/// `codes`, moving the rest down; returns the new length. Pad options are
/// dropped too.
pub(crate) fn strip(buf: &mut [u8], len: usize, codes_of: &[u8]) -> usize {
    let (mut read, mut write) = (0, 0);
    while read < len {
        let code = buf[read];
        if code == 0 {
            read += 1;
            continue;
        }
        let end = match buf.get(read + 1) {
            Some(&l) => (read + 2 + usize::from(l)).min(len),
            None => len,
        };
        if !codes(codes_of).any(|c| c == code) {
            buf.copy_within(read..end, write);
            write += end - read;
        }
        read = end;
    }
    write
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_each_code_once() {
        let mut o = ExtraOptions::new();
        for code in RESERVED {
            assert_eq!(push(&mut o, code, b"x"), Err(ExtraError::Reserved(code)));
        }
        push(&mut o, 1, &[0; 200]).unwrap();
        assert_eq!(push(&mut o, 2, &[0; 52]), Ok(()));
        assert_eq!(o.len(), MAX_EXTRA_OPTIONS);
        assert_eq!(push(&mut o, 3, &[]), Err(ExtraError::Full(3)));
        assert_eq!(codes(&o).collect::<heapless::Vec<u8, 4>>(), [1, 2]);
    }

    #[test]
    fn strip_removes_the_overridden_codes_only() {
        let mut buf = [3, 4, 10, 0, 0, 1, 0, 66, 1, b'x', 6, 4, 1, 1, 1, 1];
        let len = buf.len();
        let n = strip(&mut buf, len, &[66, 1, b'y', 6, 0]);
        assert_eq!(&buf[..n], &[3, 4, 10, 0, 0, 1]);
    }
}

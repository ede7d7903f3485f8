//! `TYPE A` conversion on the data channel (RFC 959 §3.1.1.1).
//!
//! Files are stored in the host's form (lines end in LF); on the wire ASCII
//! lines end in CRLF. [`AsciiEncoder`] turns each LF that is not already
//! preceded by CR into CRLF when sending; [`AsciiDecoder`] turns CRLF back into
//! LF when receiving and keeps a lone CR as it is. Both carry one byte of
//! state across chunk boundaries, so the data may arrive in any pieces.
//!
//! Departure: no character-set translation is done (the NVT is 7-bit ASCII,
//! but bytes above 127 pass through unchanged, as every Unix server does).

/// LF → CRLF, for sending.
///
/// ```
/// use netboot_core::ftp::ascii::AsciiEncoder;
/// let mut enc = AsciiEncoder::new();
/// let mut out = [0u8; 16];
/// let (used, n) = enc.encode(b"a\nb\r\nc", &mut out);
/// assert_eq!((used, &out[..n]), (6, &b"a\r\nb\r\nc"[..]));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsciiEncoder {
    last_cr: bool,
}

impl AsciiEncoder {
    /// A fresh encoder.
    pub const fn new() -> Self {
        AsciiEncoder { last_cr: false }
    }

    /// Converts as much of `input` as fits into `out`; returns the bytes of
    /// input used and of output written. Needs `out.len() >= 2` to progress.
    pub fn encode(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let mut written = 0;
        for (i, &b) in input.iter().enumerate() {
            let need = if b == b'\n' && !self.last_cr { 2 } else { 1 };
            if written + need > out.len() {
                return (i, written);
            }
            if need == 2 {
                out[written] = b'\r';
                written += 1;
            }
            out[written] = b;
            written += 1;
            self.last_cr = b == b'\r';
        }
        (input.len(), written)
    }
}

/// CRLF → LF, for receiving.
///
/// ```
/// use netboot_core::ftp::ascii::AsciiDecoder;
/// let mut dec = AsciiDecoder::new();
/// let mut data = *b"a\r\nb\r";
/// let n = dec.decode_in_place(&mut data, &mut |_| {});
/// assert_eq!(&data[..n], b"a\nb");
/// // The CR at the end waits for the next chunk.
/// let mut more = *b"\nc";
/// let n = dec.decode_in_place(&mut more, &mut |_| panic!("nothing held back"));
/// assert_eq!(&more[..n], b"\nc");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsciiDecoder {
    held_cr: bool,
}

impl AsciiDecoder {
    /// A fresh decoder.
    pub const fn new() -> Self {
        AsciiDecoder { held_cr: false }
    }

    /// Converts `data` in place and returns its new length. A CR held back
    /// from the previous chunk that turns out not to start a CRLF is handed
    /// to `flush_cr` (to be written before this chunk's output).
    pub fn decode_in_place(&mut self, data: &mut [u8], flush_cr: &mut dyn FnMut(u8)) -> usize {
        let mut out = 0;
        let mut i = 0;
        if self.held_cr {
            self.held_cr = false;
            if data.first() != Some(&b'\n') && !data.is_empty() {
                flush_cr(b'\r');
            } else if data.is_empty() {
                self.held_cr = true;
                return 0;
            }
        }
        while i < data.len() {
            let b = data[i];
            if b == b'\r' {
                match data.get(i + 1) {
                    Some(b'\n') => {
                        i += 1;
                        continue;
                    }
                    None => {
                        self.held_cr = true;
                        break;
                    }
                    Some(_) => {}
                }
            }
            data[out] = b;
            out += 1;
            i += 1;
        }
        out
    }

    /// A CR still held back at the end of the data, to be written as is.
    pub fn finish(&mut self) -> Option<u8> {
        core::mem::take(&mut self.held_cr).then_some(b'\r')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode_all(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut enc = AsciiEncoder::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let mut buf = [0u8; 7];
                let (used, n) = enc.encode(rest, &mut buf);
                out.extend_from_slice(&buf[..n]);
                rest = &rest[used..];
            }
        }
        out
    }

    fn decode_all(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut dec = AsciiDecoder::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut data = piece.to_vec();
            let mut held = Vec::new();
            let n = dec.decode_in_place(&mut data, &mut |b| held.push(b));
            out.extend_from_slice(&held);
            out.extend_from_slice(&data[..n]);
        }
        out.extend(dec.finish());
        out
    }

    proptest! {
        #[test]
        fn lf_text_round_trips(text in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), Just(b'z')], 0..200), c1 in 1usize..10, c2 in 1usize..10) {
            let wire = encode_all(&text, c1);
            prop_assert!(!wire.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
            prop_assert_eq!(decode_all(&wire, c2), text);
        }

        #[test]
        fn decoding_is_chunk_independent(data in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'x')], 0..100), c in 1usize..10) {
            prop_assert_eq!(decode_all(&data, c), decode_all(&data, 1000));
        }
    }
}

//! Netascii translation on the fly, in place, across block boundaries
//! (RFC 1350 "netascii", after RFC 764's Telnet NVT rules).
//!
//! Local text uses a bare LF as line end; on the wire a line ends with CR LF
//! and a bare CR travels as CR NUL. Both directions work in the block buffer
//! itself, so a transfer needs no second buffer:
//!
//! * [`encode_block`] expands raw file bytes already sitting in a DATA
//!   payload buffer, working backwards so output never overtakes input. When
//!   a two-byte sequence does not fit at the end of a block, its first byte
//!   ends this block and the second is carried into the next one.
//! * [`Decoder::decode`] shrinks a received payload (CR LF to LF, CR NUL to
//!   CR). A CR that ends a block waits for the next block to decide.
//!
//! Departures: a CR followed by anything other than LF or NUL is not valid
//! netascii; it is kept as a CR (as tftp-hpa does) rather than refused. When
//! such a stray CR ended the previous block, it comes back as a one-byte
//! prefix of the next payload ([`Decoded::prefix`]).

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const NUL: u8 = 0;

/// What [`encode_block`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// Encoded bytes now at the start of the block buffer.
    pub len: usize,
    /// Raw file bytes consumed (the next block starts this far further on).
    pub consumed: usize,
    /// The second half of a sequence split at the block end, to put first in
    /// the next block.
    pub carry: Option<u8>,
}

/// Encodes one block in place.
///
/// `block` is the payload buffer, `block.len()` the block size. The previous
/// block's `carry` (if any) goes to `block[0]`; the caller has read `raw_len`
/// raw file bytes into `block[carry_len..carry_len + raw_len]`, where
/// `carry_len` is 1 with a carry and 0 without.
///
/// ```
/// use netboot_core::tftp::netascii::encode_block;
///
/// let mut block = *b"a\nb\rc\n\0\0";
/// let e = encode_block(&mut block[..8], None, 6);
/// assert_eq!(&block[..e.len], b"a\r\nb\r\0c\r");
/// assert_eq!((e.consumed, e.carry), (6, Some(b'\n')));
/// ```
pub fn encode_block(block: &mut [u8], carry: Option<u8>, raw_len: usize) -> Encoded {
    let cap = block.len();
    let start = usize::from(carry.is_some());
    let raw_len = raw_len.min(cap.saturating_sub(start));
    // Forward pass: how much fits.
    let mut out = start;
    let mut consumed = 0;
    let mut split = None;
    while consumed < raw_len && out < cap {
        let b = block[start + consumed];
        let second = expansion(b);
        consumed += 1;
        match second {
            None => out += 1,
            Some(_) if out + 2 <= cap => out += 2,
            Some(s) => {
                out += 1;
                split = Some(s);
            }
        }
    }
    // Backward pass: output position of raw byte i is never below start + i.
    let mut j = out;
    for i in (0..consumed).rev() {
        let b = block[start + i];
        match expansion(b) {
            Some(s) if !(i + 1 == consumed && split.is_some()) => {
                j -= 2;
                block[j] = CR;
                block[j + 1] = s;
            }
            Some(_) => {
                j -= 1;
                block[j] = CR;
            }
            None => {
                j -= 1;
                block[j] = b;
            }
        }
    }
    if let Some(c) = carry
        && cap > 0
    {
        block[0] = c;
    }
    Encoded {
        len: out,
        consumed,
        carry: split,
    }
}

/// The second wire byte of a raw byte that expands (LF to CR LF, CR to CR
/// NUL).
const fn expansion(b: u8) -> Option<u8> {
    match b {
        LF => Some(LF),
        CR => Some(NUL),
        _ => None,
    }
}

/// The netascii decoding state of a receiver: whether the previous block
/// ended with a CR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decoder {
    pending_cr: bool,
}

/// What [`Decoder::decode`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// A byte to store before the decoded payload (a stray CR that ended the
    /// previous block).
    pub prefix: Option<u8>,
    /// Decoded bytes now at the start of the payload buffer.
    pub len: usize,
}

impl Decoder {
    /// A decoder at the start of a file.
    pub const fn new() -> Self {
        Decoder { pending_cr: false }
    }

    /// Decodes one received payload in place. `last` says this is the final
    /// block, so a trailing CR is kept rather than held back.
    ///
    /// ```
    /// use netboot_core::tftp::netascii::Decoder;
    ///
    /// let mut d = Decoder::new();
    /// let mut a = *b"one\r\ntwo\r";
    /// let r = d.decode(&mut a, false);
    /// assert_eq!(&a[..r.len], b"one\ntwo");
    /// let mut b = *b"\nx\r\0";
    /// let r = d.decode(&mut b, true);
    /// assert_eq!((r.prefix, &b[..r.len]), (None, &b"\nx\r"[..]));
    /// ```
    pub fn decode(&mut self, data: &mut [u8], last: bool) -> Decoded {
        let mut prefix = None;
        let mut i = 0;
        let mut j = 0;
        if self.pending_cr {
            self.pending_cr = false;
            match data.first() {
                Some(&LF) => {
                    data[0] = LF;
                    i = 1;
                    j = 1;
                }
                Some(&NUL) => {
                    data[0] = CR;
                    i = 1;
                    j = 1;
                }
                _ => prefix = Some(CR),
            }
        }
        while i < data.len() {
            let b = data[i];
            if b == CR {
                match data.get(i + 1) {
                    Some(&LF) => {
                        data[j] = LF;
                        i += 2;
                    }
                    Some(&NUL) => {
                        data[j] = CR;
                        i += 2;
                    }
                    Some(_) => {
                        data[j] = CR;
                        i += 1;
                    }
                    None if last => {
                        data[j] = CR;
                        i += 1;
                    }
                    None => {
                        self.pending_cr = true;
                        i += 1;
                        continue;
                    }
                }
            } else {
                data[j] = b;
                i += 1;
            }
            j += 1;
        }
        Decoded { prefix, len: j }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Encodes `raw` into blocks of `blksize` the way a sender does.
    fn encode_all(raw: &[u8], blksize: usize) -> Vec<Vec<u8>> {
        let mut blocks = Vec::new();
        let mut offset = 0;
        let mut carry = None;
        loop {
            let mut block = vec![0u8; blksize];
            let start = usize::from(carry.is_some());
            let n = (blksize - start).min(raw.len() - offset);
            block[start..start + n].copy_from_slice(&raw[offset..offset + n]);
            let e = encode_block(&mut block, carry, n);
            offset += e.consumed;
            carry = e.carry;
            block.truncate(e.len);
            let last = block.len() < blksize;
            blocks.push(block);
            if last {
                return blocks;
            }
        }
    }

    fn decode_all(blocks: &[Vec<u8>]) -> Vec<u8> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for (i, b) in blocks.iter().enumerate() {
            let mut b = b.clone();
            let r = d.decode(&mut b, i + 1 == blocks.len());
            out.extend(r.prefix);
            out.extend_from_slice(&b[..r.len]);
        }
        out
    }

    fn reference_encode(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in raw {
            match b {
                LF => out.extend_from_slice(b"\r\n"),
                CR => out.extend_from_slice(b"\r\0"),
                b => out.push(b),
            }
        }
        out
    }

    #[test]
    fn splits_sequences_across_blocks() {
        // Block size 4: "abc\n" becomes "abc\r" + "\n" (carried).
        let blocks = encode_all(b"abc\nd", 4);
        assert_eq!(blocks, [b"abc\r".to_vec(), b"\nd".to_vec()]);
        assert_eq!(decode_all(&blocks), b"abc\nd");
    }

    #[test]
    fn exact_fill_needs_an_empty_final_block() {
        let blocks = encode_all(b"ab\n", 4);
        assert_eq!(blocks, [b"ab\r\n".to_vec(), Vec::new()]);
    }

    #[test]
    fn stray_cr_is_kept() {
        let mut d = Decoder::new();
        let mut a = *b"x\ry";
        let r = d.decode(&mut a, true);
        assert_eq!(&a[..r.len], b"x\ry");
        let mut d = Decoder::new();
        let mut a = *b"x\r";
        assert_eq!(d.decode(&mut a, false).len, 1);
        let mut b = *b"y";
        let r = d.decode(&mut b, true);
        assert_eq!((r.prefix, &b[..r.len]), (Some(CR), &b"y"[..]));
    }

    #[test]
    fn worst_case_expansion_fits() {
        let raw = vec![LF; 100];
        let blocks = encode_all(&raw, 8);
        assert_eq!(blocks.concat(), reference_encode(&raw));
        assert_eq!(decode_all(&blocks), raw);
    }

    proptest! {
        #[test]
        fn round_trips_at_any_block_size(
            raw in proptest::collection::vec(prop_oneof![Just(CR), Just(LF), Just(NUL), any::<u8>()], 0..300),
            blksize in 8usize..40,
        ) {
            let blocks = encode_all(&raw, blksize);
            for b in &blocks[..blocks.len() - 1] {
                prop_assert_eq!(b.len(), blksize);
            }
            prop_assert_eq!(blocks.concat(), reference_encode(&raw));
            prop_assert_eq!(decode_all(&blocks), raw);
        }
    }
}

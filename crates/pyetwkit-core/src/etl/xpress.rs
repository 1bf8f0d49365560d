//! MS-XCA "plain LZ77" (LZXPRESS) decompression, as used by relogged .etl files.
//!
//! Written here rather than taken from a crate: the one maintained Rust decoder
//! for this format can index out of bounds on crafted input and has no output
//! bound. This one never reads past its input and never writes more than
//! `max_output` bytes, so a corrupt buffer costs at most one buffer's memory.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XpressError {
    /// The input ended inside a flag word or a match token (input offset).
    Truncated(usize),
    /// A match refers to bytes before the start of the output (input offset).
    BadOffset(usize),
    /// The output would exceed the allowed size (input offset).
    TooLong(usize),
    /// The long-length encoding is invalid (input offset).
    BadLength(usize),
}

impl fmt::Display for XpressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XpressError::Truncated(at) => write!(f, "compressed data ends early at +{at:#x}"),
            XpressError::BadOffset(at) => write!(f, "match before start of output at +{at:#x}"),
            XpressError::TooLong(at) => write!(f, "output exceeds the buffer size at +{at:#x}"),
            XpressError::BadLength(at) => write!(f, "invalid match length at +{at:#x}"),
        }
    }
}

struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], XpressError> {
        let bytes =
            crate::bytes::array_at(self.data, self.pos).ok_or(XpressError::Truncated(self.pos))?;
        self.pos += N;
        Ok(bytes)
    }
}

/// Room past the end of the output, so matches can be copied 8 bytes at a time
/// and overshoot harmlessly.
const SLACK: usize = 16;

/// Decompresses `input` into `out` from byte `start` on, writing at most
/// `max_output` bytes; `out` ends where the output does. Bytes of `out` past
/// `start` may hold anything beforehand: they are overwritten, not zeroed first.
pub fn decompress_at(
    input: &[u8],
    out: &mut Vec<u8>,
    start: usize,
    max_output: usize,
) -> Result<(), XpressError> {
    let limit = start + max_output;
    if out.len() < limit + SLACK {
        out.resize(limit + SLACK, 0);
    }
    match decode(input, &mut out[..], start, limit) {
        Ok(end) => {
            out.truncate(end);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Decodes into `out[pos..limit]` (with `SLACK` bytes after `limit`); returns the end.
fn decode(input: &[u8], out: &mut [u8], base: usize, limit: usize) -> Result<usize, XpressError> {
    let mut pos = base;
    let mut inp = Input {
        data: input,
        pos: 0,
    };
    let mut flags: u32 = 0;
    let mut flag_count: u32 = 0;
    // Position of a pending length nibble shared by two matches; 0 means none
    // (position 0 always holds a flag word, never a nibble).
    let mut half_byte_pos: usize = 0;

    loop {
        if flag_count == 0 {
            if inp.pos >= input.len() {
                return Ok(pos);
            }
            flags = u32::from_le_bytes(inp.take::<4>()?);
            flag_count = 32;
        }
        // A run of literals: the zero bits below the current flag position.
        let pending = flags << (32 - flag_count);
        let literals = pending.leading_zeros().min(flag_count) as usize;
        if literals > 0 {
            let take = literals.min(input.len() - inp.pos);
            if pos + take > limit {
                return Err(XpressError::TooLong(inp.pos));
            }
            if take <= 8 && inp.pos + 8 <= input.len() {
                // Short runs dominate: one fixed 8-byte copy, the excess lands in the slack.
                let mut chunk = [0u8; 8];
                chunk.copy_from_slice(&input[inp.pos..inp.pos + 8]);
                out[pos..pos + 8].copy_from_slice(&chunk);
            } else {
                out[pos..pos + take].copy_from_slice(&input[inp.pos..inp.pos + take]);
            }
            pos += take;
            inp.pos += take;
            if take < literals {
                return Ok(pos); // the input ends inside a literal run
            }
            flag_count -= literals as u32;
            continue;
        }
        flag_count -= 1;
        if inp.pos >= input.len() {
            return Ok(pos);
        }
        let token_pos = inp.pos;
        let token = u16::from_le_bytes(inp.take::<2>()?) as usize;
        let offset = (token >> 3) + 1;
        let mut length = token & 7;
        if length == 7 {
            if half_byte_pos == 0 {
                let [b] = inp.take::<1>()?;
                length = (b & 0x0f) as usize;
                half_byte_pos = inp.pos - 1;
            } else {
                length = (input[half_byte_pos] >> 4) as usize;
                half_byte_pos = 0;
            }
            if length == 15 {
                let [b] = inp.take::<1>()?;
                length = b as usize;
                if length == 255 {
                    length = u16::from_le_bytes(inp.take::<2>()?) as usize;
                    if length == 0 {
                        length = u32::from_le_bytes(inp.take::<4>()?) as usize;
                    }
                    length = length
                        .checked_sub(15 + 7)
                        .ok_or(XpressError::BadLength(token_pos))?;
                }
                length += 15;
            }
            length += 7;
        }
        length += 3;
        if offset > pos - base {
            return Err(XpressError::BadOffset(token_pos));
        }
        if length > limit - pos {
            return Err(XpressError::TooLong(token_pos));
        }
        copy_match(out, pos, offset, length);
        pos += length;
    }
}

/// Copies `length` bytes from `offset` back to `pos`. Far matches go 8 bytes at a
/// time and may write up to 7 bytes past the match, into bytes not yet decoded
/// or the slack; near (overlapping) matches repeat their pattern byte by byte.
#[inline]
fn copy_match(out: &mut [u8], pos: usize, offset: usize, length: usize) {
    let mut src = pos - offset;
    if offset >= 8 {
        let end = pos + length;
        let mut dst = pos;
        while dst < end {
            let mut chunk = [0u8; 8];
            chunk.copy_from_slice(&out[src..src + 8]);
            out[dst..dst + 8].copy_from_slice(&chunk);
            src += 8;
            dst += 8;
        }
    } else {
        for dst in pos..pos + length {
            out[dst] = out[src];
            src += 1;
        }
    }
}

#[cfg(any(test, feature = "fuzzing"))]
/// A plain greedy MS-XCA encoder (spec section 2.3), for tests and the fuzz
/// oracle only.
pub(crate) fn compress(input: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    let (mut flags, mut flag_count, mut flag_pos) = (0u32, 0u32, 0usize);
    let mut nibble_pos: Option<usize> = None;
    let mut i = 0;
    let mut push_flag = |out: &mut Vec<u8>, bit: u32| {
        flags = (flags << 1) | bit;
        flag_count += 1;
        if flag_count == 32 {
            out[flag_pos..flag_pos + 4].copy_from_slice(&flags.to_le_bytes());
            flag_pos = out.len();
            out.extend_from_slice(&[0; 4]);
            flag_count = 0;
            flags = 0;
        }
    };
    while i < input.len() {
        // Longest match within the 8 KiB window (brute force: inputs are small).
        let (mut best_len, mut best_off) = (0usize, 0usize);
        for off in 1..=i.min(8192) {
            let mut n = 0;
            while i + n < input.len() && input[i + n - off] == input[i + n] {
                n += 1;
            }
            if n > best_len {
                (best_len, best_off) = (n, off);
            }
        }
        if best_len < 3 {
            out.push(input[i]);
            push_flag(&mut out, 0);
            i += 1;
            continue;
        }
        let mut length = best_len - 3;
        let token = ((best_off - 1) << 3) as u16;
        if length < 7 {
            out.extend_from_slice(&(token | length as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(token | 7).to_le_bytes());
            length -= 7;
            let nib = length.min(15) as u8;
            match nibble_pos.take() {
                None => {
                    nibble_pos = Some(out.len());
                    out.push(nib);
                }
                Some(p) => out[p] |= nib << 4,
            }
            if length >= 15 {
                length -= 15;
                if length < 255 {
                    out.push(length as u8);
                } else {
                    out.push(255);
                    length += 15 + 7;
                    if length < 1 << 16 {
                        out.extend_from_slice(&(length as u16).to_le_bytes());
                    } else {
                        out.extend_from_slice(&[0, 0]);
                        out.extend_from_slice(&(length as u32).to_le_bytes());
                    }
                }
            }
        }
        push_flag(&mut out, 1);
        i += best_len;
    }
    let rest = 32 - flag_count;
    let last = ((flags as u64) << rest | ((1u64 << rest) - 1)) as u32;
    out[flag_pos..flag_pos + 4].copy_from_slice(&last.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8]) {
        let packed = compress(data);
        // Stale bytes after the prefix must be overwritten, not kept.
        let mut out = b"prefix".to_vec();
        out.extend(std::iter::repeat_n(0xEE, data.len() + 100));
        decompress_at(&packed, &mut out, 6, data.len()).expect("decompress");
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(&out[6..], data);
        // One byte less room than needed must be refused, not overrun.
        if !data.is_empty() {
            assert!(decompress_at(&packed, &mut out, 0, data.len() - 1).is_err());
            assert!(out.is_empty());
        }
    }

    #[test]
    fn roundtrips_literals_short_and_long_matches() {
        roundtrip(b"");
        roundtrip(b"abc");
        roundtrip(b"abcabcabcabcabcabcabcabc");
        roundtrip(&[7u8; 10]);
        roundtrip(&[0u8; 40]); // length nibble
        roundtrip(&[1u8; 300]); // length byte
        roundtrip(&[2u8; 70_000]); // 16- and 32-bit lengths
        roundtrip(b"abcdefgh".repeat(999).as_slice()); // overlapping, offset 8
        let mixed: Vec<u8> = (0..5_000u32)
            .map(|i| (i * 7 % 251) as u8 ^ (i / 1000) as u8)
            .collect();
        roundtrip(&mixed);
    }

    #[test]
    fn hostile_input_is_refused_not_panicked() {
        let mut out = Vec::new();
        // Flag word says "match", token points before the output.
        assert_eq!(
            decompress_at(&[0, 0, 0, 0x80, 0x08, 0x00], &mut out, 0, 100),
            Err(XpressError::BadOffset(4))
        );
        // Truncated inside the flag word.
        assert_eq!(
            decompress_at(&[1, 2], &mut out, 0, 100),
            Err(XpressError::Truncated(0))
        );
        // A 32-bit length of 4 GB must not allocate it.
        let bomb = [
            0, 0, 0, 0x40, b'x', 0x07, 0x00, 0x0f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff,
        ];
        assert!(matches!(
            decompress_at(&bomb, &mut out, 0, 1 << 16),
            Err(XpressError::TooLong(_))
        ));
        // Every prefix of a valid stream either decodes or errors.
        let packed = compress(&[3u8; 1000]);
        for n in 0..packed.len() {
            let _ = decompress_at(&packed[..n], &mut out, 0, 1000);
            assert!(out.len() <= 1000);
        }
    }
}

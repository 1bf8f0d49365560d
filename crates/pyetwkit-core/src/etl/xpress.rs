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

/// Decompresses `input` into `out` (cleared first), writing at most `max_output` bytes.
pub fn decompress_into(
    input: &[u8],
    out: &mut Vec<u8>,
    max_output: usize,
) -> Result<(), XpressError> {
    out.clear();
    out.reserve(max_output);
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
                return Ok(());
            }
            flags = u32::from_le_bytes(inp.take::<4>()?);
            flag_count = 32;
        }
        flag_count -= 1;
        if flags & (1 << flag_count) == 0 {
            let Some(&byte) = input.get(inp.pos) else {
                return Ok(());
            };
            if out.len() >= max_output {
                return Err(XpressError::TooLong(inp.pos));
            }
            out.push(byte);
            inp.pos += 1;
            continue;
        }
        if inp.pos >= input.len() {
            return Ok(());
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
        if offset > out.len() {
            return Err(XpressError::BadOffset(token_pos));
        }
        if length > max_output - out.len() {
            return Err(XpressError::TooLong(token_pos));
        }
        let start = out.len() - offset;
        if offset >= length {
            out.extend_from_within(start..start + length);
        } else {
            // Overlapping match: each copied byte may itself be a source byte.
            for i in 0..length {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain greedy MS-XCA encoder (spec section 2.3), for tests only.
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

    fn roundtrip(data: &[u8]) {
        let packed = compress(data);
        let mut out = Vec::new();
        decompress_into(&packed, &mut out, data.len()).expect("decompress");
        assert_eq!(out, data);
        // One byte less room than needed must be refused, not overrun.
        if !data.is_empty() {
            assert!(decompress_into(&packed, &mut out, data.len() - 1).is_err());
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
            decompress_into(&[0, 0, 0, 0x80, 0x08, 0x00], &mut out, 100),
            Err(XpressError::BadOffset(4))
        );
        // Truncated inside the flag word.
        assert_eq!(
            decompress_into(&[1, 2], &mut out, 100),
            Err(XpressError::Truncated(0))
        );
        // A 32-bit length of 4 GB must not allocate it.
        let bomb = [
            0, 0, 0, 0x40, b'x', 0x07, 0x00, 0x0f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff,
        ];
        assert!(matches!(
            decompress_into(&bomb, &mut out, 1 << 16),
            Err(XpressError::TooLong(_))
        ));
        // Every prefix of a valid stream either decodes or errors.
        let packed = compress(&[3u8; 1000]);
        for n in 0..packed.len() {
            let _ = decompress_into(&packed[..n], &mut out, 1000);
        }
    }
}

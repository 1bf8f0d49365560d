//! Bounds-checked little-endian reads. Every parser goes through these, so a
//! short or corrupt input yields `None` instead of a panic.

#[inline]
pub fn u8_at(data: &[u8], at: usize) -> Option<u8> {
    data.get(at).copied()
}

#[inline]
pub fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(array_at(data, at)?))
}

#[inline]
pub fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(array_at(data, at)?))
}

#[inline]
pub fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(array_at(data, at)?))
}

#[inline]
pub fn i64_at(data: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_le_bytes(array_at(data, at)?))
}

#[inline]
pub fn array_at<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// A NUL-terminated UTF-16LE string starting at `at`, and the offset just past its NUL.
/// A string that runs to the end of `data` without a NUL is taken whole.
pub fn utf16z_at(data: &[u8], at: usize) -> Option<(String, usize)> {
    let rest = data.get(at..)?;
    let (len, ascii) = utf16_scan(rest);
    let end = (at + len + 2).min(data.len());
    Some((utf16_known(&rest[..len], ascii), end))
}

/// Where the first NUL unit is (or the even length), and whether every unit
/// before it is ASCII. Eight bytes at a time while both hold: most strings in
/// events are ASCII paths and names.
pub fn utf16_scan(bytes: &[u8]) -> (usize, bool) {
    const ONES: u64 = 0x0001_0001_0001_0001;
    const HIGHS: u64 = 0x8000_8000_8000_8000;
    const NOT_ASCII: u64 = 0xFF80_FF80_FF80_FF80;
    let mut at = 0;
    while let Some(word) = array_at::<8>(bytes, at) {
        let w = u64::from_le_bytes(word);
        let has_nul = w.wrapping_sub(ONES) & !w & HIGHS != 0;
        if has_nul || w & NOT_ASCII != 0 {
            break;
        }
        at += 8;
    }
    let mut ascii = true;
    while let Some(&[lo, hi]) = bytes.get(at..at + 2) {
        if lo == 0 && hi == 0 {
            break;
        }
        ascii &= hi == 0 && lo < 0x80;
        at += 2;
    }
    (at, ascii)
}

/// UTF-16LE text, unpaired surrogates replaced; an odd last byte is ignored.
pub fn utf16_text(bytes: &[u8]) -> String {
    let ascii = bytes.chunks_exact(2).all(|c| c[1] == 0 && c[0] < 0x80);
    utf16_known(bytes, ascii)
}

/// UTF-16LE text whose ASCII-ness `utf16_scan` has already told.
pub fn utf16_known(bytes: &[u8], ascii: bool) -> String {
    if ascii {
        let text: Vec<u8> = bytes.chunks_exact(2).map(|c| c[0]).collect();
        // ASCII is always UTF-8; the fallback only keeps this free of panics.
        return String::from_utf8(text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    }
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// A NUL-terminated UTF-8 string starting at `at`, and the offset just past its NUL.
pub fn utf8z_at(data: &[u8], at: usize) -> Option<(String, usize)> {
    let rest = data.get(at..)?;
    let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let end = (at + len + 1).min(data.len());
    Some((String::from_utf8_lossy(&rest[..len]).into_owned(), end))
}

#[inline]
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Lowercase hex digits of `bytes`, two per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn utf16_scan_agrees_with_a_unit_by_unit_reference() {
        let reference = |b: &[u8]| {
            let end = 2 * b.chunks_exact(2).take_while(|c| c != &[0, 0]).count();
            let ascii = b[..end].chunks_exact(2).all(|c| c[1] == 0 && c[0] < 0x80);
            (end, ascii)
        };
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            // Mostly ASCII letters, with NULs, high bytes and odd lengths mixed in.
            let b: Vec<u8> = (0..len)
                .map(|i| match (x >> (i % 60)) % 11 {
                    0 => 0,
                    1 => 0x80 | (i as u8),
                    2 => 0x01,
                    _ if i % 2 == 1 => 0,
                    _ => b'a' + (i as u8 % 26),
                })
                .collect();
            assert_eq!(utf16_scan(&b), reference(&b), "{b:?}");
            let (end, ascii) = utf16_scan(&b);
            assert_eq!(utf16_known(&b[..end], ascii), utf16_known(&b[..end], false));
        }
    }

    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let d = [1u8, 2, 3];
        assert_eq!(u16_at(&d, 1), Some(0x0302));
        assert_eq!(u16_at(&d, 2), None);
        assert_eq!(u32_at(&d, 0), None);
        assert_eq!(u64_at(&d, usize::MAX), None);
    }

    #[test]
    fn strings_stop_at_nul_or_end() {
        let d = b"a\0b\0\0\0c\0";
        assert_eq!(utf16z_at(d, 0), Some(("ab".to_string(), 6)));
        assert_eq!(utf8z_at(b"abc\0de", 0), Some(("abc".to_string(), 4)));
        assert_eq!(utf8z_at(b"de", 0), Some(("de".to_string(), 2)));
        assert_eq!(utf16z_at(d, 99), None);
    }
}

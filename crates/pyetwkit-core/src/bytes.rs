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
pub fn i32_at(data: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(array_at(data, at)?))
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
    let len = utf16_nul_at(rest);
    let end = (at + len + 2).min(data.len());
    Some((utf16_text(&rest[..len]), end))
}

/// Where the first UTF-16 NUL unit is (the even length of `bytes` if there is none).
pub fn utf16_nul_at(bytes: &[u8]) -> usize {
    2 * bytes.chunks_exact(2).take_while(|c| c != &[0, 0]).count()
}

/// UTF-16LE text, unpaired surrogates replaced; an odd last byte is ignored.
pub fn utf16_text(bytes: &[u8]) -> String {
    // Most names and paths are ASCII: those units are copied in one tight loop.
    let ascii = bytes
        .chunks_exact(2)
        .take_while(|c| c[1] == 0 && c[0] < 0x80)
        .count();
    let head: Vec<u8> = bytes[..2 * ascii].chunks_exact(2).map(|c| c[0]).collect();
    // ASCII is always UTF-8; the fallback only keeps this free of panics.
    let mut text = String::from_utf8(head)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let rest = &bytes[2 * ascii..];
    if rest.len() >= 2 {
        let units = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]));
        text.extend(char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
    }
    text
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

#[cfg(test)]
mod tests {
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

//! GUIDs in the Windows in-memory layout (Data1..3 little-endian), shown the way
//! ETW tools show them: lowercase, hyphenated, without braces.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    pub const NIL: Guid = Guid([0; 16]);

    /// Builds a GUID from its textual fields, as written in Windows headers.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }

    pub fn from_slice(data: &[u8], at: usize) -> Option<Guid> {
        crate::bytes::array_at(data, at).map(Guid)
    }

    /// The GUID as one 128-bit number, in the order its text shows the digits
    /// (what Python's `uuid.UUID(int=...)` takes).
    pub fn to_u128(&self) -> u128 {
        let g = &self.0;
        let d1 = u32::from_le_bytes([g[0], g[1], g[2], g[3]]);
        let d2 = u16::from_le_bytes([g[4], g[5]]);
        let d3 = u16::from_le_bytes([g[6], g[7]]);
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&g[8..]);
        (u128::from(d1) << 96)
            | (u128::from(d2) << 80)
            | (u128::from(d3) << 64)
            | u128::from(u64::from_be_bytes(tail))
    }

    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.0;
        let d1 = u32::from_le_bytes([g[0], g[1], g[2], g[3]]);
        let d2 = u16::from_le_bytes([g[4], g[5]]);
        let d3 = u16::from_le_bytes([g[6], g[7]]);
        write!(
            f,
            "{d1:08x}-{d2:04x}-{d3:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a GUID: {0:?} (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")]
pub struct ParseGuidError(pub String);

impl FromStr for Guid {
    type Err = ParseGuidError;

    /// Accepts the hyphenated form, with or without braces, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseGuidError(s.to_string());
        let t = s.trim();
        let t = t
            .strip_prefix('{')
            .and_then(|x| x.strip_suffix('}'))
            .unwrap_or(t);
        let parts: Vec<&str> = t.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        if parts.len() != 5
            || parts
                .iter()
                .zip(lens)
                .any(|(p, n)| p.len() != n || !p.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(err());
        }
        let hex = |p: &str| u64::from_str_radix(p, 16).map_err(|_| err());
        let d1 = hex(parts[0])? as u32;
        let d2 = hex(parts[1])? as u16;
        let d3 = hex(parts[2])? as u16;
        let tail = format!("{}{}", parts[3], parts[4]);
        let mut d4 = [0u8; 8];
        for (i, b) in d4.iter_mut().enumerate() {
            *b = u8::from_str_radix(&tail[i * 2..i * 2 + 2], 16).map_err(|_| err())?;
        }
        Ok(Guid::from_fields(d1, d2, d3, d4))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_number_reads_like_the_text() {
        let g: Guid = "e13c0d23-ccbc-4e12-931b-d9cc2eee27e4".parse().unwrap();
        assert_eq!(g.to_u128(), 0xe13c0d23_ccbc_4e12_931b_d9cc2eee27e4);
        assert_eq!(
            format!("{:032x}", g.to_u128()),
            g.to_string().replace('-', "")
        );
    }

    use super::*;

    #[test]
    fn formats_and_parses_windows_layout() {
        let g = Guid::from_fields(
            0x3d6fa8d0,
            0xfe05,
            0x11d0,
            [0x9d, 0xda, 0x00, 0xc0, 0x4f, 0xd7, 0xba, 0x7c],
        );
        assert_eq!(g.to_string(), "3d6fa8d0-fe05-11d0-9dda-00c04fd7ba7c");
        assert_eq!(g.0[0], 0xd0, "Data1 is stored little-endian");
        assert_eq!(
            "{3D6FA8D0-FE05-11D0-9DDA-00C04FD7BA7C}".parse::<Guid>(),
            Ok(g)
        );
        assert!("3d6fa8d0-fe05-11d0-9dda".parse::<Guid>().is_err());
        assert!("3d6fa8d0-fe05-11d0-9dda-00c04fd7ba7g"
            .parse::<Guid>()
            .is_err());
    }
}

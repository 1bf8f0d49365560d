//! FILETIME (100 ns ticks since 1601-01-01 UTC) to ISO 8601 text.

const TICKS_PER_SECOND: i64 = 10_000_000;
/// Days from 1601-01-01 to 1970-01-01.
const DAYS_1601_TO_1970: i64 = 134_774;

/// ISO 8601 in UTC with all seven fractional digits, e.g. `2021-07-26T18:42:03.1234567Z`.
/// Negative tick counts (before 1601) are clamped to the epoch rather than invented.
pub fn filetime_to_iso8601(filetime: i64) -> String {
    let mut buf = IsoBuf::default();
    write_iso8601(filetime, &mut buf).to_string()
}

/// Room for any FILETIME's text: years reach 30828, five digits.
#[derive(Default)]
pub struct IsoBuf([u8; 32]);

/// [`filetime_to_iso8601`]'s text written into `buf`, with no allocation and no
/// formatting machinery (the per-event `timestamp` path).
pub fn write_iso8601(filetime: i64, buf: &mut IsoBuf) -> &str {
    let ft = filetime.max(0);
    let secs = ft / TICKS_PER_SECOND;
    let frac = (ft % TICKS_PER_SECOND) as u32;
    let (y, m, d) = civil_from_days(secs / 86_400 - DAYS_1601_TO_1970);
    let sod = (secs % 86_400) as u32;
    let out = &mut buf.0;
    // The year takes four digits, or five past 9999.
    let year = y as u32;
    let wide = usize::from(year > 9_999);
    digits(&mut out[..4 + wide], year);
    let rest = &mut out[4 + wide..];
    rest[..20].copy_from_slice(b"-00-00T00:00:00.0000");
    rest[20..24].copy_from_slice(b"000Z");
    digits(&mut rest[1..3], m);
    digits(&mut rest[4..6], d);
    digits(&mut rest[7..9], sod / 3600);
    digits(&mut rest[10..12], (sod / 60) % 60);
    digits(&mut rest[13..15], sod % 60);
    digits(&mut rest[16..23], frac);
    let len = 28 + wide;
    // Only ASCII digits and punctuation were written.
    std::str::from_utf8(&out[..len]).unwrap_or("1601-01-01T00:00:00.0000000Z")
}

/// `value` in decimal, right-aligned and zero-padded to fill `out`.
fn digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// (year, month, day, hour, minute, second, microsecond) of a FILETIME, UTC;
/// ticks before 1601 are clamped to the epoch.
pub fn filetime_parts(filetime: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let ft = filetime.max(0);
    let secs = ft / TICKS_PER_SECOND;
    let micros = ((ft % TICKS_PER_SECOND) / 10) as u32;
    let (y, m, d) = civil_from_days(secs / 86_400 - DAYS_1601_TO_1970);
    let sod = (secs % 86_400) as u32;
    (y, m, d, sod / 3600, (sod / 60) % 60, sod % 60, micros)
}

/// Gregorian date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(filetime_to_iso8601(0), "1601-01-01T00:00:00.0000000Z");
        // 1970-01-01, the Unix epoch, is 116444736000000000 ticks.
        assert_eq!(
            filetime_to_iso8601(116_444_736_000_000_000),
            "1970-01-01T00:00:00.0000000Z"
        );
        // 2000-02-29T12:34:56.7890123Z: a leap day.
        let t = 116_444_736_000_000_000 + 951_827_696 * TICKS_PER_SECOND + 7_890_123;
        assert_eq!(filetime_to_iso8601(t), "2000-02-29T12:34:56.7890123Z");
        assert_eq!(filetime_to_iso8601(-5), "1601-01-01T00:00:00.0000000Z");
    }

    #[test]
    fn the_writer_agrees_with_formatting_everywhere() {
        // The formatted text, as it was built before the writer: the reference.
        let reference = |filetime: i64| {
            let ft = filetime.max(0);
            let secs = ft / TICKS_PER_SECOND;
            let (y, m, d) = civil_from_days(secs / 86_400 - DAYS_1601_TO_1970);
            let sod = secs % 86_400;
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:07}Z",
                sod / 3600,
                (sod / 60) % 60,
                sod % 60,
                ft % TICKS_PER_SECOND
            )
        };
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut samples = vec![
            0,
            1,
            -1,
            i64::MAX,
            i64::MIN,
            2_650_467_743_999_999_999,
            2_650_467_744_000_000_000,
        ];
        for _ in 0..100_000 {
            // xorshift: instants over the whole range, and many around today.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push((x >> 1) as i64);
            samples.push(132_000_000_000_000_000 + (x % 10_000_000_000_000_000) as i64);
        }
        for t in samples {
            assert_eq!(filetime_to_iso8601(t), reference(t), "{t}");
        }
        assert_eq!(
            filetime_to_iso8601(i64::MAX),
            "30828-09-14T02:48:05.4775807Z"
        );
    }
}

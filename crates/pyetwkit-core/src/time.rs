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

/// Milliseconds since 1970-01-01 of a SYSTEMTIME (year, month, day of week,
/// day, hour, minute, second, milliseconds), or `None` when its fields are not
/// a date and time that Python's `datetime` accepts (years 1 to 9999).
pub fn systemtime_millis(t: &[u16; 8]) -> Option<i64> {
    let [year, month, _, day, hour, minute, second, millis] = t.map(i64::from);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    let valid = (1..=9_999).contains(&year)
        && (1..=month_days).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60
        && millis < 1_000;
    valid.then(|| {
        let days = days_from_civil(year, month, day);
        ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + millis
    })
}

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's algorithm, the
/// inverse of `civil_from_days`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    fn systemtimes_become_milliseconds_and_bad_dates_none() {
        // 2000-02-29 12:34:56.789 (a Tuesday): a leap day.
        let t = [2000, 2, 2, 29, 12, 34, 56, 789];
        assert_eq!(systemtime_millis(&t), Some(951_827_696_789));
        assert_eq!(systemtime_millis(&[1970, 1, 4, 1, 0, 0, 0, 0]), Some(0));
        assert_eq!(
            systemtime_millis(&[1, 1, 1, 1, 0, 0, 0, 0]),
            Some(-62_135_596_800_000)
        );
        for bad in [
            [1900, 2, 0, 29, 0, 0, 0, 0],
            [2001, 13, 0, 1, 0, 0, 0, 0],
            [2001, 4, 0, 31, 0, 0, 0, 0],
            [0, 1, 0, 1, 0, 0, 0, 0],
            [2001, 1, 0, 1, 24, 0, 0, 0],
            [2001, 1, 0, 1, 0, 0, 0, 1000],
        ] {
            assert_eq!(systemtime_millis(&bad), None, "{bad:?}");
        }
        // Round trip with the day counter the ISO text uses.
        for days in [-719_162, -1, 0, 1, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
    }

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

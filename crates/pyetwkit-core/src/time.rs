//! FILETIME (100 ns ticks since 1601-01-01 UTC) to ISO 8601 text.

const TICKS_PER_SECOND: i64 = 10_000_000;
/// Days from 1601-01-01 to 1970-01-01.
const DAYS_1601_TO_1970: i64 = 134_774;

/// ISO 8601 in UTC with all seven fractional digits, e.g. `2021-07-26T18:42:03.1234567Z`.
/// Negative tick counts (before 1601) are clamped to the epoch rather than invented.
pub fn filetime_to_iso8601(filetime: i64) -> String {
    let ft = filetime.max(0);
    let secs = ft / TICKS_PER_SECOND;
    let frac = ft % TICKS_PER_SECOND;
    let days = secs / 86_400 - DAYS_1601_TO_1970;
    let sod = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:07}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
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
}

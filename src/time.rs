//! Times for people and files: RFC 3339 output, and checked conversions from numbers that came
//! from outside (a cache file, an upstream reply), which must never panic or wrap.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-11-27T19:42:52Z`: RFC 3339 in UTC, whole seconds. Times before 1970 or after year
/// 9999 are written as seconds from the epoch.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    // 253402300800 is 10000-01-01T00:00:00Z.
    if !(0..253_402_300_800).contains(&secs) {
        return format!("{secs} seconds after the epoch");
    }
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Year, month, day of a day count from 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`), for `days >= 0`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Whole seconds since the epoch, saturating at 0 for earlier times.
// The disk token store, their only user outside tests, is Unix-only.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The time `secs` after the epoch, or `None` when no `SystemTime` can hold it.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn from_unix_secs(secs: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// The time `secs` (fractional, possibly negative) after the epoch, or `None` for NaN, an
/// infinity, or a value no `SystemTime` can hold.
pub(crate) fn from_unix_f64(secs: f64) -> Option<SystemTime> {
    if !secs.is_finite() {
        return None;
    }
    let magnitude = Duration::try_from_secs_f64(secs.abs()).ok()?;
    if secs >= 0.0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_420_070_400)), "2015-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_808_572)), "2026-11-27T19:42:52Z");
        assert_eq!(rfc3339(at(253_402_300_799)), "9999-12-31T23:59:59Z");
        assert_eq!(
            rfc3339(at(253_402_300_800)),
            "253402300800 seconds after the epoch"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "-5 seconds after the epoch"
        );
    }

    #[test]
    fn conversions_from_outside_numbers_never_panic() {
        assert_eq!(from_unix_secs(0), Some(UNIX_EPOCH));
        assert_eq!(from_unix_secs(u64::MAX), None);
        assert_eq!(from_unix_f64(f64::NAN), None);
        assert_eq!(from_unix_f64(f64::INFINITY), None);
        assert_eq!(from_unix_f64(-1e300), None);
        assert_eq!(from_unix_f64(1e300), None);
        assert_eq!(
            from_unix_f64(1.5),
            Some(UNIX_EPOCH + Duration::from_millis(1500))
        );
        assert_eq!(
            from_unix_f64(-2.0),
            UNIX_EPOCH.checked_sub(Duration::from_secs(2))
        );
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(9)), 0);
    }
}

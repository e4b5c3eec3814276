//! The current time, and the dates slimbox reads and prints that belong to no
//! protocol: the `YYYY-MM-DD` days of `--since`/`--until` and of listings.
//! Every "now" in slimbox comes from [`now_unix`]; all calendar arithmetic is
//! done by jiff, never by hand. IMAP's own date forms live in
//! `imap::datetime`; the dates `mime` writes into headers are formatted there
//! (it is pure, so it is handed the time instead of reading the clock).

use jiff::civil::{Date, DateTime};
use jiff::tz::Offset;
use jiff::Timestamp;

/// A date that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("{text:?} is not a date: write YYYY-MM-DD, e.g. 2024-03-31")]
    NotADay { text: String },
}

/// The current time in unix seconds (0 if the system clock is set to a time
/// jiff cannot represent, as the old helpers did).
pub fn now_unix() -> i64 {
    Timestamp::try_from(std::time::SystemTime::now()).map_or(0, Timestamp::as_second)
}

/// `unix` seconds as a timestamp, clamped to jiff's range (years -9999 to
/// 9999), so formatting any `i64` never fails.
fn timestamp(unix: i64) -> Timestamp {
    Timestamp::from_second(unix).unwrap_or(if unix < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The UTC wall-clock date and time of `unix` seconds (clamped as
/// `timestamp` does).
pub fn utc_datetime(unix: i64) -> DateTime {
    Offset::UTC.to_datetime(timestamp(unix))
}

/// Unix seconds at 00:00 UTC of `date`. Any civil date works, including the
/// last days of year 9999 that lie just outside jiff's `Timestamp` range.
pub fn utc_midnight(date: Date) -> i64 {
    date.duration_since(Date::constant(1970, 1, 1)).as_secs()
}

/// Parses a `YYYY-MM-DD` day (a real calendar day: `2024-02-30` is refused)
/// into unix seconds at 00:00 UTC.
pub fn parse_day(s: &str) -> Result<i64, DateError> {
    let date = Date::strptime("%Y-%m-%d", s.trim()).map_err(|_| DateError::NotADay {
        text: s.to_string(),
    })?;
    Ok(utc_midnight(date))
}

/// The UTC calendar day of `unix` seconds as `YYYY-MM-DD`.
pub fn format_day(unix: i64) -> String {
    let d = utc_datetime(unix);
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_and_format_at_utc_midnight() {
        assert_eq!(parse_day("1970-01-01"), Ok(0));
        assert_eq!(parse_day(" 2024-03-01 "), Ok(1_709_251_200));
        assert_eq!(parse_day("1969-12-31"), Ok(-86_400));
        assert_eq!(format_day(1_709_251_200), "2024-03-01");
        assert_eq!(format_day(1_709_251_200 + 86_399), "2024-03-01");
        assert_eq!(format_day(-1), "1969-12-31");
    }

    #[test]
    fn issue8_days_that_are_not_on_the_calendar_are_refused() {
        for s in [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "yesterday",
            "",
        ] {
            assert_eq!(
                parse_day(s),
                Err(DateError::NotADay { text: s.into() }),
                "{s:?}"
            );
        }
        assert_eq!(parse_day("2024-02-29"), Ok(1_709_164_800));
    }

    #[test]
    fn issue8_any_i64_formats_without_panicking() {
        // Clamped to jiff's range, which ends a day short of the years' ends.
        assert_eq!(format_day(i64::MIN), "-9999-01-02");
        assert_eq!(format_day(i64::MAX), "9999-12-30");
    }

    #[test]
    fn now_is_after_this_was_written() {
        assert!(now_unix() > 1_700_000_000);
    }
}

//! IMAP date and date-time strings (RFC 3501 section 9, `date-time` and
//! `date`) to and from unix seconds. Pure functions. The IMAP grammar is read
//! here; the calendar (days per month, leap years, days since the epoch) is
//! jiff's, through `crate::dates`.

use jiff::civil::Date;

use crate::dates::{utc_datetime, utc_midnight};

/// `date-month` of RFC 3501, in order.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month_name(month: i8) -> &'static str {
    MONTHS[usize::try_from(month - 1).unwrap_or(0).min(11)]
}

/// Formats `unix` seconds as an IMAP date-time in the zone `offset_minutes`
/// east of UTC, e.g. `01-Feb-2024 10:00:00 +0100`.
pub fn format_datetime(unix: i64, offset_minutes: i32) -> String {
    // Shifting by the offset is plain seconds; the wall clock is jiff's. Any
    // offset works, even one outside jiff's +-25:59.
    let local = utc_datetime(unix.saturating_add(i64::from(offset_minutes) * 60));
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.unsigned_abs();
    format!(
        "{:02}-{}-{:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        local.day(),
        month_name(local.month()),
        local.year(),
        local.hour(),
        local.minute(),
        local.second(),
        off / 60,
        off % 60
    )
}

/// Formats the UTC calendar day of `unix` as an IMAP search date, e.g. `1-Feb-2024`.
pub fn format_date(unix: i64) -> String {
    let d = utc_datetime(unix);
    format!("{}-{}-{:04}", d.day(), month_name(d.month()), d.year())
}

/// Parses an IMAP date-time (`dd-Mon-yyyy hh:mm:ss +zzzz`; the day may also be
/// space-padded or a single digit, as RFC 3501's `date-day-fixed` allows) into
/// unix seconds. `None` if it is not one.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim_start_matches(' ');
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.trim_start_matches(' ').split_once(' ')?;
    let midnight = utc_midnight(parse_date(date)?);

    let mut tparts = time.split(':');
    let hh = parse_digits(tparts.next()?, 2, 2)?;
    let mm = parse_digits(tparts.next()?, 2, 2)?;
    let ss = parse_digits(tparts.next()?, 2, 2)?;
    // 60 is allowed for a leap second; it simply rolls into the next minute.
    if tparts.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let local = midnight + i64::from(hh * 3600 + mm * 60 + ss);
    Some(local - parse_zone(zone)?)
}

/// `date-day "-" date-month "-" date-year`, a real calendar day.
fn parse_date(date: &str) -> Option<Date> {
    let mut parts = date.split('-');
    let d = parse_digits(parts.next()?, 1, 2)?;
    let mon = parts.next()?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? + 1;
    let y = parse_digits(parts.next()?, 4, 4)?;
    if parts.next().is_some() {
        return None;
    }
    // jiff refuses a day the month does not have (30-Feb, 29-Feb-2023).
    Date::new(
        i16::try_from(y).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(d).ok()?,
    )
    .ok()
}

/// `zone`: `+hhmm` or `-hhmm`, as seconds east of UTC.
fn parse_zone(zone: &str) -> Option<i64> {
    let zb = zone.as_bytes();
    if zb.len() != 5 || !zone.is_ascii() || !(zb[0] == b'+' || zb[0] == b'-') {
        return None;
    }
    let zh = parse_digits(&zone[1..3], 2, 2)?;
    let zm = parse_digits(&zone[3..5], 2, 2)?;
    if zm > 59 {
        return None;
    }
    let offset = i64::from(zh * 60 + zm) * 60;
    Some(if zb[0] == b'-' { -offset } else { offset })
}

fn parse_digits(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        // 2024-02-01T09:00:00Z
        let ts = 1_706_778_000;
        assert_eq!(parse_datetime("01-Feb-2024 10:00:00 +0100"), Some(ts));
        assert_eq!(parse_datetime("01-Feb-2024 09:00:00 +0000"), Some(ts));
        assert_eq!(parse_datetime(" 1-Feb-2024 04:00:00 -0500"), Some(ts));
        assert_eq!(parse_datetime("1-feb-2024 09:00:00 +0000"), Some(ts));
        assert_eq!(format_datetime(ts, 60), "01-Feb-2024 10:00:00 +0100");
        assert_eq!(format_datetime(ts, 0), "01-Feb-2024 09:00:00 +0000");
        assert_eq!(format_datetime(ts, -330), "01-Feb-2024 03:30:00 -0530");
        assert_eq!(format_date(ts), "1-Feb-2024");
    }

    #[test]
    fn brief_example_and_epoch_edges() {
        let ts = parse_datetime("23-Nov-2026 12:00:00 +0100").unwrap();
        assert_eq!(format_datetime(ts, 60), "23-Nov-2026 12:00:00 +0100");
        assert_eq!(parse_datetime("01-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(format_datetime(-1, 0), "31-Dec-1969 23:59:59 +0000");
        assert_eq!(
            parse_datetime("29-Feb-2000 00:00:00 +0000"),
            Some(951_782_400)
        );
    }

    #[test]
    fn round_trip_many() {
        let mut t: i64 = -2_000_000_000;
        while t < 4_000_000_000 {
            for off in [-720, -60, 0, 330, 840] {
                assert_eq!(
                    parse_datetime(&format_datetime(t, off)),
                    Some(t),
                    "{t} {off}"
                );
            }
            t += 7_777_777;
        }
    }

    #[test]
    fn rejects_nonsense() {
        for s in [
            "",
            "01-Feb-2024",
            "01-Foo-2024 10:00:00 +0100",
            "30-Feb-2024 10:00:00 +0100",
            "01-Feb-2024 24:00:00 +0100",
            "01-Feb-2024 10:00:00 0100",
            "01-Feb-2024 10:00 +0100",
            "01-Feb-24 10:00:00 +0100",
            "01-Feb-2024 10:00:00 +01:00",
        ] {
            assert_eq!(parse_datetime(s), None, "{s:?}");
        }
    }

    #[test]
    fn issue8_calendar_edges_come_from_jiff() {
        assert_eq!(parse_datetime("29-Feb-2023 00:00:00 +0000"), None);
        assert_eq!(parse_datetime("29-Feb-1900 00:00:00 +0000"), None);
        assert_eq!(parse_datetime("31-Apr-2024 00:00:00 +0000"), None);
        assert_eq!(parse_datetime("00-Jan-2024 00:00:00 +0000"), None);
        assert_eq!(
            parse_datetime("31-Dec-9999 23:59:59 +0000"),
            Some(253_402_300_799)
        );
        // A leap second rolls into the next minute, as before.
        assert_eq!(
            parse_datetime("31-Dec-2016 23:59:60 +0000"),
            parse_datetime("01-Jan-2017 00:00:00 +0000")
        );
        assert_eq!(format_date(-1), "31-Dec-1969");
        assert_eq!(format_date(951_782_400), "29-Feb-2000");
        // Far outside any mailbox: clamped, never a panic.
        assert_eq!(format_date(i64::MAX), "30-Dec-9999");
        let _ = format_datetime(i64::MIN, -720);
    }
}

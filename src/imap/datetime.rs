//! IMAP date and date-time strings (RFC 3501 section 9, `date-time` and
//! `date`) to and from unix seconds. Pure functions; the calendar arithmetic is
//! done by hand so this module needs no date crate.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month 1-12, day 1-31).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Formats `unix` seconds as an IMAP date-time in the zone `offset_minutes`
/// east of UTC, e.g. `01-Feb-2024 10:00:00 +0100`.
pub fn format_datetime(unix: i64, offset_minutes: i32) -> String {
    let local = unix + i64::from(offset_minutes) * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.unsigned_abs();
    format!(
        "{d:02}-{}-{y:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        off / 60,
        off % 60
    )
}

/// Formats the UTC calendar day of `unix` as an IMAP search date, e.g. `1-Feb-2024`.
pub fn format_date(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    format!("{d}-{}-{y:04}", MONTHS[(m - 1) as usize])
}

/// Parses an IMAP date-time (`dd-Mon-yyyy hh:mm:ss +zzzz`; the day may also be
/// space-padded or a single digit, as RFC 3501's `date-day-fixed` allows) into
/// unix seconds. `None` if it is not one.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim_start_matches(' ');
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.trim_start_matches(' ').split_once(' ')?;

    let mut dparts = date.split('-');
    let d: u32 = parse_digits(dparts.next()?, 1, 2)?;
    let mon = dparts.next()?;
    let m = MONTHS
        .iter()
        .position(|x| x.eq_ignore_ascii_case(mon))
        .map(|i| i as u32 + 1)?;
    let y: i64 = i64::from(parse_digits(dparts.next()?, 4, 4)?);
    if dparts.next().is_some() || d == 0 || d > days_in_month(y, m) {
        return None;
    }

    let mut tparts = time.split(':');
    let hh = parse_digits(tparts.next()?, 2, 2)?;
    let mm = parse_digits(tparts.next()?, 2, 2)?;
    let ss = parse_digits(tparts.next()?, 2, 2)?;
    // 60 is allowed for a leap second; it simply rolls into the next minute.
    if tparts.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }

    let zb = zone.as_bytes();
    if zb.len() != 5 || !zone.is_ascii() || !(zb[0] == b'+' || zb[0] == b'-') {
        return None;
    }
    let zh = parse_digits(&zone[1..3], 2, 2)?;
    let zm = parse_digits(&zone[3..5], 2, 2)?;
    if zm > 59 {
        return None;
    }
    let mut offset = i64::from(zh * 60 + zm) * 60;
    if zb[0] == b'-' {
        offset = -offset;
    }

    let local = days_from_civil(y, m, d) * 86_400
        + i64::from(hh) * 3600
        + i64::from(mm) * 60
        + i64::from(ss);
    Some(local - offset)
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
}

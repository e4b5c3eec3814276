//! Human units on the command line and in config: sizes such as `64KiB`,
//! `1MB`, `1 MiB` or plain bytes.

/// Parses a size: plain bytes (`1048576`) or a number with a unit (`64KiB`,
/// `1MB`, `1 MiB`, `1.5GiB`). Units follow bytesize: KB = 1000, KiB = 1024.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    t.parse::<bytesize::ByteSize>().map(|b| b.as_u64()).map_err(|_| {
        format!("{s:?} is not a size: write bytes (1048576) or a number with a unit (64KiB, 1MB, 1 MiB)")
    })
}

/// A size for people: `1.2 MiB`.
pub fn human_size(n: u64) -> String {
    bytesize::ByteSize(n).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_human_units() {
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("1 MiB"), Ok(1_048_576));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("lots").is_err());
    }
}

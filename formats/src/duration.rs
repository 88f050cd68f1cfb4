//! Durations as operators write them: the module's options in xorg.conf and
//! `LIFESIGN_OPTIONS`, the launcher's config, the CLI's flags.
//!
//! `500ms`, `3s`, `1.5s`, `2m`, and `1h` beyond the contract's forms; a bare integer is
//! milliseconds; `0` is off where an option can be off. Values are whole milliseconds: the server's clock (`GetTimeInMillis`) has no finer grain.

use std::time::Duration;

/// What the accepted form is, for error messages.
pub const FORM: &str = "a duration such as 500ms, 3s, 1.5s or 2m (a bare number is milliseconds)";

/// Parses a duration. Returns `None` for anything that is not one: empty, negative, a unit
/// other than ms/s/m, or a value that is not a whole number of milliseconds.
pub fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_ms: u64 = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    let millis = scaled(number, unit_ms)?;
    Some(Duration::from_millis(millis))
}

/// `number * unit_ms` in exact integer arithmetic: `1.5` s is 1500 ms, `0.0005` s is refused.
fn scaled(number: &str, unit_ms: u64) -> Option<u64> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole
        .bytes()
        .chain(frac.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut millis = whole.checked_mul(unit_ms)?;
    if !frac.is_empty() {
        if frac.len() > 9 {
            return None;
        }
        let digits: u64 = frac.parse().ok()?;
        let denominator = 10u64.pow(frac.len() as u32);
        let part = digits.checked_mul(unit_ms)?;
        if !part.is_multiple_of(denominator) {
            return None;
        }
        millis = millis.checked_add(part / denominator)?;
    }
    Some(millis)
}

/// Formats a duration the way the options are written, for log lines.
pub fn display(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0".to_owned()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Option<u64> {
        parse(text).map(|d| d.as_millis() as u64)
    }

    #[test]
    fn accepts_the_contract_forms() {
        assert_eq!(ms("500ms"), Some(500));
        assert_eq!(ms("3s"), Some(3_000));
        assert_eq!(ms("1.5s"), Some(1_500));
        assert_eq!(ms("2m"), Some(120_000));
        assert_eq!(ms("250"), Some(250));
        assert_eq!(ms("0"), Some(0));
        assert_eq!(ms(" 3 s "), Some(3_000));
        assert_eq!(ms(".5s"), Some(500));
        assert_eq!(ms("0.25m"), Some(15_000));
        assert_eq!(ms("1h"), Some(3_600_000));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in [
            "",
            "banana",
            "-3s",
            "3d",
            "3 seconds",
            "1.5.s",
            "1..5s",
            "0.0005s",
            "1.5ms",
            ".",
            "s",
            "+3s",
            "1e3",
            "3S",
        ] {
            assert_eq!(parse(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn refuses_overflow_instead_of_wrapping() {
        assert_eq!(parse("99999999999999999999"), None);
        assert_eq!(parse("999999999999999999m"), None);
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        assert_eq!(display(Duration::from_millis(0)), "0");
        assert_eq!(display(Duration::from_millis(1_500)), "1500ms");
        assert_eq!(display(Duration::from_millis(3_000)), "3s");
        assert_eq!(display(Duration::from_millis(120_000)), "2m");
        assert_eq!(display(Duration::from_secs(24 * 3600)), "24h");
    }
}

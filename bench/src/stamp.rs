//! The time of a `lifesign-launcher` log line: tracing's UTC stamp
//! (`2026-12-01T15:59:54.851256Z`), in Unix ms. The launcher logs "started candidate" right
//! after it spawned one; nothing else tells when that was.

/// Unix ms of the stamp that starts `line`, if it has one.
pub fn unix_ms(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut ymd = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, d) = (ymd.next()?.ok()?, ymd.next()?.ok()?, ymd.next()?.ok()?);
    let mut hms = time.splitn(3, ':');
    let (h, min) = (
        hms.next()?.parse::<i64>().ok()?,
        hms.next()?.parse::<i64>().ok()?,
    );
    let s: f64 = hms.next()?.parse().ok()?;
    let seconds = days_from_civil(y, m, d) * 86_400 + h * 3600 + min * 60;
    Some(seconds as f64 * 1000.0 + s * 1000.0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launcher_line_in_unix_ms() {
        let line = "2026-12-01T15:59:54.851256Z  INFO started candidate service=s pid=1";
        let near = |got: Option<f64>, want: f64| got.is_some_and(|g| (g - want).abs() < 1e-3);
        // date -u -d 2026-12-01T15:59:54Z +%s
        assert!(near(unix_ms(line), 1_796_140_794_851.256));
        assert!(near(unix_ms("1970-01-01T00:00:00Z x"), 0.0));
        assert!(near(unix_ms("2000-03-01T00:00:00.5Z"), 951_868_800_500.0));
        assert_eq!(unix_ms("no stamp here"), None);
    }
}

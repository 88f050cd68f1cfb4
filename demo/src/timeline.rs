//! The timeline the demo prints: what happened, in ms after the fault.

/// Unix ms of a `tracing` timestamp such as `2026-12-01T13:59:29.044412Z`.
pub fn parse_rfc3339_ms(stamp: &str) -> Option<u64> {
    let (date, time) = stamp.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let ms_frac: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    let days = days_from_civil(y, m, day);
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs * 1000 + ms_frac).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Lines of a timeline: `+   1503 ms  what`, relative to `zero`.
pub struct Timeline {
    zero: u64,
    lines: Vec<(u64, String)>,
}

impl Timeline {
    pub fn new(zero: u64, what: &str) -> Self {
        Self {
            zero,
            lines: vec![(zero, what.to_owned())],
        }
    }

    /// The Unix ms everything is relative to.
    pub fn zero(&self) -> u64 {
        self.zero
    }

    pub fn at(&mut self, unix_ms: u64, what: impl Into<String>) {
        self.lines.push((unix_ms, what.into()));
    }

    pub fn render(&self) -> String {
        let mut lines = self.lines.clone();
        lines.sort_by_key(|(t, _)| *t);
        lines
            .iter()
            .map(|(t, what)| {
                let d = i128::from(*t) - i128::from(self.zero);
                format!("  {d:+7} ms  {what}\n")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracing_stamps_are_unix_ms() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_rfc3339_ms("2026-12-01T13:59:29.044412Z"),
            Some(1_796_133_569_044)
        );
        assert_eq!(parse_rfc3339_ms("not a time"), None);
    }

    #[test]
    fn the_timeline_is_in_order_and_relative() {
        let mut t = Timeline::new(1000, "cut");
        t.at(3500, "lost");
        t.at(2000, "suspect");
        assert_eq!(
            t.render(),
            "       +0 ms  cut\n    +1000 ms  suspect\n    +2500 ms  lost\n"
        );
    }
}

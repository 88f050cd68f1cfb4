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

/// What an entry of a timeline is, for its place and colour in the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The demo's fault: a cable pulled, a process stopped.
    Fault,
    /// The moment the deadline counts from (the last request, the unanswered ping).
    Quiet,
    /// The server's `suspect`.
    Suspect,
    /// The server's `lost`.
    Lost,
    /// A mark of the overlay appears or goes.
    Overlay,
    /// The launcher starts the backup.
    Launcher,
    /// The backup's window is on the display.
    Backup,
    /// The demo took a screenshot.
    Shot,
}

/// One line of a timeline.
#[derive(Clone, Debug)]
pub struct Entry {
    pub at: u64,
    pub kind: Kind,
    /// A few words, for the picture.
    pub short: String,
    /// The printed line.
    pub what: String,
}

/// A deadline as configured, from the moment it counts from: drawn as a span.
#[derive(Clone, Debug)]
pub struct Deadline {
    pub from: u64,
    pub ms: u64,
    /// The option, e.g. `IdleTimeout`.
    pub option: String,
}

/// A scene's timeline: `+   1503 ms  what`, relative to the fault.
pub struct Timeline {
    pub title: String,
    zero: u64,
    entries: Vec<Entry>,
    pub deadline: Option<Deadline>,
}

impl Timeline {
    pub fn new(title: &str, zero: u64, short: &str, what: &str) -> Self {
        let mut t = Self {
            title: title.to_owned(),
            zero,
            entries: Vec::new(),
            deadline: None,
        };
        t.at(zero, Kind::Fault, short, what);
        t
    }

    /// Milliseconds from the fault to `unix_ms` (negative before it).
    pub fn offset(&self, unix_ms: u64) -> i64 {
        i64::try_from(i128::from(unix_ms) - i128::from(self.zero)).unwrap_or(0)
    }

    pub fn at(
        &mut self,
        unix_ms: u64,
        kind: Kind,
        short: impl Into<String>,
        what: impl Into<String>,
    ) {
        self.entries.push(Entry {
            at: unix_ms,
            kind,
            short: short.into(),
            what: what.into(),
        });
    }

    /// The entries in time order.
    pub fn entries(&self) -> Vec<Entry> {
        let mut entries = self.entries.clone();
        entries.sort_by_key(|e| e.at);
        entries
    }

    pub fn render(&self) -> String {
        self.entries()
            .iter()
            .map(|e| format!("  {:+7} ms  {}\n", self.offset(e.at), e.what))
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
        let mut t = Timeline::new("a cut", 1000, "cut", "cut");
        t.at(3500, Kind::Lost, "lost", "lost");
        t.at(2000, Kind::Suspect, "suspect", "suspect");
        t.at(500, Kind::Quiet, "quiet", "last request");
        assert_eq!(
            t.render(),
            "     -500 ms  last request\n       +0 ms  cut\n    +1000 ms  suspect\n    +2500 ms  lost\n"
        );
    }
}

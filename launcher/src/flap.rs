//! Flap protection: at most `max` failovers of a service within a sliding `window`, and
//! failovers in quick succession spaced by a backoff that doubles.

/// The wait after one failover before the next; it doubles with each failover in the window.
pub const BACKOFF_MS: u64 = 1000;
/// The longest backoff.
pub const MAX_BACKOFF_MS: u64 = 60_000;

/// Admits a failover at `now` (Unix ms) given the times of the earlier ones, recording it;
/// or says when the next one will be admitted (`u64::MAX`: never, `max` is 0).
pub fn admit(history: &mut Vec<u64>, now: u64, window_ms: u64, max: u32) -> Result<(), u64> {
    history.retain(|&t| t.saturating_add(window_ms) > now);
    history.sort_unstable();
    let max = max as usize;
    if history.len() >= max {
        let must_leave = history.len() - max;
        return Err(history
            .get(must_leave)
            .map_or(u64::MAX, |t| t.saturating_add(window_ms)));
    }
    if let Some(&last) = history.last() {
        let doublings = u32::try_from(history.len() - 1).unwrap_or(u32::MAX).min(16);
        let backoff = (BACKOFF_MS << doublings).min(MAX_BACKOFF_MS);
        if now < last.saturating_add(backoff) {
            return Err(last.saturating_add(backoff));
        }
    }
    history.push(now);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_in_the_window_then_the_oldest_must_leave_it() {
        let mut h = Vec::new();
        for t in [0, 10_000, 20_000] {
            assert_eq!(admit(&mut h, t, 60_000, 3), Ok(()));
        }
        assert_eq!(admit(&mut h, 30_000, 60_000, 3), Err(60_000));
        assert_eq!(admit(&mut h, 59_999, 60_000, 3), Err(60_000));
        assert_eq!(admit(&mut h, 60_000, 60_000, 3), Ok(()));
        assert_eq!(h, [10_000, 20_000, 60_000]);
        assert_eq!(admit(&mut h, 60_001, 60_000, 3), Err(70_000));
    }

    #[test]
    fn quick_successions_back_off_doubling() {
        let mut h = Vec::new();
        assert_eq!(admit(&mut h, 0, 600_000, 10), Ok(()));
        assert_eq!(admit(&mut h, 10, 600_000, 10), Err(BACKOFF_MS));
        assert_eq!(admit(&mut h, BACKOFF_MS, 600_000, 10), Ok(()));
        assert_eq!(
            admit(&mut h, BACKOFF_MS + 1, 600_000, 10),
            Err(3 * BACKOFF_MS)
        );
        let mut h: Vec<u64> = (0..9).map(|i| i * 100).collect();
        assert_eq!(admit(&mut h, 900, 600_000, 10), Err(800 + MAX_BACKOFF_MS));
    }

    #[test]
    fn zero_means_never() {
        let mut h = Vec::new();
        assert_eq!(admit(&mut h, 5, 1_000, 0), Err(u64::MAX));
        assert!(h.is_empty());
    }

    #[test]
    fn a_lowered_max_after_a_restart_waits_for_enough_to_leave() {
        let mut h = vec![0, 10, 20, 30];
        assert_eq!(admit(&mut h, 40, 1_000, 2), Err(1_020));
    }
}

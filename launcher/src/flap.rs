//! Flap protection: at most `max` failovers of a service within a sliding `window`.

/// Admits a failover at `now` (Unix ms) given the times of the earlier ones, recording it;
/// or says when the next one will be admitted (`u64::MAX`: never, `max` is 0).
pub fn admit(history: &mut Vec<u64>, now: u64, window_ms: u64, max: u32) -> Result<(), u64> {
    history.retain(|&t| t.saturating_add(window_ms) > now);
    history.sort_unstable();
    if history.len() < max as usize {
        history.push(now);
        return Ok(());
    }
    let nth_from_last = history.len() - max as usize;
    Err(history
        .get(nth_from_last)
        .map_or(u64::MAX, |t| t.saturating_add(window_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_in_the_window_then_the_oldest_must_leave_it() {
        let mut h = Vec::new();
        for t in [0, 1_000, 2_000] {
            assert_eq!(admit(&mut h, t, 60_000, 3), Ok(()));
        }
        assert_eq!(admit(&mut h, 3_000, 60_000, 3), Err(60_000));
        assert_eq!(admit(&mut h, 59_999, 60_000, 3), Err(60_000));
        assert_eq!(admit(&mut h, 60_000, 60_000, 3), Ok(()));
        assert_eq!(h, [1_000, 2_000, 60_000]);
        assert_eq!(admit(&mut h, 60_001, 60_000, 3), Err(61_000));
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

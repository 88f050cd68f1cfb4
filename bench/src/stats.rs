//! Order statistics of a sample.

pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// The `q` quantile (0..=1) by nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn summarize(values: &[f64]) -> Summary {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Summary {
        n: sorted.len(),
        min: sorted[0],
        median: quantile(&sorted, 0.5),
        p90: quantile(&sorted, 0.9),
        p99: quantile(&sorted, 0.99),
        max: sorted[sorted.len() - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(
            (s.n, s.min, s.median, s.p99, s.max),
            (5, 1.0, 3.0, 5.0, 5.0)
        );
        let s = summarize(&(1..=100).map(f64::from).collect::<Vec<_>>());
        assert_eq!((s.median, s.p99), (50.0, 99.0));
    }
}

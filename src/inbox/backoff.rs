//! Retry schedule: exponential, capped, with jitter so a burst of failures does not retry in
//! lockstep.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The wait before retry number `attempt` (1 for the first retry): half of the capped
    /// exponential delay plus a random part of the other half.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        let half = full / 2;
        let jitter_ms = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_jitter_bounds_and_stop_at_the_cap() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        for _ in 0..200 {
            let first = backoff.delay(1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(1001));
            let third = backoff.delay(3);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_millis(4001));
            let late = backoff.delay(30);
            assert!(late >= Duration::from_secs(5) && late <= Duration::from_millis(10_001));
        }
    }

    #[test]
    fn jitter_spreads_retries() {
        let backoff = Backoff::new(Duration::from_secs(8), Duration::from_secs(60));
        let delays: std::collections::HashSet<_> = (0..50).map(|_| backoff.delay(2)).collect();
        assert!(delays.len() > 10, "expected spread, got {delays:?}");
    }
}

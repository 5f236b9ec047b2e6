//! Slack's posting pace: about one message per second per channel (bursts may not display).
//! Posts to one channel are spaced `interval` apart, in the order they asked; other channels
//! do not wait.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Channels remembered before slots already in the past are forgotten.
const FORGET_AFTER: usize = 1024;

pub struct Pacer {
    interval: Duration,
    /// The earliest time each channel's next post may go.
    next: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for this channel's next slot.
    pub async fn wait(&self, channel: &str) {
        if self.interval.is_zero() {
            return;
        }
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            if next.len() > FORGET_AFTER {
                next.retain(|_, at| *at > now);
            }
            let slot = next.get(channel).copied().filter(|at| *at > now).unwrap_or(now);
            next.insert(channel.to_owned(), slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn posts_to_one_channel_are_spaced_and_others_do_not_wait() {
        let pacer = Pacer::new(Duration::from_secs(1));
        let start = Instant::now();
        pacer.wait("C1").await;
        pacer.wait("C2").await;
        assert_eq!(start.elapsed(), Duration::ZERO, "first posts go at once");
        pacer.wait("C1").await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        pacer.wait("C1").await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        pacer.wait("C2").await;
        assert_eq!(start.elapsed(), Duration::from_secs(2), "C2's slot had long come");
    }
}

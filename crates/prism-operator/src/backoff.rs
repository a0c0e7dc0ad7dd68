//! The watch retry schedule: exponential from 500 ms to a 4 s ceiling, with jitter.
//!
//! kube-runtime's default grows to 30 s, so after a long API server outage a change could wait
//! half a minute to be seen. A 4 s ceiling keeps the cost of an outage at a handful of cheap
//! requests per watch per minute (no spinning) and sees the API server's return within seconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::runtime::utils::Backoff;

/// First retry delay.
pub const MIN: Duration = Duration::from_millis(500);
/// Longest retry delay.
pub const MAX: Duration = Duration::from_secs(4);

/// Exponential backoff with ±25 % jitter.
#[derive(Debug, Clone)]
pub struct WatchBackoff {
    next: Duration,
    seed: u64,
}

/// A fresh schedule.
pub fn watch_backoff() -> WatchBackoff {
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0x9e37_79b9, |d| d.subsec_nanos().into()) | 1;
    WatchBackoff { next: MIN, seed }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        // xorshift64: jitter needs no cryptographic randomness.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let factor = 0.75 + (self.seed % 1000) as f64 / 2000.0;
        let delay = self.next.mul_f64(factor);
        self.next = (self.next * 2).min(MAX);
        Some(delay)
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_ceiling_and_resets() {
        let mut b = watch_backoff();
        let delays: Vec<Duration> = (&mut b).take(8).collect();
        assert!(delays[0] >= MIN.mul_f64(0.75) && delays[0] <= MIN.mul_f64(1.25));
        assert!(delays.iter().all(|d| *d <= MAX.mul_f64(1.25)), "{delays:?}");
        assert!(delays[7] >= MAX.mul_f64(0.75), "reaches the ceiling: {delays:?}");
        b.reset();
        assert!(b.next().expect("delay") <= MIN.mul_f64(1.25));
    }
}

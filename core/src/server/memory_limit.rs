//! The memory limit (`max_memory` / `SIDEKIQ_MAXMEM_MB`): decides when a process has been
//! above its RSS limit long enough that it should quiet, let its jobs finish and exit, so its
//! supervisor starts a fresh one (docs/design.md, §22).
//!
//! A single sample above the limit is not enough: a job may allocate briefly and the
//! allocator hand the memory back. The process must be over the limit at every sample for
//! the whole grace period; one sample below the limit starts the count over.

use std::time::{Duration, Instant};

use super::heartbeat;

/// What one look at the process's memory found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Below the limit (or the RSS could not be read).
    Within,
    /// Above the limit, but not yet for the whole grace period.
    Over { rss_kb: u64 },
    /// Above the limit at every look for the whole grace period: time to stop. Reported once.
    Exceeded { rss_kb: u64, over_for: Duration },
}

/// Follows the process's RSS against a limit. Fed one sample at a time (the Ruby heartbeat
/// thread looks once a second), so it holds no thread of its own.
#[derive(Debug)]
pub struct MemoryLimit {
    limit_kb: u64,
    grace: Duration,
    over_since: Option<Instant>,
    reported: bool,
}

impl MemoryLimit {
    /// `limit_mb`: megabytes as the guide writes `max_memory` (1 MB = 1024 kB, the unit of
    /// `VmRSS`). `grace`: how long the RSS must stay above it.
    pub fn new(limit_mb: u64, grace: Duration) -> Self {
        MemoryLimit {
            limit_kb: limit_mb.saturating_mul(1024),
            grace,
            over_since: None,
            reported: false,
        }
    }

    /// Reads this process's RSS (`/proc/self/status`) and judges it.
    pub fn check(&mut self) -> Verdict {
        self.judge(heartbeat::rss_kb(), Instant::now())
    }

    /// Judges one sample taken at `now`. An unreadable RSS (0) never counts as over.
    pub fn judge(&mut self, rss_kb: u64, now: Instant) -> Verdict {
        if rss_kb == 0 || rss_kb <= self.limit_kb {
            self.over_since = None;
            return Verdict::Within;
        }
        let since = *self.over_since.get_or_insert(now);
        let over_for = now.saturating_duration_since(since);
        if over_for >= self.grace && !self.reported {
            self.reported = true;
            return Verdict::Exceeded { rss_kb, over_for };
        }
        Verdict::Over { rss_kb }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1024;

    #[test]
    fn below_the_limit_is_within() {
        let mut limit = MemoryLimit::new(100, Duration::from_secs(3));
        assert_eq!(limit.judge(50 * MB, Instant::now()), Verdict::Within);
        assert_eq!(limit.judge(100 * MB, Instant::now()), Verdict::Within);
    }

    #[test]
    fn exceeded_only_after_the_whole_grace_period_and_only_once() {
        let start = Instant::now();
        let mut limit = MemoryLimit::new(100, Duration::from_secs(3));
        let at = |secs| start + Duration::from_secs(secs);
        assert_eq!(
            limit.judge(150 * MB, at(0)),
            Verdict::Over { rss_kb: 150 * MB }
        );
        assert_eq!(
            limit.judge(150 * MB, at(2)),
            Verdict::Over { rss_kb: 150 * MB }
        );
        assert_eq!(
            limit.judge(160 * MB, at(3)),
            Verdict::Exceeded {
                rss_kb: 160 * MB,
                over_for: Duration::from_secs(3)
            }
        );
        assert_eq!(
            limit.judge(160 * MB, at(4)),
            Verdict::Over { rss_kb: 160 * MB }
        );
    }

    #[test]
    fn a_sample_below_the_limit_starts_the_count_over() {
        let start = Instant::now();
        let mut limit = MemoryLimit::new(100, Duration::from_secs(3));
        let at = |secs| start + Duration::from_secs(secs);
        limit.judge(150 * MB, at(0));
        assert_eq!(limit.judge(90 * MB, at(2)), Verdict::Within);
        assert_eq!(
            limit.judge(150 * MB, at(4)),
            Verdict::Over { rss_kb: 150 * MB }
        );
        assert!(matches!(
            limit.judge(150 * MB, at(7)),
            Verdict::Exceeded { .. }
        ));
    }

    #[test]
    fn an_unreadable_rss_never_counts() {
        let mut limit = MemoryLimit::new(1, Duration::ZERO);
        assert_eq!(limit.judge(0, Instant::now()), Verdict::Within);
    }

    #[test]
    fn this_process_has_a_readable_rss() {
        let mut limit = MemoryLimit::new(1, Duration::ZERO);
        assert!(matches!(limit.check(), Verdict::Exceeded { .. }));
    }
}

//! Execution metrics gathered in memory between two flushes: per job class and queue, the jobs
//! that succeeded and those that failed, each with a count, their total milliseconds and a
//! histogram of their durations (docs/wire-format.md §14). Worker threads add to it without
//! any Redis call; the flusher (`metrics_flusher.rs`) takes what was gathered every few
//! seconds. Sidekiq 7's format needs only the per-class sums (`Window::by_class`); the finer
//! keys are kept so that other readers (a Prometheus endpoint) can use the same tally.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Upper bounds (exclusive, in ms) of the histogram's buckets as Sidekiq 7 defines them; a
/// duration at or past the last bound goes into one more bucket.
pub const BUCKET_LIMITS_MS: [u64; 25] = [
    20, 30, 45, 65, 100, 150, 225, 335, 500, 750, 1_100, 1_700, 2_500, 3_800, 5_750, 8_500, 13_000,
    20_000, 30_000, 45_000, 65_000, 100_000, 150_000, 225_000, 335_000,
];
/// The number of histogram buckets (the last one holds everything slower).
pub const BUCKETS: usize = BUCKET_LIMITS_MS.len() + 1;

/// The most distinct class × queue pairs kept at once: class names come from payloads, and an
/// app that makes up a class name per job must not make the tally grow without end.
pub const MAX_PAIRS: usize = 10_000;

/// The bucket a duration falls into.
pub fn bucket_index(ms: u64) -> usize {
    BUCKET_LIMITS_MS
        .iter()
        .position(|&limit| ms < limit)
        .unwrap_or(BUCKETS - 1)
}

/// Jobs of one outcome: how many, their total milliseconds, and their durations by bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durations {
    pub count: u64,
    pub total_ms: u64,
    pub buckets: [u64; BUCKETS],
}

impl Default for Durations {
    fn default() -> Self {
        Durations {
            count: 0,
            total_ms: 0,
            buckets: [0; BUCKETS],
        }
    }
}

impl Durations {
    fn add(&mut self, ms: u64) {
        self.count += 1;
        self.total_ms = self.total_ms.saturating_add(ms);
        self.buckets[bucket_index(ms)] += 1;
    }

    fn merge(&mut self, other: &Durations) {
        self.count += other.count;
        self.total_ms = self.total_ms.saturating_add(other.total_ms);
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *mine += theirs;
        }
    }
}

/// The jobs of one class on one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub succeeded: Durations,
    pub failed: Durations,
}

impl Outcomes {
    fn merge(&mut self, other: &Outcomes) {
        self.succeeded.merge(&other.succeeded);
        self.failed.merge(&other.failed);
    }
}

/// What one class did in a window, summed over its queues, in Sidekiq 7's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassTotals {
    /// Every job that ran (`Class|p`): successes and failures.
    pub processed: u64,
    /// `Class|f`.
    pub failed: u64,
    /// The successful jobs (Sidekiq times only those): `Class|ms` and the histogram.
    pub succeeded: Durations,
}

/// Everything gathered since the last flush: class → queue → outcomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    classes: HashMap<String, HashMap<String, Outcomes>>,
    pairs: usize,
    /// Jobs not counted because the window held `MAX_PAIRS` pairs already.
    pub dropped: u64,
}

impl Window {
    /// Counts one job that ran `ms` milliseconds.
    pub fn record(&mut self, class: &str, queue: &str, ms: u64, failed: bool) {
        let Some(outcomes) = self.outcomes(class, queue) else {
            self.dropped += 1;
            return;
        };
        if failed {
            outcomes.failed.add(ms);
        } else {
            outcomes.succeeded.add(ms);
        }
    }

    /// Adds `other` (a window whose flush failed) to this one, within the same bound.
    pub fn merge(&mut self, other: Window) {
        self.dropped += other.dropped;
        for (class, queues) in other.classes {
            for (queue, theirs) in queues {
                match self.outcomes(&class, &queue) {
                    Some(mine) => mine.merge(&theirs),
                    None => self.dropped += theirs.succeeded.count + theirs.failed.count,
                }
            }
        }
    }

    /// The entry for a pair, created if there is room for it. Looked up by `&str` first, so a
    /// pair seen before costs no allocation.
    fn outcomes(&mut self, class: &str, queue: &str) -> Option<&mut Outcomes> {
        let known = self
            .classes
            .get(class)
            .is_some_and(|queues| queues.contains_key(queue));
        if !known {
            if self.pairs >= MAX_PAIRS {
                return None;
            }
            self.pairs += 1;
            self.classes
                .entry(class.to_string())
                .or_default()
                .insert(queue.to_string(), Outcomes::default());
        }
        self.classes.get_mut(class)?.get_mut(queue)
    }

    pub fn is_empty(&self) -> bool {
        self.pairs == 0
    }

    /// How many jobs the window counted.
    pub fn jobs(&self) -> u64 {
        self.pairs()
            .map(|(_, _, o)| o.succeeded.count + o.failed.count)
            .sum()
    }

    /// Every class × queue pair with its outcomes.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str, &Outcomes)> {
        self.classes.iter().flat_map(|(class, queues)| {
            queues
                .iter()
                .map(move |(queue, outcomes)| (class.as_str(), queue.as_str(), outcomes))
        })
    }

    /// Per class, summed over its queues (what Sidekiq 7 stores), ordered by class name.
    pub fn by_class(&self) -> BTreeMap<&str, ClassTotals> {
        self.classes
            .iter()
            .map(|(class, queues)| {
                let mut succeeded = Durations::default();
                let mut failed = 0;
                for outcomes in queues.values() {
                    succeeded.merge(&outcomes.succeeded);
                    failed += outcomes.failed.count;
                }
                let totals = ClassTotals {
                    processed: succeeded.count + failed,
                    failed,
                    succeeded,
                };
                (class.as_str(), totals)
            })
            .collect()
    }
}

/// The most distinct error class names a lifetime tally keeps apart; failures with further
/// names are counted under `OTHER_ERRORS` (error class names can be made up at run time too).
pub const MAX_ERROR_CLASSES: usize = 100;
/// The most class × queue × error class series a lifetime tally keeps.
pub const MAX_ERROR_SERIES: usize = 2_000;
/// The error class shown for failures past `MAX_ERROR_CLASSES`.
pub const OTHER_ERRORS: &str = "other";

/// Failures by job class, queue and error class, bounded (`MAX_ERROR_CLASSES`,
/// `MAX_ERROR_SERIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    counts: BTreeMap<(String, String, String), u64>,
    names: std::collections::HashSet<String>,
    /// Failures not counted because the series bound was reached.
    pub dropped: u64,
}

impl ErrorCounts {
    fn record(&mut self, class: &str, queue: &str, error: &str) {
        let error = if self.names.contains(error) {
            error
        } else if self.names.len() < MAX_ERROR_CLASSES {
            self.names.insert(error.to_string());
            error
        } else {
            OTHER_ERRORS
        };
        // Failures are rare next to jobs: building the key per failure is cheap enough.
        let key = (class.to_string(), queue.to_string(), error.to_string());
        if let Some(count) = self.counts.get_mut(&key) {
            *count += 1;
        } else if self.counts.len() < MAX_ERROR_SERIES {
            self.counts.insert(key, 1);
        } else {
            self.dropped += 1;
        }
    }

    /// `(class, queue, error class, failures)`, ordered.
    pub fn series(&self) -> impl Iterator<Item = (&str, &str, &str, u64)> {
        self.counts
            .iter()
            .map(|((c, q, e), n)| (c.as_str(), q.as_str(), e.as_str(), *n))
    }
}

/// Everything counted since a Prometheus endpoint asked for it (counters never reset, as
/// Prometheus expects): the jobs, and the failures by error class.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifetime {
    pub jobs: Window,
    pub errors: ErrorCounts,
}

#[derive(Default)]
struct Tallies {
    window: Window,
    /// Kept only while something reads it (the Prometheus endpoint): off, recording costs
    /// nothing more than the window.
    lifetime: Option<Lifetime>,
}

/// The window the worker threads add to, shared with the flusher; and, when a Prometheus
/// endpoint runs, the lifetime totals it reads, updated under the same lock.
#[derive(Default)]
pub struct ExecutionTally {
    tallies: Mutex<Tallies>,
}

impl ExecutionTally {
    pub fn record(&self, class: &str, queue: &str, ms: u64, failed: bool) {
        let mut tallies = self.lock();
        tallies.window.record(class, queue, ms, failed);
        if let Some(lifetime) = tallies.lifetime.as_mut() {
            lifetime.jobs.record(class, queue, ms, failed);
        }
    }

    /// A failed job whose exception class is known.
    pub fn record_failure(&self, class: &str, queue: &str, ms: u64, error: &str) {
        let mut tallies = self.lock();
        tallies.window.record(class, queue, ms, true);
        if let Some(lifetime) = tallies.lifetime.as_mut() {
            lifetime.jobs.record(class, queue, ms, true);
            lifetime.errors.record(class, queue, error);
        }
    }

    /// Starts keeping lifetime totals (from now on; idempotent).
    pub fn keep_lifetime(&self) {
        self.lock().lifetime.get_or_insert_with(Lifetime::default);
    }

    /// A copy of the lifetime totals, if they are kept.
    pub fn lifetime(&self) -> Option<Lifetime> {
        self.lock().lifetime.clone()
    }

    /// Everything gathered so far; the tally starts a new window.
    pub fn take(&self) -> Window {
        std::mem::take(&mut self.lock().window)
    }

    /// Puts back a window that could not be written, to go out with the next flush.
    pub fn restore(&self, window: Window) {
        let mut tallies = self.lock();
        let newer = std::mem::replace(&mut tallies.window, window);
        tallies.window.merge(newer);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tallies> {
        self.tallies.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_sidekiqs_bounds() {
        assert_eq!(bucket_index(0), 0);
        assert_eq!(bucket_index(19), 0);
        assert_eq!(bucket_index(20), 1);
        assert_eq!(bucket_index(280), 7);
        assert_eq!(bucket_index(334_999), 24);
        assert_eq!(bucket_index(335_000), 25);
        assert_eq!(bucket_index(u64::MAX), 25);
        assert_eq!(BUCKETS, 26);
    }

    #[test]
    fn sums_per_class_time_only_successes() {
        let mut window = Window::default();
        window.record("A", "default", 10, false);
        window.record("A", "critical", 25, false);
        window.record("A", "default", 5_000, true);
        window.record("B", "default", 1, true);
        let classes = window.by_class();
        let a = &classes["A"];
        assert_eq!((a.processed, a.failed, a.succeeded.total_ms), (3, 1, 35));
        assert_eq!(a.succeeded.buckets[0], 1);
        assert_eq!(a.succeeded.buckets[1], 1);
        assert_eq!(a.succeeded.buckets.iter().sum::<u64>(), 2);
        let b = &classes["B"];
        assert_eq!((b.processed, b.failed, b.succeeded.count), (1, 1, 0));
        assert_eq!(window.jobs(), 4);
        let failed: Vec<_> = window
            .pairs()
            .filter(|(_, _, o)| o.failed.count > 0)
            .map(|(c, q, o)| (c, q, o.failed.total_ms))
            .collect();
        assert_eq!(failed.len(), 2);
        assert!(failed.contains(&("A", "default", 5_000)));
    }

    #[test]
    fn a_restored_window_adds_to_what_came_since() {
        let tally = ExecutionTally::default();
        tally.record("A", "q", 10, false);
        let unwritten = tally.take();
        assert!(tally.take().is_empty());
        tally.record("A", "q", 30, true);
        tally.restore(unwritten);
        let window = tally.take();
        let a = &window.by_class()["A"];
        assert_eq!((a.processed, a.failed, a.succeeded.total_ms), (2, 1, 10));
    }

    #[test]
    fn stops_adding_pairs_at_the_bound_and_counts_what_it_dropped() {
        let mut window = Window::default();
        for i in 0..MAX_PAIRS {
            window.record(&format!("C{i}"), "q", 1, false);
        }
        window.record("C0", "q", 1, false);
        window.record("New", "q", 1, false);
        assert_eq!(window.dropped, 1);
        assert_eq!(window.jobs(), MAX_PAIRS as u64 + 1);
        let mut other = Window::default();
        other.record("Other", "q", 1, true);
        other.record("C1", "q", 1, true);
        window.merge(other);
        assert_eq!(window.dropped, 2);
        assert_eq!(window.by_class()["C1"].failed, 1);
    }

    #[test]
    fn lifetime_totals_are_kept_only_once_asked_for_and_survive_flushes() {
        let tally = ExecutionTally::default();
        tally.record("A", "q", 10, false);
        assert!(tally.lifetime().is_none());
        tally.keep_lifetime();
        tally.record("A", "q", 30, false);
        tally.record_failure("A", "q", 5, "KeyError");
        let _ = tally.take();
        tally.record_failure("A", "q", 7, "KeyError");
        let lifetime = tally.lifetime().expect("kept");
        let a = &lifetime.jobs.by_class()["A"];
        assert_eq!((a.processed, a.failed, a.succeeded.total_ms), (3, 2, 30));
        let errors: Vec<_> = lifetime.errors.series().collect();
        assert_eq!(errors, vec![("A", "q", "KeyError", 2)]);
    }

    #[test]
    fn error_classes_past_the_bound_count_as_other() {
        let mut errors = ErrorCounts::default();
        for i in 0..MAX_ERROR_CLASSES {
            errors.record("A", "q", &format!("E{i}"));
        }
        errors.record("A", "q", "Late");
        errors.record("A", "q", "E0");
        let counts: BTreeMap<&str, u64> = errors.series().map(|(_, _, e, n)| (e, n)).collect();
        assert_eq!(counts[OTHER_ERRORS], 1);
        assert_eq!(counts["E0"], 2);
        assert!(!counts.contains_key("Late"));
    }
}

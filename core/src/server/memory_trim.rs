//! Giving back to the OS the memory a burst of jobs left free (docs/performance.md, §8.1).
//!
//! glibc keeps memory freed in the middle of its heaps: after a backlog is drained, the
//! process holds megabytes that no job uses until the next burst. `malloc_trim(0)` returns
//! every free page of every arena; it takes a millisecond or two on a server's heap. The
//! moment a fetcher finds its queues empty after a burst is when that memory has become
//! garbage and no backlog waits for the threads, so the trim runs then, on a blocking-pool
//! thread of the engine's runtime (never on the engine thread, nor on a worker thread).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A burst is at least this many jobs fetched since the last trim.
const BURST_JOBS: u64 = 1_000;
/// At most one trim this often, however often the queues run dry.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct MemoryTrim {
    /// Only a process the server owns trims (never an embedded one: its host owns the
    /// allocator, as for the arena limit of `Ferrokiq::MallocArenas`).
    enabled: AtomicBool,
    fetched_since: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl MemoryTrim {
    pub(crate) fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// A fetcher took `count` jobs.
    pub(crate) fn fetched(&self, count: usize) {
        if self.enabled.load(Ordering::Relaxed) {
            self.fetched_since
                .fetch_add(count as u64, Ordering::Relaxed);
        }
    }

    /// A fetcher found its queues empty: whether this ends a burst worth a trim (and, when it
    /// does, counting starts again).
    pub(crate) fn ran_dry(&self) -> bool {
        if !self.enabled.load(Ordering::Relaxed)
            || self.fetched_since.load(Ordering::Relaxed) < BURST_JOBS
        {
            return false;
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < MIN_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        self.fetched_since.store(0, Ordering::Relaxed);
        true
    }

    /// Starts a trim on the runtime's blocking pool when a burst just ended.
    pub(crate) fn after_running_dry(&self) {
        if self.ran_dry() {
            tokio::task::spawn_blocking(release_free_memory);
        }
    }
}

/// Returns the allocator's free pages to the OS.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only takes the arenas' own locks; any thread may call it.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disabled_trim_never_fires() {
        let trim = MemoryTrim::default();
        trim.fetched(5_000);
        assert!(!trim.ran_dry());
    }

    #[test]
    fn fires_once_a_burst_ran_dry_then_waits_for_the_next_burst() {
        let trim = MemoryTrim::default();
        trim.enable();
        trim.fetched(999);
        assert!(!trim.ran_dry(), "999 jobs are no burst");
        trim.fetched(1);
        assert!(trim.ran_dry());
        assert!(!trim.ran_dry(), "counting starts again");
    }

    #[test]
    fn fires_at_most_once_a_second() {
        let trim = MemoryTrim::default();
        trim.enable();
        trim.fetched(1_000);
        assert!(trim.ran_dry());
        trim.fetched(1_000);
        assert!(!trim.ran_dry(), "a second burst within the interval waits");
        *trim.last.lock().unwrap() = Some(Instant::now() - MIN_INTERVAL);
        assert!(trim.ran_dry());
    }
}

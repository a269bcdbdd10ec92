//! What the engine's tasks and the worker threads share: flags, counters, the busy threads,
//! and log messages for Ruby.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use crate::server::heartbeat;
use crate::server::job_log::JobContext;

/// Fast jobs (under this average duration) may be prefetched deeper: a job in the channel is a
/// job no other process can take, but a few fast ones wait only milliseconds, and fetching them
/// in bigger batches is what keeps fast jobs from waiting on Redis round trips.
const FAST_JOB: Duration = Duration::from_millis(2);
/// How many jobs per worker thread may wait in the channel when jobs are fast (one otherwise).
pub(crate) const FAST_JOB_EXTRA_PREFETCH: usize = 3;
/// The most fetched jobs that ever wait in the channel (when Redis is far and jobs are fast,
/// enough to cover two fetch round trips of work).
pub(crate) const MAX_PREFETCH: usize = 1000;

pub(crate) struct State {
    pub(crate) quiet: AtomicBool,
    /// Wakes the scheduler early (on quiet).
    pub(crate) scheduler_wake: Notify,
    /// Woken when worker threads make room in the channel, or on quiet.
    pub(crate) room: Notify,
    pub(crate) fetcher_done: Notify,
    pub(crate) fetcher_running: AtomicBool,
    pub(crate) processed: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Acknowledgements handed to the acknowledger and not yet written to Redis.
    pub(crate) acks_pending: AtomicU64,
    /// Moving average of job durations, in microseconds (u64::MAX until a job finished).
    pub(crate) average_job_micros: AtomicU64,
    /// Moving average of a fetch round trip, in microseconds (u64::MAX until measured).
    pub(crate) fetch_round_trip_micros: AtomicU64,
    pub(crate) concurrency: usize,
    pub(crate) busy: Mutex<BTreeMap<String, Busy>>,
    /// Messages for the Ruby logger (Redis outages and recoveries).
    pub(crate) events: Mutex<Vec<String>>,
}

/// A worker thread's current job: what the Web UI's busy page shows, when it started, and its
/// log context if the core logs it.
pub(crate) struct Busy {
    pub(crate) queue: String,
    pub(crate) payload: String,
    /// Epoch seconds, as Sidekiq's work records show it.
    pub(crate) run_at: i64,
    pub(crate) at: std::time::Instant,
    pub(crate) log: Option<JobContext>,
}

impl Busy {
    /// The `<identity>:work` value; built only when a heartbeat writes it, not per job.
    pub(crate) fn record(&self) -> String {
        heartbeat::work_json(&self.queue, &self.payload, self.run_at)
    }
}

impl State {
    pub(crate) fn new(concurrency: usize) -> State {
        State {
            quiet: AtomicBool::new(false),
            scheduler_wake: Notify::new(),
            room: Notify::new(),
            fetcher_done: Notify::new(),
            fetcher_running: AtomicBool::new(true),
            processed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            acks_pending: AtomicU64::new(0),
            average_job_micros: AtomicU64::new(u64::MAX),
            fetch_round_trip_micros: AtomicU64::new(u64::MAX),
            concurrency: concurrency.max(1),
            busy: Mutex::new(BTreeMap::new()),
            events: Mutex::new(Vec::new()),
        }
    }

    /// How many fetched jobs may wait in the channel now: one per thread for slow jobs; for
    /// fast ones, enough for the threads to work through two fetch round trips (so the
    /// threads never wait on Redis), at least four per thread.
    pub(crate) fn prefetch_limit(&self) -> usize {
        let job = self.average_job_micros.load(Ordering::Relaxed);
        if job >= FAST_JOB.as_micros() as u64 {
            return self.concurrency;
        }
        let fast = self.concurrency * (1 + FAST_JOB_EXTRA_PREFETCH);
        let round_trip = self.fetch_round_trip_micros.load(Ordering::Relaxed);
        if round_trip == u64::MAX {
            return fast;
        }
        let cover = 2 * self.concurrency as u64 * round_trip / job.max(1);
        fast.max(cover.min(MAX_PREFETCH as u64) as usize)
    }

    pub(crate) fn record_duration(&self, elapsed: Duration) {
        moving_average(&self.average_job_micros, elapsed);
    }

    pub(crate) fn record_fetch_round_trip(&self, elapsed: Duration) {
        moving_average(&self.fetch_round_trip_micros, elapsed);
    }

    pub(crate) fn log(&self, message: String) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message);
    }
}

/// Folds `sample` into an exponential moving average (weight 1/8) kept in microseconds.
fn moving_average(average: &AtomicU64, sample: Duration) {
    let sample = sample.as_micros().min(u128::from(u64::MAX - 1)) as u64;
    let current = average.load(Ordering::Relaxed);
    let next = if current == u64::MAX {
        sample
    } else {
        current - current / 8 + sample / 8
    };
    average.store(next, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(concurrency: usize) -> State {
        State::new(concurrency)
    }

    #[test]
    fn prefetch_is_one_per_thread_until_jobs_prove_fast() {
        let state = state(10);
        assert_eq!(state.prefetch_limit(), 10);
        state.record_duration(Duration::from_millis(50));
        assert_eq!(state.prefetch_limit(), 10);
    }

    #[test]
    fn fast_jobs_prefetch_enough_to_cover_two_round_trips() {
        let state = state(10);
        state.record_duration(Duration::from_micros(100));
        assert_eq!(state.prefetch_limit(), 40);
        state.record_fetch_round_trip(Duration::from_micros(150));
        assert_eq!(state.prefetch_limit(), 40);
        state
            .fetch_round_trip_micros
            .store(1_300, Ordering::Relaxed);
        assert_eq!(state.prefetch_limit(), 260);
        state
            .fetch_round_trip_micros
            .store(100_000, Ordering::Relaxed);
        assert_eq!(state.prefetch_limit(), MAX_PREFETCH);
    }

    #[test]
    fn averages_move_an_eighth_of_the_way() {
        let average = AtomicU64::new(u64::MAX);
        moving_average(&average, Duration::from_micros(800));
        assert_eq!(average.load(Ordering::Relaxed), 800);
        moving_average(&average, Duration::from_micros(0));
        assert_eq!(average.load(Ordering::Relaxed), 700);
    }
}

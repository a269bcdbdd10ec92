//! What the engine's tasks and the worker threads share: flags, counters, the busy threads,
//! and log messages for Ruby.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use crate::server::job_log::Started;

/// Fast jobs (under this average duration) may be prefetched deeper: a job in the channel is a
/// job no other process can take, but a few fast ones wait only milliseconds, and fetching them
/// in bigger batches is what keeps fast jobs from waiting on Redis round trips.
const FAST_JOB: Duration = Duration::from_millis(2);
/// How many jobs per worker thread may wait in the channel when jobs are fast (one otherwise).
pub(crate) const FAST_JOB_EXTRA_PREFETCH: usize = 3;

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
    pub(crate) concurrency: usize,
    pub(crate) busy: Mutex<BTreeMap<String, Busy>>,
    /// Messages for the Ruby logger (Redis outages and recoveries).
    pub(crate) events: Mutex<Vec<String>>,
}

/// A worker thread's current job: its work record, when it started, and its log context if the
/// core logs it.
pub(crate) struct Busy {
    pub(crate) record: String,
    pub(crate) at: std::time::Instant,
    pub(crate) started: Option<Started>,
}

impl State {
    /// How many fetched jobs may wait in the channel now.
    pub(crate) fn prefetch_limit(&self) -> usize {
        let average = self.average_job_micros.load(Ordering::Relaxed);
        if average < FAST_JOB.as_micros() as u64 {
            self.concurrency * (1 + FAST_JOB_EXTRA_PREFETCH)
        } else {
            self.concurrency
        }
    }

    pub(crate) fn record_duration(&self, elapsed: Duration) {
        let sample = elapsed.as_micros().min(u128::from(u64::MAX - 1)) as u64;
        let average = self.average_job_micros.load(Ordering::Relaxed);
        let next = if average == u64::MAX {
            sample
        } else {
            average - average / 8 + sample / 8
        };
        self.average_job_micros.store(next, Ordering::Relaxed);
    }

    pub(crate) fn log(&self, message: String) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message);
    }
}

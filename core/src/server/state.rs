//! What the engine's tasks and the worker threads share: flags, counters, the busy threads,
//! the jobs held, and events for Ruby.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use crate::server::events::Events;
use crate::server::execution_tally::ExecutionTally;
use crate::server::fetch::FetchedJob;
use crate::server::heartbeat;
use crate::server::inflight::Ledger;
use crate::server::job_log::JobContext;
use crate::server::ops::health::Health;

/// How much work may wait in the channel, measured in job durations: a waiting job is one no
/// other process can take, so slow jobs wait one per thread, while fast ones are prefetched
/// deep enough that a worker thread never finds the channel empty. A thread that runs dry
/// sleeps and wakes on a cold cache: measured on Active Job payloads at -c 1, running dry
/// every few jobs made each job 50% slower.
const PREFETCH_WORK_MICROS: u64 = 5_000;
/// The most fetched jobs that ever wait in the channel.
pub(crate) const MAX_PREFETCH: usize = 1000;

pub(crate) struct State {
    pub(crate) quiet: AtomicBool,
    /// Set once the engine has stopped: its background upkeep ends too.
    pub(crate) stopped: AtomicBool,
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
    /// Log lines and failures for the Ruby side.
    pub(crate) events: Events,
    /// The jobs of this process's working lists it is working on (reliable fetch).
    pub(crate) ledger: Ledger,
    /// Jobs taken with basic fetch that could not be put back when the process went quiet:
    /// they exist nowhere else, so the worker threads still run them.
    pub(crate) leftovers: Mutex<VecDeque<FetchedJob>>,
    /// Why the engine stopped working for good (a task that kept failing).
    failure: Mutex<Option<String>>,
    /// Execution metrics gathered since the last flush (metrics_flusher.rs).
    pub(crate) metrics: ExecutionTally,
    /// Set while metrics flushes fail, so that an outage is reported once.
    pub(crate) metrics_failing: AtomicBool,
    /// Ends the periodic metrics flush early when the engine stops.
    pub(crate) metrics_stop: Notify,
    /// Progress clocks and the last Redis round trip, for health checks (ops/health.rs).
    pub(crate) health: Health,
}

/// A worker thread's current job: what the Web UI's busy page shows, when it started, and its
/// log context if the core logs it.
pub(crate) struct Busy {
    pub(crate) queue: String,
    pub(crate) payload: Vec<u8>,
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
            stopped: AtomicBool::new(false),
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
            events: Events::default(),
            ledger: Ledger::default(),
            leftovers: Mutex::new(VecDeque::new()),
            failure: Mutex::new(None),
            metrics: ExecutionTally::default(),
            metrics_failing: AtomicBool::new(false),
            metrics_stop: Notify::new(),
            health: Health::default(),
        }
    }

    /// The engine cannot go on: fetching stops, and the launcher shuts the process down.
    pub(crate) fn fail(&self, why: String) {
        self.events.failure("engine", why.clone(), why.clone());
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(why);
        self.quiet.store(true, Ordering::SeqCst);
        self.room.notify_one();
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many fetched jobs may wait in the channel now: about 5 ms of work at the measured
    /// job duration, or enough for two fetch round trips if that is more (Redis far away), at
    /// least one per thread and at most MAX_PREFETCH. One per thread until a job finished.
    pub(crate) fn prefetch_limit(&self) -> usize {
        let job = self.average_job_micros.load(Ordering::Relaxed);
        if job == u64::MAX {
            return self.concurrency;
        }
        let threads = self.concurrency as u64;
        let job = job.max(1);
        let work = threads * PREFETCH_WORK_MICROS / job;
        let round_trip = self.fetch_round_trip_micros.load(Ordering::Relaxed);
        let cover = match round_trip {
            u64::MAX => 0,
            round_trip => 2 * threads * round_trip / job,
        };
        (work.max(cover).min(MAX_PREFETCH as u64) as usize).max(self.concurrency)
    }

    pub(crate) fn record_duration(&self, elapsed: Duration) {
        moving_average(&self.average_job_micros, elapsed);
    }

    pub(crate) fn record_fetch_round_trip(&self, elapsed: Duration) {
        moving_average(&self.fetch_round_trip_micros, elapsed);
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
    fn slow_jobs_wait_one_per_thread() {
        let state = state(10);
        assert_eq!(state.prefetch_limit(), 10);
        state.record_duration(Duration::from_millis(50));
        assert_eq!(state.prefetch_limit(), 10);
        state.record_fetch_round_trip(Duration::from_millis(1));
        assert_eq!(state.prefetch_limit(), 10);
    }

    #[test]
    fn fast_jobs_prefetch_five_milliseconds_of_work() {
        let state = state(10);
        state.record_duration(Duration::from_micros(500));
        assert_eq!(state.prefetch_limit(), 100);
        state.record_fetch_round_trip(Duration::from_micros(150));
        assert_eq!(state.prefetch_limit(), 100);
        state.average_job_micros.store(10, Ordering::Relaxed);
        assert_eq!(state.prefetch_limit(), MAX_PREFETCH);
    }

    #[test]
    fn far_redis_prefetches_two_round_trips_of_work() {
        let state = state(10);
        state.record_duration(Duration::from_micros(500));
        state.record_fetch_round_trip(Duration::from_micros(5_000));
        assert_eq!(state.prefetch_limit(), 200);
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

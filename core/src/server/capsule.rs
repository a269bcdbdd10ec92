//! One capsule's share of the engine (docs/design.md, §19): its queues, its hand-off channel to
//! its own worker threads, and the measurements that size its prefetch. A capsule's fetcher
//! fills only its channel, and only its threads take from it, so a capsule of one thread runs
//! its queues strictly one job at a time however many threads the other capsules have.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::Notify;

use crate::queues::QueueList;
use crate::server::admission::Admission;
use crate::server::config::CapsuleConfig;
use crate::server::fetch::FetchedJob;

/// How much work may wait in the channel, measured in job durations: a waiting job is one no
/// other process can take, so slow jobs wait one per thread, while fast ones are prefetched
/// deep enough that a worker thread never finds the channel empty. A thread that runs dry
/// sleeps and wakes on a cold cache: measured on Active Job payloads at -c 1, running dry
/// every few jobs made each job 50% slower.
const PREFETCH_WORK_MICROS: u64 = 5_000;
/// The most fetched jobs that ever wait in one capsule's channel.
pub(crate) const MAX_PREFETCH: usize = 1000;

pub(crate) struct Capsule {
    pub(crate) name: String,
    /// Its worker threads (at least 1 for the prefetch arithmetic).
    pub(crate) concurrency: usize,
    /// Its queues: the configured ones, then (default capsule, `:dynamic:`) those found in
    /// Redis, replaced as a whole when that set changes (docs/design.md, §23).
    queues: RwLock<Arc<QueueList>>,
    /// Fetched jobs waiting for one of this capsule's threads.
    pub(crate) jobs: Receiver<FetchedJob>,
    /// Which of its idle threads may take one (docs/design.md, §3.1).
    pub(crate) admission: Admission,
    /// Woken when this capsule's threads make room in the channel, or on quiet.
    pub(crate) room: Notify,
    pub(crate) fetcher_done: Notify,
    pub(crate) fetcher_running: AtomicBool,
    /// Moving average of this capsule's job durations, in microseconds (u64::MAX until a job
    /// finished).
    average_job_micros: AtomicU64,
    /// Moving average of this capsule's fetch round trip, in microseconds (u64::MAX until
    /// measured).
    fetch_round_trip_micros: AtomicU64,
}

impl Capsule {
    /// The capsule and the sending end of its channel, for its fetcher.
    pub(crate) fn new(config: &CapsuleConfig) -> (Capsule, Sender<FetchedJob>) {
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded(config.concurrency.max(MAX_PREFETCH));
        let capsule = Capsule {
            name: config.name.clone(),
            concurrency: config.concurrency.max(1),
            queues: RwLock::new(Arc::new(config.queue_list())),
            jobs: jobs_rx,
            admission: Admission::default(),
            room: Notify::new(),
            fetcher_done: Notify::new(),
            fetcher_running: AtomicBool::new(true),
            average_job_micros: AtomicU64::new(u64::MAX),
            fetch_round_trip_micros: AtomicU64::new(u64::MAX),
        };
        (capsule, jobs_tx)
    }

    /// The queues as they stand now, for one fetch.
    pub(crate) fn queue_list(&self) -> Arc<QueueList> {
        Arc::clone(&self.queues.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Works `dynamic` after the configured queues from the next fetch on.
    pub(crate) fn set_dynamic(&self, dynamic: &[String]) {
        let mut queues = self.queues.write().unwrap_or_else(|p| p.into_inner());
        *queues = Arc::new(queues.with_dynamic(dynamic));
    }

    /// Whether this capsule fetches from `queue`.
    pub(crate) fn works(&self, queue: &str) -> bool {
        let queues = self.queues.read().unwrap_or_else(|p| p.into_inner());
        queues.names().iter().any(|name| name == queue)
    }

    /// How many fetched jobs may wait in the channel now: about 5 ms of work at the measured
    /// job duration, or enough for two fetch round trips if that is more (Redis far away), at
    /// least one per thread and at most MAX_PREFETCH. One per thread until a job finished.
    ///
    /// The work is that of the threads running jobs, not of every thread: when the capsule's
    /// jobs run on one thread of 25 (docs/design.md, §3.1), 25 threads' worth of prefetch is
    /// a thousand jobs no other process can take.
    pub(crate) fn prefetch_limit(&self) -> usize {
        let job = self.average_job_micros.load(Ordering::Relaxed);
        if job == u64::MAX {
            return self.concurrency;
        }
        let threads = self.admission.running().clamp(1, self.concurrency) as u64;
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
    use crate::server::admission::Return;

    fn capsule(concurrency: usize) -> Capsule {
        let config = CapsuleConfig {
            name: "default".into(),
            concurrency,
            queues: vec![("default".into(), 0)],
        };
        Capsule::new(&config).0
    }

    /// Counts `threads` more of the capsule's threads as running jobs.
    fn running(capsule: &Capsule, threads: usize) {
        for _ in 0..threads {
            capsule.admission.entered(0, Return::default());
        }
    }

    #[test]
    fn slow_jobs_wait_one_per_thread() {
        let capsule = capsule(10);
        assert_eq!(capsule.prefetch_limit(), 10);
        capsule.record_duration(Duration::from_millis(50));
        assert_eq!(capsule.prefetch_limit(), 10);
        capsule.record_fetch_round_trip(Duration::from_millis(1));
        assert_eq!(capsule.prefetch_limit(), 10);
    }

    #[test]
    fn fast_jobs_prefetch_five_milliseconds_of_work() {
        let capsule = capsule(10);
        running(&capsule, 10);
        capsule.record_duration(Duration::from_micros(500));
        assert_eq!(capsule.prefetch_limit(), 100);
        capsule.record_fetch_round_trip(Duration::from_micros(150));
        assert_eq!(capsule.prefetch_limit(), 100);
        capsule.average_job_micros.store(10, Ordering::Relaxed);
        assert_eq!(capsule.prefetch_limit(), MAX_PREFETCH);
    }

    #[test]
    fn only_the_threads_running_jobs_count() {
        let capsule = capsule(25);
        capsule.record_duration(Duration::from_micros(100));
        running(&capsule, 1);
        assert_eq!(capsule.prefetch_limit(), 50);
        running(&capsule, 9);
        assert_eq!(capsule.prefetch_limit(), 500);
    }

    #[test]
    fn far_redis_prefetches_two_round_trips_of_work() {
        let capsule = capsule(10);
        running(&capsule, 10);
        capsule.record_duration(Duration::from_micros(500));
        capsule.record_fetch_round_trip(Duration::from_micros(5_000));
        assert_eq!(capsule.prefetch_limit(), 200);
        capsule
            .fetch_round_trip_micros
            .store(100_000, Ordering::Relaxed);
        assert_eq!(capsule.prefetch_limit(), MAX_PREFETCH);
    }

    #[test]
    fn a_one_thread_capsule_is_sized_apart_from_a_wide_one() {
        let (serial, wide) = (capsule(1), capsule(20));
        running(&wide, 20);
        serial.record_duration(Duration::from_millis(100));
        wide.record_duration(Duration::from_micros(500));
        assert_eq!(serial.prefetch_limit(), 1);
        assert_eq!(wide.prefetch_limit(), 200);
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

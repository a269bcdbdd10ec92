//! The running server: a tokio runtime of its own with the fetchers and the acknowledger, and
//! the bounded channels through which fetched jobs reach the Ruby worker threads: one fetcher
//! and one channel per capsule (docs/design.md, §19), capsule 0 being the default one.
//!
//! The runtime is single-threaded, driven by one dedicated thread: the engine's tasks and the
//! Redis connections' drivers then hand work to each other without waking other threads
//! (measured: a multi-threaded runtime spent a fifth of the server's CPU switching threads).
//!
//! Ruby threads never wait on Redis here: they take jobs from the channel (waiting without the
//! GVL when it is empty) and report back with non-blocking calls; the tasks batch the Redis
//! work (moves of several jobs per Lua call, pipelined acknowledgements).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::connection::{RedisConnection, RedisSettings};
use crate::error::{RedisFailure, RedisResult};
use crate::log_writer::{JobContext, LogWriter};
use crate::payload::now_epoch_seconds;
use crate::server::admission::{Return, LONGEST_TICK, TICK};
use crate::server::background::{acknowledge_loop, schedule_loop};
use crate::server::capsule::Capsule;
use crate::server::config::{FetchMode, ServerConfig, DEFAULT_CAPSULE};
use crate::server::dynamic_queues;
use crate::server::events::Event;
use crate::server::fetch::{self, Acknowledgement, FetchedJob};
use crate::server::fetcher::{Fetcher, IdlePool, BASIC_FETCH_TIMEOUT};
use crate::server::hand_off::{self, ClaimedJob, Outcome};
use crate::server::heartbeat::{self, Beat, BeatReply};
use crate::server::maintenance::{self, recover};
use crate::server::metrics_flusher;
use crate::server::ops::{health, Probe};
use crate::server::registry::{self, Lists};
use crate::server::state::{Busy, State};
use crate::server::supervisor::supervise;
use crate::unique_jobs::LockRelease;

/// How much longer than one Redis timeout the last steps of a shutdown may take in all.
const STOP_SLACK: Duration = Duration::from_secs(2);

/// What the hand-off thread gets when it asks for a claimed due job.
#[derive(Debug, PartialEq, Eq)]
pub enum HandOffNext {
    Job(ClaimedJob),
    Empty,
    /// The process is quiet and no claimed job is left.
    Stopped,
}

/// What a worker thread gets when it asks for a job.
#[derive(Debug, PartialEq, Eq)]
pub enum NextJob {
    Job(FetchedJob),
    /// Nothing arrived within the wait.
    Empty,
    /// The process is quiet or stopping: take no more work.
    Stopped,
}

pub struct Engine {
    config: ServerConfig,
    /// Dropped on quiet: its receiver then wakes every thread waiting for a job.
    quiet_signal: Mutex<Option<Sender<()>>>,
    quieted: Receiver<()>,
    info: String,
    runtime: tokio::runtime::Handle,
    /// Dropping it ends the thread that drives the runtime.
    _driver: DriverThread,
    conn: Arc<RedisConnection>,
    acks: mpsc::UnboundedSender<Acknowledgement>,
    state: Arc<State>,
    /// Set when the core writes the per-job log lines (Sidekiq's default logger to stdout).
    job_log: OnceLock<Arc<LogWriter>>,
}

impl Engine {
    /// Connects, recovers the jobs of dead processes and starts fetching.
    pub fn start(config: ServerConfig, settings: RedisSettings) -> RedisResult<Engine> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RedisFailure::Config(format!("cannot start the engine: {e}")))?;
        // Every engine connection lives on the engine's runtime, whoever (re)opens it.
        let open = |settings: RedisSettings| {
            RedisConnection::new(settings).map(|c| Arc::new(c.on_runtime(runtime.handle().clone())))
        };
        let conn = open(settings.clone())?;
        // Blocking fetches get a connection of their own (they would stall everything else
        // on a shared one) and a deadline longer than their blocking time.
        let blocking_settings = RedisSettings {
            timeout: settings.timeout + Duration::from_secs_f64(BASIC_FETCH_TIMEOUT + 1.0),
            ..settings
        };
        let mut capsules = Vec::new();
        let mut senders = Vec::new();
        for capsule_config in config.all_capsules() {
            let (capsule, jobs_tx) = Capsule::new(&capsule_config);
            capsules.push(Arc::new(capsule));
            senders.push(jobs_tx);
        }
        let (acks_tx, acks_rx) = mpsc::unbounded_channel();
        let names = config.queue_names();
        let state = Arc::new(State::new(capsules.clone(), names.clone()));
        if !config.embedded {
            state.memory_trim.enable();
        }
        runtime.block_on(async {
            // Basic fetch registers its taken lists, which count its jobs against queue
            // limits (docs/design.md, §23), and drops those of dead processes.
            registry::assert_lists(&conn, Lists::of(config.fetch), &config.identity, &names)
                .await?;
            recover(&conn, &config, &state).await?;
            // The queues already in Redis are worked from the first fetch.
            dynamic_queues::refresh(&conn, &config, &state).await?;
            Ok::<_, RedisFailure>(())
        })?;
        // Each capsule's fetcher blocks on connections of its own when its queues are empty.
        let mut fetchers = Vec::with_capacity(capsules.len());
        for (capsule, jobs) in capsules.into_iter().zip(senders) {
            let queue_count = capsule.queue_list().names().len();
            let idle = if config.fetch == FetchMode::Reliable && queue_count > 1 {
                (0..queue_count)
                    .map(|_| open(blocking_settings.clone()))
                    .collect::<RedisResult<Vec<_>>>()?
            } else {
                Vec::new()
            };
            // More as dynamic queues join.
            let (handle, settings) = (runtime.handle().clone(), blocking_settings.clone());
            let open_more = Box::new(move || {
                RedisConnection::new(settings.clone())
                    .map(|c| Arc::new(c.on_runtime(handle.clone())))
            });
            fetchers.push(Fetcher {
                conn: Arc::clone(&conn),
                blocking: open(blocking_settings.clone())?,
                idle: Arc::new(IdlePool::new(idle, open_more)),
                config: config.clone(),
                state: Arc::clone(&state),
                capsule,
                jobs,
            });
        }
        let handle = runtime.handle().clone();
        spawn_tasks(&handle, fetchers, acks_rx, &conn, &config, &state);
        let driver = DriverThread::start(runtime)?;
        let (quiet_tx, quiet_rx) = crossbeam_channel::bounded(0);
        Ok(Engine {
            quiet_signal: Mutex::new(Some(quiet_tx)),
            quieted: quiet_rx,
            info: heartbeat::info_json(&config, &[]),
            config,
            runtime: handle,
            _driver: driver,
            conn,
            acks: acks_tx,
            state,
            job_log: OnceLock::new(),
        })
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn connection(&self) -> &Arc<RedisConnection> {
        &self.conn
    }

    /// The capsules' names, in the order of their indexes (the default one is 0).
    pub fn capsule_names(&self) -> Vec<String> {
        self.state.capsules.iter().map(|c| c.name.clone()).collect()
    }

    /// A job of the default capsule if one is ready, without waiting.
    pub fn try_next_job(&self) -> NextJob {
        self.try_next_job_for(0)
    }

    /// A job for a thread of capsule `index` if one is ready, without waiting. An index
    /// beyond the capsules gets Stopped: such a thread has nothing to work on.
    pub fn try_next_job_for(&self, index: usize) -> NextJob {
        let Some(capsule) = self.state.capsules.get(index) else {
            return NextJob::Stopped;
        };
        let back = capsule.admission.came_back(index);
        let next = if self.state.quiet.load(Ordering::SeqCst) {
            self.leftover(capsule)
        } else if !back.was_running || capsule.admission.should_step_down(back) {
            // A thread that holds no job starts only when admitted (next_job_for).
            NextJob::Empty
        } else {
            match capsule.jobs.try_recv() {
                Ok(job) => {
                    self.made_room(capsule);
                    NextJob::Job(job)
                }
                Err(_) => NextJob::Empty,
            }
        };
        Self::settle(capsule, index, back, next)
    }

    /// Counts the thread in or out of its capsule's running threads by what it got.
    fn settle(capsule: &Capsule, index: usize, back: Return, next: NextJob) -> NextJob {
        match next {
            NextJob::Job(_) => capsule.admission.entered(index, back),
            _ => capsule.admission.left(back),
        }
        next
    }

    /// Waits up to `timeout` for a job of the default capsule (see `next_job_for`).
    pub fn next_job(&self, timeout: Duration, interrupt: &Receiver<()>) -> NextJob {
        self.next_job_for(0, timeout, interrupt)
    }

    /// Waits up to `timeout` for a job for a thread of capsule `index`; `interrupt` firing
    /// ends the wait early (a Ruby interrupt). Call without the GVL.
    pub fn next_job_for(
        &self,
        index: usize,
        timeout: Duration,
        interrupt: &Receiver<()>,
    ) -> NextJob {
        let Some(capsule) = self.state.capsules.get(index) else {
            return NextJob::Stopped;
        };
        let back = capsule.admission.came_back(index);
        let next = self.admitted_job(capsule, Instant::now() + timeout, interrupt);
        Self::settle(capsule, index, back, next)
    }

    /// Waits until `deadline` for the watch of the capsule's idle threads, then for a job as
    /// the watcher (docs/design.md, §3.1).
    fn admitted_job(
        &self,
        capsule: &Capsule,
        deadline: Instant,
        interrupt: &Receiver<()>,
    ) -> NextJob {
        let admission = &capsule.admission;
        loop {
            if self.state.quiet.load(Ordering::SeqCst) {
                return self.leftover(capsule);
            }
            if admission.take_watch() {
                let next = self.watch(capsule, deadline, interrupt);
                admission.pass_watch();
                return next;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            crossbeam_channel::select! {
                recv(admission.baton()) -> _ => {}
                recv(self.quieted) -> _ => return self.leftover(capsule),
                recv(interrupt) -> _ => return NextJob::Empty,
                default(remaining) => return NextJob::Empty,
            }
        }
    }

    /// The watcher's wait: takes a job when its capsule admits another thread (see
    /// `Admission::may_admit`), looking again every tick; the tick grows while nothing
    /// changes, and starts over when the last running thread goes idle.
    fn watch(&self, capsule: &Capsule, deadline: Instant, interrupt: &Receiver<()>) -> NextJob {
        let admission = &capsule.admission;
        let mut seen = admission.finished();
        let mut progress_at = Instant::now();
        let mut tick = TICK;
        loop {
            let now = Instant::now();
            let remaining = deadline.saturating_duration_since(now);
            if remaining.is_zero() {
                return NextJob::Empty;
            }
            let finished = admission.finished();
            if finished != seen {
                seen = finished;
                progress_at = now;
            }
            if admission.may_admit(now, progress_at) {
                // With nothing running, nothing can change the answer but a job: wait for one.
                // Otherwise a job that comes wakes the wait at once, so the tick may grow here
                // too (a thread that died holding a job leaves the count above zero for good).
                let wait = if admission.running() == 0 {
                    remaining
                } else {
                    tick.min(remaining)
                };
                crossbeam_channel::select! {
                    recv(capsule.jobs) -> job => return self.received(capsule, job),
                    recv(self.quieted) -> _ => return self.leftover(capsule),
                    recv(interrupt) -> _ => return NextJob::Empty,
                    default(wait) => tick = (tick * 2).min(LONGEST_TICK),
                }
            } else {
                crossbeam_channel::select! {
                    recv(admission.idle_signal()) -> _ => tick = TICK,
                    recv(self.quieted) -> _ => return self.leftover(capsule),
                    recv(interrupt) -> _ => return NextJob::Empty,
                    default(tick.min(remaining)) => tick = (tick * 2).min(LONGEST_TICK),
                }
            }
        }
    }

    /// A job the watcher received from the channel, unless quiet began meanwhile.
    fn received(
        &self,
        capsule: &Capsule,
        job: Result<FetchedJob, crossbeam_channel::RecvError>,
    ) -> NextJob {
        match job {
            Ok(job) if !self.state.quiet.load(Ordering::SeqCst) => {
                self.made_room(capsule);
                NextJob::Job(job)
            }
            Ok(job) => {
                // Quiet began while waiting: this job goes back to its queue.
                let (conn, state) = (Arc::clone(&self.conn), Arc::clone(&self.state));
                let (identity, reliable) = (
                    self.config.identity.clone(),
                    self.config.fetch == FetchMode::Reliable,
                );
                self.runtime.spawn(async move {
                    fetch::requeue_or_keep(&conn, &identity, reliable, vec![job], &state).await;
                });
                self.leftover(capsule)
            }
            Err(_) => NextJob::Stopped,
        }
    }

    /// Once quiet: a job of the capsule's queues taken with basic fetch that could not be put
    /// back (it runs here, as nothing else has it; on a thread of its own capsule, so a serial
    /// capsule stays serial), else Stopped.
    fn leftover(&self, capsule: &Capsule) -> NextJob {
        let mut leftovers = self
            .state
            .leftovers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let position = leftovers.iter().position(|job| capsule.works(&job.queue));
        match position.and_then(|at| leftovers.remove(at)) {
            Some(job) => NextJob::Job(job),
            None => NextJob::Stopped,
        }
    }

    fn made_room(&self, capsule: &Capsule) {
        // Refill at the low-water mark rather than on every job, so the fetcher is not woken
        // for each one.
        if capsule.jobs.len() <= capsule.prefetch_limit() / 2 {
            capsule.room.notify_one();
        }
    }

    /// The next due job claimed for Ruby's client middleware (docs/design.md, §5.2), waiting
    /// up to `timeout`; `interrupt` firing ends the wait early. Claimed jobs already waiting are
    /// still handed out once the process is quiet; after them, Stopped. Call without the GVL.
    pub fn next_hand_off(&self, timeout: Duration, interrupt: &Receiver<()>) -> HandOffNext {
        let hand_offs = &self.state.hand_offs;
        let job = match hand_offs.receiver.try_recv() {
            Ok(job) => Some(job),
            Err(_) if self.state.quiet.load(Ordering::SeqCst) => return HandOffNext::Stopped,
            Err(_) => crossbeam_channel::select! {
                recv(hand_offs.receiver) -> job => job.ok(),
                recv(self.quieted) -> _ => hand_offs.receiver.try_recv().ok(),
                recv(interrupt) -> _ => return HandOffNext::Empty,
                default(timeout) => return HandOffNext::Empty,
            },
        };
        let Some(job) = job else {
            return HandOffNext::Stopped;
        };
        if hand_offs.waiting_for_room.swap(false, Ordering::SeqCst) {
            self.state.scheduler_wake.notify_one();
        }
        HandOffNext::Job(job)
    }

    /// Settles a job from `next_hand_off` (see `hand_off::complete`): false when it was no
    /// longer this process's to settle (put back in its set meanwhile; nothing was written).
    pub async fn complete_hand_off(
        &self,
        job: &ClaimedJob,
        outcome: &Outcome,
    ) -> RedisResult<bool> {
        hand_off::complete(&self.conn, &self.config.identity, job, outcome).await
    }

    /// The job ended without being settled (its failure could not be stored, its thread was
    /// killed): it stays in the working list, and the sweep puts it back on its queue.
    pub fn abandon(&self, job: &FetchedJob) {
        if self.config.fetch == FetchMode::Reliable {
            self.state.ledger.release([job]);
        } else if self.state.taken.release(&job.queue) {
            // Gone with basic fetch: its slot under the queue's limit is free.
            self.send_acknowledgement(Acknowledgement {
                job: job.clone(),
                lock: None,
                counted: true,
            });
        }
    }

    /// A worker thread of capsule `index` is ending: called on that thread, last thing. A job
    /// it was killed in no longer counts as running for its capsule (docs/design.md, §3.1).
    pub fn worker_thread_ended(&self, index: usize) {
        if let Some(capsule) = self.state.capsules.get(index) {
            capsule.admission.thread_ended(index);
        }
    }

    /// The job finished (successfully, or with its failure handled): forget it in Redis. With
    /// basic fetch only a job counted against a queue limit has something to forget.
    pub fn acknowledge(&self, job: FetchedJob) {
        let counted = self.config.fetch == FetchMode::Basic && self.state.taken.release(&job.queue);
        if self.config.fetch == FetchMode::Reliable || counted {
            self.send_acknowledgement(Acknowledgement {
                job,
                lock: None,
                counted,
            });
        }
    }

    /// The job succeeded and gives back its until_executed lock: the acknowledger releases it
    /// in the pipeline of the job's LREM, after it (with basic fetch, alone), so no worker
    /// thread waits for the release (docs/design.md, §24).
    pub fn acknowledge_and_release(&self, job: FetchedJob, lock: LockRelease) {
        let counted = self.config.fetch == FetchMode::Basic && self.state.taken.release(&job.queue);
        self.send_acknowledgement(Acknowledgement {
            job,
            lock: Some(lock),
            counted,
        });
    }

    fn send_acknowledgement(&self, ack: Acknowledgement) {
        // The acknowledger outlives every caller; if it is gone the process is exiting and the
        // job stays in the working list, to be recovered: never lost (a lock it gave back stays
        // too, until the reaper finds it orphaned).
        self.state.acks_pending.fetch_add(1, Ordering::SeqCst);
        if self.acks.send(ack).is_err() {
            self.state.acks_pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// From now on the core writes the "start"/"done"/"fail" lines of jobs that come with a
    /// log context, through `writer` (the server logger's, docs/design.md, §12). Only the
    /// first call counts.
    pub fn log_jobs_to(&self, writer: Arc<LogWriter>) {
        let _ = self.job_log.set(writer);
    }

    /// A worker thread started a job (shown as busy in the Web UI). With a `log` context and
    /// core logging on, its "start" line is written.
    pub fn work_started(
        &self,
        tid: &str,
        queue: String,
        payload: Vec<u8>,
        log: Option<JobContext>,
    ) {
        let log = match (log, self.job_log.get()) {
            (Some(context), Some(job_log)) => {
                job_log.started(tid, &context);
                Some(context)
            }
            _ => None,
        };
        let busy = Busy {
            queue,
            payload,
            run_at: now_epoch_seconds() as i64,
            at: std::time::Instant::now(),
            log,
        };
        self.state
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tid.to_string(), busy);
    }

    /// A worker thread finished a job; counts it as processed (and failed).
    pub fn work_finished(&self, tid: &str, failed: bool) {
        let busy = self
            .state
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(tid);
        if let Some(busy) = busy {
            let elapsed = busy.at.elapsed();
            if let Some(capsule) = self.state.capsule_of(&busy.queue) {
                capsule.record_duration(elapsed);
            }
            if let (Some(context), Some(job_log)) = (busy.log, self.job_log.get()) {
                job_log.finished(tid, context, elapsed, failed);
            }
        }
        self.state.processed.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.state.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a job's execution for the metrics (Sidekiq 7's: the server middleware and
    /// `perform`, in whole milliseconds). Memory only; the flusher writes it to Redis.
    pub fn record_execution(&self, class: &str, queue: &str, ms: u64, failed: bool) {
        self.state.metrics.record(class, queue, ms, failed);
    }

    /// A failed job's execution whose exception class is known (for the Prometheus
    /// endpoint's failures by error class).
    pub fn record_failed_execution(&self, class: &str, queue: &str, ms: u64, error: &str) {
        self.state.metrics.record_failure(class, queue, ms, error);
    }

    /// The heartbeat thread's loop went round: one of the two clocks `/live` and the systemd
    /// watchdog check (ops/health.rs).
    pub fn upkeep_tick(&self) {
        self.state.health.upkeep_ticked();
    }

    /// What the operations endpoint and the systemd watchdog read (ops/mod.rs).
    pub fn probe(&self) -> Probe {
        Probe {
            state: Arc::clone(&self.state),
            identity: self.config.identity.clone(),
            concurrency: self.config.total_concurrency(),
            fetch: self.config.fetch,
            settings: self.conn.settings().clone(),
        }
    }

    /// Writes the execution metrics gathered so far now, rather than at the next periodic
    /// flush; on failure they stay for the next one. Returns the count fields written.
    pub async fn flush_metrics(&self) -> RedisResult<usize> {
        metrics_flusher::flush(&self.conn, &self.state).await
    }

    pub fn busy_count(&self) -> usize {
        self.state
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Log lines and failures since the last call.
    pub fn take_events(&self) -> Vec<Event> {
        self.state.events.take()
    }

    /// Why the engine stopped working, if it did (the process must then shut down).
    pub fn failure(&self) -> Option<String> {
        self.state.failure()
    }

    /// Stop fetching; jobs already fetched but not started go back to their queues. Those that
    /// cannot (Redis is away) stay in the working lists with reliable fetch (the sweep or a
    /// restart puts them back) and are run by this process with basic fetch.
    pub async fn quiet(&self) {
        self.state.quiet.store(true, Ordering::SeqCst);
        self.quiet_signal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.state.wake_fetchers();
        self.state.scheduler_wake.notify_one();
        // The fetcher puts back what it holds itself, and those jobs are newer than the
        // channel's: once it has ended (after at most one blocking wait), the channel's jobs
        // go back ahead of them, and the queue gets every job back in its order.
        self.wait_for_fetcher(self.fetcher_deadline()).await;
        let pending = self.unstarted();
        let reliable = self.config.fetch == FetchMode::Reliable;
        fetch::requeue_or_keep(
            &self.conn,
            &self.config.identity,
            reliable,
            pending,
            &self.state,
        )
        .await;
    }

    pub fn is_quiet(&self) -> bool {
        self.state.quiet.load(Ordering::SeqCst)
    }

    /// Puts jobs back at the head of their queues (unstarted, or interrupted by shutdown). With
    /// reliable fetch they are this process's concern no more either way: if Redis refuses,
    /// they stay in the working lists for the sweep, the exit or another process.
    pub async fn requeue(&self, jobs: &[FetchedJob]) -> RedisResult<()> {
        let reliable = self.config.fetch == FetchMode::Reliable;
        let result = fetch::requeue(
            &self.conn,
            &self.config.identity,
            reliable,
            jobs,
            &self.state.taken,
        )
        .await;
        if reliable {
            self.state.ledger.release(jobs);
        }
        result
    }

    /// One heartbeat (see `heartbeat::beat`). Stats that could not be written are kept for
    /// the next beat.
    pub async fn beat(&self) -> RedisResult<BeatReply> {
        let processed = self.state.processed.swap(0, Ordering::Relaxed);
        let failed = self.state.failed.swap(0, Ordering::Relaxed);
        let work: BTreeMap<String, String> = self
            .state
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(tid, busy)| (tid.clone(), busy.record()))
            .collect();
        let rtt_us = heartbeat::ping_rtt_us(&self.conn).await.unwrap_or(0);
        if rtt_us > 0 {
            self.state
                .health
                .redis_rtt_us
                .store(rtt_us, Ordering::Relaxed);
        }
        let beat = Beat {
            busy: work.len(),
            quiet: self.is_quiet(),
            rss_kb: heartbeat::rss_kb(),
            rtt_us,
            work,
            processed,
            failed,
            now: now_epoch_seconds(),
        };
        // Dynamic queues change the list the info shows (docs/design.md, §23).
        let dynamic_info = self.config.dynamic.as_ref().and_then(|_| {
            let default = self.state.capsules.first()?;
            Some(heartbeat::info_json(
                &self.config,
                default.queue_list().dynamic(),
            ))
        });
        let info = dynamic_info.as_deref().unwrap_or(&self.info);
        let reply = heartbeat::beat(&self.conn, &self.config, info, &beat).await;
        if reply.is_err() {
            self.state.processed.fetch_add(processed, Ordering::Relaxed);
            self.state.failed.fetch_add(failed, Ordering::Relaxed);
        }
        reply
    }

    /// The last step of a shutdown: wait for the fetcher to finish its blocking call, put
    /// back whatever is still fetched but unstarted, flush acknowledgements and stats, and
    /// leave the process registry. Call after `quiet` and after the worker threads ended.
    ///
    /// Redis may be why the process is stopping, so every step runs even when one fails, each
    /// failure becomes an event, and all of it together takes at most the Redis timeout plus
    /// `STOP_SLACK`: what could not be written then is in the working lists, for another
    /// process (or this one restarted) to recover.
    pub async fn stop(&self) {
        self.state.quiet.store(true, Ordering::SeqCst);
        self.state.stopped.store(true, Ordering::SeqCst);
        self.state.wake_fetchers();
        let deadline = tokio::time::Instant::now() + self.conn.settings().timeout + STOP_SLACK;
        self.wait_for_fetcher(deadline).await;
        let mut pending = self.unstarted();
        pending.extend(
            self.state
                .leftovers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain(..),
        );
        let reliable = self.config.fetch == FetchMode::Reliable;
        if let Err(e) = self.before(deadline, self.requeue(&pending)).await {
            self.report_requeue_failure(reliable, &pending, &e);
        }
        // Every finished job must be acknowledged before the working lists are released, or
        // releasing them would put finished jobs back on their queues.
        while self.state.acks_pending.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = self.before(deadline, self.beat()).await;
        // The last metrics flush (a failure is reported by the flush itself; what it could
        // not write is lost with the process, as Sidekiq's unflushed metrics are).
        self.state.metrics_stop.notify_one();
        let _ = self.before(deadline, self.flush_metrics()).await;
        let names = self.state.worked_queues();
        let lists = Lists::of(self.config.fetch);
        let release = registry::release_lists(&self.conn, lists, &self.config.identity, &names);
        match self.before(deadline, release).await {
            Err(e) if reliable => self.state.events.warn(format!(
                "Could not put back the jobs left in this process's working lists: {e}; another Ferrokiq process recovers them"
            )),
            Err(e) => self.state.events.warn(format!(
                "Could not give back this process's slots under queue limits: {e}; another Ferrokiq process frees them"
            )),
            Ok(_) => {}
        }
        // Periodic jobs may be claimed even without client middleware (a job class with a lock,
        // docs/design.md, §5.1), so every list is released.
        let release = hand_off::release(&self.conn, &self.config.identity, &hand_off::SETS);
        if let Err(e) = self.before(deadline, release).await {
            self.state.events.warn(format!(
                "Could not put the due jobs this process claimed back in their sets: {e}; another Ferrokiq process recovers them"
            ));
        }
        if let Some(job_log) = self.job_log.get() {
            job_log.flush();
        }
        let clear = heartbeat::clear(&self.conn, &self.config.identity);
        if let Err(e) = self.before(deadline, clear).await {
            self.state
                .events
                .warn(format!("Could not leave the process registry: {e}"));
        }
    }

    /// The jobs waiting in every capsule's channel, capsule by capsule, oldest first.
    fn unstarted(&self) -> Vec<FetchedJob> {
        self.state
            .capsules
            .iter()
            .flat_map(|capsule| capsule.jobs.try_iter())
            .collect()
    }

    /// When a fetcher told to stop has surely ended: its longest call (a blocking wait) plus
    /// the Redis timeout.
    fn fetcher_deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now()
            + self.conn.settings().timeout
            + Duration::from_secs_f64(BASIC_FETCH_TIMEOUT)
    }

    async fn wait_for_fetcher(&self, deadline: tokio::time::Instant) {
        for capsule in &self.state.capsules {
            while capsule.fetcher_running.load(Ordering::SeqCst)
                && tokio::time::Instant::now() < deadline
            {
                let done = capsule.fetcher_done.notified();
                if !capsule.fetcher_running.load(Ordering::SeqCst) {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(100), done).await;
            }
        }
    }

    /// Runs a Redis step of `stop`, giving up at `deadline`.
    async fn before<T>(
        &self,
        deadline: tokio::time::Instant,
        step: impl std::future::Future<Output = RedisResult<T>>,
    ) -> RedisResult<T> {
        tokio::time::timeout_at(deadline, step)
            .await
            .unwrap_or_else(|_| {
                Err(RedisFailure::Timeout {
                    url: self.conn.settings().redacted_url(),
                    after: self.conn.settings().timeout + STOP_SLACK,
                })
            })
    }

    fn report_requeue_failure(&self, reliable: bool, jobs: &[FetchedJob], e: &RedisFailure) {
        let message = fetch::requeue_failure(reliable, jobs, e);
        if reliable {
            self.state.events.warn(message);
        } else {
            self.state.events.failure("requeue", message, e.to_string());
        }
    }
}

/// The thread that drives the engine's runtime until the engine is dropped.
struct DriverThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl DriverThread {
    fn start(runtime: Runtime) -> RedisResult<DriverThread> {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("ferrokiq-engine".into())
            .spawn(move || {
                let _ = runtime.block_on(stop_rx);
            })
            .map_err(|e| RedisFailure::Config(format!("cannot start the engine thread: {e}")))?;
        Ok(DriverThread {
            stop: Some(stop_tx),
        })
    }
}

impl Drop for DriverThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the engine's tasks, each under a supervisor.
fn spawn_tasks(
    handle: &tokio::runtime::Handle,
    fetchers: Vec<Fetcher>,
    acks: mpsc::UnboundedReceiver<Acknowledgement>,
    conn: &Arc<RedisConnection>,
    config: &ServerConfig,
    state: &Arc<State>,
) {
    for fetcher in fetchers {
        let supervised_state = Arc::clone(state);
        let capsule = Arc::clone(&fetcher.capsule);
        let name = match capsule.name.as_str() {
            DEFAULT_CAPSULE => "fetcher".to_string(),
            other => format!("fetcher (capsule {other})"),
        };
        handle.spawn(async move {
            supervise(name, supervised_state, move || fetcher.clone().run()).await;
            capsule.fetcher_running.store(false, Ordering::SeqCst);
            capsule.fetcher_done.notify_waiters();
        });
    }
    // Due jobs and periodic ticks, pushed with the application's default job options.
    {
        let defaults = config.scheduler_defaults.clone().unwrap_or_else(|| {
            serde_json::from_str(r#"{"retry":true,"queue":"default"}"#).unwrap_or_default()
        });
        let (conn, config, task_state) = (Arc::clone(conn), config.clone(), Arc::clone(state));
        handle.spawn(supervise("scheduler", Arc::clone(state), move || {
            let (conn, state) = (Arc::clone(&conn), Arc::clone(&task_state));
            schedule_loop(conn, config.clone(), defaults.clone(), state)
        }));
    }
    let acks = Arc::new(tokio::sync::Mutex::new(acks));
    let (ack_conn, identity, task_state) =
        (Arc::clone(conn), config.identity.clone(), Arc::clone(state));
    let reliable = config.fetch == FetchMode::Reliable;
    handle.spawn(supervise("acknowledger", Arc::clone(state), move || {
        acknowledge_loop(
            Arc::clone(&ack_conn),
            identity.clone(),
            reliable,
            Arc::clone(&acks),
            Arc::clone(&task_state),
        )
    }));
    let ticker_state = Arc::clone(state);
    handle.spawn(supervise("health clock", Arc::clone(state), move || {
        health::tick_loop(Arc::clone(&ticker_state))
    }));
    let (metrics_conn, metrics_state) = (Arc::clone(conn), Arc::clone(state));
    handle.spawn(supervise("metrics flusher", Arc::clone(state), move || {
        metrics_flusher::flush_loop(Arc::clone(&metrics_conn), Arc::clone(&metrics_state))
    }));
    if config.dynamic.is_some() {
        let (conn, config, task_state) = (Arc::clone(conn), config.clone(), Arc::clone(state));
        handle.spawn(supervise("dynamic queues", Arc::clone(state), move || {
            dynamic_queues::run(Arc::clone(&conn), config.clone(), Arc::clone(&task_state))
        }));
    }
    {
        let (conn, config, task_state) = (Arc::clone(conn), config.clone(), Arc::clone(state));
        handle.spawn(supervise("maintenance", Arc::clone(state), move || {
            maintenance::run(Arc::clone(&conn), config.clone(), Arc::clone(&task_state))
        }));
    }
}

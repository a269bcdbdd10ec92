//! A fetcher task: keeps one capsule's channel to its worker threads filled from that
//! capsule's queues (docs/design.md, §4 and §19).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::rng::Rng;
use crate::server::capsule::Capsule;
use crate::server::config::{FetchMode, ServerConfig};
use crate::server::fetch::{self, FetchedJob};
use crate::server::state::State;

/// How long an idle fetch blocks before looking at all the queues again.
const IDLE_WAIT: f64 = 2.0;
/// After the first idle wait returned, how often the others are told to stop.
const UNBLOCK_RETRY: Duration = Duration::from_millis(50);
/// With a paused or limited queue in the fetch order, how long an empty batch waits before the
/// next look (a blocking move would take a job whatever the limit says; docs/design.md, §23).
const RESTRICTED_POLL: Duration = Duration::from_millis(100);
/// Sidekiq's BRPOP timeout.
pub(crate) const BASIC_FETCH_TIMEOUT: f64 = 2.0;
/// Pause after a failed fetch, doubling up to the maximum while Redis stays away.
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(250);
pub(crate) const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(crate) struct Fetcher {
    pub(crate) conn: Arc<RedisConnection>,
    pub(crate) blocking: Arc<RedisConnection>,
    /// With several queues: one blocking connection per queue, for idle waits on all at once.
    pub(crate) idle: Arc<IdlePool>,
    pub(crate) config: ServerConfig,
    pub(crate) state: Arc<State>,
    /// The capsule this fetcher works for: its queues, prefetch and room.
    pub(crate) capsule: Arc<Capsule>,
    pub(crate) jobs: Sender<FetchedJob>,
}

impl Fetcher {
    pub(crate) async fn run(self) {
        let mut rng = Rng::from_os();
        let mut pause = RETRY_PAUSE;
        let mut down_since: Option<std::time::Instant> = None;
        while !self.state.quiet.load(Ordering::SeqCst) {
            let room = self.in_memory_limit().saturating_sub(self.jobs.len());
            if room == 0 {
                let _ =
                    tokio::time::timeout(Duration::from_millis(50), self.capsule.room.notified())
                        .await;
                continue;
            }
            // Read at every fetch: dynamic queues join the list while the process runs.
            let queues = self.capsule.queue_list();
            let order = queues.fetch_order(&mut rng);
            match self.fetch(&order, room).await {
                Ok(jobs) => {
                    if let Some(since) = down_since.take() {
                        self.state.events.info(format!(
                            "Redis is online, {:.3} sec downtime",
                            since.elapsed().as_secs_f64()
                        ));
                    }
                    pause = RETRY_PAUSE;
                    self.state.memory_trim.fetched(jobs.len());
                    if self.config.fetch == FetchMode::Reliable {
                        self.state.ledger.hold(&jobs);
                    }
                    self.deliver(jobs).await;
                }
                Err(e) => {
                    // Once per outage, as Sidekiq reports it. With reliable fetch, a batch
                    // whose reply was lost is in the working lists: the sweep puts it back.
                    if down_since.is_none() {
                        down_since = Some(std::time::Instant::now());
                        let line = format!("Error fetching job: {e}");
                        self.state.events.failure("fetcher", line, e.to_string());
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
            }
        }
    }

    /// A batch, or when the queues are empty, what one blocking wait brings.
    async fn fetch(&self, order: &[&str], room: usize) -> RedisResult<Vec<FetchedJob>> {
        let identity = &self.config.identity;
        let batch = match self.config.fetch {
            FetchMode::Reliable => {
                let asked = std::time::Instant::now();
                let batch = fetch::reliable_batch(&self.conn, identity, order, room).await?;
                self.capsule.record_fetch_round_trip(asked.elapsed());
                batch
            }
            FetchMode::Basic => {
                let batch = fetch::basic_batch(&self.conn, identity, order, room).await?;
                // Before any of the jobs can end and give its entry back.
                self.state.taken.hold(&batch.counted);
                batch
            }
        };
        if !batch.jobs.is_empty() {
            return Ok(batch.jobs);
        }
        if batch.restricted {
            let _ = tokio::time::timeout(RESTRICTED_POLL, self.capsule.room.notified()).await;
            return Ok(Vec::new());
        }
        // The backlog is drained: what its jobs freed can go back to the OS.
        self.state.memory_trim.after_running_dry();
        match self.config.fetch {
            FetchMode::Reliable if order.len() == 1 => {
                let job = fetch::reliable_wait(&self.blocking, identity, order[0], IDLE_WAIT).await;
                job.map(|job| job.into_iter().collect())
            }
            FetchMode::Reliable => self.wait_on_all_queues(order).await,
            FetchMode::Basic => fetch::basic(&self.blocking, order, BASIC_FETCH_TIMEOUT)
                .await
                .map(|job| job.into_iter().collect()),
        }
    }

    /// How many fetched jobs may wait for a worker thread. Basic fetch holds them only in this
    /// process's memory, lost if it is killed: at most one per thread, so a crash loses at most
    /// twice what Sidekiq's processors hold, however fast the jobs are.
    fn in_memory_limit(&self) -> usize {
        let prefetch = self.capsule.prefetch_limit();
        match self.config.fetch {
            FetchMode::Reliable => prefetch,
            FetchMode::Basic => prefetch.min(self.capsule.concurrency),
        }
    }

    /// The idle path with several queues: a blocking move on every queue at once, each on its
    /// own connection, so a job on any of them is picked up at once. When the first returns,
    /// the others are cancelled with `CLIENT UNBLOCK` (an unblocked BLMOVE moves nothing) and
    /// awaited, so a job one of them did move is delivered, never dropped.
    async fn wait_on_all_queues(&self, order: &[&str]) -> RedisResult<Vec<FetchedJob>> {
        let conns = self.idle.take(order.len())?;
        let mut waits = tokio::task::JoinSet::new();
        let mut client_ids = Vec::with_capacity(order.len());
        for (name, conn) in order.iter().map(|name| name.to_string()).zip(&conns) {
            client_ids.push(
                conn.call::<i64>(&[b"CLIENT".to_vec(), b"ID".to_vec()])
                    .await?,
            );
            let (conn, identity) = (Arc::clone(conn), self.config.identity.clone());
            waits.spawn(
                async move { fetch::reliable_wait(&conn, &identity, &name, IDLE_WAIT).await },
            );
        }
        let mut outcome = IdleOutcome::default();
        if let Some(joined) = waits.join_next().await {
            outcome.add(joined);
        }
        while !waits.is_empty() {
            let mut pipe = redis::Pipeline::with_capacity(client_ids.len());
            for id in &client_ids {
                pipe.cmd("CLIENT").arg("UNBLOCK").arg(*id).ignore();
            }
            self.conn.pipeline::<()>(&pipe).await?;
            while let Ok(Some(joined)) =
                tokio::time::timeout(UNBLOCK_RETRY, waits.join_next()).await
            {
                outcome.add(joined);
            }
        }
        outcome.into_result()
    }

    /// Hands the jobs to the worker threads, waiting for room when a blocking wait brought one
    /// more than there was room for. Once the process is quiet, the jobs still in hand go back
    /// to their queues; `Engine::quiet` waits for the fetcher to end before it puts back the
    /// (older) jobs of the channel, so the queue gets them all back in their order.
    async fn deliver(&self, jobs: Vec<FetchedJob>) {
        let mut pending: std::collections::VecDeque<FetchedJob> = jobs.into();
        while let Some(job) = pending.pop_front() {
            if self.state.quiet.load(Ordering::SeqCst) {
                pending.push_front(job);
                let reliable = self.config.fetch == FetchMode::Reliable;
                let (conn, identity) = (&self.conn, &self.config.identity);
                let back = pending.drain(..).collect();
                fetch::requeue_or_keep(conn, identity, reliable, back, &self.state).await;
                break;
            }
            match self.jobs.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(job)) => {
                    pending.push_front(job);
                    let room = self.capsule.room.notified();
                    let _ = tokio::time::timeout(Duration::from_millis(20), room).await;
                }
                Err(TrySendError::Disconnected(_)) => break,
            }
        }
    }
}

/// The blocking connections of one fetcher's idle waits on several queues, one per queue:
/// opened at start for the configured queues, and more as dynamic queues join.
pub(crate) struct IdlePool {
    conns: std::sync::Mutex<Vec<Arc<RedisConnection>>>,
    open: Box<dyn Fn() -> RedisResult<Arc<RedisConnection>> + Send + Sync>,
}

impl IdlePool {
    pub(crate) fn new(
        conns: Vec<Arc<RedisConnection>>,
        open: Box<dyn Fn() -> RedisResult<Arc<RedisConnection>> + Send + Sync>,
    ) -> IdlePool {
        IdlePool {
            conns: std::sync::Mutex::new(conns),
            open,
        }
    }

    /// `count` connections, opening those missing (connections open lazily: no I/O here).
    fn take(&self, count: usize) -> RedisResult<Vec<Arc<RedisConnection>>> {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        while conns.len() < count {
            conns.push((self.open)()?);
        }
        Ok(conns[..count].to_vec())
    }
}

/// What the parallel idle waits brought back.
#[derive(Default)]
struct IdleOutcome {
    jobs: Vec<FetchedJob>,
    failure: Option<crate::error::RedisFailure>,
}

impl IdleOutcome {
    fn add(&mut self, joined: Result<RedisResult<Option<FetchedJob>>, tokio::task::JoinError>) {
        match joined {
            Ok(Ok(Some(job))) => self.jobs.push(job),
            Ok(Ok(None)) | Err(_) => {}
            Ok(Err(e)) => self.failure = Some(e),
        }
    }

    /// The jobs; an error only when nothing was fetched (fetched jobs must be delivered).
    fn into_result(self) -> RedisResult<Vec<FetchedJob>> {
        match self.failure {
            Some(e) if self.jobs.is_empty() => Err(e),
            _ => Ok(self.jobs),
        }
    }
}

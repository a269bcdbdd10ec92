//! The fetcher task: keeps the channel to the worker threads filled from Redis.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::rng::Rng;
use crate::server::config::{FetchMode, ServerConfig};
use crate::server::fetch::{self, FetchedJob};
use crate::server::state::State;

/// How long an idle fetch blocks on one queue before looking at all of them again.
const IDLE_WAIT_ONE_QUEUE: f64 = 2.0;
const IDLE_WAIT_SEVERAL_QUEUES: f64 = 0.2;
/// Sidekiq's BRPOP timeout.
pub(crate) const BASIC_FETCH_TIMEOUT: f64 = 2.0;
/// Pause after a failed fetch, doubling up to the maximum while Redis stays away.
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(250);
pub(crate) const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

pub(crate) struct Fetcher {
    pub(crate) conn: Arc<RedisConnection>,
    pub(crate) blocking: Arc<RedisConnection>,
    pub(crate) config: ServerConfig,
    pub(crate) state: Arc<State>,
    pub(crate) jobs: Sender<FetchedJob>,
}

impl Fetcher {
    pub(crate) async fn run(self) {
        let queues = self.config.queue_list();
        let mut rng = Rng::from_os();
        let mut pause = RETRY_PAUSE;
        let mut down_since: Option<std::time::Instant> = None;
        while !self.state.quiet.load(Ordering::SeqCst) {
            let room = self.state.prefetch_limit().saturating_sub(self.jobs.len());
            if room == 0 {
                let _ = tokio::time::timeout(Duration::from_millis(50), self.state.room.notified())
                    .await;
                continue;
            }
            let order = queues.fetch_order(&mut rng);
            match self.fetch(&order, room).await {
                Ok(jobs) => {
                    if let Some(since) = down_since.take() {
                        self.state.log(format!(
                            "Redis is online, {:.3} sec downtime",
                            since.elapsed().as_secs_f64()
                        ));
                    }
                    pause = RETRY_PAUSE;
                    self.deliver(jobs).await;
                }
                Err(e) => {
                    if down_since.is_none() {
                        down_since = Some(std::time::Instant::now());
                        self.state.log(format!("Error fetching job: {e}"));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
            }
        }
        self.state.fetcher_running.store(false, Ordering::SeqCst);
        self.state.fetcher_done.notify_waiters();
    }

    async fn fetch(&self, order: &[&str], room: usize) -> RedisResult<Vec<FetchedJob>> {
        let identity = &self.config.identity;
        match self.config.fetch {
            FetchMode::Reliable => {
                let jobs = fetch::reliable_batch(&self.conn, identity, order, room).await?;
                if !jobs.is_empty() {
                    return Ok(jobs);
                }
                let wait = if order.len() == 1 {
                    IDLE_WAIT_ONE_QUEUE
                } else {
                    IDLE_WAIT_SEVERAL_QUEUES
                };
                let job = fetch::reliable_wait(&self.blocking, identity, order[0], wait).await?;
                Ok(job.into_iter().collect())
            }
            FetchMode::Basic => {
                let job = fetch::basic(&self.blocking, order, BASIC_FETCH_TIMEOUT).await?;
                Ok(job.into_iter().collect())
            }
        }
    }

    async fn deliver(&self, jobs: Vec<FetchedJob>) {
        let mut rest = jobs.into_iter();
        while let Some(job) = rest.next() {
            if self.state.quiet.load(Ordering::SeqCst) {
                let mut back = vec![job];
                back.extend(rest);
                let reliable = self.config.fetch == FetchMode::Reliable;
                if let Err(e) =
                    fetch::requeue(&self.conn, &self.config.identity, reliable, &back).await
                {
                    self.state
                        .log(format!("Failed to requeue {} jobs: {e}", back.len()));
                }
                return;
            }
            match self.jobs.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(job)) => {
                    // More jobs than room (a blocking wait returned one extra): wait for room.
                    let mut job = job;
                    loop {
                        let _ = tokio::time::timeout(
                            Duration::from_millis(20),
                            self.state.room.notified(),
                        )
                        .await;
                        match self.jobs.try_send(job) {
                            Ok(()) => break,
                            Err(TrySendError::Full(back)) => job = back,
                            Err(TrySendError::Disconnected(_)) => return,
                        }
                    }
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

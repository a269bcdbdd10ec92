//! The engine's other background tasks: the acknowledger and the scheduler.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::connection::RedisConnection;
use crate::payload::now_epoch_seconds;
use crate::rng::Rng;
use crate::server::config::ServerConfig;
use crate::server::fetch::{self, FetchedJob};
use crate::server::fetcher::{MAX_RETRY_PAUSE, RETRY_PAUSE};
use crate::server::state::State;
use crate::server::{heartbeat, scheduler};

/// The engine's scheduler (see `scheduler.rs`): while not quiet, the lease holder moves due
/// jobs on time; every minute it also prunes `processes` as Sidekiq's scheduler does.
pub(crate) async fn schedule_loop(
    conn: Arc<RedisConnection>,
    config: ServerConfig,
    defaults: serde_json::Map<String, serde_json::Value>,
    state: Arc<State>,
) {
    let mut rng = Rng::from_os();
    let dead = (config.dead_max_jobs, config.dead_timeout.as_secs_f64());
    let mut next_cleanup = std::time::Instant::now();
    while !state.quiet.load(Ordering::SeqCst) {
        let nap = match scheduler::take_lease(&conn, &config.identity).await {
            Ok(true) => {
                if std::time::Instant::now() >= next_cleanup {
                    next_cleanup += Duration::from_secs(60);
                    let _ = heartbeat::cleanup_processes(&conn).await;
                }
                match scheduler::pass(&conn, &defaults, dead).await {
                    Ok(pass) => {
                        for member in &pass.invalid {
                            state.log(format!(
                                "Moved an invalid scheduled job to the dead set: {member}"
                            ));
                        }
                        scheduler::nap(&pass, now_epoch_seconds())
                    }
                    Err(_) => scheduler::MAX_NAP,
                }
            }
            // Another process schedules; look again in a second or so (spread out).
            Ok(false) => scheduler::MAX_NAP + Duration::from_millis(rng.below(500)),
            Err(_) => scheduler::MAX_NAP,
        };
        let _ = tokio::time::timeout(nap, state.scheduler_wake.notified()).await;
    }
    let _ = scheduler::release_lease(&conn, &config.identity).await;
}

/// Under load the acknowledger wakes on a short timer and writes everything that arrived
/// meanwhile in one pipeline, rather than being woken for every job (a wake-up costs more than
/// the acknowledgement itself); when idle it waits for the next one.
const ACK_INTERVAL: Duration = Duration::from_millis(2);

pub(crate) async fn acknowledge_loop(
    conn: Arc<RedisConnection>,
    identity: String,
    mut acks: mpsc::UnboundedReceiver<FetchedJob>,
    state: Arc<State>,
) {
    let mut batch = Vec::new();
    loop {
        if batch.is_empty() {
            match acks.recv().await {
                Some(job) => batch.push(job),
                None => return,
            }
        } else {
            tokio::time::sleep(ACK_INTERVAL).await;
        }
        while batch.len() < 1000 {
            match acks.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Keep trying: an unacknowledged job would run again after a restart.
        let mut pause = RETRY_PAUSE;
        while let Err(e) = fetch::acknowledge(&conn, &identity, &batch).await {
            state.log(format!("Failed to acknowledge {} jobs: {e}", batch.len()));
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
        }
        let written = batch.len() as u64;
        state.acks_pending.fetch_sub(written, Ordering::SeqCst);
        batch.clear();
        // Stay on the timer while acknowledgements keep coming.
        if let Ok(job) = acks.try_recv() {
            batch.push(job);
        }
    }
}

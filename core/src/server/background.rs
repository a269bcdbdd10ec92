//! The engine's other background tasks: the acknowledger and the scheduler.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::connection::RedisConnection;
use crate::payload::now_epoch_seconds;
use crate::rng::Rng;
use crate::server::config::ServerConfig;
use crate::server::fetch::{self, Acknowledgement};
use crate::server::fetcher::{MAX_RETRY_PAUSE, RETRY_PAUSE};
use crate::server::state::State;
use crate::server::{hand_off, heartbeat, maintenance, periodic, scheduler};

/// How often the lease holder looks for hand-off lists of processes that are gone (also as
/// soon as it takes the lease).
const RECOVER_HAND_OFFS_EVERY: Duration = Duration::from_secs(10);

/// The engine's scheduler (see `scheduler.rs`): while not quiet, the lease holder moves due
/// jobs on time (or claims them for Ruby's client middleware, `hand_off.rs`), recovers the
/// hand-off lists of processes that are gone, and pushes periodic jobs at their ticks (see
/// `periodic.rs`); every minute it also prunes `processes` as Sidekiq's scheduler does.
pub(crate) async fn schedule_loop(
    conn: Arc<RedisConnection>,
    config: ServerConfig,
    defaults: serde_json::Map<String, serde_json::Value>,
    state: Arc<State>,
) {
    let mut rng = Rng::from_os();
    let mut next_cleanup = std::time::Instant::now();
    // Due at once whenever this process (re)takes the lease: the previous holder may have died
    // with jobs claimed.
    let mut next_recovery: Option<std::time::Instant> = None;
    let mut failing = false;
    // Read again from Redis whenever this process (re)takes the lease.
    let mut schedule = periodic::Schedule::default();
    let mover = if config.scheduler_hand_off {
        scheduler::Mover::HandOff {
            identity: &config.identity,
            to_ruby: &state.hand_offs.sender,
        }
    } else {
        scheduler::Mover::Push
    };
    let dead = (config.dead_max_jobs, config.dead_timeout.as_secs_f64());
    while !state.quiet.load(Ordering::SeqCst) {
        let nap = match scheduler::take_lease(&conn, scheduler::LEASE_KEY, &config.identity).await {
            Ok(true) => {
                lease_chores(
                    &conn,
                    &config,
                    &state,
                    &mut next_cleanup,
                    &mut next_recovery,
                )
                .await;
                let nap = scheduler::pass(&conn, &defaults, dead, mover)
                    .await
                    .map(|pass| {
                        report_invalid(&state, &pass);
                        if pass.full {
                            state
                                .hand_offs
                                .waiting_for_room
                                .store(true, Ordering::SeqCst);
                        }
                        scheduler::nap(&pass, now_epoch_seconds())
                    });
                match nap {
                    Ok(nap) => periodic_pass(&conn, &defaults, &config, &state, &mut schedule)
                        .await
                        .map(|due| match due {
                            Some(due) => nap.min(Duration::from_secs_f64(
                                (due - now_epoch_seconds()).max(0.0),
                            )),
                            None => nap,
                        }),
                    Err(e) => Err(e),
                }
            }
            // Another process schedules; look again in a second or so (spread out).
            Ok(false) => {
                schedule = periodic::Schedule::default();
                next_recovery = None;
                Ok(scheduler::MAX_NAP + Duration::from_millis(rng.below(500)))
            }
            Err(e) => Err(e),
        };
        let nap = match nap {
            Ok(nap) => {
                if std::mem::take(&mut failing) {
                    state
                        .events
                        .info("The scheduler is moving due jobs again".to_string());
                }
                nap
            }
            Err(e) => {
                // Once per outage; the next pass tries again.
                if !std::mem::replace(&mut failing, true) {
                    state.events.failure(
                        "scheduler",
                        format!("The scheduler could not move due jobs: {e}"),
                        e.to_string(),
                    );
                }
                scheduler::MAX_NAP
            }
        };
        let _ = tokio::time::timeout(nap, state.scheduler_wake.notified()).await;
    }
    let _ = scheduler::release_lease(&conn, scheduler::LEASE_KEY, &config.identity).await;
}

/// The lease holder's upkeep besides due jobs: pruning `processes` every minute, recovering
/// dead processes' hand-off lists. A failure here is retried at its next turn; the pass that
/// follows reports an outage.
async fn lease_chores(
    conn: &RedisConnection,
    config: &ServerConfig,
    state: &State,
    next_cleanup: &mut std::time::Instant,
    next_recovery: &mut Option<std::time::Instant>,
) {
    let now = std::time::Instant::now();
    if now >= *next_cleanup {
        *next_cleanup = now + Duration::from_secs(60);
        let _ = heartbeat::cleanup_processes(conn).await;
    }
    if next_recovery.is_none_or(|due| now >= due)
        && recover_hand_offs(conn, config, state).await.is_ok()
    {
        *next_recovery = Some(now + RECOVER_HAND_OFFS_EVERY);
    }
}

/// Puts the jobs that processes now gone had claimed but not pushed back in their sets.
async fn recover_hand_offs(
    conn: &RedisConnection,
    config: &ServerConfig,
    state: &State,
) -> crate::error::RedisResult<()> {
    let hostname = config.hostname.as_str();
    let recovered = hand_off::recover_orphans(conn, &config.identity, now_epoch_seconds(), |id| {
        maintenance::gone_from_this_host(hostname, id)
    })
    .await?;
    for (owner, moved) in recovered {
        if moved > 0 {
            state.events.warn(format!(
                "Put {moved} due jobs back in the {} set that process {} had claimed but not pushed (it is gone)",
                hand_off::home_set(&owner.set),
                owner.identity
            ));
        }
    }
    Ok(())
}

/// Pushes the periodic ticks that are due; returns when the next one is.
async fn periodic_pass(
    conn: &RedisConnection,
    defaults: &serde_json::Map<String, serde_json::Value>,
    config: &ServerConfig,
    state: &State,
    schedule: &mut periodic::Schedule,
) -> crate::error::RedisResult<Option<f64>> {
    // Ticks Ruby must see (client middleware, a lock) are claimed for it (docs/design.md, §5.1).
    let hand_off = periodic::HandOff {
        identity: &config.identity,
        to_ruby: &state.hand_offs.sender,
        middleware: config.scheduler_hand_off,
    };
    let tick = schedule
        .pass(conn, defaults, hand_off, now_epoch_seconds())
        .await?;
    if tick.full {
        state
            .hand_offs
            .waiting_for_room
            .store(true, Ordering::SeqCst);
    }
    if tick.reloaded {
        for (name, why) in &schedule.invalid {
            state
                .events
                .warn(format!("Periodic job {name:?} cannot be scheduled: {why}"));
        }
    }
    for (name, why) in &tick.invalid {
        state.events.failure(
            "scheduler",
            format!("Periodic job {name:?} could not be pushed: {why}"),
            why.clone(),
        );
    }
    Ok(tick.next_due)
}

fn report_invalid(state: &State, pass: &scheduler::Pass) {
    for (member, why) in &pass.invalid {
        state.events.failure(
            "scheduler",
            format!("Moved a scheduled job that cannot be read ({why}) to the dead set: {member}"),
            format!("a scheduled job cannot be read ({why})"),
        );
    }
}

/// Under load the acknowledger wakes on a short timer and writes everything that arrived
/// meanwhile in one pipeline, rather than being woken for every job (a wake-up costs more than
/// the acknowledgement itself); when idle it waits for the next one. It goes back to waiting
/// only after a whole interval brought nothing: a worker thread whose acknowledgement finds
/// it waiting pays for the wake-up (a write to the runtime's eventfd, with the GVL held) and
/// the engine thread for a round of its loop (docs/performance.md, §3).
const ACK_INTERVAL: Duration = Duration::from_millis(2);

/// Writes acknowledgements: the LREMs of reliable fetch (none with basic fetch, where only the
/// unique-job locks that finished jobs give back are sent; docs/design.md, §24).
pub(crate) async fn acknowledge_loop(
    conn: Arc<RedisConnection>,
    identity: String,
    reliable: bool,
    acks: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Acknowledgement>>>,
    state: Arc<State>,
) {
    // Held for the task's life; a restarted acknowledger takes it over.
    let mut acks = acks.lock().await;
    let mut batch = Vec::new();
    // Whether the last interval brought acknowledgements: then the next ones are waited for
    // on the timer, never by parking on the channel.
    let mut ticking = false;
    loop {
        if batch.is_empty() && !ticking {
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
                Err(mpsc::error::TryRecvError::Empty) => break,
                // Every sender is gone: what is in hand is written, then the task ends.
                Err(mpsc::error::TryRecvError::Disconnected) if batch.is_empty() => return,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        ticking = !batch.is_empty();
        if batch.is_empty() {
            continue;
        }
        // Keep trying: an unacknowledged job would run again after a restart.
        let mut pause = RETRY_PAUSE;
        let mut reported = false;
        while let Err(e) = fetch::acknowledge(&conn, &identity, &batch, reliable).await {
            if !std::mem::replace(&mut reported, true) {
                state.events.warn(format!(
                    "Failed to acknowledge {} jobs: {e}; trying again",
                    batch.len()
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
        }
        if reliable {
            state.ledger.release(batch.iter().map(|ack| &ack.job));
        }
        let written = batch.len() as u64;
        state.acks_pending.fetch_sub(written, Ordering::SeqCst);
        batch.clear();
    }
}

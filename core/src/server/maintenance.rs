//! The engine's upkeep of reliable fetch, in one task: it re-asserts this process's working
//! lists in the registry, sweeps them for jobs no thread is working on, recovers the lists of
//! processes that are gone, and now and then registers lists missing from the registry
//! (docs/design.md, §4). With basic fetch it does the same for the taken lists, minus the
//! sweep and the adoption (docs/design.md, §23).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::server::config::ServerConfig;
use crate::server::fetch::{self, FetchedJob};
use crate::server::inflight::Sweep;
use crate::server::keys;
use crate::server::registry::{self, Lists, DEAD_AFTER};
use crate::server::state::State;

/// How often the working lists are re-asserted: several times within the heartbeat's TTL.
const ASSERT_EVERY: Duration = Duration::from_secs(10);
/// How often the registry is checked for lists of processes that are gone.
const RECOVER_EVERY: Duration = Duration::from_secs(30);
/// How often the keyspace is scanned for working lists missing from the registry (a SCAN of
/// the whole keyspace: rare).
const ADOPT_EVERY: Duration = Duration::from_secs(300);
const TICK: Duration = Duration::from_secs(1);

/// When each chore is next due.
struct Schedule {
    assert: Instant,
    sweep: Instant,
    recover: Instant,
    adopt: Instant,
}

pub(crate) async fn run(conn: Arc<RedisConnection>, config: ServerConfig, state: Arc<State>) {
    let bound = sweep_bound(&config, &conn);
    let sweep_every = (bound / 2).max(TICK);
    let start = Instant::now();
    let mut due = Schedule {
        assert: start + ASSERT_EVERY,
        sweep: start + sweep_every,
        recover: start + RECOVER_EVERY,
        adopt: start + RECOVER_EVERY,
    };
    let mut sweep = Sweep::default();
    let mut failing = false;
    while !state.stopped.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(TICK).await;
        // A quiet process keeps its upkeep: jobs it could not put back are swept from here.
        if state.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let now = Instant::now();
        let result = chores(&conn, &config, &state, &mut due, &mut sweep, bound, now).await;
        match result {
            Ok(()) if failing => failing = false,
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                state.events.warn(format!(
                    "Could not look after the working lists: {e}; trying again"
                ));
            }
            Err(_) => {}
        }
    }
}

/// The sweep never takes an entry younger than a fetch's longest round trip: a reply still
/// on its way would otherwise look like a lost one.
fn sweep_bound(config: &ServerConfig, conn: &RedisConnection) -> Duration {
    config
        .stranded_after
        .max(conn.settings().timeout + Duration::from_secs(1))
}

async fn chores(
    conn: &RedisConnection,
    config: &ServerConfig,
    state: &State,
    due: &mut Schedule,
    sweep: &mut Sweep,
    bound: Duration,
    now: Instant,
) -> RedisResult<()> {
    let names = state.worked_queues();
    let lists = Lists::of(config.fetch);
    if now >= due.assert {
        registry::assert_lists(conn, lists, &config.identity, &names).await?;
        due.assert = now + ASSERT_EVERY;
    }
    if now >= due.recover {
        recover(conn, config, state).await?;
        due.recover = now + RECOVER_EVERY;
    }
    if lists == Lists::Taken {
        return Ok(());
    }
    if now >= due.sweep {
        sweep_own_lists(conn, config, state, sweep, bound, now).await?;
        due.sweep = now + (bound / 2).max(TICK);
    }
    if now >= due.adopt {
        let adopted = registry::adopt_unregistered(conn).await?;
        if adopted > 0 {
            state.events.warn(format!(
                "Found {adopted} working lists missing from the registry; registered them, so they are recovered if their process is gone"
            ));
        }
        due.adopt = now + ADOPT_EVERY;
    }
    Ok(())
}

/// Puts back the entries of this process's working lists that no thread has been working on
/// for `bound` (see `inflight`).
async fn sweep_own_lists(
    conn: &RedisConnection,
    config: &ServerConfig,
    state: &State,
    sweep: &mut Sweep,
    bound: Duration,
    now: Instant,
) -> RedisResult<()> {
    let mut seen = HashMap::new();
    let mut stranded: Vec<FetchedJob> = Vec::new();
    for queue in &state.worked_queues() {
        let list: Vec<Vec<u8>> = conn
            .call(&[
                b"LRANGE".to_vec(),
                keys::working(&config.identity, queue).into_bytes(),
                b"0".to_vec(),
                b"-1".to_vec(),
            ])
            .await?;
        stranded.extend(sweep.stranded(queue, list, &state.ledger, bound, now, &mut seen));
    }
    sweep.finish(seen);
    if stranded.is_empty() {
        return Ok(());
    }
    fetch::requeue(conn, &config.identity, true, &stranded, &state.taken).await?;
    state.events.warn(format!(
        "Put {} jobs back on their queues that sat in this process's working lists for over {} s with no thread working on them (a lost fetch reply, or a job that ended unacknowledged)",
        stranded.len(),
        bound.as_secs()
    ));
    Ok(())
}

/// Re-queues the working lists of processes that are gone (drops their taken lists, with basic
/// fetch), saying whose and why.
pub(crate) async fn recover(
    conn: &RedisConnection,
    config: &ServerConfig,
    state: &State,
) -> RedisResult<u64> {
    let hostname = config.hostname.clone();
    let lists = Lists::of(config.fetch);
    let recovered = registry::recover_orphans(conn, lists, &config.identity, |identity| {
        gone_from_this_host(&hostname, identity)
    })
    .await?;
    let mut total = 0;
    for (owner, moved) in recovered {
        total += moved;
        if moved == 0 {
            continue;
        }
        let why = if gone_from_this_host(&hostname, &owner.identity) {
            "its pid no longer exists on this host".to_string()
        } else {
            format!(
                "no heartbeat and no sign of life for over {} s",
                DEAD_AFTER.as_secs()
            )
        };
        state.events.warn(match lists {
            Lists::Working => format!(
                "Re-queued {moved} jobs from queue {} left by process {} ({why})",
                owner.queue, owner.identity
            ),
            Lists::Taken => format!(
                "Freed {moved} slots under the limits of queue {} held by process {} ({why})",
                owner.queue, owner.identity
            ),
        });
    }
    Ok(total)
}

/// `identity` (`host:pid:nonce`) names a process on this host that is no longer running.
pub(crate) fn gone_from_this_host(hostname: &str, identity: &str) -> bool {
    let mut parts = identity.rsplitn(3, ':');
    let (_nonce, pid, host) = (parts.next(), parts.next(), parts.next());
    let Some(pid) = pid.and_then(|p| p.parse::<i32>().ok()) else {
        return false;
    };
    if host != Some(hostname) || pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks whether the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

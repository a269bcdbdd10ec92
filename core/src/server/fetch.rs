//! Taking jobs from queues (wire-format §3 and design.md §4).
//!
//! Reliable fetch moves jobs atomically from `queue:<q>` into this process's working list for
//! that queue, several at a time in one Lua call; an acknowledgement removes a job from its
//! working list. Basic fetch takes jobs off the queues with the same batch script, minus the
//! working list, and waits with Sidekiq's `BRPOP` when they are empty.

use std::sync::LazyLock;

use redis::Script;

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::server::keys;

/// A job taken from a queue and not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedJob {
    /// The queue name, without `queue:`.
    pub queue: String,
    /// The payload, exactly as stored.
    pub payload: String,
}

// KEYS: queue keys in fetch order. ARGV: working-list prefix ('' for basic fetch, which keeps
// no working list), how many jobs at most.
const TAKE_BATCH: &str = r"
local limit = tonumber(ARGV[2])
local out = {}
local taken = 0
for _, key in ipairs(KEYS) do
  if taken >= limit then break end
  local jobs = redis.call('RPOP', key, limit - taken)
  if jobs then
    if ARGV[1] ~= '' then
      redis.call('LPUSH', ARGV[1] .. string.sub(key, 7), unpack(jobs))
    end
    for _, job in ipairs(jobs) do
      out[#out + 1] = key
      out[#out + 1] = job
    end
    taken = taken + #jobs
  end
end
return out
";

// KEYS: working list, queue list. ARGV: the job. Puts an unstarted job back at the head.
const REQUEUE_ONE: &str = r"
if redis.call('LREM', KEYS[1], -1, ARGV[1]) > 0 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
";

// KEYS: working list, queue list, registry. Moves every job of a dead process's working list
// back to its queue, oldest ending up at the head, then forgets the list.
const RECOVER_LIST: &str = r"
local moved = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do
  moved = moved + 1
end
redis.call('HDEL', KEYS[3], KEYS[1])
return moved
";

static TAKE_BATCH_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE_BATCH));
static REQUEUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(REQUEUE_ONE));
static RECOVER_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RECOVER_LIST));

/// Moves up to `limit` jobs from the queues (in `order`) into this process's working lists.
pub async fn reliable_batch(
    conn: &RedisConnection,
    identity: &str,
    order: &[&str],
    limit: usize,
) -> RedisResult<Vec<FetchedJob>> {
    take_batch(conn, order, &keys::working(identity, ""), limit).await
}

/// Takes up to `limit` jobs off the queues (in `order`), as that many `BRPOP`s would, in one
/// round trip.
pub async fn basic_batch(
    conn: &RedisConnection,
    order: &[&str],
    limit: usize,
) -> RedisResult<Vec<FetchedJob>> {
    take_batch(conn, order, "", limit).await
}

async fn take_batch(
    conn: &RedisConnection,
    order: &[&str],
    working_prefix: &str,
    limit: usize,
) -> RedisResult<Vec<FetchedJob>> {
    let mut invocation = TAKE_BATCH_SCRIPT.prepare_invoke();
    for name in order {
        invocation.key(keys::queue(name));
    }
    invocation.arg(working_prefix).arg(limit.max(1));
    let flat: Vec<String> = conn.invoke(&invocation).await?;
    Ok(pairs_to_jobs(flat))
}

fn pairs_to_jobs(flat: Vec<String>) -> Vec<FetchedJob> {
    let mut jobs = Vec::with_capacity(flat.len() / 2);
    let mut items = flat.into_iter();
    while let (Some(key), Some(payload)) = (items.next(), items.next()) {
        let queue = key.strip_prefix("queue:").unwrap_or(&key).to_string();
        jobs.push(FetchedJob { queue, payload });
    }
    jobs
}

/// Waits (up to `timeout_secs`) for a job on one queue and moves it into the working list:
/// the idle path, so an empty server picks up a new job at once without polling.
pub async fn reliable_wait(
    blocking: &RedisConnection,
    identity: &str,
    queue: &str,
    timeout_secs: f64,
) -> RedisResult<Option<FetchedJob>> {
    let words = [
        b"BLMOVE".to_vec(),
        keys::queue(queue).into_bytes(),
        keys::working(identity, queue).into_bytes(),
        b"RIGHT".to_vec(),
        b"LEFT".to_vec(),
        timeout_secs.to_string().into_bytes(),
    ];
    let payload: Option<String> = blocking.call(&words).await?;
    Ok(payload.map(|payload| FetchedJob {
        queue: queue.to_string(),
        payload,
    }))
}

/// Sidekiq's fetch: `BRPOP queue:a queue:b ... timeout`.
pub async fn basic(
    blocking: &RedisConnection,
    order: &[&str],
    timeout_secs: f64,
) -> RedisResult<Option<FetchedJob>> {
    let mut words = vec![b"BRPOP".to_vec()];
    words.extend(order.iter().map(|name| keys::queue(name).into_bytes()));
    words.push(timeout_secs.to_string().into_bytes());
    let popped: Option<(String, String)> = blocking.call(&words).await?;
    Ok(popped.map(|(key, payload)| FetchedJob {
        queue: key.strip_prefix("queue:").unwrap_or(&key).to_string(),
        payload,
    }))
}

/// Removes acknowledged jobs from the working lists, in one round trip (scanning from the
/// tail, where the oldest jobs are).
pub async fn acknowledge(
    conn: &RedisConnection,
    identity: &str,
    jobs: &[FetchedJob],
) -> RedisResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::Pipeline::with_capacity(jobs.len());
    for job in jobs {
        pipe.cmd("LREM")
            .arg(keys::working(identity, &job.queue))
            .arg(-1)
            .arg(&job.payload)
            .ignore();
    }
    conn.pipeline::<()>(&pipe).await
}

/// Puts fetched-but-unfinished jobs back at the head of their queues. With reliable fetch a
/// job is moved only if it is still in this process's working list, so it is never doubled.
pub async fn requeue(
    conn: &RedisConnection,
    identity: &str,
    reliable: bool,
    jobs: &[FetchedJob],
) -> RedisResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    if !reliable {
        let mut pipe = redis::Pipeline::with_capacity(jobs.len());
        for job in jobs {
            pipe.cmd("RPUSH")
                .arg(keys::queue(&job.queue))
                .arg(&job.payload)
                .ignore();
        }
        return conn.pipeline::<()>(&pipe).await;
    }
    for job in jobs {
        let mut invocation = REQUEUE_SCRIPT.prepare_invoke();
        invocation
            .key(keys::working(identity, &job.queue))
            .key(keys::queue(&job.queue))
            .arg(&job.payload);
        conn.invoke::<i64>(&invocation).await?;
    }
    Ok(())
}

/// The log line for a failed `requeue`. With reliable fetch the jobs are still in this
/// process's working lists, to be recovered; with basic fetch they exist nowhere else, so the
/// line carries their payloads for an operator to push again.
pub fn requeue_failure(
    reliable: bool,
    jobs: &[FetchedJob],
    error: &crate::error::RedisFailure,
) -> String {
    if reliable {
        return format!(
            "Failed to requeue {} jobs: {error}; they stay in this process's working lists and are recovered when it is gone",
            jobs.len()
        );
    }
    let payloads: Vec<String> = jobs
        .iter()
        .map(|job| format!("queue:{} {}", job.queue, job.payload))
        .collect();
    format!(
        "Failed to requeue {} jobs fetched with basic fetch: {error}; push them again: {}",
        jobs.len(),
        payloads.join("\n")
    )
}

/// Records this process's working lists so that others can recover them if it dies.
pub async fn register_working_lists(
    conn: &RedisConnection,
    identity: &str,
    queues: &[String],
) -> RedisResult<()> {
    let mut pipe = redis::Pipeline::with_capacity(queues.len());
    for queue in queues {
        pipe.cmd("HSET")
            .arg(keys::WORKING_REGISTRY)
            .arg(keys::working(identity, queue))
            .arg(format!("{identity}\n{queue}"))
            .ignore();
    }
    conn.pipeline::<()>(&pipe).await
}

/// At a clean exit: anything still in this process's working lists goes back to its queue,
/// and the lists leave the registry.
pub async fn release_working_lists(
    conn: &RedisConnection,
    identity: &str,
    queues: &[String],
) -> RedisResult<u64> {
    let mut moved = 0;
    for queue in queues {
        let mut invocation = RECOVER_SCRIPT.prepare_invoke();
        invocation
            .key(keys::working(identity, queue))
            .key(keys::queue(queue))
            .key(keys::WORKING_REGISTRY);
        moved += conn.invoke::<u64>(&invocation).await?;
    }
    Ok(moved)
}

/// Re-queues the working lists of dead processes; returns how many jobs went back.
/// `is_dead(identity, heartbeat_alive)` decides: a process on this host whose pid is gone is
/// dead at once; elsewhere, once its heartbeat key has expired.
pub async fn recover_orphans(
    conn: &RedisConnection,
    own_identity: &str,
    is_dead: impl Fn(&str, bool) -> bool,
) -> RedisResult<u64> {
    let registry: Vec<(String, String)> = conn
        .call(&[
            b"HGETALL".to_vec(),
            keys::WORKING_REGISTRY.as_bytes().to_vec(),
        ])
        .await?;
    let mut recovered = 0;
    for (list, owner) in registry {
        let Some((identity, queue)) = owner.split_once('\n') else {
            continue;
        };
        if identity == own_identity {
            continue;
        }
        let alive: bool = conn
            .call(&[b"EXISTS".to_vec(), identity.as_bytes().to_vec()])
            .await?;
        if !is_dead(identity, alive) {
            continue;
        }
        let mut invocation = RECOVER_SCRIPT.prepare_invoke();
        invocation
            .key(&list)
            .key(keys::queue(queue))
            .key(keys::WORKING_REGISTRY);
        recovered += conn.invoke::<u64>(&invocation).await?;
    }
    Ok(recovered)
}

//! Taking jobs from queues (docs/wire-format.md §3 and docs/design.md, §4).
//!
//! Reliable fetch moves jobs atomically from `queue:<q>` into this process's working list for
//! that queue, several at a time in one Lua call; an acknowledgement removes a job from its
//! working list. Basic fetch takes jobs off the queues with the same batch script, minus the
//! working list, and waits with Sidekiq's `BRPOP` when they are empty.
//!
//! Payloads are bytes from Redis to the worker thread and back: a job that is not valid UTF-8
//! must not fail the reply it came in (and strand the jobs beside it). Ruby decides what it is.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use redis::Script;

use crate::connection::RedisConnection;
use crate::error::{RedisFailure, RedisResult};
use crate::server::keys;
use crate::server::state::State;
use crate::server::taken::TakenSlots;
use crate::unique_jobs::{self, LockRelease};

/// A job taken from a queue and not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedJob {
    /// The queue name, without `queue:`.
    pub queue: String,
    /// The payload, exactly as stored (not necessarily UTF-8).
    pub payload: Vec<u8>,
}

impl FetchedJob {
    /// The payload for a log line: invalid UTF-8 shown as U+FFFD.
    pub fn display_payload(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.payload)
    }
}

// KEYS: queue keys in fetch order. ARGV: working-list prefix ('' for basic fetch, which keeps
// no working list), how many jobs at most, taken-list prefix (basic fetch; '' for reliable).
//
// Queue limits (sidekiq-limit_fetch's keys, docs/design.md, §23): a paused queue is skipped; a
// queue with `limit_fetch:limit:<q>` takes at most the limit minus the entries of every
// working list and taken list of that queue in the registries (`ferrokiq:working`,
// `ferrokiq:taken`, which a process writes before its first fetch, so processes starting
// together count each other; a dead process's list counts until recovery puts its jobs back or
// drops it); with `limit_fetch:process_limit:<q>`, at most that minus this process's own.
// Basic fetch counts the jobs it takes from a limited queue in its taken list (one entry per
// job) and marks their keys with a leading '+' in the reply.
// Blocking queues (`limit_fetch:block:<q>` set) are taken from first, so the others get only
// what they cannot supply (empty, paused or at their limit). The reply starts with '1' when any
// queue was paused or limited (the fetcher must then not wait with BLMOVE, which knows no
// limit), '0' otherwise; then key, job, key, job... A rule that is not a number counts as 0, as
// the plugin's `to_i` reads it.
const TAKE_BATCH: &str = r"
local limit = tonumber(ARGV[2])
local out = {'0'}
local taken = 0
local lists = nil
local function working_total(q)
  if not lists then
    lists = {}
    for _, name in ipairs({'ferrokiq:working', 'ferrokiq:taken'}) do
      local registry = redis.call('HGETALL', name)
      for i = 1, #registry, 2 do
        local queue = string.match(registry[i + 1], '^[^\n]*\n(.*)\n[^\n]*$')
        if queue then
          lists[queue] = lists[queue] or {}
          table.insert(lists[queue], registry[i])
        end
      end
    end
  end
  local total = 0
  for _, key in ipairs(lists[q] or {}) do
    total = total + redis.call('LLEN', key)
  end
  return total
end
local block_keys = {}
for i, key in ipairs(KEYS) do block_keys[i] = 'limit_fetch:block:' .. string.sub(key, 7) end
local blocking = redis.call('MGET', unpack(block_keys))
local order = {}
for i, key in ipairs(KEYS) do if blocking[i] then order[#order + 1] = key end end
for i, key in ipairs(KEYS) do if not blocking[i] then order[#order + 1] = key end end
for _, key in ipairs(order) do
  if taken >= limit then break end
  local q = string.sub(key, 7)
  local room = limit - taken
  local rules = redis.call('MGET', 'limit_fetch:pause:' .. q, 'limit_fetch:limit:' .. q,
    'limit_fetch:process_limit:' .. q)
  local counted = nil
  if rules[1] or rules[2] or rules[3] then
    out[1] = '1'
    if rules[1] then
      room = 0
    elseif rules[2] or rules[3] then
      local own = ARGV[1] ~= '' and ARGV[1] .. q or ARGV[3] .. q
      if rules[3] then
        room = math.min(room, (tonumber(rules[3]) or 0) - redis.call('LLEN', own))
      end
      if rules[2] and room > 0 then
        room = math.min(room, (tonumber(rules[2]) or 0) - working_total(q))
      end
      if ARGV[1] == '' then counted = own end
    end
  end
  local jobs = room > 0 and redis.call('RPOP', key, room)
  if jobs then
    local reply_key = key
    if ARGV[1] ~= '' then
      redis.call('LPUSH', ARGV[1] .. string.sub(key, 7), unpack(jobs))
    elseif counted then
      local entries = {}
      for i = 1, #jobs do entries[i] = '1' end
      redis.call('LPUSH', counted, unpack(entries))
      reply_key = '+' .. key
    end
    for _, job in ipairs(jobs) do
      out[#out + 1] = reply_key
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

static TAKE_BATCH_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE_BATCH));
static REQUEUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(REQUEUE_ONE));

/// Moves up to `limit` jobs from the queues (in `order`) into this process's working lists.
pub async fn reliable_batch(
    conn: &RedisConnection,
    identity: &str,
    order: &[&str],
    limit: usize,
) -> RedisResult<Batch> {
    take_batch(conn, order, &keys::working(identity, ""), "", limit).await
}

/// Takes up to `limit` jobs off the queues (in `order`), as that many `BRPOP`s would, in one
/// round trip. Pauses and limits apply; the jobs of limited queues are counted in this
/// process's taken lists (`Batch::counted`).
pub async fn basic_batch(
    conn: &RedisConnection,
    identity: &str,
    order: &[&str],
    limit: usize,
) -> RedisResult<Batch> {
    take_batch(conn, order, "", &keys::taken(identity, ""), limit).await
}

/// What one batch fetch brought.
#[derive(Debug, Default)]
pub struct Batch {
    pub jobs: Vec<FetchedJob>,
    /// A queue of the fetch order is paused or limited (docs/design.md, §23): the idle wait must
    /// poll, since a blocking move would take a job whatever the limit says.
    pub restricted: bool,
    /// Basic fetch: how many of the jobs, by queue, were counted in the taken lists.
    pub counted: BTreeMap<String, u64>,
}

async fn take_batch(
    conn: &RedisConnection,
    order: &[&str],
    working_prefix: &str,
    taken_prefix: &str,
    limit: usize,
) -> RedisResult<Batch> {
    let mut invocation = TAKE_BATCH_SCRIPT.prepare_invoke();
    for name in order {
        invocation.key(keys::queue(name));
    }
    invocation
        .arg(working_prefix)
        .arg(limit.max(1))
        .arg(taken_prefix);
    let flat: Vec<Vec<u8>> = conn.invoke(&invocation).await?;
    Ok(batch_from_reply(flat))
}

fn batch_from_reply(flat: Vec<Vec<u8>>) -> Batch {
    let mut items = flat.into_iter();
    let restricted = items.next().is_some_and(|flag| flag == b"1");
    let mut batch = Batch {
        jobs: Vec::with_capacity(items.len() / 2),
        restricted,
        counted: Default::default(),
    };
    while let (Some(key), Some(payload)) = (items.next(), items.next()) {
        let (key, counted) = match key.strip_prefix(b"+") {
            Some(key) => (key, true),
            None => (key.as_slice(), false),
        };
        let queue = queue_name(key);
        if counted {
            *batch.counted.entry(queue.clone()).or_insert(0) += 1;
        }
        batch.jobs.push(FetchedJob { queue, payload });
    }
    batch
}

/// The queue's name from its key (`queue:<name>`). Queue names come from this process's own
/// configuration, so they are UTF-8; a lossy decode cannot misname one.
fn queue_name(key: &[u8]) -> String {
    let name = key.strip_prefix(b"queue:").unwrap_or(key);
    String::from_utf8_lossy(name).into_owned()
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
    let payload: Option<Vec<u8>> = blocking.call(&words).await?;
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
    let popped: Option<(Vec<u8>, Vec<u8>)> = blocking.call(&words).await?;
    Ok(popped.map(|(key, payload)| FetchedJob {
        queue: queue_name(&key),
        payload,
    }))
}

/// A finished job to forget in Redis, with the unique-job lock it gives back, if any
/// (docs/design.md, §24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub job: FetchedJob,
    pub lock: Option<LockRelease>,
    /// Basic fetch: the job gives back an entry of this process's taken list for its queue
    /// (docs/design.md, §23).
    pub counted: bool,
}

/// Removes acknowledged jobs from the working lists (scanning from the tail, where the oldest
/// jobs are) and releases the locks they give back, in one round trip. Basic fetch keeps no
/// working lists (`working_lists` false): only the releases are sent, and the entries of the
/// taken lists that counted jobs give back.
///
/// The releases come after every LREM of the batch, so a lock is never free while its job is
/// still in a working list: if the process dies between the two, the job is gone and its lock
/// stays until the reaper finds it orphaned, where the other order could let a twin be pushed
/// and run while recovery puts the finished job back on its queue (docs/design.md, §24).
pub async fn acknowledge(
    conn: &RedisConnection,
    identity: &str,
    acks: &[Acknowledgement],
    working_lists: bool,
) -> RedisResult<()> {
    match send_acknowledgements(conn, identity, acks, working_lists, false).await {
        // The server has not seen the release script (a restart, SCRIPT FLUSH): once more with
        // its text. The LREMs that ran already find nothing the second time.
        Err(RedisFailure::Command(message)) if message.starts_with("NOSCRIPT") => {
            send_acknowledgements(conn, identity, acks, working_lists, true).await
        }
        other => other,
    }
}

async fn send_acknowledgements(
    conn: &RedisConnection,
    identity: &str,
    acks: &[Acknowledgement],
    working_lists: bool,
    script_text: bool,
) -> RedisResult<()> {
    let mut pipe = redis::Pipeline::with_capacity(acks.len() + 1);
    if working_lists {
        for ack in acks {
            pipe.cmd("LREM")
                .arg(keys::working(identity, &ack.job.queue))
                .arg(-1)
                .arg(&ack.job.payload)
                .ignore();
        }
    }
    let mut given_back: BTreeMap<&str, u64> = BTreeMap::new();
    for ack in acks.iter().filter(|ack| ack.counted) {
        *given_back.entry(&ack.job.queue).or_insert(0) += 1;
    }
    pipe_give_back(&mut pipe, identity, given_back);
    unique_jobs::pipe_release(
        &mut pipe,
        acks.iter().filter_map(|ack| ack.lock.as_ref()),
        script_text,
    );
    if pipe.is_empty() {
        return Ok(());
    }
    conn.pipeline::<()>(&pipe).await
}

/// Pops `count` entries of this process's taken list of each queue.
fn pipe_give_back<'a>(
    pipe: &mut redis::Pipeline,
    identity: &str,
    given_back: impl IntoIterator<Item = (&'a str, u64)>,
) {
    for (queue, count) in given_back {
        pipe.cmd("LPOP")
            .arg(keys::taken(identity, queue))
            .arg(count)
            .ignore();
    }
}

/// Puts fetched-but-unfinished jobs back at the head of their queues, in their order: `jobs`
/// oldest first, the oldest ends up next to be taken. With reliable fetch a job is moved only
/// if it is still in this process's working list, so it is never doubled. With basic fetch,
/// the jobs give back their taken-list entries (`taken`) in the same round trip.
pub(crate) async fn requeue(
    conn: &RedisConnection,
    identity: &str,
    reliable: bool,
    jobs: &[FetchedJob],
    taken: &TakenSlots,
) -> RedisResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    // Each push goes in front of the one before: the newest first.
    if !reliable {
        let mut pipe = redis::Pipeline::with_capacity(jobs.len() + 1);
        for job in jobs.iter().rev() {
            pipe.cmd("RPUSH")
                .arg(keys::queue(&job.queue))
                .arg(&job.payload)
                .ignore();
        }
        let given_back = taken.release_all(jobs);
        pipe_give_back(
            &mut pipe,
            identity,
            given_back
                .iter()
                .map(|(queue, count)| (queue.as_str(), *count)),
        );
        let result = conn.pipeline::<()>(&pipe).await;
        if result.is_err() {
            // Still held: the jobs stay with this process (leftovers) or are logged as lost,
            // and the entries go at its exit.
            taken.hold(&given_back);
        }
        return result;
    }
    for job in jobs.iter().rev() {
        let mut invocation = REQUEUE_SCRIPT.prepare_invoke();
        invocation
            .key(keys::working(identity, &job.queue))
            .key(keys::queue(&job.queue))
            .arg(&job.payload);
        conn.invoke::<i64>(&invocation).await?;
    }
    Ok(())
}

/// Puts unstarted jobs back (see `requeue`) once the process has gone quiet. When Redis
/// refuses, reliable fetch leaves them in the working lists (the sweep, the exit or another
/// process puts them back), and basic fetch keeps them for this process's worker threads to
/// run, since they exist nowhere else.
pub(crate) async fn requeue_or_keep(
    conn: &RedisConnection,
    identity: &str,
    reliable: bool,
    jobs: Vec<FetchedJob>,
    state: &State,
) {
    let result = requeue(conn, identity, reliable, &jobs, &state.taken).await;
    if reliable {
        state.ledger.release(&jobs);
    }
    let Err(e) = result else { return };
    if reliable {
        state.events.warn(requeue_failure(true, &jobs, &e));
    } else {
        state.events.warn(format!(
            "Could not put {} fetched jobs back on their queues ({e}); this process runs them before it stops",
            jobs.len()
        ));
        state
            .leftovers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(jobs);
    }
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
            "Failed to requeue {} jobs: {error}; they stay in this process's working lists, from where the sweep or another process puts them back",
            jobs.len()
        );
    }
    let payloads: Vec<String> = jobs
        .iter()
        .map(|job| format!("queue:{} {}", job.queue, job.display_payload()))
        .collect();
    format!(
        "Failed to requeue {} jobs fetched with basic fetch: {error}; push them again: {}",
        jobs.len(),
        payloads.join("\n")
    )
}

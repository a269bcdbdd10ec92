//! Unique-job locks as the engine releases them (docs/design.md, §24). The release script lives
//! here, once: the engine sends it with its acknowledgements, and the Ruby side
//! (`Ferrokiq::UniqueJobs::Scripts`) runs the same text through `Ferrokiq::Native`.

use std::sync::LazyLock;

use redis::Script;

use crate::{RedisConnection, RedisResult};

/// The sorted set of every lock's digest, scored by when its job may run (the reaper's age).
pub const DIGESTS: &str = "uniquejobs:digests";

/// Lua: `batched(command, key, list)` calls `command key item...` for the items of `list`, 1,000
/// at a time (below Lua's stack limit on `unpack`); `key` may be nil, for commands such as DEL
/// that take only the list.
macro_rules! lua_batched {
    () => {
        r"
local function batched(command, key, list)
  for first = 1, #list, 1000 do
    local last = math.min(first + 999, #list)
    if key then
      redis.call(command, key, unpack(list, first, last))
    else
      redis.call(command, unpack(list, first, last))
    end
  end
end
"
    };
}

/// Releases the locks named by (digest, jid) pairs in ARGV, each only if that job holds it
/// (another holder's lock is left alone); KEYS[1] is the digests set. A lock whose last holder
/// goes is deleted with its jid key, the plugin's `:INFO`, and its place in the digests set;
/// releasing a runtime (`:RUN`) lock also pushes the plugin's wake-up sentinel for Ruby
/// processes waiting on it, as the plugin's unlock does. Returns how many holds were released.
///
/// The per-lock key names are built here from the digests rather than passed as KEYS, so one
/// call releases a whole batch (Sidekiq's data does not live in Redis Cluster, where undeclared
/// keys are refused). Per lock it makes two calls, HDEL and HLEN (the hash goes with its last
/// field); the deletions and the digests-set removals of the whole batch are one DEL and one
/// ZREM, since a call from Lua costs about as much as the work of these small ones (Redis's
/// CPU per released lock in `bench/unique_cost.rb`'s drain is what this saves).
pub const RELEASE: &str = concat!(
    lua_batched!(),
    r"
local released, gone, keys = 0, {}, {}
for i = 1, #ARGV, 2 do
  local digest = ARGV[i]
  local locked = digest .. ':LOCKED'
  if redis.call('HDEL', locked, ARGV[i + 1]) == 1 then
    released = released + 1
    if redis.call('HLEN', locked) == 0 then
      gone[#gone + 1] = digest
      keys[#keys + 1] = digest
      keys[#keys + 1] = digest .. ':INFO'
      if string.sub(digest, -4) == ':RUN' then
        redis.call('LPUSH', digest .. ':QUEUED', '1')
        redis.call('PEXPIRE', digest .. ':QUEUED', 5000)
      end
    end
  end
end
batched('DEL', nil, keys)
batched('ZREM', KEYS[1], gone)
return released
"
);

static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE));

/// Takes the client locks of a push and stores the jobs that got theirs, in one atomic call
/// (sidekiq-unique-jobs 8.1's `queue_and_lock`, for a whole bulk slice): one round trip per
/// push, where a lock script and then the push took two. KEYS[1] the digests set, KEYS[2]
/// where the jobs go (`queue:<name>`, or `schedule`), KEYS[3] the queues set. ARGV[1] the lock
/// time, ARGV[2] the queue's name (empty when scheduling), then 8 fields per job: digest (empty:
/// the job takes no lock), jid, pttl (ms, 0 = none), digests-set score, lock_limit, the
/// `:INFO` JSON (empty: none), schedule score (empty when queueing), payload. A lock is free
/// while fewer than lock_limit jobs hold it; a job already holding it keeps it. Returns 1 per
/// stored job, 0 per refused one, in order. Payloads go out with one LPUSH (or ZADD) of every
/// stored job, in their order, as a push without locks sends them; batched by 1,000 below Lua's
/// stack limit on `unpack`.
pub const QUEUE_AND_LOCK: &str = concat!(
    lua_batched!(),
    r"
local now, queue = ARGV[1], ARGV[2]
local stored, scores, jobs = {}, {}, {}
for i = 3, #ARGV, 8 do
  local digest, jid = ARGV[i], ARGV[i + 1]
  local ok = true
  if digest ~= '' then
    local locked = digest .. ':LOCKED'
    if redis.call('HLEN', locked) >= tonumber(ARGV[i + 4]) then
      ok = redis.call('HEXISTS', locked, jid) == 1
    else
      local pttl, info = tonumber(ARGV[i + 2]), ARGV[i + 5]
      redis.call('HSET', locked, jid, now)
      if pttl > 0 then
        redis.call('SET', digest, jid, 'PX', pttl)
        redis.call('PEXPIRE', locked, pttl)
        if info ~= '' then redis.call('SET', digest .. ':INFO', info, 'PX', pttl) end
      else
        redis.call('SET', digest, jid)
        if info ~= '' then redis.call('SET', digest .. ':INFO', info) end
      end
      scores[#scores + 1] = ARGV[i + 3]
      scores[#scores + 1] = digest
    end
  end
  stored[#stored + 1] = ok and 1 or 0
  if ok then
    if queue == '' then jobs[#jobs + 1] = ARGV[i + 6] end
    jobs[#jobs + 1] = ARGV[i + 7]
  end
end
batched('ZADD', KEYS[1], scores)
if #jobs > 0 then
  if queue == '' then
    batched('ZADD', KEYS[2], jobs)
  else
    redis.call('SADD', KEYS[3], queue)
    batched('LPUSH', KEYS[2], jobs)
  end
end
return stored
"
);

static QUEUE_AND_LOCK_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(QUEUE_AND_LOCK));

/// A client lock to take with a push (see `QUEUE_AND_LOCK`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientLock {
    pub digest: String,
    pub jid: String,
    /// Milliseconds the lock lives; 0 for ever.
    pub pttl: i64,
    /// The digests set's score, as `Float#to_s` writes it.
    pub score: String,
    /// How many jobs may hold the lock at once.
    pub limit: i64,
    /// The plugin's `<digest>:INFO` JSON, when `lock_info` asks for it.
    pub info: Option<Vec<u8>>,
}

/// One job of a push with locks: its lock (none for a job that takes none), its schedule score
/// (when scheduled) and its payload as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LockedPush {
    pub lock: Option<ClientLock>,
    pub at: Option<String>,
    pub payload: Vec<u8>,
}

/// Takes the locks of `jobs` and stores those that got theirs, on `queue` (or in the schedule
/// when `None`), in one round trip. `now` is the lock time (`Float#to_s`). Returns per job
/// whether it was stored.
pub async fn queue_and_lock(
    conn: &RedisConnection,
    queue: Option<&str>,
    now: &str,
    jobs: &[LockedPush],
) -> RedisResult<Vec<bool>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let target = queue.map_or_else(|| "schedule".to_string(), |name| format!("queue:{name}"));
    let mut invocation = QUEUE_AND_LOCK_SCRIPT.prepare_invoke();
    invocation
        .key(DIGESTS)
        .key(target)
        .key("queues")
        .arg(now)
        .arg(queue.unwrap_or(""));
    for job in jobs {
        match &job.lock {
            Some(lock) => invocation
                .arg(&lock.digest)
                .arg(&lock.jid)
                .arg(lock.pttl)
                .arg(&lock.score)
                .arg(lock.limit)
                .arg(lock.info.as_deref().unwrap_or_default()),
            None => invocation.arg("").arg("").arg(0).arg("").arg(0).arg(""),
        };
        invocation
            .arg(job.at.as_deref().unwrap_or(""))
            .arg(&job.payload[..]);
    }
    let stored: Vec<i64> = conn.invoke(&invocation).await?;
    Ok(stored.into_iter().map(|flag| flag == 1).collect())
}

/// One job's hold on a lock, to give back: the lock's digest and the job's jid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRelease {
    pub digest: String,
    pub jid: String,
}

/// Adds the release of `locks` to `pipe` as one script call (EVALSHA, or EVAL with the text
/// when `with_text`: after NOSCRIPT). Nothing when there is nothing to release.
pub(crate) fn pipe_release<'a>(
    pipe: &mut redis::Pipeline,
    locks: impl Iterator<Item = &'a LockRelease>,
    with_text: bool,
) {
    let mut locks = locks.peekable();
    if locks.peek().is_none() {
        return;
    }
    let cmd = if with_text {
        pipe.cmd("EVAL").arg(RELEASE)
    } else {
        pipe.cmd("EVALSHA").arg(RELEASE_SCRIPT.get_hash())
    };
    cmd.arg(1).arg(DIGESTS);
    for lock in locks {
        cmd.arg(&lock.digest).arg(&lock.jid);
    }
    cmd.ignore();
}

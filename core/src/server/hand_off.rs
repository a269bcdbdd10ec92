//! The scheduler's reliable hand-off to Ruby, for processes with client middleware
//! (docs/design.md, §5.2; keys and scripts in docs/wire-format.md, §4.4).
//!
//! The scheduler claims each due member with one script (exact ZREM from its set, LPUSH onto
//! this process's hand-off list for that set) and hands it to a Ruby thread, which runs the
//! client middleware. The push of what the middleware returned and the LREM of the claimed
//! bytes are one script again, so a job is always in its set, a hand-off list or its queue,
//! exactly one of them: a process killed in between leaves it in its hand-off list, which a
//! live process's scheduler puts back in its set, due at once. The completion pushes only if
//! its LREM found the member, so a recovery that raced with it can never lead to a second push.

use std::sync::LazyLock;

use redis::Script;

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::json::ruby_float;
use crate::server::keys;
use crate::server::registry::DEAD_AFTER;

/// The hand-off "set" of periodic jobs: a tick's job claimed by the tick's own script rather
/// than taken from a sorted set (docs/design.md, §5.1). Recovered into `schedule`, due at once.
pub const PERIODIC: &str = "periodic";

/// Every hand-off list a process may have, by set.
pub const SETS: [&str; 3] = ["retry", "schedule", PERIODIC];

/// Where a recovered member goes: its own set, or `schedule` (due now) for a periodic job, whose
/// tick is already claimed; the scheduler then pushes it as any due job, once.
pub fn home_set(set: &str) -> &str {
    if set == PERIODIC {
        "schedule"
    } else {
        set
    }
}

/// How many more claimed jobs the channel to Ruby takes now. Only the scheduler task sends, so
/// there is no less room by the time its claims are sent.
pub fn room(to_ruby: &crossbeam_channel::Sender<ClaimedJob>) -> usize {
    to_ruby.capacity().map_or(usize::MAX, |capacity| {
        capacity.saturating_sub(to_ruby.len())
    })
}

/// A member claimed from `set` (`retry`, `schedule` or `periodic`), as stored (exact bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub set: String,
    pub member: Vec<u8>,
}

/// What becomes of a claimed job once Ruby's client middleware has seen it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Pushed to `queue` as `payload` (the job as the middleware left it).
    Push { queue: String, payload: Vec<u8> },
    /// A middleware cancelled the push: the job is dropped, as Sidekiq's client drops it.
    Cancel,
    /// The job cannot be pushed (unreadable, refused by the middleware): the dead set,
    /// trimmed as any addition to it.
    Dead {
        now: f64,
        max_jobs: u64,
        timeout_secs: f64,
    },
}

// KEYS: the set, its hand-off list, the hand-off registry. ARGV: identity, set name, then the
// members. Returns one 0/1 per member: 1 when this call claimed it.
const CLAIM: &str = r"
local claimed = {}
for i = 3, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('LPUSH', KEYS[2], ARGV[i])
    claimed[#claimed + 1] = 1
  else
    claimed[#claimed + 1] = 0
  end
end
redis.call('HSET', KEYS[3], KEYS[2], ARGV[1] .. '\n' .. ARGV[2] .. '\n' .. redis.call('TIME')[1])
return claimed
";

// KEYS: the hand-off list, the hand-off registry, the target (the queue's list, or `dead`).
// ARGV: the claimed member, 'push' | 'cancel' | 'dead', then for 'push' the queue name and the
// payload, for 'dead' the score, the age cut-off and the negated size cap. Acts only when the
// member was still claimed (0 otherwise: a recovery put it back in its set).
const COMPLETE: &str = r"
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('HDEL', KEYS[2], KEYS[1]) end
if ARGV[2] == 'push' then
  redis.call('SADD', 'queues', ARGV[3])
  redis.call('LPUSH', KEYS[3], ARGV[4])
elseif ARGV[2] == 'dead' then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, ARGV[5])
end
return 1
";

// KEYS: a hand-off list, its set, the hand-off registry, the owner's heartbeat key. ARGV:
// DEAD_AFTER in seconds, '1' when the owner is known to be gone (or is this process, exiting),
// the score (now). Puts every member back in its set, due at once, and forgets the list; -1
// when the owner turned out to be alive (the rules of the working lists, registry.rs).
const RECOVER: &str = r"
if ARGV[2] ~= '1' then
  if redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
  local owner = redis.call('HGET', KEYS[3], KEYS[1])
  local stamped = owner and tonumber(string.match(owner, '\n(%d+)$'))
  if stamped and tonumber(redis.call('TIME')[1]) - stamped < tonumber(ARGV[1]) then
    return -1
  end
end
local moved = 0
local member = redis.call('RPOP', KEYS[1])
while member do
  redis.call('ZADD', KEYS[2], ARGV[3], member)
  moved = moved + 1
  member = redis.call('RPOP', KEYS[1])
end
redis.call('HDEL', KEYS[3], KEYS[1])
return moved
";

static CLAIM_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM));
static COMPLETE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(COMPLETE));
static RECOVER_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RECOVER));

fn score(at: f64) -> String {
    ruby_float(at).unwrap_or_else(|| "0.0".to_string())
}

/// Claims `members` of `set` for `identity`; returns those this call claimed (another
/// process, or a client's delete, may have taken the others).
pub async fn claim(
    conn: &RedisConnection,
    identity: &str,
    set: &str,
    members: Vec<Vec<u8>>,
) -> RedisResult<Vec<Vec<u8>>> {
    if members.is_empty() {
        return Ok(members);
    }
    let mut invocation = CLAIM_SCRIPT.prepare_invoke();
    invocation
        .key(set)
        .key(keys::hand_off(identity, set))
        .key(keys::HAND_OFF_REGISTRY)
        .arg(identity)
        .arg(set);
    for member in &members {
        invocation.arg(member);
    }
    let claimed: Vec<i64> = conn.invoke(&invocation).await?;
    Ok(members
        .into_iter()
        .zip(claimed)
        .filter_map(|(member, claimed)| (claimed == 1).then_some(member))
        .collect())
}

/// Settles a job claimed by `identity`: pushes it, drops it or kills it, and takes it off the
/// hand-off list, atomically. False when it was no longer claimed (nothing was written).
pub async fn complete(
    conn: &RedisConnection,
    identity: &str,
    job: &ClaimedJob,
    outcome: &Outcome,
) -> RedisResult<bool> {
    let mut invocation = COMPLETE_SCRIPT.prepare_invoke();
    invocation
        .key(keys::hand_off(identity, &job.set))
        .key(keys::HAND_OFF_REGISTRY);
    match outcome {
        Outcome::Push { queue, payload } => {
            invocation
                .key(keys::queue(queue))
                .arg(&job.member)
                .arg("push")
                .arg(queue)
                .arg(payload);
        }
        Outcome::Cancel => {
            invocation.key("dead").arg(&job.member).arg("cancel");
        }
        Outcome::Dead {
            now,
            max_jobs,
            timeout_secs,
        } => {
            invocation
                .key("dead")
                .arg(&job.member)
                .arg("dead")
                .arg(score(*now))
                .arg(format!("({}", score(now - timeout_secs)))
                .arg(format!("-{max_jobs}"));
        }
    }
    conn.invoke::<i64>(&invocation).await.map(|done| done == 1)
}

/// A hand-off list found in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOffOwner {
    pub identity: String,
    pub set: String,
}

impl HandOffOwner {
    /// A registry value: `identity \n set \n stamped-at`.
    fn from_entry(value: &str) -> Option<HandOffOwner> {
        let mut parts = value.splitn(3, '\n');
        let (identity, set) = (parts.next()?, parts.next()?);
        Some(HandOffOwner {
            identity: identity.to_string(),
            set: set.to_string(),
        })
    }
}

/// Puts an owner's claimed jobs back in their set unless the owner shows signs of life
/// (`gone` skips the check). How many moved, or None when the owner is alive.
async fn recover_list(
    conn: &RedisConnection,
    owner: &HandOffOwner,
    gone: bool,
    now: f64,
) -> RedisResult<Option<u64>> {
    let mut invocation = RECOVER_SCRIPT.prepare_invoke();
    invocation
        .key(keys::hand_off(&owner.identity, &owner.set))
        .key(home_set(&owner.set))
        .key(keys::HAND_OFF_REGISTRY)
        .key(&owner.identity)
        .arg(DEAD_AFTER.as_secs())
        .arg(if gone { "1" } else { "0" })
        .arg(score(now));
    let moved: i64 = conn.invoke(&invocation).await?;
    Ok(u64::try_from(moved).ok())
}

/// Recovers the hand-off lists of other processes that are gone (`gone_for_sure(identity)`:
/// known gone, its pid on this host no longer exists). Returns (owner, jobs put back) for each
/// list recovered.
pub async fn recover_orphans(
    conn: &RedisConnection,
    own_identity: &str,
    now: f64,
    gone_for_sure: impl Fn(&str) -> bool,
) -> RedisResult<Vec<(HandOffOwner, u64)>> {
    let registry: Vec<(String, String)> = conn
        .call(&[
            b"HGETALL".to_vec(),
            keys::HAND_OFF_REGISTRY.as_bytes().to_vec(),
        ])
        .await?;
    let mut recovered = Vec::new();
    for (_list, value) in registry {
        let Some(owner) = HandOffOwner::from_entry(&value) else {
            continue;
        };
        if owner.identity == own_identity {
            continue;
        }
        let gone = gone_for_sure(&owner.identity);
        if let Some(moved) = recover_list(conn, &owner, gone, now).await? {
            recovered.push((owner, moved));
        }
    }
    Ok(recovered)
}

/// At a clean exit: whatever this process claimed and did not settle goes back in its set.
pub async fn release(conn: &RedisConnection, identity: &str, sets: &[&str]) -> RedisResult<u64> {
    let mut moved = 0;
    for set in sets {
        let owner = HandOffOwner {
            identity: identity.to_string(),
            set: (*set).to_string(),
        };
        let now = crate::payload::now_epoch_seconds();
        moved += recover_list(conn, &owner, true, now).await?.unwrap_or(0);
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_registry_values() {
        assert_eq!(
            HandOffOwner::from_entry("h:1:0123456789ab\nschedule\n1700000000"),
            Some(HandOffOwner {
                identity: "h:1:0123456789ab".into(),
                set: "schedule".into()
            })
        );
        assert_eq!(HandOffOwner::from_entry("garbage"), None);
    }
}

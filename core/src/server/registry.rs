//! The registry of working lists, `ferrokiq:working` (docs/wire-format.md §3): field = a
//! working list's key, value = `identity \n queue \n last assertion` (Redis's clock, whole
//! seconds). Any process can find a dead process's lists through it and put their jobs back.
//!
//! A list is only ever recovered when its owner is certainly or very probably gone: on this
//! host, its pid no longer exists; elsewhere, its heartbeat key has expired *and* it has not
//! re-asserted its lists for `DEAD_AFTER`. Every live process re-asserts its lists every few
//! seconds, so a process that is starting (registered, no heartbeat yet) or stalled for less
//! than `DEAD_AFTER` is never taken for dead; and a process whose entry was removed anyway
//! (a long stall, an operator) writes it back at its next assertion. The liveness check and
//! the move run in one script, so an owner that re-asserts meanwhile keeps its jobs.
//!
//! Basic fetch's taken lists (entries counting jobs against queue limits, docs/design.md, §23)
//! have a registry of their own, `ferrokiq:taken`, with the same values and the same rules,
//! except that a dead process's taken list is dropped, not moved: it holds no jobs. (A
//! separate registry, so that a Ferrokiq version that knows only working lists never moves
//! entries of a taken list onto a queue.)

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::server::config::FetchMode;
use crate::server::keys;

/// How long a process whose heartbeat expired must also have been silent in the registry
/// before its working lists are recovered by another host. Longer than the heartbeat's TTL
/// (60 s) plus its period, so a live process has had several chances to re-assert.
pub const DEAD_AFTER: Duration = Duration::from_secs(90);

// KEYS: the registry, then this process's working lists. ARGV: identity, then each list's
// queue. Writes every entry with Redis's current time.
const ASSERT: &str = r"
local now = redis.call('TIME')[1]
for i = 2, #KEYS do
  redis.call('HSET', KEYS[1], KEYS[i], ARGV[1] .. '\n' .. ARGV[i] .. '\n' .. now)
end
return #KEYS - 1
";

// KEYS: working list, its queue, the registry, the owner's heartbeat key. ARGV: DEAD_AFTER in
// seconds, '1' when the owner is known to be gone (or is this process, exiting), '1' for a
// taken list. Moves every job back to the queue (the oldest ends up at the head), or drops a
// taken list, and forgets the list; -1 when the owner turned out to be alive.
const RECOVER: &str = r"
if ARGV[2] ~= '1' then
  if redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
  local owner = redis.call('HGET', KEYS[3], KEYS[1])
  local asserted = owner and tonumber(string.match(owner, '\n(%d+)$'))
  if asserted and tonumber(redis.call('TIME')[1]) - asserted < tonumber(ARGV[1]) then
    return -1
  end
end
if ARGV[3] == '1' then
  local dropped = redis.call('LLEN', KEYS[1])
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[3], KEYS[1])
  return dropped
end
local moved = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do
  moved = moved + 1
end
redis.call('HDEL', KEYS[3], KEYS[1])
return moved
";

// KEYS: the registry, a working list found by scanning. ARGV: its owner, its queue. Registers
// a list that exists but is missing from the registry, as asserted now, so that it gets the
// same grace as any other before it is recovered.
const ADOPT: &str = r"
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local now = redis.call('TIME')[1]
return redis.call('HSETNX', KEYS[1], KEYS[2], ARGV[1] .. '\n' .. ARGV[2] .. '\n' .. now)
";

static ASSERT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ASSERT));
static RECOVER_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RECOVER));
static ADOPT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ADOPT));

/// Which lists a registry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// Reliable fetch's working lists: the jobs themselves.
    Working,
    /// Basic fetch's taken lists: one entry per job held against a queue's limits.
    Taken,
}

impl Lists {
    /// The lists a process with this fetch keeps.
    pub fn of(fetch: FetchMode) -> Lists {
        match fetch {
            FetchMode::Reliable => Lists::Working,
            FetchMode::Basic => Lists::Taken,
        }
    }

    fn registry(self) -> &'static str {
        match self {
            Lists::Working => keys::WORKING_REGISTRY,
            Lists::Taken => keys::TAKEN_REGISTRY,
        }
    }

    fn key(self, identity: &str, queue: &str) -> String {
        match self {
            Lists::Working => keys::working(identity, queue),
            Lists::Taken => keys::taken(identity, queue),
        }
    }
}

/// Writes (or re-writes) this process's lists into their registry, stamped now.
pub async fn assert_lists(
    conn: &RedisConnection,
    lists: Lists,
    identity: &str,
    queues: &[String],
) -> RedisResult<()> {
    let mut invocation = ASSERT_SCRIPT.prepare_invoke();
    invocation.key(lists.registry()).arg(identity);
    for queue in queues {
        invocation.key(lists.key(identity, queue)).arg(queue);
    }
    conn.invoke::<i64>(&invocation).await.map(|_| ())
}

/// Moves a list's jobs back to its queue (drops a taken list) unless its owner shows signs of
/// life (`gone` skips the check). Returns how many entries went, or None when the owner is
/// alive.
async fn recover_list(
    conn: &RedisConnection,
    lists: Lists,
    owner: &Owner,
    gone: bool,
) -> RedisResult<Option<u64>> {
    let mut invocation = RECOVER_SCRIPT.prepare_invoke();
    invocation
        .key(lists.key(&owner.identity, &owner.queue))
        .key(keys::queue(&owner.queue))
        .key(lists.registry())
        .key(&owner.identity)
        .arg(DEAD_AFTER.as_secs())
        .arg(if gone { "1" } else { "0" })
        .arg(if lists == Lists::Taken { "1" } else { "0" });
    let moved: i64 = conn.invoke(&invocation).await?;
    Ok(u64::try_from(moved).ok())
}

/// At a clean exit: anything still in this process's working lists goes back to its queue
/// (its taken lists are dropped), and the lists leave the registry.
pub async fn release_lists(
    conn: &RedisConnection,
    lists: Lists,
    identity: &str,
    queues: &[String],
) -> RedisResult<u64> {
    let mut moved = 0;
    for queue in queues {
        let owner = Owner {
            identity: identity.to_string(),
            queue: queue.clone(),
        };
        moved += recover_list(conn, lists, &owner, true).await?.unwrap_or(0);
    }
    Ok(moved)
}

/// Whose working list an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub identity: String,
    pub queue: String,
}

impl Owner {
    /// A registry value: `identity \n queue` with an optional `\n asserted-at`.
    fn from_entry(value: &str) -> Option<Owner> {
        let mut parts = value.splitn(3, '\n');
        let (identity, queue) = (parts.next()?, parts.next()?);
        Some(Owner {
            identity: identity.to_string(),
            queue: queue.to_string(),
        })
    }

    /// A working list's key, `ferrokiq:working:<host>:<pid>:<nonce>:<queue>`. Host names and
    /// queue names may hold colons; the pid (digits) followed by the 12-hex-digit nonce marks
    /// where the identity ends.
    pub fn from_list_key(key: &str) -> Option<Owner> {
        let rest = key.strip_prefix(keys::WORKING_PREFIX)?;
        let parts: Vec<&str> = rest.split(':').collect();
        let end = (1..parts.len().saturating_sub(2)).find(|&i| {
            let (pid, nonce) = (parts[i], parts[i + 1]);
            !pid.is_empty()
                && pid.bytes().all(|b| b.is_ascii_digit())
                && nonce.len() == 12
                && nonce.bytes().all(|b| b.is_ascii_hexdigit())
        })?;
        Some(Owner {
            identity: parts[..=end + 1].join(":"),
            queue: parts[end + 2..].join(":"),
        })
    }
}

/// What one recovery pass did: (owner, jobs moved) for each list it recovered.
pub type Recovered = Vec<(Owner, u64)>;

/// Recovers the working lists of processes that are gone (see the module's rules).
/// `gone_for_sure(identity)` says whether a process is known to be gone (its pid, on this
/// host, no longer exists).
pub async fn recover_orphans(
    conn: &RedisConnection,
    lists: Lists,
    own_identity: &str,
    gone_for_sure: impl Fn(&str) -> bool,
) -> RedisResult<Recovered> {
    let registry: Vec<(String, String)> = conn
        .call(&[b"HGETALL".to_vec(), lists.registry().as_bytes().to_vec()])
        .await?;
    let mut recovered = Vec::new();
    for (_list, value) in registry {
        let Some(owner) = Owner::from_entry(&value) else {
            continue;
        };
        if owner.identity == own_identity {
            continue;
        }
        let gone = gone_for_sure(&owner.identity);
        if let Some(moved) = recover_list(conn, lists, &owner, gone).await? {
            recovered.push((owner, moved));
        }
    }
    Ok(recovered)
}

/// Finds working lists that exist but are missing from the registry (written by a process
/// after its entry was removed, or left by a crash mid-registration) and registers them, so
/// the usual rules recover them if their owner is gone. Returns how many were adopted.
pub async fn adopt_unregistered(conn: &RedisConnection) -> RedisResult<usize> {
    let pattern = format!("{}*", keys::WORKING_PREFIX);
    let mut cursor = "0".to_string();
    let mut adopted = 0;
    loop {
        let (next, found): (String, Vec<String>) = conn
            .call(&[
                b"SCAN".to_vec(),
                cursor.into_bytes(),
                b"MATCH".to_vec(),
                pattern.clone().into_bytes(),
                b"COUNT".to_vec(),
                b"1000".to_vec(),
            ])
            .await?;
        for key in found {
            let Some(owner) = Owner::from_list_key(&key) else {
                continue;
            };
            let mut invocation = ADOPT_SCRIPT.prepare_invoke();
            invocation
                .key(keys::WORKING_REGISTRY)
                .key(&key)
                .arg(&owner.identity)
                .arg(&owner.queue);
            adopted += conn.invoke::<usize>(&invocation).await?;
        }
        if next == "0" {
            return Ok(adopted);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_owners_from_list_keys() {
        let owner = Owner::from_list_key("ferrokiq:working:web-1:4242:0123456789ab:default");
        assert_eq!(
            owner,
            Some(Owner {
                identity: "web-1:4242:0123456789ab".into(),
                queue: "default".into()
            })
        );
        let colons = Owner::from_list_key("ferrokiq:working:a:b:17:abcdefabcdef:low:prio");
        assert_eq!(
            colons,
            Some(Owner {
                identity: "a:b:17:abcdefabcdef".into(),
                queue: "low:prio".into()
            })
        );
        assert_eq!(Owner::from_list_key("ferrokiq:working:nohex:12:zz"), None);
        assert_eq!(Owner::from_list_key("queue:default"), None);
    }

    #[test]
    fn reads_old_and_new_registry_values() {
        let expected = Some(Owner {
            identity: "h:1:0123456789ab".into(),
            queue: "q".into(),
        });
        assert_eq!(Owner::from_entry("h:1:0123456789ab\nq"), expected);
        assert_eq!(
            Owner::from_entry("h:1:0123456789ab\nq\n1700000000"),
            expected
        );
        assert_eq!(Owner::from_entry("garbage"), None);
    }
}

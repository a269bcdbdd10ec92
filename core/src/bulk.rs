//! The Web UI's and Data API's "all" actions on a sorted set (`retry`, `schedule`, `dead`):
//! Retry all, Add all to queue and Kill all, in bounded batches (docs/web.md §6).
//!
//! Each batch is read (`ZRANGE … WITHSCORES`), the payloads to push are written here, and one
//! Lua script then moves the whole batch: for each member, `ZREM` and, only if that removed
//! it, `LPUSH` to its queue (or `ZADD` to the dead set). A script runs atomically, so a Redis
//! failure between batches leaves every job in exactly one place, and a member another client
//! took meanwhile is neither pushed nor counted. Nothing is parsed in Ruby.

use std::sync::LazyLock;

use redis::Script;
use serde_json::{Map, Number, Value};

use crate::connection::RedisConnection;
use crate::error::{RedisFailure, RedisResult};
use crate::json::{ruby_float, write_object};

/// Members moved per script: large enough that 100k entries take a hundred round trips, small
/// enough that one script holds Redis for a few milliseconds only.
pub const BATCH: usize = 1_000;

/// ARGV: (member, queue, payload) triples. The queue is registered as the client does. A
/// script stopped by an error keeps the writes it made, so every destination is checked before
/// the first write: a batch is moved whole or not at all.
const TO_QUEUES: &str = r"
for i = 2, #ARGV, 3 do
  local kind = redis.call('type', 'queue:' .. ARGV[i])['ok']
  if kind ~= 'list' and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE queue:' .. ARGV[i] .. ' is not a list; no job of this batch was moved')
  end
end
local moved = 0
for i = 1, #ARGV, 3 do
  if redis.call('zrem', KEYS[1], ARGV[i]) == 1 then
    redis.call('sadd', 'queues', ARGV[i + 1])
    redis.call('lpush', 'queue:' .. ARGV[i + 1], ARGV[i + 2])
    moved = moved + 1
  end
end
return moved
";

/// KEYS: the set, the dead set; ARGV: the score (now), then the members. Checked first, as
/// above.
const TO_DEAD: &str = r"
local kind = redis.call('type', KEYS[2])['ok']
if kind ~= 'zset' and kind ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[2] .. ' is not a sorted set; no job of this batch was moved')
end
local moved = 0
for i = 2, #ARGV do
  if redis.call('zrem', KEYS[1], ARGV[i]) == 1 then
    redis.call('zadd', KEYS[2], ARGV[1], ARGV[i])
    moved = moved + 1
  end
end
return moved
";

static TO_QUEUES_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TO_QUEUES));
static TO_DEAD_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TO_DEAD));

/// How a job is pushed back to its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// `Add to queue`: the payload as stored, with a new `enqueued_at`.
    AsIs,
    /// `Retry`: as `AsIs`, and `retry_count` one lower (a manual retry is not one of the job's
    /// counted attempts, as `JobSet.manual_retry` does).
    ManualRetry,
}

/// What a bulk move did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// Jobs moved to their queue or the dead set.
    pub moved: u64,
    /// Members left in the set because they are not job payloads (a JSON object).
    pub unreadable: u64,
}

/// The payload to push for `member`, and its queue; `None` if it is not a JSON object.
pub fn queued_payload(member: &[u8], push: Push, now: f64) -> Option<(String, Vec<u8>)> {
    let Ok(Value::Object(mut job)) = serde_json::from_slice::<Value>(member) else {
        return None;
    };
    if push == Push::ManualRetry {
        lower_retry_count(&mut job);
    }
    let stamp = Number::from_f64(now)?;
    job.insert("enqueued_at".to_string(), Value::Number(stamp));
    let queue = match job.get("queue") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => "default".to_string(),
    };
    let mut out = Vec::with_capacity(member.len() + 16);
    write_object(&mut out, &job).ok()?;
    Some((queue, out))
}

fn lower_retry_count(job: &mut Map<String, Value>) {
    if let Some(count) = job.get("retry_count").and_then(Value::as_i64) {
        job.insert("retry_count".to_string(), Value::from(count - 1));
    }
}

/// Pushes the jobs of sorted set `key` to their queues, lowest score first, taking at most
/// `limit` members (the set's size when the action started, so that jobs arriving meanwhile
/// are not taken). Unreadable members stay where they are. `now` is the caller's clock (Ruby's,
/// which tests may stub) for every payload's `enqueued_at`: the time the action was asked for.
pub async fn move_to_queues(
    conn: &RedisConnection,
    key: &str,
    push: Push,
    limit: u64,
    now: f64,
) -> RedisResult<Moved> {
    let mut done = Moved::default();
    let mut seen = 0u64;
    while seen < limit {
        let want = BATCH.min(usize::try_from(limit - seen).unwrap_or(BATCH));
        // Unreadable members stay at the front of what is left: read past them.
        let members = read_batch(conn, key, done.unreadable, want).await?;
        if members.is_empty() {
            break;
        }
        seen += members.len() as u64;
        let mut invocation = TO_QUEUES_SCRIPT.prepare_invoke();
        invocation.key(key);
        let mut any = false;
        for member in &members {
            match queued_payload(member, push, now) {
                Some((queue, payload)) => {
                    invocation.arg(member.as_slice()).arg(queue).arg(payload);
                    any = true;
                }
                None => done.unreadable += 1,
            }
        }
        if any {
            let moved: u64 = conn.invoke(&invocation).await?;
            done.moved += moved;
        }
    }
    Ok(done)
}

/// Moves the members of sorted set `key` to `dead`, scored `now` (the caller's clock), lowest
/// score first, at most `limit` of them. The dead set is not trimmed here: the caller trims it
/// once at the end.
pub async fn move_to_dead(
    conn: &RedisConnection,
    key: &str,
    limit: u64,
    now: f64,
) -> RedisResult<u64> {
    let mut moved = 0u64;
    let mut seen = 0u64;
    while seen < limit {
        let want = BATCH.min(usize::try_from(limit - seen).unwrap_or(BATCH));
        let members = read_batch(conn, key, 0, want).await?;
        if members.is_empty() {
            break;
        }
        seen += members.len() as u64;
        let score = ruby_float(now).unwrap_or_else(|| "0.0".to_string());
        let mut invocation = TO_DEAD_SCRIPT.prepare_invoke();
        invocation.key(key).key("dead").arg(score);
        for member in &members {
            invocation.arg(member.as_slice());
        }
        let batch: u64 = conn.invoke(&invocation).await?;
        moved += batch;
    }
    Ok(moved)
}

/// `count` members of `key` from rank `skip`, lowest score first.
async fn read_batch(
    conn: &RedisConnection,
    key: &str,
    skip: u64,
    count: usize,
) -> RedisResult<Vec<Vec<u8>>> {
    let last = skip
        .checked_add(count as u64)
        .and_then(|end| end.checked_sub(1))
        .ok_or_else(|| RedisFailure::Command("empty batch".to_string()))?;
    let words = [
        b"ZRANGE".to_vec(),
        key.as_bytes().to_vec(),
        skip.to_string().into_bytes(),
        last.to_string().into_bytes(),
    ];
    conn.call(&words).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8]) -> Map<String, Value> {
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(map)) => map,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn a_manual_retry_lowers_the_retry_count_and_stamps_enqueued_at() {
        let member =
            br#"{"class":"A","args":[1,[]],"queue":"mail","retry_count":3,"enqueued_at":1.5}"#;
        let (queue, payload) =
            queued_payload(member, Push::ManualRetry, 1_700_000_000.25).expect("a job");
        assert_eq!(queue, "mail");
        assert_eq!(
            String::from_utf8(payload).expect("utf-8"),
            r#"{"class":"A","args":[1,[]],"queue":"mail","retry_count":2,"enqueued_at":1700000000.25}"#
        );
    }

    #[test]
    fn add_to_queue_keeps_the_retry_count() {
        let member = br#"{"class":"A","args":[],"queue":"q","retry_count":3}"#;
        let (_, payload) = queued_payload(member, Push::AsIs, 2.0).expect("a job");
        assert_eq!(parsed(&payload)["retry_count"], Value::from(3));
        assert_eq!(parsed(&payload)["enqueued_at"].as_f64(), Some(2.0));
    }

    #[test]
    fn a_job_without_a_queue_goes_to_default() {
        let (queue, _) =
            queued_payload(br#"{"class":"A","args":[]}"#, Push::AsIs, 1.0).expect("a job");
        assert_eq!(queue, "default");
    }

    #[test]
    fn what_is_not_a_json_object_is_not_pushed() {
        assert_eq!(queued_payload(b"not json", Push::AsIs, 1.0), None);
        assert_eq!(queued_payload(b"[1,2]", Push::AsIs, 1.0), None);
    }
}

//! Moving due jobs from the `retry` and `schedule` sets to their queues, on time.
//!
//! Sidekiq polls every few seconds, so a due job starts seconds late. Here one process at a
//! time (the holder of a short lease in Redis) watches the earliest score and sleeps exactly
//! until it, waking at least every second to notice jobs scheduled sooner; the others only
//! check the lease. Redis sees about one call per second for the whole cluster whatever the
//! number of processes, and a job starts within milliseconds of its time.
//!
//! Each move is atomic (ZREM and LPUSH in one script, keyed on the exact member), so a job is
//! never lost between the set and its queue, and two processes can never both move it. The
//! payload is re-pushed as Sidekiq's client would: the default job options under its own
//! keys, `jid` and `created_at` kept, a new `enqueued_at`. With client middleware configured,
//! the same pass claims the due jobs for Ruby instead (`hand_off.rs`), at the same moment.

use std::sync::LazyLock;
use std::time::Duration;

use crossbeam_channel::Sender;
use futures_util::future::join_all;
use redis::Script;
use serde_json::{Map, Number, Value};

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::json::{self, EncodeError};
use crate::payload::{new_jid, now_epoch_seconds};
use crate::server::hand_off::{self, ClaimedJob};
use crate::server::sets;

pub const LEASE_KEY: &str = "ferrokiq:scheduler";
const LEASE_MS: u64 = 3_000;
/// The longest the lease holder sleeps before looking again.
pub const MAX_NAP: Duration = Duration::from_secs(1);
/// How many due jobs one pass moves before looking again.
const BATCH: usize = 100;
/// Sidekiq's sorted sets, in the order Sidekiq polls them.
pub const SETS: [&str; 2] = ["retry", "schedule"];

const TAKE_LEASE: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

// KEYS: the set. ARGV: the member as stored, its queue, the payload to enqueue.
const MOVE_DUE: &str = r"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('SADD', 'queues', ARGV[2])
  redis.call('LPUSH', 'queue:' .. ARGV[2], ARGV[3])
  return 1
end
return 0
";

static TAKE_LEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE_LEASE));
static RELEASE_LEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE_LEASE));
static MOVE_DUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(MOVE_DUE));

/// Whether this process holds (and has just renewed) the lease `key`.
pub async fn take_lease(conn: &RedisConnection, key: &str, identity: &str) -> RedisResult<bool> {
    let mut invocation = TAKE_LEASE_SCRIPT.prepare_invoke();
    invocation.key(key).arg(identity).arg(LEASE_MS);
    conn.invoke::<i64>(&invocation).await.map(|held| held == 1)
}

pub async fn release_lease(conn: &RedisConnection, key: &str, identity: &str) -> RedisResult<()> {
    let mut invocation = RELEASE_LEASE_SCRIPT.prepare_invoke();
    invocation.key(key).arg(identity);
    conn.invoke::<i64>(&invocation).await.map(|_| ())
}

/// The job as Sidekiq's client would push it again: `defaults.merge(job)`, `jid` and
/// `created_at` kept (or added), `enqueued_at` now. Returns (queue, JSON).
pub fn requeued_payload(
    stored: &[u8],
    defaults: &Map<String, Value>,
    now: f64,
) -> Result<(String, Vec<u8>), String> {
    // Not UTF-8 is as unreadable as not JSON: serde_json refuses both.
    let Value::Object(job) = serde_json::from_slice::<Value>(stored).map_err(|e| e.to_string())?
    else {
        return Err("not a JSON object".to_string());
    };
    let mut merged = Map::with_capacity(job.len() + 2);
    for (key, default) in defaults {
        merged.insert(key.clone(), job.get(key).unwrap_or(default).clone());
    }
    for (key, value) in job {
        if !merged.contains_key(&key) {
            merged.insert(key, value);
        }
    }
    let timestamp = || {
        Number::from_f64(now)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    };
    if merged.get("jid").is_none_or(Value::is_null) {
        merged.insert(
            "jid".into(),
            Value::String(new_jid().map_err(|e| e.to_string())?),
        );
    }
    if merged.get("created_at").is_none_or(Value::is_null) {
        merged.insert("created_at".into(), timestamp());
    }
    merged.insert("enqueued_at".into(), timestamp());
    let queue = match merged.get("queue") {
        Some(Value::String(queue)) if !queue.is_empty() => queue.clone(),
        _ => return Err("no queue".to_string()),
    };
    let mut out = Vec::with_capacity(stored.len() + 32);
    json::write_object(&mut out, &merged).map_err(|e: EncodeError| e.to_string())?;
    Ok((queue, out))
}

/// What one pass did.
#[derive(Debug, Default, PartialEq)]
pub struct Pass {
    /// Jobs moved to their queues, or claimed for the hand-off.
    pub moved: usize,
    /// Members that are not jobs (shown with U+FFFD for bytes that are not UTF-8), and why;
    /// they went to the dead set.
    pub invalid: Vec<(String, String)>,
    /// The earliest score left in either set.
    pub next_due: Option<f64>,
    /// The hand-off had no room for more: wait until Ruby takes some.
    pub full: bool,
}

/// Where a pass sends due jobs: straight to their queues, or (client middleware configured)
/// claimed into this process's hand-off lists and onto a channel to Ruby (docs/design.md, §5.2).
#[derive(Clone, Copy)]
pub enum Mover<'a> {
    Push,
    HandOff {
        identity: &'a str,
        to_ruby: &'a Sender<ClaimedJob>,
    },
}

impl Mover<'_> {
    /// How many due jobs of one set this pass may take.
    fn room(&self) -> usize {
        match self {
            Mover::Push => BATCH,
            Mover::HandOff { to_ruby, .. } => hand_off::room(to_ruby).min(BATCH),
        }
    }
}

/// Moves (or claims) what is due now; reports when the next job is due.
pub async fn pass(
    conn: &RedisConnection,
    defaults: &Map<String, Value>,
    dead: (u64, f64),
    mover: Mover<'_>,
) -> RedisResult<Pass> {
    let mut result = Pass::default();
    let now = now_epoch_seconds();
    for set in SETS {
        let room = mover.room();
        if room == 0 {
            result.full = true;
            break;
        }
        let words = [
            b"ZRANGE".to_vec(),
            set.as_bytes().to_vec(),
            b"-inf".to_vec(),
            json::ruby_float(now).unwrap_or_default().into_bytes(),
            b"BYSCORE".to_vec(),
            b"LIMIT".to_vec(),
            b"0".to_vec(),
            room.to_string().into_bytes(),
        ];
        let due: Vec<Vec<u8>> = conn.call(&words).await?;
        let mut readable = Vec::with_capacity(due.len());
        let mut moves = Vec::new();
        for member in due {
            match requeued_payload(&member, defaults, now_epoch_seconds()) {
                Ok((queue, payload)) => match mover {
                    Mover::Push => {
                        let mut invocation = MOVE_DUE_SCRIPT.prepare_invoke();
                        invocation.key(set).arg(&member).arg(&queue).arg(&payload);
                        moves.push(invocation);
                    }
                    Mover::HandOff { .. } => readable.push(member),
                },
                Err(why) => {
                    let removed: i64 = conn
                        .call(&[b"ZREM".to_vec(), set.as_bytes().to_vec(), member.clone()])
                        .await?;
                    if removed == 1 {
                        sets::send_to_morgue(conn, now, &member, dead.0, dead.1).await?;
                        let shown = String::from_utf8_lossy(&member).into_owned();
                        result.invalid.push((shown, why));
                    }
                }
            }
        }
        // Jobs due together are moved together: their scripts (a batch's worth at most) go out
        // at once over the multiplexed connection, so the last of them waits one round trip,
        // not one per job before it. Each script still moves its one member or nothing.
        for moved in join_all(
            moves
                .iter()
                .map(|invocation| conn.invoke::<usize>(invocation)),
        )
        .await
        {
            result.moved += moved?;
        }
        if let Mover::HandOff { identity, to_ruby } = mover {
            for member in hand_off::claim(conn, identity, set, readable).await? {
                result.moved += 1;
                // Room was checked above and only this task sends; a job that cannot be sent
                // (the engine is going away) stays claimed, and the exit puts it back.
                let _ = to_ruby.try_send(ClaimedJob {
                    set: set.to_string(),
                    member,
                });
            }
        }
    }
    let mut pipe = redis::Pipeline::new();
    for set in SETS {
        pipe.cmd("ZRANGE").arg(set).arg(0).arg(0).arg("WITHSCORES");
    }
    let heads: Vec<Vec<(String, f64)>> = conn.pipeline(&pipe).await?;
    result.next_due = heads
        .iter()
        .filter_map(|head| head.first().map(|(_, score)| *score))
        .reduce(f64::min);
    Ok(result)
}

/// How long to sleep after a pass.
pub fn nap(pass: &Pass, now: f64) -> Duration {
    match pass.next_due {
        _ if pass.full => MAX_NAP,
        _ if pass.moved >= BATCH => Duration::ZERO,
        Some(due) if due <= now => Duration::ZERO,
        Some(due) => Duration::from_secs_f64(due - now).min(MAX_NAP),
        None => MAX_NAP,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Map<String, Value> {
        serde_json::from_str(r#"{"retry":true,"queue":"default"}"#).unwrap()
    }

    #[test]
    fn keeps_the_job_and_sets_enqueued_at_like_the_ruby_client() {
        let stored = r#"{"retry":3,"queue":"low","args":[1,"é"],"class":"HardJob","jid":"0123456789abcdef01234567","created_at":1700000000.5}"#;
        let (queue, payload) =
            requeued_payload(stored.as_bytes(), &defaults(), 1700000100.25).unwrap();
        assert_eq!(queue, "low");
        assert_eq!(
            String::from_utf8(payload).unwrap(),
            r#"{"retry":3,"queue":"low","args":[1,"é"],"class":"HardJob","jid":"0123456789abcdef01234567","created_at":1700000000.5,"enqueued_at":1700000100.25}"#
        );
    }

    #[test]
    fn merges_defaults_first_as_ruby_hash_merge_does() {
        let stored = r#"{"class":"X","args":[],"jid":"j","created_at":1.5,"enqueued_at":2.5}"#;
        let (queue, payload) = requeued_payload(stored.as_bytes(), &defaults(), 3.0).unwrap();
        assert_eq!(queue, "default");
        assert_eq!(
            String::from_utf8(payload).unwrap(),
            r#"{"retry":true,"queue":"default","class":"X","args":[],"jid":"j","created_at":1.5,"enqueued_at":3.0}"#
        );
    }

    #[test]
    fn refuses_what_is_not_a_job() {
        assert!(requeued_payload(b"{nope", &defaults(), 1.0).is_err());
        assert!(requeued_payload(b"[1]", &defaults(), 1.0).is_err());
        assert!(requeued_payload(b"caf\xe9", &defaults(), 1.0).is_err());
        let latin1 = b"{\"class\":\"X\",\"queue\":\"q\",\"args\":[\"caf\xe9\"]}";
        assert!(requeued_payload(latin1, &defaults(), 1.0).is_err());
    }

    #[test]
    fn naps_until_the_next_job_at_most_a_second() {
        let pass = |next_due, moved| Pass {
            moved,
            invalid: vec![],
            next_due,
            full: false,
        };
        assert_eq!(nap(&pass(Some(10.25), 0), 10.0), Duration::from_millis(250));
        assert_eq!(nap(&pass(Some(50.0), 0), 10.0), MAX_NAP);
        assert_eq!(nap(&pass(None, 0), 10.0), MAX_NAP);
        assert_eq!(nap(&pass(Some(9.0), 0), 10.0), Duration::ZERO);
        assert_eq!(nap(&pass(Some(50.0), BATCH), 10.0), Duration::ZERO);
        let full = Pass {
            full: true,
            ..pass(Some(9.0), 3)
        };
        assert_eq!(nap(&full, 10.0), MAX_NAP);
    }
}

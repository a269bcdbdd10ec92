//! The sorted sets the server writes: `retry`, `dead`, and the due-job pop of the scheduler
//! (docs/wire-format.md §1.3, §1.6, §4).

use std::sync::LazyLock;

use redis::Script;

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::json::ruby_float;

/// Sidekiq 7's scheduler script: pops one member due at `now` (score <= now).
const POP_DUE: &str = r"
local key, now = KEYS[1], ARGV[1]
local jobs = redis.call('zrange', key, '-inf', now, 'byscore', 'limit', 0, 1)
if jobs[1] then
  redis.call('zrem', key, jobs[1])
  return jobs[1]
end
";

static POP_DUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(POP_DUE));

fn score(at: f64) -> String {
    ruby_float(at).unwrap_or_else(|| "0.0".to_string())
}

/// `ZADD retry <at> <payload>`.
pub async fn schedule_retry(conn: &RedisConnection, at: f64, payload: &[u8]) -> RedisResult<()> {
    let words = [
        b"ZADD".to_vec(),
        b"retry".to_vec(),
        score(at).into_bytes(),
        payload.to_vec(),
    ];
    conn.call::<i64>(&words).await.map(|_| ())
}

/// Adds a job to the dead set and trims it by age and size, in one MULTI, as Sidekiq does
/// (`ZREMRANGEBYRANK dead 0 -max` keeps the newest max-1 entries, exactly like Sidekiq).
pub async fn send_to_morgue(
    conn: &RedisConnection,
    now: f64,
    payload: &[u8],
    max_jobs: u64,
    timeout_secs: f64,
) -> RedisResult<()> {
    let mut pipe = redis::Pipeline::new();
    pipe.atomic();
    pipe.cmd("ZADD")
        .arg("dead")
        .arg(score(now))
        .arg(payload)
        .ignore();
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg("dead")
        .arg("-inf")
        .arg(format!("({}", score(now - timeout_secs)))
        .ignore();
    pipe.cmd("ZREMRANGEBYRANK")
        .arg("dead")
        .arg(0)
        .arg(format!("-{max_jobs}"))
        .ignore();
    conn.pipeline::<()>(&pipe).await
}

/// Pops one job from `set` (`retry` or `schedule`) whose time has come.
pub async fn pop_due(conn: &RedisConnection, set: &str, now: f64) -> RedisResult<Option<Vec<u8>>> {
    let mut invocation = POP_DUE_SCRIPT.prepare_invoke();
    invocation.key(set).arg(score(now));
    conn.invoke(&invocation).await
}

//! The client's Redis writes, as Sidekiq makes them (docs/wire-format.md §1.2, §1.3, §2.4).

use redis::Pipeline;

use crate::connection::RedisConnection;
use crate::error::RedisResult;

/// Enqueue for immediate work: `SADD queues <q>` and `LPUSH queue:<q> <json…>`, pipelined
/// (not MULTI), in one round trip. The payloads must already carry `enqueued_at`.
pub async fn push_to_queue<P: AsRef<[u8]>>(
    conn: &RedisConnection,
    queue: &str,
    payloads: &[P],
) -> RedisResult<()> {
    if payloads.is_empty() {
        return Ok(());
    }
    let mut pipe = Pipeline::with_capacity(2);
    pipe.cmd("SADD").arg("queues").arg(queue).ignore();
    let lpush = pipe.cmd("LPUSH").arg(format!("queue:{queue}"));
    for payload in payloads {
        lpush.arg(payload.as_ref());
    }
    lpush.ignore();
    conn.pipeline::<()>(&pipe).await
}

/// Schedule for later: `ZADD schedule <score> <json> …`. Scores are the float-seconds strings
/// Sidekiq writes (`Float#to_s`); the payloads carry neither `at` nor `enqueued_at`.
pub async fn push_to_schedule<S: AsRef<str>, P: AsRef<[u8]>>(
    conn: &RedisConnection,
    entries: &[(S, P)],
) -> RedisResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut cmd = redis::cmd("ZADD");
    cmd.arg("schedule");
    for (score, payload) in entries {
        cmd.arg(score.as_ref()).arg(payload.as_ref());
    }
    let mut pipe = Pipeline::with_capacity(1);
    pipe.add_command(cmd).ignore();
    conn.pipeline::<()>(&pipe).await
}

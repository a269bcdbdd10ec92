//! The sorted sets the server writes: `retry` and `dead` (docs/wire-format.md, §1.3, §1.6).

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::json::ruby_float;

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

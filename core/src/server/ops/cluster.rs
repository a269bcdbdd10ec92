//! The cluster gauges (queue sizes and latencies, set sizes, processes, busy threads), computed
//! by one process at a time and shared through Redis, so that a fleet of scraped processes
//! does not read every queue on every scrape (docs/design.md, §21.1).
//!
//! A scrape uses this process's copy while it is younger than `FRESH`. Otherwise it reads the
//! shared copy (`ferrokiq:metrics:cluster`); if that is stale too, whoever takes the short
//! lease (`ferrokiq:metrics:cluster:lease`, `SET NX PX`) computes and stores a new one, and the
//! others keep showing the older copy until then.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::payload::{now_epoch_seconds, timestamp_seconds};
use crate::server::ops::exposition::ClusterGauges;

/// The shared copy (JSON), expiring after `SHARED_TTL_SECONDS`.
pub const SHARED_KEY: &str = "ferrokiq:metrics:cluster";
/// Held by the process computing a new copy.
pub const LEASE_KEY: &str = "ferrokiq:metrics:cluster:lease";
/// How old a copy may be and still be shown without trying for a newer one.
pub const FRESH: Duration = Duration::from_secs(10);
const SHARED_TTL_SECONDS: u64 = 60;
/// Longer than one computation (four round trips) takes.
const LEASE_MS: u64 = 5_000;

/// This process's copy of the cluster gauges.
pub(crate) struct ClusterCache {
    identity: String,
    copy: Mutex<Option<(Instant, ClusterGauges)>>,
}

impl ClusterCache {
    pub(crate) fn new(identity: String) -> ClusterCache {
        ClusterCache {
            identity,
            copy: Mutex::new(None),
        }
    }

    /// The gauges to show now, if any copy exists; refreshed first when this one is stale.
    /// A Redis failure leaves the old copy (its age says how old it is).
    pub(crate) async fn current(&self, conn: &RedisConnection) -> Option<ClusterGauges> {
        let local = self.local();
        if let Some((at, gauges)) = &local {
            if at.elapsed() < FRESH {
                return Some(gauges.clone());
            }
        }
        match refresh(conn, &self.identity).await {
            Ok(Some(gauges)) => {
                *self.copy.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), gauges.clone()));
                Some(gauges)
            }
            _ => local.map(|(_, gauges)| gauges),
        }
    }

    fn local(&self) -> Option<(Instant, ClusterGauges)> {
        self.copy.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The shared copy if it is fresh; else a new one if this process gets the lease; else the
/// stale shared copy, or none.
async fn refresh(conn: &RedisConnection, identity: &str) -> RedisResult<Option<ClusterGauges>> {
    let shared: Option<String> = conn.call(&words(&["GET", SHARED_KEY])).await?;
    let shared = shared.as_deref().and_then(decode);
    let now = now_epoch_seconds();
    if let Some(gauges) = &shared {
        if now - gauges.computed_at < FRESH.as_secs_f64() {
            return Ok(shared);
        }
    }
    let lease_ms = LEASE_MS.to_string();
    let lease = ["SET", LEASE_KEY, identity, "NX", "PX", &lease_ms];
    let leased: Option<String> = conn.call(&words(&lease)).await?;
    if leased.is_none() {
        return Ok(shared);
    }
    let gauges = compute(conn).await?;
    let ttl = SHARED_TTL_SECONDS.to_string();
    let store = ["SET", SHARED_KEY, &encode(&gauges), "EX", &ttl];
    conn.call::<()>(&words(&store)).await?;
    Ok(Some(gauges))
}

fn words(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

/// Reads the gauges from Redis: what Sidekiq's `Stats` and `Queue#latency` read.
pub async fn compute(conn: &RedisConnection) -> RedisResult<ClusterGauges> {
    let mut pipe = redis::Pipeline::new();
    pipe.cmd("SMEMBERS").arg("queues");
    pipe.cmd("SMEMBERS").arg("processes");
    pipe.cmd("ZCARD").arg("retry");
    pipe.cmd("ZCARD").arg("schedule");
    pipe.cmd("ZCARD").arg("dead");
    pipe.cmd("GET").arg("stat:processed");
    pipe.cmd("GET").arg("stat:failed");
    type Overview = (
        Vec<String>,
        Vec<String>,
        u64,
        u64,
        u64,
        Option<u64>,
        Option<u64>,
    );
    let (mut queues, processes, retry, scheduled, dead, processed, failed): Overview =
        conn.pipeline(&pipe).await?;
    queues.sort();
    let (sizes, oldest) = if queues.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let mut sizes = redis::Pipeline::new();
        let mut oldest = redis::Pipeline::new();
        for queue in &queues {
            sizes.cmd("LLEN").arg(format!("queue:{queue}"));
            oldest.cmd("LINDEX").arg(format!("queue:{queue}")).arg(-1);
        }
        let sizes: Vec<u64> = conn.pipeline(&sizes).await?;
        let oldest: Vec<Option<Vec<u8>>> = conn.pipeline(&oldest).await?;
        (sizes, oldest)
    };
    // A process counts while its hash lives (its heartbeat is recent), as Sidekiq's ProcessSet.
    let busy: Vec<Option<u64>> = if processes.is_empty() {
        Vec::new()
    } else {
        let mut pipe = redis::Pipeline::new();
        for identity in &processes {
            pipe.cmd("HGET").arg(identity).arg("busy");
        }
        conn.pipeline(&pipe).await?
    };
    let now = now_epoch_seconds();
    let queues = queues
        .into_iter()
        .zip(sizes)
        .zip(oldest)
        .map(|((queue, size), oldest)| {
            let latency = oldest.as_deref().map_or(0.0, |job| latency(job, now));
            (queue, size, latency)
        })
        .collect();
    Ok(ClusterGauges {
        queues,
        retry,
        scheduled,
        dead,
        processes: busy.iter().filter(|b| b.is_some()).count() as u64,
        busy: busy.iter().flatten().sum(),
        processed: processed.unwrap_or(0),
        failed: failed.unwrap_or(0),
        computed_at: now,
    })
}

/// How long the job has waited, from its `enqueued_at` (0 when it has none, as Sidekiq).
fn latency(job: &[u8], now: f64) -> f64 {
    serde_json::from_slice::<Value>(job)
        .ok()
        .and_then(|job| job.get("enqueued_at").and_then(timestamp_seconds))
        .map_or(0.0, |at| (now - at).max(0.0))
}

fn encode(gauges: &ClusterGauges) -> String {
    let queues: Vec<Value> = gauges
        .queues
        .iter()
        .map(|(name, size, latency)| json!([name, size, latency]))
        .collect();
    json!({
        "queues": queues,
        "retry": gauges.retry,
        "scheduled": gauges.scheduled,
        "dead": gauges.dead,
        "processes": gauges.processes,
        "busy": gauges.busy,
        "processed": gauges.processed,
        "failed": gauges.failed,
        "computed_at": gauges.computed_at,
    })
    .to_string()
}

fn decode(text: &str) -> Option<ClusterGauges> {
    let value: Value = serde_json::from_str(text).ok()?;
    let count = |key: &str| value.get(key).and_then(Value::as_u64);
    let queues = value
        .get("queues")?
        .as_array()?
        .iter()
        .map(|entry| {
            Some((
                entry.get(0)?.as_str()?.to_string(),
                entry.get(1)?.as_u64()?,
                entry.get(2)?.as_f64()?,
            ))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ClusterGauges {
        queues,
        retry: count("retry")?,
        scheduled: count("scheduled")?,
        dead: count("dead")?,
        processes: count("processes")?,
        busy: count("busy")?,
        processed: count("processed")?,
        failed: count("failed")?,
        computed_at: value.get("computed_at")?.as_f64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_copy_reads_back() {
        let gauges = ClusterGauges {
            queues: vec![("default".into(), 3, 1.5), ("low".into(), 0, 0.0)],
            retry: 1,
            scheduled: 2,
            dead: 4,
            processes: 2,
            busy: 5,
            processed: 100,
            failed: 7,
            computed_at: 1_700_000_000.25,
        };
        assert_eq!(decode(&encode(&gauges)), Some(gauges));
        assert_eq!(decode("{}"), None);
    }

    #[test]
    fn latency_reads_both_timestamp_formats() {
        let now = 1_700_000_010.0;
        assert_eq!(latency(br#"{"enqueued_at":1700000000.0}"#, now), 10.0);
        assert_eq!(latency(br#"{"enqueued_at":1700000004000}"#, now), 6.0);
        assert_eq!(latency(b"not json", now), 0.0);
    }
}

//! The process registry as Sidekiq 7 writes it (docs/wire-format.md §1.4): the `processes` set, the
//! identity hash with its `info` JSON, the busy-work hashes, stats counters and remote signals.

use std::collections::BTreeMap;

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::json::{self, ruby_float};
use crate::server::config::{CapsuleConfig, ServerConfig};
use crate::server::keys;

/// Daily stats keys live five years, as in Sidekiq.
const STATS_TTL: u64 = 5 * 365 * 24 * 60 * 60;
/// Process and work keys expire a minute after the last beat.
const PROCESS_TTL: u64 = 60;

/// What one beat reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Beat {
    pub busy: usize,
    pub quiet: bool,
    pub rss_kb: u64,
    pub rtt_us: u64,
    /// tid → work record JSON of each busy thread.
    pub work: BTreeMap<String, String>,
    pub processed: u64,
    pub failed: u64,
    pub now: f64,
}

/// What Redis said back.
#[derive(Debug, Clone, PartialEq)]
pub struct BeatReply {
    /// The process hash had expired or never existed (first beat, or after an outage).
    pub first: bool,
    /// A remote command (`TSTP`, `TERM`, `TTIN`) from the Web UI or API.
    pub signal: Option<String>,
}

/// The `info` JSON, a superset of what Sidekiq 6.4, 7 and 8 read. With capsules, as Sidekiq 7
/// writes it: `concurrency` is every capsule's threads together, `queues` every capsule's
/// queues once, `weights` one Hash per capsule (default first), and (8.x) `capsules` by name.
/// The `dynamic` queues the default capsule works besides its own (docs/design.md, §23) are
/// listed after them, with weight 0, so that 7.x (`queues`) and 8.x (`weights` keys) readers
/// both show every queue the process works.
pub fn info_json(config: &ServerConfig, dynamic: &[String]) -> String {
    let mut out = Vec::with_capacity(512);
    let mut capsules = config.all_capsules();
    if let Some(default) = capsules.first_mut() {
        for name in dynamic {
            if !default.queues.iter().any(|(queue, _)| queue == name) {
                default.queues.push((name.clone(), 0));
            }
        }
    }
    let mut queue_names: Vec<String> = Vec::new();
    for (name, _) in capsules.iter().flat_map(|capsule| &capsule.queues) {
        if !queue_names.contains(name) {
            queue_names.push(name.clone());
        }
    }
    out.extend_from_slice(b"{\"hostname\":");
    json::write_str(&mut out, &config.hostname);
    out.extend_from_slice(b",\"started_at\":");
    out.extend_from_slice(ruby_float(config.started_at).unwrap_or_default().as_bytes());
    out.extend_from_slice(format!(",\"pid\":{},\"tag\":", config.pid).as_bytes());
    json::write_str(&mut out, &config.tag);
    out.extend_from_slice(
        format!(
            ",\"concurrency\":{},\"queues\":",
            config.total_concurrency()
        )
        .as_bytes(),
    );
    write_str_array(&mut out, &queue_names);
    out.extend_from_slice(b",\"weights\":[");
    for (i, capsule) in capsules.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_weights(&mut out, &capsule.queues);
    }
    out.extend_from_slice(b"],\"labels\":");
    write_str_array(&mut out, &config.labels);
    out.extend_from_slice(b",\"identity\":");
    json::write_str(&mut out, &config.identity);
    out.extend_from_slice(b",\"version\":");
    json::write_str(&mut out, &config.version);
    out.extend_from_slice(format!(",\"embedded\":{},\"capsules\":{{", config.embedded).as_bytes());
    for (i, capsule) in capsules.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_capsule(&mut out, capsule);
    }
    out.extend_from_slice(b"}}");
    String::from_utf8(out).unwrap_or_default()
}

/// `"name":{"concurrency":N,"mode":...,"weights":{...}}`
fn write_capsule(out: &mut Vec<u8>, capsule: &CapsuleConfig) {
    json::write_str(out, &capsule.name);
    out.extend_from_slice(b":{\"concurrency\":");
    out.extend_from_slice(capsule.concurrency.to_string().as_bytes());
    out.extend_from_slice(b",\"mode\":");
    let mode = if capsule.queue_list().is_strict() {
        "strict"
    } else {
        "weighted"
    };
    json::write_str(out, mode);
    out.extend_from_slice(b",\"weights\":");
    write_weights(out, &capsule.queues);
    out.push(b'}');
}

fn write_str_array(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_str(out, item);
    }
    out.push(b']');
}

fn write_weights(out: &mut Vec<u8>, queues: &[(String, u32)]) {
    out.push(b'{');
    for (i, (name, weight)) in queues.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_str(out, name);
        out.extend_from_slice(format!(":{weight}").as_bytes());
    }
    out.push(b'}');
}

/// The value of a busy thread in `<identity>:work`. (A payload that is not UTF-8 is shown
/// with U+FFFD in place of its bad bytes: this record is for display only.)
pub fn work_json(queue: &str, payload: &[u8], run_at: i64) -> String {
    let mut out = Vec::with_capacity(payload.len() + 64);
    out.extend_from_slice(b"{\"queue\":");
    json::write_str(&mut out, queue);
    out.extend_from_slice(b",\"payload\":");
    json::write_str(&mut out, &String::from_utf8_lossy(payload));
    out.extend_from_slice(format!(",\"run_at\":{run_at}}}").as_bytes());
    String::from_utf8(out).unwrap_or_default()
}

/// `YYYY-MM-DD` (UTC) of an epoch time, for the daily stats keys.
pub fn utc_date(epoch_seconds: f64) -> String {
    let days = (epoch_seconds / 86_400.0).floor() as i64;
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// One heartbeat: flush the stats, replace the busy-work hashes, refresh the process hash and
/// take one pending remote signal.
pub async fn beat(
    conn: &RedisConnection,
    config: &ServerConfig,
    info: &str,
    beat: &Beat,
) -> RedisResult<BeatReply> {
    let date = utc_date(beat.now);
    let mut pipe = redis::Pipeline::new();
    pipe.atomic();
    if beat.processed + beat.failed > 0 {
        for (name, count) in [("processed", beat.processed), ("failed", beat.failed)] {
            let daily = format!("stat:{name}:{date}");
            pipe.cmd("INCRBY")
                .arg(format!("stat:{name}"))
                .arg(count)
                .ignore();
            pipe.cmd("INCRBY").arg(&daily).arg(count).ignore();
            pipe.cmd("EXPIRE").arg(&daily).arg(STATS_TTL).ignore();
        }
    }
    for key in [
        keys::busy_work(&config.identity),
        keys::busy_workers(&config.identity),
    ] {
        pipe.cmd("UNLINK").arg(&key).ignore();
        if !beat.work.is_empty() {
            let hset = pipe.cmd("HSET").arg(&key);
            for (tid, work) in &beat.work {
                hset.arg(tid).arg(work);
            }
            hset.ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(PROCESS_TTL).ignore();
        }
    }
    pipe.cmd("SADD")
        .arg("processes")
        .arg(&config.identity)
        .ignore();
    pipe.cmd("EXISTS").arg(&config.identity);
    pipe.cmd("HSET")
        .arg(&config.identity)
        .arg("info")
        .arg(info)
        .arg("busy")
        .arg(beat.busy)
        .arg("beat")
        .arg(ruby_float(beat.now).unwrap_or_default())
        .arg("rtt_us")
        .arg(beat.rtt_us)
        .arg("quiet")
        .arg(if beat.quiet { "true" } else { "false" })
        .arg("rss")
        .arg(beat.rss_kb)
        .arg("concurrency")
        .arg(config.total_concurrency())
        .ignore();
    pipe.cmd("EXPIRE")
        .arg(&config.identity)
        .arg(PROCESS_TTL)
        .ignore();
    pipe.cmd("RPOP").arg(keys::signals(&config.identity));
    let (exists, signal): (i64, Option<String>) = conn.pipeline(&pipe).await?;
    Ok(BeatReply {
        first: exists == 0,
        signal,
    })
}

/// Round-trip time of one PING, in microseconds.
pub async fn ping_rtt_us(conn: &RedisConnection) -> RedisResult<u64> {
    let started = std::time::Instant::now();
    conn.call::<String>(&[b"PING".to_vec()]).await?;
    Ok(started.elapsed().as_micros() as u64)
}

/// A clean exit: the process leaves `processes` and its busy-work hashes go. (The identity
/// hash itself expires, as with Sidekiq.)
pub async fn clear(conn: &RedisConnection, identity: &str) -> RedisResult<()> {
    let mut pipe = redis::Pipeline::new();
    pipe.cmd("SREM").arg("processes").arg(identity).ignore();
    pipe.cmd("UNLINK")
        .arg(keys::busy_work(identity))
        .arg(keys::busy_workers(identity))
        .ignore();
    conn.pipeline::<()>(&pipe).await
}

/// Sidekiq 7's pruning of `processes`: at most once a minute across the cluster (the
/// `process_cleanup` key), members whose process hash has expired are removed.
pub async fn cleanup_processes(conn: &RedisConnection) -> RedisResult<usize> {
    let words = ["SET", "process_cleanup", "1", "NX", "EX", "60"].map(|w| w.as_bytes().to_vec());
    let acquired: Option<String> = conn.call(&words).await?;
    if acquired.is_none() {
        return Ok(0);
    }
    let members: Vec<String> = conn
        .call(&[b"SMEMBERS".to_vec(), b"processes".to_vec()])
        .await?;
    if members.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::Pipeline::new();
    for member in &members {
        pipe.cmd("HGET").arg(member).arg("info");
    }
    let infos: Vec<Option<String>> = conn.pipeline(&pipe).await?;
    let gone: Vec<&String> = members
        .iter()
        .zip(infos)
        .filter_map(|(member, info)| info.is_none().then_some(member))
        .collect();
    if gone.is_empty() {
        return Ok(0);
    }
    let mut srem = vec![b"SREM".to_vec(), b"processes".to_vec()];
    srem.extend(gone.iter().map(|m| m.as_bytes().to_vec()));
    conn.call::<usize>(&srem).await
}

/// This process's resident set size in kB (Linux), as Sidekiq reports it.
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(utc_date(0.0), "1970-01-01");
        assert_eq!(utc_date(951_782_400.0), "2000-02-29");
        assert_eq!(utc_date(1_700_000_000.5), "2023-11-14");
        assert_eq!(utc_date(1_795_910_399.0), "2026-11-28");
    }

    #[test]
    fn work_records_nest_the_payload_as_a_string() {
        assert_eq!(
            work_json("default", br#"{"a":1}"#, 1_700_000_000),
            r#"{"queue":"default","payload":"{\"a\":1}","run_at":1700000000}"#
        );
    }

    /// A process's settings as the info tests vary them.
    fn config(
        queues: &[(&str, u32)],
        dynamic: Option<Vec<String>>,
        embedded: bool,
    ) -> ServerConfig {
        ServerConfig {
            identity: "web-1:7:abc".into(),
            hostname: "web-1".into(),
            pid: 7,
            tag: String::new(),
            labels: Vec::new(),
            concurrency: 2,
            queues: queues
                .iter()
                .map(|(name, weight)| ((*name).to_string(), *weight))
                .collect(),
            fetch: crate::server::config::FetchMode::Reliable,
            dynamic,
            version: "7.3.10".into(),
            embedded,
            started_at: 1_700_000_000.5,
            capsules: Vec::new(),
            stranded_after: std::time::Duration::from_secs(60),
            dead_max_jobs: 10,
            dead_timeout: std::time::Duration::from_secs(60),
            scheduler_defaults: None,
            scheduler_hand_off: false,
        }
    }

    #[test]
    fn the_info_says_whether_the_process_is_embedded() {
        let mut config = config(&[("default", 0)], None, true);
        let embedded: serde_json::Value = serde_json::from_str(&info_json(&config, &[])).unwrap();
        assert_eq!(embedded["embedded"], serde_json::Value::Bool(true));
        config.embedded = false;
        let standalone: serde_json::Value = serde_json::from_str(&info_json(&config, &[])).unwrap();
        assert_eq!(standalone["embedded"], serde_json::Value::Bool(false));
    }

    #[test]
    fn dynamic_queues_are_listed_after_the_configured_ones() {
        let config = config(&[("critical", 2), ("default", 1)], Some(Vec::new()), false);
        let info = info_json(&config, &["bulk".to_string()]);
        assert!(
            info.contains(r#""queues":["critical","default","bulk"],"weights":[{"critical":2,"default":1,"bulk":0}]"#),
            "{info}"
        );
        assert!(
            info.contains(r#""default":{"concurrency":2,"mode":"weighted","weights":{"critical":2,"default":1,"bulk":0}}"#),
            "{info}"
        );
    }
}

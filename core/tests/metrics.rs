//! Execution metrics as the engine writes them to a real redis-server: Sidekiq 7's key names,
//! fields, TTLs and histogram layout, one flush per window, and counts kept through an outage.

mod support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use ferrokiq_core::server::metrics_store::{UtcMinute, METRICS_TTL};
use ferrokiq_core::server::Level;
use redis::Commands;
use support::*;

/// The 26 u16 counters of a histogram key, as Sidekiq 7's reader fetches them.
fn histogram(redis: &mut redis::Connection, key: &str) -> Vec<u64> {
    let mut cmd = redis::cmd("BITFIELD_RO");
    cmd.arg(key);
    for index in 0..26 {
        cmd.arg("GET").arg("u16").arg(format!("#{index}"));
    }
    cmd.query(redis).expect("BITFIELD_RO")
}

/// The minutes a flush between these two Redis times may have been attributed to.
fn minutes_between(before: u64, after: u64) -> Vec<UtcMinute> {
    let mut minutes = vec![UtcMinute::from_epoch(before as f64)];
    let last = UtcMinute::from_epoch(after as f64 + 1.0);
    if !minutes.contains(&last) {
        minutes.push(last);
    }
    minutes
}

fn counts_key_in(redis: &mut redis::Connection, minutes: &[UtcMinute]) -> (String, UtcMinute) {
    let keys: Vec<String> = redis.keys("j|*").expect("KEYS");
    assert_eq!(keys.len(), 1, "one counts hash per flush minute: {keys:?}");
    let minute = minutes
        .iter()
        .find(|m| m.counts_key() == keys[0])
        .unwrap_or_else(|| panic!("{} is no key of {minutes:?}", keys[0]));
    (keys[0].clone(), *minute)
}

#[test]
fn the_last_flush_writes_sidekiq_7_keys_fields_ttls_and_histograms() {
    let server = Server::start();
    let mut redis = server.redis();
    let engine = server.engine(config(&["default"], 2));
    let before = redis_time(&mut redis);
    engine.record_execution("App::Fast", "default", 5, false);
    engine.record_execution("App::Fast", "critical", 19, false);
    engine.record_execution("App::Fast", "default", 280, false);
    engine.record_execution("App::Fast", "default", 40_000, true);
    engine.record_execution("Only::Fails", "default", 3, true);
    engine.record_execution("Slow", "default", 400_000, false);
    runtime().block_on(engine.stop());
    let after = redis_time(&mut redis);

    let (counts, minute) = counts_key_in(&mut redis, &minutes_between(before, after));
    let fields: HashMap<String, String> = redis.hgetall(&counts).expect("HGETALL");
    let expected: HashMap<String, String> = [
        ("App::Fast|ms", "304"),
        ("App::Fast|p", "4"),
        ("App::Fast|f", "1"),
        ("Only::Fails|p", "1"),
        ("Only::Fails|f", "1"),
        ("Slow|ms", "400000"),
        ("Slow|p", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(fields, expected);

    let fast = minute.histogram_key("App::Fast");
    let mut buckets = vec![0; 26];
    buckets[0] = 2;
    buckets[7] = 1;
    assert_eq!(histogram(&mut redis, &fast), buckets);
    let raw: Vec<u8> = redis.get(&fast).expect("GET");
    assert_eq!(raw.len(), 16, "bucket #7 ends at byte 16: {raw:?}");
    assert_eq!(&raw[0..2], &[0, 2], "u16 counters are big-endian");
    let mut slow = vec![0; 26];
    slow[25] = 1;
    assert_eq!(histogram(&mut redis, &minute.histogram_key("Slow")), slow);
    let hists: Vec<String> = redis.keys("*-*:*").expect("KEYS");
    assert_eq!(
        hists.len(),
        2,
        "no histogram for a class without successes: {hists:?}"
    );

    for key in [counts.as_str(), fast.as_str()] {
        let ttl: i64 = redis.ttl(key).expect("TTL");
        assert!(ttl > 0 && ttl <= METRICS_TTL as i64, "{key}: {ttl}");
    }
}

#[test]
fn histogram_counters_saturate_at_u16_max() {
    let server = Server::start();
    let mut redis = server.redis();
    let engine = server.engine(config(&["default"], 1));
    let before = redis_time(&mut redis);
    for _ in 0..70_000 {
        engine.record_execution("Busy", "default", 1, false);
    }
    runtime().block_on(engine.flush_metrics()).expect("flush");
    let after = redis_time(&mut redis);
    let (counts, minute) = counts_key_in(&mut redis, &minutes_between(before, after));
    let processed: u64 = redis.hget(&counts, "Busy|p").expect("HGET");
    assert_eq!(processed, 70_000);
    assert_eq!(
        histogram(&mut redis, &minute.histogram_key("Busy"))[0],
        65_535
    );
    runtime().block_on(engine.stop());
}

#[test]
fn a_flush_adds_to_the_minutes_counts_and_an_empty_one_writes_nothing() {
    let server = Server::start();
    let mut redis = server.redis();
    let engine = server.engine(config(&["default"], 1));
    let rt = runtime();
    assert_eq!(rt.block_on(engine.flush_metrics()).expect("flush"), 0);
    let keys: Vec<String> = redis.keys("*").expect("KEYS");
    assert!(keys.iter().all(|k| !k.starts_with("j|")), "{keys:?}");

    engine.record_execution("Twice", "default", 1, false);
    assert_eq!(rt.block_on(engine.flush_metrics()).expect("flush"), 2);
    engine.record_execution("Twice", "default", 2, false);
    rt.block_on(engine.flush_metrics()).expect("flush");
    let keys: Vec<String> = redis.keys("j|*").expect("KEYS");
    let total: u64 = keys
        .iter()
        .map(|key| {
            redis
                .hget::<_, _, Option<u64>>(key, "Twice|p")
                .expect("HGET")
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(total, 2, "each flush adds its own window once");
    rt.block_on(engine.stop());
}

#[test]
fn counts_survive_an_outage_and_the_outage_is_reported_once() {
    let server = Server::start();
    let port = server.port;
    let mut redis = server.redis();
    let engine = server.engine(config(&["default"], 1));
    let rt = runtime();
    engine.record_execution("Kept", "default", 10, false);
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut redis);

    assert!(rt.block_on(engine.flush_metrics()).is_err());
    engine.record_execution("Kept", "default", 20, true);
    assert!(rt.block_on(engine.flush_metrics()).is_err());
    let failures: Vec<_> = engine
        .take_events()
        .into_iter()
        .filter(|e| e.report.as_ref().is_some_and(|r| r.context == "metrics"))
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].level, Level::Error);

    let mut revived = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let mut written = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        if rt.block_on(engine.flush_metrics()).is_ok() {
            written = true;
            break;
        }
    }
    assert!(written, "the flush succeeds once Redis is back");
    let mut redis = server.redis();
    let keys: Vec<String> = redis.keys("j|*").expect("KEYS");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let fields: HashMap<String, String> = redis.hgetall(&keys[0]).expect("HGETALL");
    assert_eq!(fields.get("Kept|p").map(String::as_str), Some("2"));
    assert_eq!(fields.get("Kept|f").map(String::as_str), Some("1"));
    assert_eq!(fields.get("Kept|ms").map(String::as_str), Some("10"));
    let recovered = engine
        .take_events()
        .into_iter()
        .any(|e| e.level == Level::Info && e.message.contains("metrics"));
    assert!(recovered, "the recovery is logged");
    rt.block_on(engine.stop());
    let _ = revived.kill();
    let _ = revived.wait();
}

#[test]
fn the_engine_flushes_on_its_own_every_ten_seconds() {
    let server = Server::start();
    let mut redis = server.redis();
    let engine = server.engine(config(&["default"], 1));
    engine.record_execution("Periodic", "default", 3, false);
    wait_until(Duration::from_secs(15), "the periodic flush", || {
        let keys: Vec<String> = redis.keys("j|*").expect("KEYS");
        keys.iter()
            .any(|key| redis.hexists(key, "Periodic|p").unwrap_or(false))
    });
    runtime().block_on(engine.stop());
}

//! Unique-job locks released with acknowledgements (docs/design.md, §24): the engine sends the
//! release script in the pipeline of the job's LREM, after it, with reliable and basic fetch,
//! against a real redis-server.

mod support;

use std::time::Duration;

use ferrokiq_core::server::{FetchMode, Level};
use ferrokiq_core::unique_jobs::LockRelease;
use support::*;

const WAIT: Duration = Duration::from_secs(5);

/// A lock as the client's take script leaves it: held by `jid`.
fn hold(redis: &mut redis::Connection, digest: &str, jid: &str) {
    redis::pipe()
        .cmd("SET")
        .arg(digest)
        .arg(jid)
        .cmd("HSET")
        .arg(format!("{digest}:LOCKED"))
        .arg(jid)
        .arg("1700000000.5")
        .cmd("ZADD")
        .arg("uniquejobs:digests")
        .arg(1_700_000_000)
        .arg(digest)
        .cmd("SET")
        .arg(format!("{digest}:INFO"))
        .arg("{}")
        .query::<()>(redis)
        .expect("a lock");
}

fn exists(redis: &mut redis::Connection, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query::<i64>(redis)
        .expect("EXISTS")
        == 1
}

fn in_digests(redis: &mut redis::Connection, digest: &str) -> bool {
    redis::cmd("ZSCORE")
        .arg("uniquejobs:digests")
        .arg(digest)
        .query::<Option<f64>>(redis)
        .expect("ZSCORE")
        .is_some()
}

fn lock_gone(redis: &mut redis::Connection, digest: &str) -> bool {
    !exists(redis, digest)
        && !exists(redis, &format!("{digest}:LOCKED"))
        && !exists(redis, &format!("{digest}:INFO"))
        && !in_digests(redis, digest)
}

fn release(digest: &str, jid: &str) -> LockRelease {
    LockRelease {
        digest: digest.into(),
        jid: jid.into(),
    }
}

fn no_errors(engine: &ferrokiq_core::server::Engine) {
    let events = engine.take_events();
    assert!(events.iter().all(|e| e.level == Level::Info), "{events:?}");
}

#[test]
fn reliable_fetch_releases_the_holders_locks_only_and_empties_the_working_list() {
    let server = Server::start();
    let mut redis = server.redis();
    let jobs: Vec<Vec<u8>> = (0..3).map(|n| job("uniq", n)).collect();
    push(&mut redis, "default", &jobs);
    hold(&mut redis, "uniquejobs:a", "uniq-0");
    // Another job holds this one's digest (the lock expired and a twin took it): it stays.
    hold(&mut redis, "uniquejobs:b", "twin");
    hold(&mut redis, "uniquejobs:c:RUN", "uniq-2");
    let config = config(&["default"], 3);
    let working = working_list(&config.identity, "default");
    let engine = server.engine(config);

    let taken: Vec<_> = (0..3).map(|_| take_job(&engine, WAIT)).collect();
    engine.acknowledge_and_release(taken[0].clone(), release("uniquejobs:a", "uniq-0"));
    engine.acknowledge_and_release(taken[1].clone(), release("uniquejobs:b", "uniq-1"));
    engine.acknowledge_and_release(taken[2].clone(), release("uniquejobs:c:RUN", "uniq-2"));

    wait_until(
        WAIT,
        "the jobs are acknowledged and the locks released",
        || {
            llen(&mut redis, &working) == 0
                && lock_gone(&mut redis, "uniquejobs:a")
                && lock_gone(&mut redis, "uniquejobs:c:RUN")
        },
    );
    assert!(exists(&mut redis, "uniquejobs:b:LOCKED"), "the twin's lock");
    assert!(in_digests(&mut redis, "uniquejobs:b"));
    assert_eq!(
        lrange(&mut redis, "uniquejobs:c:RUN:QUEUED"),
        vec![b"1".to_vec()],
        "a released runtime lock wakes the plugin's waiting processes"
    );
    no_errors(&engine);
}

#[test]
fn the_release_runs_after_the_jobs_lrem() {
    let server = Server::start();
    let mut redis = server.redis();
    let payload = job("order", 0);
    push(&mut redis, "default", std::slice::from_ref(&payload));
    hold(&mut redis, "uniquejobs:order", "order-0");
    let engine = server.engine(config(&["default"], 1));
    let taken = take_job(&engine, WAIT);
    // Every command from now on, in the order Redis ran them.
    redis::cmd("SLOWLOG")
        .arg("RESET")
        .query::<()>(&mut redis)
        .unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(0)
        .query::<()>(&mut redis)
        .unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-max-len")
        .arg(10_000)
        .query::<()>(&mut redis)
        .unwrap();

    engine.acknowledge_and_release(taken, release("uniquejobs:order", "order-0"));
    wait_until(WAIT, "the lock is released", || {
        lock_gone(&mut redis, "uniquejobs:order")
    });

    let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(-1)
        .query(&mut redis)
        .unwrap();
    // Each entry: id, time, duration, [command words], ...; the newest first.
    let mut commands: Vec<(i64, Vec<String>)> = entries
        .iter()
        .filter_map(|entry| match entry {
            redis::Value::Array(fields) => {
                let id = redis::from_redis_value_ref::<i64>(&fields[0]).ok()?;
                let words = redis::from_redis_value_ref::<Vec<String>>(&fields[3]).ok()?;
                Some((id, words))
            }
            _ => None,
        })
        .collect();
    commands.sort();
    let position = |name: &str| {
        commands
            .iter()
            .position(|(_, words)| {
                words[0].eq_ignore_ascii_case(name) && words.iter().any(|w| w.contains("order-0"))
            })
            .unwrap_or_else(|| panic!("no {name} of the job in {commands:?}"))
    };
    assert!(
        position("LREM") < position("EVALSHA"),
        "the LREM runs first: {commands:?}"
    );
}

#[test]
fn a_flushed_script_cache_is_no_obstacle() {
    let server = Server::start();
    let mut redis = server.redis();
    let payload = job("flush", 0);
    push(&mut redis, "default", std::slice::from_ref(&payload));
    hold(&mut redis, "uniquejobs:flush", "flush-0");
    let config = config(&["default"], 1);
    let working = working_list(&config.identity, "default");
    let engine = server.engine(config);
    let taken = take_job(&engine, WAIT);
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query::<()>(&mut redis)
        .unwrap();

    engine.acknowledge_and_release(taken, release("uniquejobs:flush", "flush-0"));
    wait_until(WAIT, "acknowledged and released", || {
        llen(&mut redis, &working) == 0 && lock_gone(&mut redis, "uniquejobs:flush")
    });
    no_errors(&engine);
}

#[test]
fn basic_fetch_sends_the_release_alone() {
    let server = Server::start();
    let mut redis = server.redis();
    let jobs: Vec<Vec<u8>> = (0..2).map(|n| job("basic", n)).collect();
    push(&mut redis, "default", &jobs);
    hold(&mut redis, "uniquejobs:basic", "basic-0");
    let mut config = config(&["default"], 2);
    config.fetch = FetchMode::Basic;
    let engine = server.engine(config);
    let first = take_job(&engine, WAIT);
    let second = take_job(&engine, WAIT);
    engine.acknowledge(second);
    engine.acknowledge_and_release(first, release("uniquejobs:basic", "basic-0"));
    wait_until(WAIT, "the lock is released", || {
        lock_gone(&mut redis, "uniquejobs:basic")
    });
    no_errors(&engine);
}

#[test]
fn a_stop_right_after_the_acknowledgement_still_releases() {
    let server = Server::start();
    let mut redis = server.redis();
    let payload = job("stop", 0);
    push(&mut redis, "default", std::slice::from_ref(&payload));
    hold(&mut redis, "uniquejobs:stop", "stop-0");
    let mut config = config(&["default"], 1);
    config.fetch = FetchMode::Basic;
    let engine = server.engine(config);
    let taken = take_job(&engine, WAIT);
    engine.acknowledge_and_release(taken, release("uniquejobs:stop", "stop-0"));
    let rt = runtime();
    rt.block_on(engine.quiet());
    rt.block_on(engine.stop());
    assert!(lock_gone(&mut redis, "uniquejobs:stop"));
}

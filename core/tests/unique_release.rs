//! Unique-job locks released with acknowledgements (docs/design.md, §24): the engine sends the
//! release script in the pipeline of the job's LREM, after it, with reliable and basic fetch,
//! against a real redis-server; and taken with the client's push (`queue_and_lock`).

mod support;

use std::time::Duration;

use ferrokiq_core::server::{FetchMode, Level};
use ferrokiq_core::unique_jobs::{self, ClientLock, LockRelease, LockedPush};
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
fn one_call_releases_a_batch_larger_than_its_deletion_batches() {
    // 1,200 released locks make 2,400 keys to delete: three DEL batches and two ZREMs. A lock
    // held by another job and a pair naming a job that holds nothing stay as they were.
    let server = Server::start();
    let mut redis = server.redis();
    let digests: Vec<String> = (0..1_200).map(|i| format!("uniquejobs:batch{i}")).collect();
    for (i, digest) in digests.iter().enumerate() {
        hold(&mut redis, digest, &format!("jid-{i}"));
    }
    hold(&mut redis, "uniquejobs:other", "theirs");
    let script = redis::Script::new(unique_jobs::RELEASE);
    let mut invocation = script.prepare_invoke();
    invocation.key(unique_jobs::DIGESTS);
    for (i, digest) in digests.iter().enumerate() {
        invocation.arg(digest).arg(format!("jid-{i}"));
    }
    invocation.arg("uniquejobs:other").arg("not-theirs");
    let released: i64 = invocation.invoke(&mut redis).expect("the release script");

    assert_eq!(released, 1_200);
    assert!(digests.iter().all(|digest| lock_gone(&mut redis, digest)));
    assert!(exists(&mut redis, "uniquejobs:other:LOCKED"));
    assert!(exists(&mut redis, "uniquejobs:other:INFO"));
    assert!(in_digests(&mut redis, "uniquejobs:other"));
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

fn client_lock(digest: &str, jid: &str, limit: i64, info: Option<&str>) -> ClientLock {
    ClientLock {
        digest: digest.to_string(),
        jid: jid.to_string(),
        pttl: 60_000,
        score: "1700000000.5".to_string(),
        limit,
        info: info.map(|text| text.as_bytes().to_vec()),
    }
}

fn locked_push(lock: Option<ClientLock>, at: Option<&str>, payload: &str) -> LockedPush {
    LockedPush {
        lock,
        at: at.map(str::to_string),
        payload: payload.as_bytes().to_vec(),
    }
}

/// sidekiq-unique-jobs 8.1's queue_and_lock for a slice: each job is stored only when it gets
/// its lock (lock_limit holders at most, a job already holding it keeps it), in order, with the
/// plugin's keys and TTLs; a job without a lock is always stored.
#[test]
fn queue_and_lock_stores_the_jobs_that_get_their_lock() {
    let server = Server::start();
    let conn = server.connection();
    let mut redis = server.redis();
    hold(&mut redis, "uniquejobs:held", "other");
    let jobs = [
        locked_push(Some(client_lock("uniquejobs:a", "j1", 1, None)), None, "p1"),
        locked_push(Some(client_lock("uniquejobs:a", "j2", 1, None)), None, "p2"),
        locked_push(
            Some(client_lock("uniquejobs:held", "j3", 1, None)),
            None,
            "p3",
        ),
        locked_push(
            Some(client_lock("uniquejobs:held", "other", 1, None)),
            None,
            "p4",
        ),
        locked_push(None, None, "p5"),
        locked_push(
            Some(client_lock("uniquejobs:b", "j6", 2, Some("{\"limit\":2}"))),
            None,
            "p6",
        ),
        locked_push(Some(client_lock("uniquejobs:b", "j7", 2, None)), None, "p7"),
        locked_push(Some(client_lock("uniquejobs:b", "j8", 2, None)), None, "p8"),
    ];
    let stored = runtime()
        .block_on(unique_jobs::queue_and_lock(
            &conn,
            Some("default"),
            "1700000001.25",
            &jobs,
        ))
        .expect("queue_and_lock");
    assert_eq!(stored, [true, false, false, true, true, true, true, false]);
    let queued: Vec<String> = redis::cmd("LRANGE")
        .arg("queue:default")
        .arg(0)
        .arg(-1)
        .query(&mut redis)
        .expect("LRANGE");
    assert_eq!(queued, ["p7", "p6", "p5", "p4", "p1"]);
    let queues: Vec<String> = redis::cmd("SMEMBERS")
        .arg("queues")
        .query(&mut redis)
        .expect("SMEMBERS");
    assert_eq!(queues, ["default"]);
    let holders: Vec<String> = redis::cmd("HKEYS")
        .arg("uniquejobs:b:LOCKED")
        .query(&mut redis)
        .expect("HKEYS");
    assert_eq!(holders, ["j6", "j7"]);
    let time: String = redis::cmd("HGET")
        .arg("uniquejobs:a:LOCKED")
        .arg("j1")
        .query(&mut redis)
        .expect("HGET");
    assert_eq!(time, "1700000001.25");
    for key in ["uniquejobs:a", "uniquejobs:a:LOCKED", "uniquejobs:b:INFO"] {
        let pttl: i64 = redis::cmd("PTTL").arg(key).query(&mut redis).expect("PTTL");
        assert!(pttl > 50_000 && pttl <= 60_000, "{key}: {pttl}");
    }
    let score: f64 = redis::cmd("ZSCORE")
        .arg("uniquejobs:digests")
        .arg("uniquejobs:b")
        .query(&mut redis)
        .expect("ZSCORE");
    assert_eq!(score, 1_700_000_000.5);
    assert!(!exists(&mut redis, "uniquejobs:a:INFO"));
}

/// More jobs than one `unpack` takes (the script stores them 1,000 at a time), scheduled.
#[test]
fn queue_and_lock_schedules_a_large_slice() {
    let server = Server::start();
    let conn = server.connection();
    let mut redis = server.redis();
    let jobs: Vec<LockedPush> = (0..2_500)
        .map(|n| {
            let digest = format!("uniquejobs:d{n}");
            let lock = client_lock(&digest, &format!("j{n}"), 1, None);
            locked_push(
                Some(lock),
                Some(&format!("{}", 1_800_000_000 + n)),
                &format!("p{n}"),
            )
        })
        .collect();
    let stored = runtime()
        .block_on(unique_jobs::queue_and_lock(
            &conn,
            None,
            "1700000001.25",
            &jobs,
        ))
        .expect("queue_and_lock");
    assert!(stored.iter().all(|kept| *kept));
    let count: i64 = redis::cmd("ZCARD")
        .arg("schedule")
        .query(&mut redis)
        .expect("ZCARD");
    assert_eq!(count, 2_500);
    let digests: i64 = redis::cmd("ZCARD")
        .arg("uniquejobs:digests")
        .query(&mut redis)
        .expect("ZCARD");
    assert_eq!(digests, 2_500);
    let last: f64 = redis::cmd("ZSCORE")
        .arg("schedule")
        .arg("p2499")
        .query(&mut redis)
        .expect("ZSCORE");
    assert_eq!(last, 1_800_002_499.0);
}

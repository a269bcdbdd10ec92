//! The working-list registry, `ferrokiq:working`: recovery of the lists of processes that are
//! gone, never of those that are alive or starting, and the periodic re-assertion.

mod support;

use std::time::{Duration, Instant};

use ferrokiq_core::server::{Engine, NextJob};
use support::*;

const WAIT: Duration = Duration::from_secs(5);
const OTHER: &str = "otherhost:123:0123456789ab";

/// A working list of `owner` for queue default holding `jobs` (the first one fetched first),
/// registered with `asserted` as its last assertion.
fn plant(redis: &mut redis::Connection, owner: &str, asserted: &str, jobs: &[Vec<u8>]) -> String {
    let list = working_list(owner, "default");
    redis::cmd("HSET")
        .arg("ferrokiq:working")
        .arg(&list)
        .arg(format!("{owner}\ndefault\n{asserted}"))
        .query::<()>(redis)
        .unwrap();
    for job in jobs {
        redis::cmd("LPUSH")
            .arg(&list)
            .arg(job)
            .query::<()>(redis)
            .unwrap();
    }
    list
}

fn requeue_lines(engine: &Engine) -> Vec<String> {
    engine
        .take_events()
        .into_iter()
        .map(|e| e.message)
        .filter(|m| m.contains("e-queued") || m.contains("back on their queues"))
        .collect()
}

/// The planted list was recovered: gone from the registry and from Redis, its jobs delivered
/// oldest first, and a line names the process.
fn assert_recovered(
    redis: &mut redis::Connection,
    engine: &Engine,
    owner: &str,
    list: &str,
    jobs: &[Vec<u8>],
    why: &str,
) {
    let lines = requeue_lines(engine);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(owner) && l.contains(&format!("Re-queued {} jobs", jobs.len()))),
        "a line says whose jobs were re-queued: {lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains(why)), "{lines:?}");
    assert!(!registry(redis).contains_key(list));
    assert_eq!(llen(redis, list), 0);
    let delivered: Vec<Vec<u8>> = jobs
        .iter()
        .map(|_| take_job(engine, WAIT).payload)
        .collect();
    assert_eq!(show(&delivered), show(jobs), "oldest first");
}

/// The planted list was left alone: still registered as it was, its jobs still in it, and the
/// engine has nothing to deliver.
fn assert_kept(
    redis: &mut redis::Connection,
    engine: &Engine,
    list: &str,
    value: &str,
    jobs: &[Vec<u8>],
) {
    assert_eq!(
        registry(redis).get(list).map(String::as_str),
        Some(value),
        "the entry stays as it was"
    );
    let mut in_list = lrange(redis, list);
    in_list.reverse();
    assert_eq!(show(&in_list), show(jobs), "the jobs stay in the list");
    assert_eq!(next(engine, Duration::from_millis(800)), NextJob::Empty);
    assert_eq!(llen(redis, "queue:default"), 0);
    let lines = requeue_lines(engine);
    assert!(lines.is_empty(), "nothing was re-queued: {lines:?}");
}

#[test]
fn recovers_at_start_the_jobs_of_a_process_gone_from_another_host() {
    let server = Server::start();
    let mut redis = server.redis();
    let jobs = vec![job("orphan", 1), job("orphan", 2)];
    // Asserted at 1 (1970), no heartbeat key.
    let list = plant(&mut redis, OTHER, "1", &jobs);
    let engine = server.engine(config(&["default"], 5));
    assert_recovered(
        &mut redis,
        &engine,
        OTHER,
        &list,
        &jobs,
        "no heartbeat and no sign of life",
    );
}

#[test]
fn keeps_the_jobs_of_a_process_on_another_host_whose_heartbeat_is_alive() {
    let server = Server::start();
    let mut redis = server.redis();
    let jobs = vec![job("beating", 1), job("beating", 2)];
    let list = plant(&mut redis, OTHER, "1", &jobs);
    redis::cmd("HSET")
        .arg(OTHER)
        .arg("info")
        .arg("x")
        .query::<()>(&mut redis)
        .unwrap();
    let engine = server.engine(config(&["default"], 5));
    assert_kept(
        &mut redis,
        &engine,
        &list,
        &format!("{OTHER}\ndefault\n1"),
        &jobs,
    );
}

/// The start race: a sibling registered its lists (and fetched) but has not beaten yet.
#[test]
fn keeps_the_jobs_of_a_process_on_another_host_that_asserted_its_lists_just_now() {
    let server = Server::start();
    let mut redis = server.redis();
    let jobs = vec![job("starting", 1), job("starting", 2)];
    let now = redis_time(&mut redis).to_string();
    let list = plant(&mut redis, OTHER, &now, &jobs);
    let engine = server.engine(config(&["default"], 5));
    assert_kept(
        &mut redis,
        &engine,
        &list,
        &format!("{OTHER}\ndefault\n{now}"),
        &jobs,
    );
}

#[test]
fn recovers_at_once_the_jobs_of_a_dead_pid_on_this_host_even_freshly_asserted() {
    let dead_pid = 4_194_303;
    assert!(
        !std::path::Path::new(&format!("/proc/{dead_pid}")).exists(),
        "pid {dead_pid} must not exist for this test"
    );
    let server = Server::start();
    let mut redis = server.redis();
    let owner = format!("{}:{dead_pid}:0123456789ab", hostname());
    let jobs = vec![job("dead-pid", 1), job("dead-pid", 2), job("dead-pid", 3)];
    let now = redis_time(&mut redis).to_string();
    let list = plant(&mut redis, &owner, &now, &jobs);
    let engine = server.engine(config(&["default"], 5));
    assert_recovered(
        &mut redis,
        &engine,
        &owner,
        &list,
        &jobs,
        "its pid no longer exists on this host",
    );
}

/// Three processes (on three hosts) start at once with jobs queued and take jobs they are slow
/// to run; none may take another for dead while it has not beaten yet.
#[test]
fn engines_starting_together_never_take_each_other_for_dead() {
    let server = Server::start();
    let mut redis = server.redis();
    let jobs: Vec<Vec<u8>> = (0..30).map(|n| job("race", n)).collect();
    push(&mut redis, "default", &jobs);
    let barrier = std::sync::Barrier::new(3);
    let started: Vec<(Engine, Vec<u8>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|n| {
                let (server, barrier) = (&server, &barrier);
                scope.spawn(move || {
                    let config = config_on(&format!("race-host-{n}"), &["default"], 3);
                    barrier.wait();
                    let engine = server.engine(config);
                    // A slow job: taken, running, not acknowledged.
                    let running = take_job(&engine, WAIT).payload;
                    (engine, running)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Give any late start's recovery time to have happened.
    std::thread::sleep(Duration::from_millis(300));

    let entries = registry(&mut redis);
    let mut everywhere: Vec<Vec<u8>> = lrange(&mut redis, "queue:default");
    for (engine, running) in &started {
        let id = &engine.config().identity;
        let list = working_list(id, "default");
        let value = entries.get(&list);
        assert!(
            value.is_some_and(|v| v.starts_with(&format!("{id}\ndefault\n"))),
            "{id}'s list is registered: {entries:?}"
        );
        let held = lrange(&mut redis, &list);
        assert!(
            held.contains(running),
            "{id}'s running job was taken from its working list"
        );
        everywhere.extend(held);
        let lines = requeue_lines(engine);
        assert!(lines.is_empty(), "{id} re-queued jobs: {lines:?}");
        assert_eq!(engine.failure(), None);
    }
    assert_eq!(
        show(&sorted(everywhere)),
        show(&sorted(jobs)),
        "every job is in the queue or in one working list, once"
    );
}

/// An entry removed from under a live process (an operator, a long stall taken for death) is
/// written back by its maintenance task, which re-asserts every 10 s.
#[test]
fn the_registry_entry_comes_back_after_removal() {
    let server = Server::start();
    let mut redis = server.redis();
    let config = config(&["default"], 2);
    let id = config.identity.clone();
    let list = working_list(&id, "default");
    let engine = server.engine(config);
    let removed_at = redis_time(&mut redis);
    let removed: u64 = redis::cmd("HDEL")
        .arg("ferrokiq:working")
        .arg(&list)
        .query(&mut redis)
        .unwrap();
    assert_eq!(removed, 1, "the start registered the list");
    let since = Instant::now();
    wait_until(
        Duration::from_secs(13),
        "the entry is asserted again",
        || registry(&mut redis).contains_key(&list),
    );
    let value = registry(&mut redis).remove(&list).unwrap();
    let stamp: u64 = value
        .strip_prefix(&format!("{id}\ndefault\n"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("identity, queue, time: {value:?}"));
    assert!(stamp >= removed_at, "asserted now: {stamp} < {removed_at}");
    assert!(since.elapsed() < Duration::from_secs(13));
    assert_eq!(engine.failure(), None);
}

//! Queue limits under basic fetch (docs/design.md, §23): the jobs taken from a limited queue are
//! counted in the process's taken list until they end, and a dead process's taken lists are
//! dropped, never moved onto a queue.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use ferrokiq_core::server::{FetchMode, NextJob, ServerConfig};
use support::*;

const WAIT: Duration = Duration::from_secs(5);
const OTHER: &str = "otherhost:123:0123456789ab";

fn basic(queues: &[&str], concurrency: usize) -> ServerConfig {
    ServerConfig {
        fetch: FetchMode::Basic,
        ..config(queues, concurrency)
    }
}

fn taken_list(identity: &str, queue: &str) -> String {
    format!("ferrokiq:taken:{identity}:{queue}")
}

fn taken_registry(redis: &mut redis::Connection) -> HashMap<String, String> {
    redis::cmd("HGETALL")
        .arg("ferrokiq:taken")
        .query(redis)
        .expect("HGETALL")
}

fn set(redis: &mut redis::Connection, key: &str, value: &str) {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query::<()>(redis)
        .expect("SET");
}

#[test]
fn counts_the_jobs_of_a_limited_queue_until_they_end() {
    let server = Server::start();
    let mut redis = server.redis();
    set(&mut redis, "limit_fetch:limit:bulk", "2");
    let bulk: Vec<Vec<u8>> = (0..4).map(|n| job("bulk", n)).collect();
    push(&mut redis, "bulk", &bulk);
    push(&mut redis, "default", &[job("free", 0)]);
    let config = basic(&["bulk", "default"], 5);
    let identity = config.identity.clone();
    let engine = server.engine(config);
    let list = taken_list(&identity, "bulk");
    assert!(taken_registry(&mut redis).contains_key(&list));

    let mut held = Vec::new();
    while let NextJob::Job(job) = next(&engine, Duration::from_millis(500)) {
        held.push(job);
    }
    let queues: Vec<&str> = held.iter().map(|job| job.queue.as_str()).collect();
    assert_eq!(queues, ["bulk", "bulk", "default"]);
    assert_eq!(llen(&mut redis, &list), 2);
    assert_eq!(llen(&mut redis, &taken_list(&identity, "default")), 0);

    // The unlimited queue's job gives nothing back; a bulk job's end frees a slot, which the
    // fetcher fills at once.
    assert_eq!(llen(&mut redis, "queue:bulk"), 2);
    engine.acknowledge(held.pop().expect("the default job"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(llen(&mut redis, "queue:bulk"), 2);
    engine.acknowledge(held.pop().expect("a bulk job"));
    let third = take_job(&engine, WAIT);
    assert_eq!(third.queue, "bulk");
    assert_eq!(llen(&mut redis, &list), 2);
    assert_eq!(llen(&mut redis, "queue:bulk"), 1);
}

#[test]
fn drops_the_taken_lists_of_a_dead_process_without_moving_them() {
    let server = Server::start();
    let mut redis = server.redis();
    let list = taken_list(OTHER, "bulk");
    // Asserted at 1 (1970), no heartbeat key: gone.
    redis::cmd("HSET")
        .arg("ferrokiq:taken")
        .arg(&list)
        .arg(format!("{OTHER}\nbulk\n1"))
        .query::<()>(&mut redis)
        .expect("HSET");
    redis::cmd("LPUSH")
        .arg(&list)
        .arg("1")
        .arg("1")
        .query::<()>(&mut redis)
        .expect("LPUSH");
    set(&mut redis, "limit_fetch:limit:bulk", "2");
    push(&mut redis, "bulk", &[job("bulk", 0)]);

    let engine = server.engine(basic(&["bulk"], 2));
    assert_eq!(take_job(&engine, WAIT).queue, "bulk");
    assert_eq!(llen(&mut redis, &list), 0);
    assert!(!taken_registry(&mut redis).contains_key(&list));
    let lines: Vec<String> = engine
        .take_events()
        .into_iter()
        .map(|event| event.message)
        .filter(|message| message.starts_with("Freed 2 slots"))
        .collect();
    assert!(
        lines.iter().any(|line| line.contains(OTHER)),
        "a line says whose slots were freed: {lines:?}"
    );
}

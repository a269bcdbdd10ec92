//! The Web UI's large-data paths (`bulk` moves, `listing` pages) against a real redis-server.

mod support;

use std::collections::HashSet;

use ferrokiq_core::bulk::{move_to_dead, move_to_queues, Push, BATCH};
use ferrokiq_core::listing::{busy_page, filtered_page, FILTER_CHUNK};
use ferrokiq_core::RedisConnection;
use redis::Commands;
use support::{runtime, Server};

/// The caller's clock, as Ruby passes it (stubbed time included).
const NOW: f64 = 1_800_000_000.5;

fn job(i: usize, queue: &str, tag: &str) -> String {
    format!(
        r#"{{"class":"HardJob","args":[{i},"{tag}"],"jid":"{i:024x}","queue":"{queue}","retry_count":{}}}"#,
        i % 3
    )
}

fn fill(redis: &mut redis::Connection, key: &str, jobs: &[(f64, String)]) {
    for chunk in jobs.chunks(5_000) {
        let items: Vec<(f64, &str)> = chunk.iter().map(|(s, m)| (*s, m.as_str())).collect();
        let _: i64 = redis.zadd_multiple(key, &items).expect("zadd");
    }
}

fn parsed(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("json")
}

fn jid_of(bytes: &[u8]) -> String {
    parsed(bytes)["jid"].as_str().expect("jid").to_string()
}

#[test]
fn retry_all_moves_every_job_once_to_its_queue_with_one_retry_less() {
    let server = Server::start();
    let conn = server.connection();
    let mut redis = server.redis();
    let count = 2 * BATCH + 17;
    let jobs: Vec<(f64, String)> = (0..count)
        .map(|i| {
            let queue = if i % 2 == 0 { "even" } else { "odd" };
            (1_700_000_000.0 + i as f64, job(i, queue, "x"))
        })
        .collect();
    fill(&mut redis, "retry", &jobs);
    let done = runtime()
        .block_on(move_to_queues(
            &conn,
            "retry",
            Push::ManualRetry,
            count as u64,
            NOW,
        ))
        .expect("moved");
    assert_eq!(done.moved, count as u64);
    assert_eq!(done.unreadable, 0);
    let left: usize = redis.zcard("retry").expect("zcard");
    assert_eq!(left, 0);
    let even: Vec<Vec<u8>> = redis.lrange("queue:even", 0, -1).expect("lrange");
    let odd: Vec<Vec<u8>> = redis.lrange("queue:odd", 0, -1).expect("lrange");
    assert_eq!(even.len() + odd.len(), count);
    let jids: HashSet<String> = even.iter().chain(&odd).map(|m| jid_of(m)).collect();
    assert_eq!(jids.len(), count);
    // Oldest first: the lowest score was pushed first, so it sits at the tail.
    assert_eq!(jid_of(even.last().expect("a job")), format!("{:024x}", 0));
    let first = parsed(even.last().expect("a job"));
    assert_eq!(first["retry_count"], serde_json::Value::from(-1));
    assert_eq!(first["enqueued_at"].as_f64(), Some(NOW));
    let queues: HashSet<String> = redis.smembers("queues").expect("smembers");
    assert_eq!(
        queues,
        HashSet::from(["even".to_string(), "odd".to_string()])
    );
}

#[test]
fn the_limit_leaves_later_jobs_and_unreadable_members_stay() {
    let server = Server::start();
    let conn = server.connection();
    let mut redis = server.redis();
    let mut jobs: Vec<(f64, String)> = (0..10)
        .map(|i| (100.0 + i as f64, job(i, "q", "x")))
        .collect();
    jobs.push((99.0, "not a job".to_string()));
    fill(&mut redis, "schedule", &jobs);
    let done = runtime()
        .block_on(move_to_queues(&conn, "schedule", Push::AsIs, 6, NOW))
        .expect("moved");
    assert_eq!((done.moved, done.unreadable), (5, 1));
    let left: Vec<String> = redis.zrange("schedule", 0, -1).expect("zrange");
    assert_eq!(left.len(), 6);
    assert_eq!(left[0], "not a job");
    let queued: Vec<Vec<u8>> = redis.lrange("queue:q", 0, -1).expect("lrange");
    assert_eq!(
        parsed(&queued[0])["retry_count"],
        serde_json::Value::from(1)
    );
}

#[test]
fn a_batch_with_a_broken_destination_is_not_moved_at_all() {
    let server = Server::start();
    let conn = server.connection();
    let mut redis = server.redis();
    let jobs: Vec<(f64, String)> = (0..BATCH + 10)
        .map(|i| {
            let queue = if i == BATCH + 5 { "broken" } else { "ok" };
            (i as f64, job(i, queue, "x"))
        })
        .collect();
    fill(&mut redis, "retry", &jobs);
    let _: () = redis.set("queue:broken", "a string").expect("set");
    let failed = runtime().block_on(move_to_queues(
        &conn,
        "retry",
        Push::ManualRetry,
        jobs.len() as u64,
        NOW,
    ));
    assert!(failed.is_err());
    // The first batch moved, the second not at all: every job is in exactly one place.
    let left: usize = redis.zcard("retry").expect("zcard");
    let queued: usize = redis.llen("queue:ok").expect("llen");
    assert_eq!((left, queued), (10, BATCH));
}

#[test]
fn kill_all_moves_members_unchanged_to_the_dead_set() {
    let server = Server::start();
    let conn = server.connection();
    let mut redis = server.redis();
    let jobs: Vec<(f64, String)> = (0..BATCH + 3)
        .map(|i| (i as f64, job(i, "q", "x")))
        .collect();
    fill(&mut redis, "retry", &jobs);
    let moved = runtime()
        .block_on(move_to_dead(&conn, "retry", jobs.len() as u64, NOW))
        .expect("moved");
    assert_eq!(moved, jobs.len() as u64);
    let dead: HashSet<String> = redis.zrange("dead", 0, -1).expect("zrange");
    let expected: HashSet<String> = jobs.into_iter().map(|(_, m)| m).collect();
    assert_eq!(dead, expected);
    let scores: Vec<(String, f64)> = redis.zrange_withscores("dead", 0, 0).expect("zrange");
    assert_eq!(scores[0].1, NOW);
    let left: usize = redis.zcard("retry").expect("zcard");
    assert_eq!(left, 0);
}

async fn all_matches(conn: &RedisConnection, reverse: bool, count: usize) -> Vec<String> {
    let (_, page) = filtered_page(conn, "dead", b"*needle*", reverse, 0, count)
        .await
        .expect("page");
    page.into_iter()
        .map(|e| String::from_utf8(e.member).expect("utf-8"))
        .collect()
}

#[test]
fn a_filtered_page_counts_all_matches_and_keeps_the_page_in_set_order() {
    let server = Server::start();
    let conn = server.connection();
    let mut redis = server.redis();
    // Equal scores in pairs, so the member's bytes decide between them.
    let jobs: Vec<(f64, String)> = (0..3_000)
        .map(|i| {
            let tag = if i % 7 == 0 { "needle" } else { "hay" };
            ((i / 2) as f64, job(i, "q", tag))
        })
        .collect();
    fill(&mut redis, "dead", &jobs);
    let mut expected: Vec<(f64, String)> = jobs
        .iter()
        .filter(|(_, m)| m.contains("needle"))
        .cloned()
        .collect();
    expected.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    runtime().block_on(async {
        let (total, page) = filtered_page(&conn, "dead", b"*needle*", false, 25, 25)
            .await
            .expect("page");
        assert_eq!(total, expected.len() as u64);
        let shown: Vec<String> = page
            .iter()
            .map(|e| String::from_utf8(e.member.clone()).expect("utf-8"))
            .collect();
        let wanted: Vec<String> = expected[25..50].iter().map(|(_, m)| m.clone()).collect();
        assert_eq!(shown, wanted);
        assert_eq!(page[0].score, expected[25].0);

        let reversed = all_matches(&conn, true, 10_000).await;
        let mut backwards: Vec<String> = expected.iter().map(|(_, m)| m.clone()).collect();
        backwards.reverse();
        assert_eq!(reversed, backwards);

        // A glob that is not a plain substring goes through ZSCAN's own MATCH: same answer.
        let (total, globbed) = filtered_page(&conn, "dead", b"*ne?dle*", false, 25, 25)
            .await
            .expect("page");
        assert_eq!(total, expected.len() as u64);
        assert_eq!(globbed, page);

        let (total, past_the_end) = filtered_page(&conn, "dead", b"*needle*", false, 10_000, 25)
            .await
            .expect("page");
        assert_eq!((total, past_the_end.len()), (expected.len() as u64, 0));
    });
}

#[test]
fn the_busy_page_reads_every_process_and_orders_by_run_at() {
    let server = Server::start();
    let conn = server.connection();
    let mut redis = server.redis();
    for p in 0..3 {
        let identity = format!("host-{p}:1:abc");
        let _: i64 = redis.sadd("processes", &identity).expect("sadd");
        // Process 2 is a Sidekiq 6.4 one: only `:workers`.
        let key = if p == 2 {
            format!("{identity}:workers")
        } else {
            format!("{identity}:work")
        };
        for t in 0..4 {
            let run_at = 1_000 + (t * 3 + p) as i64;
            let work = format!(r#"{{"queue":"q","payload":"{{}}","run_at":{run_at}}}"#);
            let _: i64 = redis.hset(&key, format!("t{t}"), work).expect("hset");
        }
    }
    runtime().block_on(async {
        let (total, page) = busy_page(&conn, 2, 5).await.expect("page");
        assert_eq!(total, 12);
        let run_ats: Vec<i64> = page.iter().map(|b| b.run_at).collect();
        assert_eq!(run_ats, vec![1_002, 1_003, 1_004, 1_005, 1_006]);
        assert_eq!(page[0].identity, "host-2:1:abc");
        assert_eq!(page[0].thread, b"t0");
    });
}

#[test]
fn a_filter_walks_sets_larger_than_one_window_and_counts_each_match_once() {
    let server = Server::start();
    let conn = server.connection();
    let mut redis = server.redis();
    let size = 2 * FILTER_CHUNK + 321;
    let jobs: Vec<(f64, String)> = (0..size)
        .map(|i| {
            let tag = if i % 11 == 0 { "needle" } else { "hay" };
            (i as f64, job(i, "q", tag))
        })
        .collect();
    fill(&mut redis, "retry", &jobs);
    let matching: Vec<&(f64, String)> = jobs.iter().filter(|(_, m)| m.contains("needle")).collect();
    runtime().block_on(async {
        let (total, page) = filtered_page(&conn, "retry", b"*needle*", false, 0, size)
            .await
            .expect("page");
        assert_eq!(total, matching.len() as u64);
        let shown: Vec<f64> = page.iter().map(|e| e.score).collect();
        let wanted: Vec<f64> = matching.iter().map(|(score, _)| *score).collect();
        assert_eq!(shown, wanted);
        // The same through ZSCAN's glob match.
        let (globbed, _) = filtered_page(&conn, "retry", b"*ne?dle*", false, 0, 1)
            .await
            .expect("page");
        assert_eq!(globbed, total);
    });
}

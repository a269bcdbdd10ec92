//! The scheduler's hand-off to Ruby's client middleware (docs/design.md, §5.2): claim,
//! completion and recovery scripts against a real redis-server. A claimed job is in exactly one
//! place at any time, and never pushed twice.

mod support;

use ferrokiq_core::server::hand_off::{self, ClaimedJob, Outcome};
use ferrokiq_core::server::scheduler::{self, Mover};
use support::*;

const ME: &str = "thishost:4242:0123456789ab";
const OTHER: &str = "otherhost:123:abcdefabcdef";

fn zadd(redis: &mut redis::Connection, set: &str, score: f64, member: &[u8]) {
    redis::cmd("ZADD")
        .arg(set)
        .arg(score)
        .arg(member)
        .query::<()>(redis)
        .unwrap();
}

fn zmembers(redis: &mut redis::Connection, set: &str) -> Vec<Vec<u8>> {
    redis::cmd("ZRANGE")
        .arg(set)
        .arg(0)
        .arg(-1)
        .query(redis)
        .unwrap()
}

fn hand_off_list(identity: &str, set: &str) -> String {
    format!("ferrokiq:handoff:{identity}:{set}")
}

fn registry(redis: &mut redis::Connection) -> std::collections::HashMap<String, String> {
    redis::cmd("HGETALL")
        .arg("ferrokiq:handoff")
        .query(redis)
        .unwrap()
}

fn claimed(set: &str, member: &[u8]) -> ClaimedJob {
    ClaimedJob {
        set: set.into(),
        member: member.to_vec(),
    }
}

#[test]
fn a_claim_moves_the_exact_member_once_and_registers_the_list() {
    let server = Server::start();
    let (conn, mut redis, rt) = (server.connection(), server.redis(), runtime());
    let (a, b) = (job("a", 1), job("b", 2));
    zadd(&mut redis, "schedule", 1.0, &a);
    zadd(&mut redis, "schedule", 2.0, &b);

    let got = rt
        .block_on(hand_off::claim(&conn, ME, "schedule", vec![a.clone()]))
        .unwrap();
    assert_eq!(got, vec![a.clone()]);
    assert_eq!(zmembers(&mut redis, "schedule"), vec![b.clone()]);
    let list = hand_off_list(ME, "schedule");
    assert_eq!(lrange(&mut redis, &list), vec![a.clone()]);
    let entry = registry(&mut redis).remove(&list).expect("registered");
    assert!(entry.starts_with(&format!("{ME}\nschedule\n")), "{entry:?}");

    // Already claimed (by anyone): nothing happens.
    let again = rt
        .block_on(hand_off::claim(
            &conn,
            OTHER,
            "schedule",
            vec![a.clone(), b.clone()],
        ))
        .unwrap();
    assert_eq!(again, vec![b.clone()]);
    assert_eq!(lrange(&mut redis, &list), vec![a]);
    assert_eq!(
        lrange(&mut redis, &hand_off_list(OTHER, "schedule")),
        vec![b]
    );
}

#[test]
fn completion_pushes_drops_or_kills_only_what_is_still_claimed() {
    let server = Server::start();
    let (conn, mut redis, rt) = (server.connection(), server.redis(), runtime());
    let (pushed, cancelled, killed) = (job("p", 1), job("c", 2), job("k", 3));
    for (score, member) in [(1.0, &pushed), (2.0, &cancelled), (3.0, &killed)] {
        zadd(&mut redis, "retry", score, member);
    }
    let members = vec![pushed.clone(), cancelled.clone(), killed.clone()];
    assert_eq!(
        rt.block_on(hand_off::claim(&conn, ME, "retry", members))
            .unwrap()
            .len(),
        3
    );

    let push = Outcome::Push {
        queue: "low".into(),
        payload: b"{\"changed\":true}".to_vec(),
    };
    let job = claimed("retry", &pushed);
    assert!(rt
        .block_on(hand_off::complete(&conn, ME, &job, &push))
        .unwrap());
    assert_eq!(
        lrange(&mut redis, "queue:low"),
        vec![b"{\"changed\":true}".to_vec()]
    );
    let queues: Vec<String> = redis::cmd("SMEMBERS")
        .arg("queues")
        .query(&mut redis)
        .unwrap();
    assert_eq!(queues, vec!["low".to_string()]);
    // A second completion of the same claim writes nothing.
    assert!(!rt
        .block_on(hand_off::complete(&conn, ME, &job, &push))
        .unwrap());
    assert_eq!(llen(&mut redis, "queue:low"), 1);

    let job = claimed("retry", &cancelled);
    assert!(rt
        .block_on(hand_off::complete(&conn, ME, &job, &Outcome::Cancel))
        .unwrap());
    let dead = Outcome::Dead {
        now: 1_700_000_000.0,
        max_jobs: 10,
        timeout_secs: 60.0,
    };
    let job = claimed("retry", &killed);
    assert!(rt
        .block_on(hand_off::complete(&conn, ME, &job, &dead))
        .unwrap());
    assert_eq!(zmembers(&mut redis, "dead"), vec![killed]);
    assert_eq!(llen(&mut redis, &hand_off_list(ME, "retry")), 0);
    assert_eq!(llen(&mut redis, "queue:low"), 1);
    assert!(
        registry(&mut redis).is_empty(),
        "an emptied list leaves the registry"
    );
}

#[test]
fn recovery_puts_a_gone_owners_claims_back_due_and_leaves_live_owners_alone() {
    let server = Server::start();
    let (conn, mut redis, rt) = (server.connection(), server.redis(), runtime());
    let (gone_job, live_job) = (job("gone", 1), job("live", 2));
    zadd(&mut redis, "schedule", 1.0, &gone_job);
    zadd(&mut redis, "retry", 1.0, &live_job);
    rt.block_on(hand_off::claim(
        &conn,
        OTHER,
        "schedule",
        vec![gone_job.clone()],
    ))
    .unwrap();
    let live = "livehost:7:0123456789ab";
    rt.block_on(hand_off::claim(
        &conn,
        live,
        "retry",
        vec![live_job.clone()],
    ))
    .unwrap();
    // The live owner beats; both were stamped just now.
    redis::cmd("SET")
        .arg(live)
        .arg("1")
        .query::<()>(&mut redis)
        .unwrap();

    let now = ferrokiq_core::payload::now_epoch_seconds();
    let recovered = rt
        .block_on(hand_off::recover_orphans(&conn, ME, now, |id| id == OTHER))
        .unwrap();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(recovered[0].0.identity, OTHER);
    assert_eq!(recovered[0].1, 1);
    assert_eq!(zmembers(&mut redis, "schedule"), vec![gone_job.clone()]);
    let score: f64 = redis::cmd("ZSCORE")
        .arg("schedule")
        .arg(&gone_job)
        .query(&mut redis)
        .unwrap();
    assert!(score <= ferrokiq_core::payload::now_epoch_seconds(), "due");
    assert_eq!(llen(&mut redis, &hand_off_list(OTHER, "schedule")), 0);
    assert_eq!(
        lrange(&mut redis, &hand_off_list(live, "retry")),
        vec![live_job]
    );
    assert_eq!(registry(&mut redis).len(), 1);

    // The dead owner's completion, had it still run, would push nothing: no double push.
    let push = Outcome::Push {
        queue: "default".into(),
        payload: gone_job.clone(),
    };
    let late = claimed("schedule", &gone_job);
    assert!(!rt
        .block_on(hand_off::complete(&conn, OTHER, &late, &push))
        .unwrap());
    assert_eq!(llen(&mut redis, "queue:default"), 0);

    // A clean exit puts back its own claims.
    rt.block_on(hand_off::claim(
        &conn,
        ME,
        "schedule",
        vec![gone_job.clone()],
    ))
    .unwrap();
    let released = rt
        .block_on(hand_off::release(&conn, ME, &scheduler::SETS))
        .unwrap();
    assert_eq!(released, 1);
    assert_eq!(zmembers(&mut redis, "schedule"), vec![gone_job]);
}

#[test]
fn a_pass_claims_due_jobs_up_to_the_room_left_and_kills_garbage() {
    let server = Server::start();
    let (conn, mut redis, rt) = (server.connection(), server.redis(), runtime());
    let jobs: Vec<Vec<u8>> = (0..3)
        .map(|i| format!(r#"{{"class":"X","args":[{i}],"queue":"q","jid":"j{i}"}}"#).into_bytes())
        .collect();
    for (i, member) in jobs.iter().enumerate() {
        zadd(&mut redis, "schedule", 1.0 + i as f64, member);
    }
    zadd(&mut redis, "retry", 1.0, b"{garbage");
    let (to_ruby, from_scheduler) = crossbeam_channel::bounded(2);
    let mover = Mover::HandOff {
        identity: ME,
        to_ruby: &to_ruby,
    };
    let defaults = serde_json::Map::new();
    let pass = rt
        .block_on(scheduler::pass(&conn, &defaults, (10, 60.0), mover))
        .unwrap();
    assert_eq!(pass.moved, 2);
    assert_eq!(pass.invalid.len(), 1);
    assert_eq!(zmembers(&mut redis, "dead"), vec![b"{garbage".to_vec()]);
    let handed: Vec<ClaimedJob> = from_scheduler.try_iter().collect();
    assert_eq!(
        handed,
        vec![claimed("schedule", &jobs[0]), claimed("schedule", &jobs[1])]
    );
    assert_eq!(zmembers(&mut redis, "schedule"), vec![jobs[2].clone()]);
    assert_eq!(llen(&mut redis, &hand_off_list(ME, "schedule")), 2);
    assert_eq!(llen(&mut redis, "queue:q"), 0, "nothing pushed before Ruby");

    // With the channel full, the pass claims nothing and says so.
    to_ruby.try_send(claimed("schedule", b"x")).unwrap();
    to_ruby.try_send(claimed("schedule", b"y")).unwrap();
    let full = rt
        .block_on(scheduler::pass(&conn, &defaults, (10, 60.0), mover))
        .unwrap();
    assert!(full.full);
    assert_eq!(full.moved, 0);
    assert_eq!(zmembers(&mut redis, "schedule"), vec![jobs[2].clone()]);
}

#[test]
fn an_engine_with_client_middleware_hands_due_jobs_to_ruby_and_puts_unsettled_ones_back_at_stop() {
    use ferrokiq_core::server::HandOffNext;
    use std::time::Duration;

    let server = Server::start();
    let (mut redis, rt) = (server.redis(), runtime());
    let config = ferrokiq_core::server::ServerConfig {
        scheduler_hand_off: true,
        ..config(&["default"], 1)
    };
    let identity = config.identity.clone();
    let engine = server.engine(config);
    let (first, second) = (
        br#"{"class":"X","args":[1],"queue":"default","jid":"a"}"#.to_vec(),
        br#"{"class":"X","args":[2],"queue":"default","jid":"b"}"#.to_vec(),
    );
    // The retry first: the engine already runs, and a pass between the two writes must not
    // find the scheduled job alone.
    zadd(&mut redis, "retry", 2.0, &second);
    zadd(&mut redis, "schedule", 1.0, &first);
    let (_keep, interrupt) = crossbeam_channel::bounded::<()>(0);
    let mut handed = Vec::new();
    wait_until(Duration::from_secs(10), "two claimed jobs", || {
        if let HandOffNext::Job(job) = engine.next_hand_off(Duration::from_millis(100), &interrupt)
        {
            handed.push(job);
        }
        handed.len() == 2
    });
    // Retries first, as Sidekiq polls them; nothing reached the queue yet.
    assert_eq!(handed[0], claimed("retry", &second));
    assert_eq!(llen(&mut redis, "queue:default"), 0);

    let push = Outcome::Push {
        queue: "default".into(),
        payload: b"{\"jid\":\"b\"}".to_vec(),
    };
    assert!(rt
        .block_on(engine.complete_hand_off(&handed[0], &push))
        .unwrap());
    // Pushed (the engine's own fetcher may have taken it already).
    let working = working_list(&identity, "default");
    wait_until(Duration::from_secs(5), "the pushed job", || {
        llen(&mut redis, "queue:default") + llen(&mut redis, &working) == 1
    });

    // The other one was never settled: the stop puts it back in its set, due.
    rt.block_on(engine.quiet());
    assert_eq!(
        engine.next_hand_off(Duration::from_millis(10), &interrupt),
        HandOffNext::Stopped
    );
    rt.block_on(engine.stop());
    assert_eq!(zmembers(&mut redis, "schedule"), vec![first]);
    assert_eq!(llen(&mut redis, &hand_off_list(&identity, "schedule")), 0);
    assert!(registry(&mut redis).is_empty());
}

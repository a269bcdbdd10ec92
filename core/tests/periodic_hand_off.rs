//! Periodic ticks claimed for Ruby's client middleware (docs/design.md, §5.1 and §5.2): the
//! tick's claim puts the job onto this process's `periodic` hand-off list, exactly once per tick
//! whoever claims, and a gone owner's claims go to `schedule`, due at once.

mod support;

use ferrokiq_core::payload::now_epoch_seconds;
use ferrokiq_core::server::hand_off::{self, ClaimedJob, Outcome, PERIODIC};
use ferrokiq_core::server::periodic::{HandOff, Schedule};
use serde_json::{Map, Value};
use support::*;

const ME: &str = "thishost:4242:0123456789ab";
const OTHER: &str = "otherhost:123:abcdefabcdef";

fn defaults() -> Map<String, Value> {
    serde_json::from_str(r#"{"retry":true,"queue":"default"}"#).unwrap()
}

/// An entry ticking every second, registered ten seconds ago (so a tick is due now).
fn add_entry(redis: &mut redis::Connection, name: &str, config: &str) {
    redis::cmd("HSET")
        .arg("schedules")
        .arg(name)
        .arg(config)
        .query::<()>(redis)
        .unwrap();
    redis::cmd("HSET")
        .arg("ferrokiq:periodic:since")
        .arg(name)
        .arg((now_epoch_seconds() - 10.0).floor())
        .query::<()>(redis)
        .unwrap();
}

fn list(identity: &str) -> String {
    format!("ferrokiq:handoff:{identity}:{PERIODIC}")
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn pass(
    conn: &ferrokiq_core::RedisConnection,
    identity: &str,
    to_ruby: &crossbeam_channel::Sender<ClaimedJob>,
    middleware: bool,
    now: f64,
) -> ferrokiq_core::server::periodic::Tick {
    let hand_off = HandOff {
        identity,
        to_ruby,
        middleware,
    };
    runtime()
        .block_on(Schedule::default().pass(conn, &defaults(), hand_off, now))
        .unwrap()
}

#[test]
fn with_middleware_a_tick_is_claimed_once_onto_the_hand_off_list_and_pushed_at_completion() {
    let server = Server::start();
    let (conn, mut redis) = (server.connection(), server.redis());
    add_entry(
        &mut redis,
        "tick",
        r#"{"every":"1s","class":"TickJob","args":["x"]}"#,
    );
    let (to_ruby, from_engine) = crossbeam_channel::bounded(10);
    let now = now_epoch_seconds();

    let tick = pass(&conn, ME, &to_ruby, true, now);
    assert_eq!((tick.pushed, tick.full), (1, false));
    let claimed = from_engine.try_recv().expect("handed to Ruby");
    assert_eq!(claimed.set, PERIODIC);
    // The entry's job and a jid: the client adds the rest (class options, queue, created_at).
    let job = json(&claimed.member);
    assert_eq!(job["class"], "TickJob");
    assert_eq!(job["args"], serde_json::json!(["x"]));
    assert_eq!(job["jid"].as_str().map(str::len), Some(24));
    assert!(job.get("queue").is_none() && job.get("enqueued_at").is_none());
    assert_eq!(lrange(&mut redis, &list(ME)), vec![claimed.member.clone()]);
    assert!(lrange(&mut redis, "queue:default").is_empty());
    let registered: String = redis::cmd("HGET")
        .arg("ferrokiq:handoff")
        .arg(list(ME))
        .query(&mut redis)
        .unwrap();
    assert!(registered.starts_with(&format!("{ME}\nperiodic\n")));

    // Another process (a lease handover) at the same moment: the tick is taken.
    let (other_tx, other_rx) = crossbeam_channel::bounded(10);
    assert_eq!(pass(&conn, OTHER, &other_tx, true, now).pushed, 0);
    assert!(other_rx.try_recv().is_err());
    assert!(lrange(&mut redis, &list(OTHER)).is_empty());

    let push = Outcome::Push {
        queue: "default".into(),
        payload: b"{\"stamped\":true}".to_vec(),
    };
    let done = runtime().block_on(hand_off::complete(&conn, ME, &claimed, &push));
    assert!(done.unwrap());
    assert_eq!(
        lrange(&mut redis, "queue:default"),
        vec![b"{\"stamped\":true}".to_vec()]
    );
    assert!(lrange(&mut redis, &list(ME)).is_empty());
}

#[test]
fn without_middleware_only_a_locked_entry_goes_to_ruby() {
    let server = Server::start();
    let (conn, mut redis) = (server.connection(), server.redis());
    add_entry(&mut redis, "plain", r#"{"every":"1s","class":"PlainJob"}"#);
    add_entry(
        &mut redis,
        "locked",
        r#"{"every":"1s","class":"LockedJob","lock":"until_executed"}"#,
    );
    let (to_ruby, from_engine) = crossbeam_channel::bounded(10);

    let tick = pass(&conn, ME, &to_ruby, false, now_epoch_seconds());
    assert_eq!(tick.pushed, 2);
    let claimed: Vec<ClaimedJob> = from_engine.try_iter().collect();
    assert_eq!(claimed.len(), 1);
    assert_eq!(json(&claimed[0].member)["class"], "LockedJob");
    let queued = lrange(&mut redis, "queue:default");
    assert_eq!(queued.len(), 1);
    assert_eq!(json(&queued[0])["class"], "PlainJob");
}

#[test]
fn a_full_hand_off_leaves_the_tick_unclaimed_for_the_next_pass() {
    let server = Server::start();
    let (conn, mut redis) = (server.connection(), server.redis());
    add_entry(&mut redis, "tick", r#"{"every":"1s","class":"TickJob"}"#);
    let (to_ruby, from_engine) = crossbeam_channel::bounded(1);
    to_ruby
        .try_send(ClaimedJob {
            set: "schedule".into(),
            member: job("waiting", 1),
        })
        .unwrap();
    let now = now_epoch_seconds();
    let mut schedule = Schedule::default();
    let hand_off = HandOff {
        identity: ME,
        to_ruby: &to_ruby,
        middleware: true,
    };
    let rt = runtime();

    let tick = rt
        .block_on(schedule.pass(&conn, &defaults(), hand_off, now))
        .unwrap();
    assert_eq!((tick.pushed, tick.full), (0, true));
    assert!(lrange(&mut redis, &list(ME)).is_empty());

    from_engine.try_recv().unwrap();
    let tick = rt
        .block_on(schedule.pass(&conn, &defaults(), hand_off, now))
        .unwrap();
    assert_eq!((tick.pushed, tick.full), (1, false));
    assert_eq!(from_engine.try_recv().unwrap().set, PERIODIC);
}

#[test]
fn a_gone_owners_periodic_claims_go_to_schedule_due_now() {
    let server = Server::start();
    let (conn, mut redis) = (server.connection(), server.redis());
    add_entry(&mut redis, "tick", r#"{"every":"1s","class":"TickJob"}"#);
    let (to_ruby, _from_engine) = crossbeam_channel::bounded(10);
    assert_eq!(
        pass(&conn, OTHER, &to_ruby, true, now_epoch_seconds()).pushed,
        1
    );
    let member = lrange(&mut redis, &list(OTHER)).remove(0);

    let now = now_epoch_seconds();
    let recovered = runtime()
        .block_on(hand_off::recover_orphans(&conn, ME, now, |id| id == OTHER))
        .unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].1, 1);
    let scheduled: Vec<(Vec<u8>, f64)> = redis::cmd("ZRANGE")
        .arg("schedule")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut redis)
        .unwrap();
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].0, member);
    assert!(scheduled[0].1 <= now_epoch_seconds());
    assert!(lrange(&mut redis, &list(OTHER)).is_empty());
    let registry: Vec<String> = redis::cmd("HKEYS")
        .arg("ferrokiq:handoff")
        .query(&mut redis)
        .unwrap();
    assert!(registry.is_empty());
    // The exit of a process releases its own periodic claims the same way.
    assert_eq!(
        pass(&conn, ME, &to_ruby, true, now_epoch_seconds() + 1.0).pushed,
        1
    );
    let released = runtime().block_on(hand_off::release(&conn, ME, &hand_off::SETS));
    assert_eq!(released.unwrap(), 1);
    assert!(lrange(&mut redis, &list(ME)).is_empty());
}

//! An engine with two capsules (docs/design.md, §19) against a real redis-server: a default
//! capsule of several threads on `default` and a one-thread capsule on `serial`. Each capsule's
//! threads get only their own queues' jobs, the one-thread capsule never holds more than its
//! thread can work through, the heartbeat reports both, and reliable fetch keeps and
//! recovers the serial capsule's jobs as it does the default one's.

mod support;

use std::time::Duration;

use ferrokiq_core::server::{CapsuleConfig, Engine, FetchedJob, NextJob, ServerConfig};
use support::*;

const WAIT: Duration = Duration::from_secs(5);
const SERIAL: usize = 1;

/// `default` on 4 threads, plus the capsule "single": `serial` on one thread.
fn two_capsules() -> ServerConfig {
    let mut config = config(&["default"], 4);
    config.capsules = vec![CapsuleConfig {
        name: "single".into(),
        concurrency: 1,
        queues: vec![("serial".into(), 0)],
    }];
    config
}

/// The next job for a thread of capsule `index`, waiting up to `within`.
fn take_for(engine: &Engine, index: usize, within: Duration) -> FetchedJob {
    let (_keep, interrupt) = crossbeam_channel::bounded::<()>(0);
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        match engine.next_job_for(index, Duration::from_millis(100), &interrupt) {
            NextJob::Job(job) => return job,
            NextJob::Stopped => panic!("capsule {index} was told to stop"),
            NextJob::Empty => {}
        }
    }
    panic!("no job for capsule {index} within {within:?}");
}

#[test]
fn each_capsules_threads_get_only_their_queues_jobs() {
    let server = Server::start();
    let mut redis = server.redis();
    let serial: Vec<Vec<u8>> = (0..5).map(|n| job("serial", n)).collect();
    let parallel: Vec<Vec<u8>> = (0..5).map(|n| job("parallel", n)).collect();
    push(&mut redis, "serial", &serial);
    push(&mut redis, "default", &parallel);
    let config = two_capsules();
    let id = config.identity.clone();
    let engine = server.engine(config);
    assert_eq!(engine.capsule_names(), vec!["default", "single"]);

    let first = take_for(&engine, SERIAL, WAIT);
    assert_eq!(first.queue, "serial");
    assert_eq!(first.payload, serial[0]);
    // One thread: while its job runs, at most one more waits for it (its prefetch is one per
    // thread), so the rest stay on the queue for any other process to take.
    std::thread::sleep(Duration::from_millis(300));
    let held = llen(&mut redis, &working_list(&id, "serial"));
    assert!(held <= 2, "the serial capsule holds {held} jobs");
    assert!(llen(&mut redis, "queue:serial") >= 3);

    let defaults: Vec<FetchedJob> = (0..5).map(|_| take_for(&engine, 0, WAIT)).collect();
    assert!(
        defaults.iter().all(|job| job.queue == "default"),
        "{defaults:?}"
    );
    let mut taken: Vec<Vec<u8>> = defaults.iter().map(|j| j.payload.clone()).collect();
    taken.sort();
    assert_eq!(show(&taken), show(&sorted(parallel)));

    engine.work_started("t1", first.queue.clone(), first.payload.clone(), None);
    engine.work_finished("t1", false);
    engine.acknowledge(first);
    let rest: Vec<FetchedJob> = (1..5).map(|_| take_for(&engine, SERIAL, WAIT)).collect();
    let payloads: Vec<Vec<u8>> = rest.iter().map(|j| j.payload.clone()).collect();
    assert_eq!(show(&payloads), show(&serial[1..]), "in queue order");
    let (_keep, interrupt) = crossbeam_channel::bounded::<()>(0);
    assert_eq!(
        engine.next_job_for(SERIAL, Duration::from_millis(200), &interrupt),
        NextJob::Empty,
        "the serial capsule never got a default job"
    );
    assert_eq!(
        engine.next_job_for(7, Duration::from_millis(10), &interrupt),
        NextJob::Stopped,
        "no such capsule: nothing to work on"
    );
}

#[test]
fn the_heartbeat_reports_every_capsule_and_the_total_concurrency() {
    let server = Server::start();
    let mut redis = server.redis();
    let mut config = two_capsules();
    config.queues = vec![("critical".into(), 3), ("default".into(), 1)];
    let id = config.identity.clone();
    let engine = server.engine(config);
    runtime().block_on(engine.beat()).expect("a beat");

    let (info, concurrency): (String, usize) = redis::cmd("HMGET")
        .arg(&id)
        .arg("info")
        .arg("concurrency")
        .query(&mut redis)
        .unwrap();
    assert_eq!(
        concurrency, 5,
        "the process hash's concurrency is the total"
    );
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["concurrency"], 5);
    assert_eq!(
        info["queues"],
        serde_json::json!(["critical", "default", "serial"])
    );
    assert_eq!(
        info["weights"],
        serde_json::json!([{"critical": 3, "default": 1}, {"serial": 0}])
    );
    assert_eq!(
        info["capsules"],
        serde_json::json!({
            "default": {"concurrency": 4, "mode": "weighted", "weights": {"critical": 3, "default": 1}},
            "single": {"concurrency": 1, "mode": "strict", "weights": {"serial": 0}}
        })
    );
}

#[test]
fn a_capsules_working_list_is_registered_swept_and_released() {
    let server = Server::start();
    let mut redis = server.redis();
    let serial: Vec<Vec<u8>> = (0..3).map(|n| job("serial", n)).collect();
    push(&mut redis, "serial", &serial);
    let config = two_capsules();
    let id = config.identity.clone();
    let working = working_list(&id, "serial");
    let engine = server.engine(config);
    let lists = registry(&mut redis);
    assert!(lists.contains_key(&working), "{lists:?}");
    assert!(
        lists.contains_key(&working_list(&id, "default")),
        "{lists:?}"
    );

    // A job that ends unsettled (its thread killed) stays in the working list; the sweep
    // (bound 2 s here) puts it back, and the serial capsule gets it again.
    let abandoned = take_for(&engine, SERIAL, WAIT);
    engine.abandon(&abandoned);
    let mut again = Vec::new();
    while again.len() < 3 {
        let job = take_for(&engine, SERIAL, Duration::from_secs(15));
        let is_it = job.payload == abandoned.payload;
        engine.acknowledge(job.clone());
        again.push(job);
        if is_it {
            break;
        }
    }
    assert!(
        again.iter().any(|job| job.payload == abandoned.payload),
        "the abandoned serial job came back to the serial capsule"
    );

    // One job still taken at stop: it goes back to its queue, and the lists leave the registry.
    let rt = runtime();
    rt.block_on(engine.quiet());
    rt.block_on(engine.stop());
    wait_until(WAIT, "the working list is empty", || {
        llen(&mut redis, &working) == 0
    });
    let left: Vec<_> = registry(&mut redis)
        .into_keys()
        .filter(|list| list.contains(&id))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let acked: Vec<Vec<u8>> = again.iter().map(|j| j.payload.clone()).collect();
    let queued = lrange(&mut redis, "queue:serial");
    for payload in &serial {
        assert_eq!(
            usize::from(queued.contains(payload)) + usize::from(acked.contains(payload)),
            1,
            "every serial job is either acknowledged or back on its queue, once: {}",
            String::from_utf8_lossy(payload)
        );
    }
}

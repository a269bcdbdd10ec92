//! The engine driven as the Ruby side drives it (start, next_job, acknowledge, quiet, stop)
//! against a real redis-server, asserting what ends up in Redis.

mod support;

use std::time::{Duration, Instant};

use ferrokiq_core::server::{Level, NextJob};
use support::*;

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn delivers_payloads_byte_for_byte_and_acknowledgement_empties_the_working_list() {
    let server = Server::start();
    let mut redis = server.redis();
    let good = job("exact", 1);
    let latin1: Vec<u8> = b"{\"class\":\"X\",\"args\":[\"caf\xe9\"]}".to_vec();
    // Queued before the start: taken by the batch script.
    push(&mut redis, "default", &[good.clone(), latin1.clone()]);
    let config = config(&["default"], 5);
    let id = config.identity.clone();
    let engine = server.engine(config);

    let first = take_job(&engine, WAIT);
    let second = take_job(&engine, WAIT);
    assert_eq!(first.queue, "default");
    assert_eq!(
        String::from_utf8_lossy(&first.payload),
        String::from_utf8_lossy(&good)
    );
    assert_eq!(
        second.payload, latin1,
        "invalid UTF-8 must arrive as stored"
    );

    // Queued while the engine idles: taken by the blocking move.
    std::thread::sleep(Duration::from_millis(100));
    let late: Vec<u8> = b"{\"class\":\"Y\",\"args\":[\"\xff\xfe\x00\"]}".to_vec();
    push(&mut redis, "default", std::slice::from_ref(&late));
    let third = take_job(&engine, WAIT);
    assert_eq!(third.payload, late);
    assert_eq!(third.queue, "default");

    let working = working_list(&id, "default");
    assert_eq!(
        sorted(lrange(&mut redis, &working)),
        sorted(vec![good, latin1, late]),
        "every delivered job sits in the working list until acknowledged"
    );
    assert_eq!(llen(&mut redis, "queue:default"), 0);

    for job in [first, second, third] {
        engine.acknowledge(job);
    }
    wait_until(WAIT, "the acknowledged jobs leave the working list", || {
        llen(&mut redis, &working) == 0
    });
    assert_eq!(engine.failure(), None);
    let errors: Vec<_> = engine
        .take_events()
        .into_iter()
        .filter(|e| e.level == Level::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn a_payload_that_is_not_utf8_does_not_strand_the_rest_of_its_batch() {
    let server = Server::start();
    let mut redis = server.redis();
    let jobs: Vec<Vec<u8>> = vec![
        b"\xc3\x28 not utf-8 at the start".to_vec(),
        job("batch", 1),
        b"{\"class\":\"X\",\"args\":[\"caf\xe9\"]}".to_vec(),
        job("batch", 2),
        job("batch", 3),
        b"{\"args\":[\"\xed\xa0\x80\"]} surrogate at the end \xff".to_vec(),
    ];
    push(&mut redis, "default", &jobs);
    // Room for all six: one batch.
    let config = config(&["default"], 10);
    let id = config.identity.clone();
    let engine = server.engine(config);

    let delivered: Vec<_> = (0..jobs.len()).map(|_| take_job(&engine, WAIT)).collect();
    let payloads: Vec<Vec<u8>> = delivered.iter().map(|j| j.payload.clone()).collect();
    assert_eq!(
        show(&payloads),
        show(&jobs),
        "all delivered, in queue order"
    );
    assert_eq!(payloads, jobs, "byte for byte");
    let working = working_list(&id, "default");
    assert_eq!(sorted(lrange(&mut redis, &working)), sorted(jobs.clone()));
    assert_eq!(llen(&mut redis, "queue:default"), 0);

    for job in delivered {
        engine.acknowledge(job);
    }
    wait_until(WAIT, "the batch is acknowledged", || {
        llen(&mut redis, &working) == 0
    });
    let events = engine.take_events();
    assert!(events.iter().all(|e| e.level != Level::Error), "{events:?}");
}

#[test]
fn quiet_puts_the_prefetched_jobs_back_in_order_and_keeps_the_taken_one() {
    let server = Server::start();
    let mut redis = server.redis();
    let jobs: Vec<Vec<u8>> = (0..50).map(|n| job("quiet", n)).collect();
    push(&mut redis, "default", &jobs);
    let config = config(&["default"], 2);
    let id = config.identity.clone();
    let working = working_list(&id, "default");
    let engine = server.engine(config);

    // A few fast jobs run and finish: the prefetch grows, to everything that is queued unless
    // the host paused this thread inside a job (the measured job time sets the prefetch).
    for (n, expected) in jobs.iter().take(3).enumerate() {
        let done = take_job(&engine, WAIT);
        assert_eq!(&done.payload, expected);
        let tid = format!("tid{n}");
        engine.work_started(&tid, done.queue.clone(), done.payload.clone(), None);
        engine.work_finished(&tid, false);
        engine.acknowledge(done);
    }
    let taken = take_job(&engine, WAIT);
    assert_eq!(taken.payload, jobs[3]);
    wait_until(
        WAIT,
        "untaken jobs are prefetched (two at least), the 3 finished ones acknowledged",
        || {
            let prefetched = llen(&mut redis, &working);
            prefetched >= 3 && llen(&mut redis, "queue:default") + prefetched == 47
        },
    );
    // Let the fetcher finish handing the batch over to the channel.
    std::thread::sleep(Duration::from_millis(200));

    runtime().block_on(engine.quiet());

    assert_eq!(
        lrange(&mut redis, &working),
        vec![taken.payload.clone()],
        "only the job a thread took stays in the working list"
    );
    let back = pop_order(&mut redis, "default");
    assert_eq!(
        show(&sorted(back.clone())),
        show(&sorted(jobs[4..].to_vec())),
        "every untaken job is back in queue:default, once"
    );
    assert_eq!(next(&engine, Duration::from_millis(200)), NextJob::Stopped);
    assert_eq!(engine.try_next_job(), NextJob::Stopped);
    assert!(engine.is_quiet());
    assert_eq!(
        show(&back[..1]),
        show(&jobs[4..5]),
        "the head of the queue (the next job popped) is the oldest job put back"
    );
    assert_eq!(
        show(&back),
        show(&jobs[4..]),
        "the jobs put back are popped again in their original order"
    );
}

#[test]
fn stop_puts_back_what_is_unacknowledged_and_leaves_the_registries() {
    let server = Server::start();
    let mut redis = server.redis();
    let jobs: Vec<Vec<u8>> = (0..6).map(|n| job("stop", n)).collect();
    push(&mut redis, "default", &jobs);
    let config = config(&["default"], 2);
    let id = config.identity.clone();
    let working = working_list(&id, "default");
    let engine = server.engine(config);
    let rt = runtime();
    rt.block_on(engine.beat()).expect("beat");
    let member: bool = redis::cmd("SISMEMBER")
        .arg("processes")
        .arg(&id)
        .query(&mut redis)
        .unwrap();
    assert!(member, "the beat registered the process");
    assert!(registry(&mut redis).contains_key(&working));

    let taken: Vec<_> = (0..4).map(|_| take_job(&engine, WAIT)).collect();
    let (finished, unfinished) = taken.split_at(2);
    for job in finished {
        engine.acknowledge(job.clone());
    }
    // Right after the acknowledgements, as a shutdown does.
    rt.block_on(engine.quiet());
    rt.block_on(engine.stop());

    let acked: Vec<Vec<u8>> = finished.iter().map(|j| j.payload.clone()).collect();
    let queued = lrange(&mut redis, "queue:default");
    for job in &acked {
        assert!(
            !queued.contains(job),
            "an acknowledged job was put back: {}",
            String::from_utf8_lossy(job)
        );
    }
    for job in unfinished {
        assert!(
            queued.contains(&job.payload),
            "a taken, unacknowledged job was not put back: {}",
            job.display_payload()
        );
    }
    let rest: Vec<Vec<u8>> = jobs
        .iter()
        .filter(|j| !acked.contains(j))
        .cloned()
        .collect();
    assert_eq!(
        show(&sorted(queued)),
        show(&sorted(rest)),
        "queue:default holds every unacknowledged job exactly once"
    );
    assert_eq!(llen(&mut redis, &working), 0);
    let leftovers: Vec<_> = registry(&mut redis)
        .into_iter()
        .filter(|(list, value)| list.contains(&id) || value.starts_with(&id))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let member: bool = redis::cmd("SISMEMBER")
        .arg("processes")
        .arg(&id)
        .query(&mut redis)
        .unwrap();
    assert!(!member, "the process left `processes`");
    let events = engine.take_events();
    assert!(events.iter().all(|e| e.level == Level::Info), "{events:?}");
}

/// A stopped engine that is not dropped at once (an embedded Sidekiq, a slow exit) must not
/// write its working lists back into the registry: its maintenance task re-asserts them every
/// 10 s after the start.
#[test]
fn a_stopped_engine_stays_out_of_the_working_list_registry() {
    let server = Server::start();
    let mut redis = server.redis();
    let started = Instant::now();
    let config = config(&["default"], 2);
    let id = config.identity.clone();
    let engine = server.engine(config);
    let rt = runtime();
    rt.block_on(engine.quiet());
    rt.block_on(engine.stop());
    assert!(
        !registry(&mut redis).keys().any(|list| list.contains(&id)),
        "stop removed the entry"
    );
    // Past the maintenance task's first re-assertion (10 s after the start).
    let past = started + Duration::from_secs(12);
    while Instant::now() < past {
        let back: Vec<_> = registry(&mut redis)
            .into_keys()
            .filter(|list| list.contains(&id))
            .collect();
        assert!(
            back.is_empty(),
            "{:.1} s after the start, a stopped engine re-registered {back:?}",
            started.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(engine);
}

//! Fetching and the sweep: idle waits on several queues at once, and working-list entries no
//! thread works on (a lost fetch reply, an abandoned job) against jobs that are in use.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferrokiq_core::rng::Rng;
use ferrokiq_core::server::{fetch, Engine, NextJob};
use support::*;

const WAIT: Duration = Duration::from_secs(5);
/// The sweep's bound with `stranded_after` 1 s and a 1 s Redis timeout.
const BOUND: Duration = Duration::from_secs(2);

fn sweep_lines(engine: &Engine) -> Vec<String> {
    engine
        .take_events()
        .into_iter()
        .map(|e| e.message)
        .filter(|m| m.contains("with no thread working on them"))
        .collect()
}

/// Waits for the sweep's line starting with `start`. (The line is queued once the requeue's
/// reply is in, which can be after the test sees the job back.)
fn wait_for_sweep_line(engine: &Engine, start: &str) {
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !lines.iter().any(|l: &String| l.starts_with(start)) {
        assert!(Instant::now() < deadline, "no {start:?} line: {lines:?}");
        lines.extend(sweep_lines(engine));
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An engine with concurrency 1 whose one prefetched job waits in the channel, so that its
/// fetcher has no room and leaves queue:default alone.
fn saturated_engine(server: &Server, redis: &mut redis::Connection) -> (Engine, Vec<u8>, String) {
    let waiting = job("waiting", 0);
    push(redis, "default", std::slice::from_ref(&waiting));
    let config = config(&["default"], 1);
    let working = working_list(&config.identity, "default");
    let engine = server.engine(config);
    wait_until(WAIT, "the job is prefetched", || {
        lrange(redis, &working) == vec![waiting.clone()]
    });
    (engine, waiting, working)
}

#[test]
fn the_sweep_puts_back_an_entry_no_thread_holds() {
    let server = Server::start();
    let mut redis = server.redis();
    let (engine, waiting, working) = saturated_engine(&server, &mut redis);
    let lost = job("lost", 1);
    let pushed_at = Instant::now();
    redis::cmd("LPUSH")
        .arg(&working)
        .arg(&lost)
        .query::<()>(&mut redis)
        .unwrap();
    wait_until(
        Duration::from_secs(6),
        "the stranded entry is back in queue:default",
        || lrange(&mut redis, "queue:default") == vec![lost.clone()],
    );
    let after = pushed_at.elapsed();
    assert!(
        after >= BOUND - Duration::from_millis(50),
        "swept after {after:?}, before its bound"
    );
    assert_eq!(
        lrange(&mut redis, &working),
        vec![waiting.clone()],
        "the prefetched job, waiting in the channel, is not swept"
    );
    wait_for_sweep_line(&engine, "Put 1 jobs back");

    let first = take_job(&engine, WAIT);
    assert_eq!(first.payload, waiting);
    let second = take_job(&engine, WAIT);
    assert_eq!(second.payload, lost, "the swept job is fetched again");
    engine.acknowledge(first);
    engine.acknowledge(second);
    wait_until(WAIT, "the working list empties", || {
        llen(&mut redis, &working) == 0
    });
}

#[test]
fn the_sweep_leaves_a_running_job_alone() {
    let server = Server::start();
    let mut redis = server.redis();
    let running = job("running", 1);
    push(&mut redis, "default", std::slice::from_ref(&running));
    let config = config(&["default"], 1);
    let working = working_list(&config.identity, "default");
    let engine = server.engine(config);
    let taken = take_job(&engine, WAIT);
    assert_eq!(taken.payload, running);
    engine.work_started("tid", taken.queue.clone(), taken.payload.clone(), None);

    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        assert_eq!(
            lrange(&mut redis, &working),
            vec![running.clone()],
            "a running job stays in the working list"
        );
        assert_eq!(llen(&mut redis, "queue:default"), 0);
        std::thread::sleep(Duration::from_millis(100));
    }
    let lines = sweep_lines(&engine);
    assert!(lines.is_empty(), "{lines:?}");

    engine.work_finished("tid", false);
    engine.acknowledge(taken);
    wait_until(WAIT, "the working list empties", || {
        llen(&mut redis, &working) == 0
    });
    assert_eq!(next(&engine, Duration::from_millis(300)), NextJob::Empty);
}

#[test]
fn the_sweep_puts_back_an_abandoned_job() {
    let server = Server::start();
    let mut redis = server.redis();
    let doomed = job("abandoned", 1);
    push(&mut redis, "default", std::slice::from_ref(&doomed));
    let config = config(&["default"], 1);
    let working = working_list(&config.identity, "default");
    let engine = server.engine(config);
    let taken = take_job(&engine, WAIT);
    assert_eq!(taken.payload, doomed);
    let abandoned_at = Instant::now();
    engine.abandon(&taken);

    // Back on queue:default, where the idle fetcher takes it at once.
    let again = take_job(&engine, Duration::from_secs(6));
    assert_eq!(again.payload, doomed);
    assert!(abandoned_at.elapsed() >= BOUND - Duration::from_millis(50));
    wait_for_sweep_line(&engine, "Put 1 jobs back");
    assert_eq!(lrange(&mut redis, &working), vec![doomed.clone()]);
    engine.acknowledge(again);
    wait_until(WAIT, "the working list empties", || {
        llen(&mut redis, &working) == 0
    });
    assert_eq!(llen(&mut redis, "queue:default"), 0);
}

/// A fetch whose reply never reached the engine: the batch script ran under the engine's
/// identity (as if for its fetcher), and its result is dropped.
#[test]
fn a_batch_whose_reply_was_lost_is_swept_back_and_delivered_once() {
    let server = Server::start();
    let mut redis = server.redis();
    let (engine, waiting, working) = saturated_engine(&server, &mut redis);
    let lost: Vec<Vec<u8>> = (1..=3).map(|n| job("lost-reply", n)).collect();
    push(&mut redis, "default", &lost);
    let id = engine.config().identity.clone();
    let conn = server.connection();
    let moved = runtime()
        .block_on(fetch::reliable_batch(&conn, &id, &["default"], 10))
        .expect("the batch script")
        .jobs;
    assert_eq!(moved.len(), 3);
    drop(moved);
    assert_eq!(llen(&mut redis, "queue:default"), 0);
    assert_eq!(llen(&mut redis, &working), 4);

    wait_until(
        Duration::from_secs(6),
        "the lost batch is back in queue:default",
        || llen(&mut redis, "queue:default") == 3,
    );
    assert_eq!(
        show(&sorted(lrange(&mut redis, "queue:default"))),
        show(&sorted(lost.clone()))
    );
    assert_eq!(lrange(&mut redis, &working), vec![waiting.clone()]);
    wait_for_sweep_line(&engine, "Put 3 jobs back");

    let mut delivered = Vec::new();
    for _ in 0..4 {
        let job = take_job(&engine, WAIT);
        delivered.push(job.payload.clone());
        engine.acknowledge(job);
    }
    let mut expected = lost;
    expected.push(waiting);
    assert_eq!(show(&sorted(delivered)), show(&sorted(expected)));
    assert_eq!(next(&engine, Duration::from_millis(300)), NextJob::Empty);
    wait_until(WAIT, "the working list empties", || {
        llen(&mut redis, &working) == 0
    });
}

/// With several queues the idle fetcher blocks on each with its own BLMOVE and cancels the
/// others with CLIENT UNBLOCK when one returns. Jobs pushed to one or several queues at once,
/// at random moments, must each be delivered exactly once, with none left behind in a working
/// list. (`stranded_after` is long here, so the sweep cannot cover for a dropped job.)
#[test]
fn idle_waits_on_several_queues_never_drop_a_moved_job() {
    const QUEUES: [&str; 3] = ["alpha", "beta", "gamma"];
    let server = Server::start();
    let mut redis = server.redis();
    let mut config = config(&QUEUES, 4);
    config.stranded_after = Duration::from_secs(60);
    let id = config.identity.clone();
    let engine = server.engine(config);

    let mut pusher = server.redis();
    let (sent_tx, sent_rx) = crossbeam_channel::unbounded::<usize>();
    let producer = std::thread::spawn(move || {
        let mut rng = Rng::from_os();
        let mut pushed: Vec<(String, Vec<u8>)> = Vec::new();
        for round in 0..50 {
            std::thread::sleep(Duration::from_millis(rng.below(40)));
            // One, two or all three queues in one transaction, so that several blocked
            // moves can be served in the same instant.
            let mut pipe = redis::pipe();
            pipe.atomic();
            let mut count = 0;
            while count == 0 {
                for queue in QUEUES {
                    if rng.below(2) == 1 {
                        let payload = job(&format!("{queue}-{round}"), round);
                        pipe.cmd("LPUSH")
                            .arg(format!("queue:{queue}"))
                            .arg(&payload)
                            .ignore();
                        pushed.push((queue.to_string(), payload));
                        count += 1;
                    }
                }
            }
            pipe.query::<()>(&mut pusher).expect("MULTI/LPUSH/EXEC");
            sent_tx.send(count).unwrap();
        }
        pushed
    });

    let mut received: HashMap<Vec<u8>, (String, usize)> = HashMap::new();
    let mut total_sent = 0;
    let mut producer_done = false;
    let mut deadline = Instant::now() + Duration::from_secs(20);
    loop {
        while let Ok(count) = sent_rx.try_recv() {
            total_sent += count;
        }
        if !producer_done && producer.is_finished() {
            producer_done = true;
            while let Ok(count) = sent_rx.try_recv() {
                total_sent += count;
            }
            deadline = deadline.min(Instant::now() + Duration::from_secs(5));
        }
        let delivered: usize = received.values().map(|(_, n)| n).sum();
        if producer_done && delivered >= total_sent {
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        match next(&engine, Duration::from_millis(50)) {
            NextJob::Job(job) => {
                received
                    .entry(job.payload.clone())
                    .or_insert_with(|| (job.queue.clone(), 0))
                    .1 += 1;
                engine.acknowledge(job);
            }
            NextJob::Empty => {}
            NextJob::Stopped => panic!("stopped: {:?}", engine.failure()),
        }
    }
    let pushed = producer.join().unwrap();
    // Anything more that arrives now is a duplicate.
    while let NextJob::Job(job) = next(&engine, Duration::from_millis(500)) {
        received
            .entry(job.payload.clone())
            .or_insert_with(|| (job.queue.clone(), 0))
            .1 += 1;
        engine.acknowledge(job);
    }

    let mut missing = Vec::new();
    for (queue, payload) in &pushed {
        match received.get(payload) {
            Some((got, 1)) => assert_eq!(got, queue, "delivered with its queue"),
            Some((_, n)) => panic!("delivered {n} times: {}", String::from_utf8_lossy(payload)),
            None => missing.push(format!("{queue}: {}", String::from_utf8_lossy(payload))),
        }
    }
    let mut stuck = Vec::new();
    for queue in QUEUES {
        stuck.extend(show(&lrange(&mut redis, &working_list(&id, queue))));
    }
    assert!(
        missing.is_empty(),
        "{} of {} jobs never delivered: {missing:?}; in working lists: {stuck:?}",
        missing.len(),
        pushed.len()
    );
    assert_eq!(received.len(), pushed.len(), "nothing else was delivered");
    wait_until(WAIT, "every working list empties", || {
        QUEUES
            .iter()
            .all(|q| llen(&mut redis, &working_list(&id, q)) == 0)
    });
    for queue in QUEUES {
        assert_eq!(llen(&mut redis, &format!("queue:{queue}")), 0);
    }
    let events = engine.take_events();
    assert!(
        events.iter().all(|e| e.report.is_none()),
        "no fetch failure: {events:?}"
    );
    assert_eq!(engine.failure(), None);
}

//! A bulk push's slice streamed in a MULTI (`streamed_push`), against a real redis-server.

mod support;

use std::sync::Arc;

use ferrokiq_core::streamed_push::{stream_to_queue, Part};
use ferrokiq_core::{RedisConnection, RedisSettings};
use support::{job, runtime, Server};
use tokio::sync::{mpsc, oneshot};

/// Streams `chunks`, then commits `rest` (or, with `rest` None, abandons the slice); returns the
/// commit's result.
fn stream(
    conn: &Arc<RedisConnection>,
    chunks: Vec<Vec<Vec<u8>>>,
    rest: Option<Vec<Vec<u8>>>,
) -> Option<ferrokiq_core::RedisResult<()>> {
    runtime().block_on(async {
        let (parts, received) = mpsc::unbounded_channel();
        let task = tokio::spawn(stream_to_queue(
            Arc::clone(conn),
            "default".to_string(),
            received,
        ));
        for chunk in chunks {
            parts.send(Part::Jobs(chunk)).expect("the task listens");
        }
        let answer = rest.map(|rest| {
            let (reply, answer) = oneshot::channel();
            parts
                .send(Part::Commit(rest, reply))
                .expect("the task listens");
            answer
        });
        drop(parts);
        task.await.expect("the task ends");
        match answer {
            Some(answer) => Some(answer.await.expect("a reply")),
            None => None,
        }
    })
}

fn jobs(range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range.map(|n| job("s", n)).collect()
}

fn queued(server: &Server) -> Vec<Vec<u8>> {
    redis::cmd("LRANGE")
        .arg("queue:default")
        .arg(0)
        .arg(-1)
        .query(&mut server.redis())
        .expect("LRANGE")
}

fn calls(server: &Server, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut server.redis())
        .expect("INFO");
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().expect("a count"))
}

/// LPUSH puts the last payload at the head.
fn newest_first(payloads: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    payloads.into_iter().rev().collect()
}

#[test]
fn chunks_and_the_rest_are_stored_in_order_at_exec() {
    let server = Server::start();
    let conn = Arc::new(server.connection());
    let result = stream(&conn, vec![jobs(0..3), jobs(3..5)], Some(jobs(5..6)));
    assert!(matches!(result, Some(Ok(()))), "{result:?}");
    assert_eq!(queued(&server), newest_first(jobs(0..6)));
    assert_eq!((calls(&server, "multi"), calls(&server, "exec")), (1, 1));
    let queues: Vec<String> = redis::cmd("SMEMBERS")
        .arg("queues")
        .query(&mut server.redis())
        .expect("SMEMBERS");
    assert_eq!(queues, vec!["default"]);
}

#[test]
fn an_abandoned_slice_stores_nothing_and_its_socket_is_reused() {
    let server = Server::start();
    let conn = Arc::new(server.connection());
    assert!(stream(&conn, vec![jobs(0..3)], None).is_none());
    assert!(queued(&server).is_empty());
    assert_eq!(calls(&server, "discard"), 1);
    let clients = || {
        redis::cmd("CLIENT")
            .arg("LIST")
            .query::<String>(&mut server.redis())
            .expect("CLIENT LIST")
            .lines()
            .count()
    };
    let before = clients();
    let result = stream(&conn, vec![jobs(3..5)], Some(Vec::new()));
    assert!(matches!(result, Some(Ok(()))), "{result:?}");
    assert_eq!(queued(&server), newest_first(jobs(3..5)));
    assert_eq!(clients(), before, "the kept socket served the second slice");
}

/// A server that refuses MULTI (an ACL here; some proxies do the same) gets the whole slice as
/// one ordinary push at the end.
#[test]
fn a_refused_transaction_falls_back_to_one_push_of_everything() {
    let server = Server::start();
    redis::cmd("ACL")
        .arg(&[
            "SETUSER", "nomulti", "on", ">pw", "~*", "&*", "+@all", "-multi",
        ])
        .query::<()>(&mut server.redis())
        .expect("ACL SETUSER");
    let conn = Arc::new(
        RedisConnection::new(RedisSettings {
            url: server.url(),
            username: Some("nomulti".to_string()),
            password: Some("pw".to_string()),
            ..Default::default()
        })
        .expect("valid settings"),
    );
    let result = stream(&conn, vec![jobs(0..2), jobs(2..4)], Some(jobs(4..5)));
    assert!(matches!(result, Some(Ok(()))), "{result:?}");
    assert_eq!(queued(&server), newest_first(jobs(0..5)));
    assert_eq!((calls(&server, "multi"), calls(&server, "exec")), (0, 0));
}

#[test]
fn a_command_refused_when_exec_runs_is_reported() {
    let server = Server::start();
    redis::cmd("SET")
        .arg("queue:default")
        .arg("not a list")
        .query::<()>(&mut server.redis())
        .expect("SET");
    let conn = Arc::new(server.connection());
    let result = stream(&conn, vec![jobs(0..2)], Some(jobs(2..3)));
    match result {
        Some(Err(failure)) => assert!(failure.to_string().contains("WRONGTYPE"), "{failure}"),
        other => panic!("expected WRONGTYPE, got {other:?}"),
    }
}

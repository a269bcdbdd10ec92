//! The client's Redis commands against a real redis-server started on a free port.

mod support;

use std::time::Duration;

use ferrokiq_core::{client, RedisConnection, RedisFailure, RedisSettings};
use support::{free_port, Server};

fn words(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn push_to_queue_adds_the_queue_and_lpushes_in_order() {
    let server = Server::start();
    let conn = server.connection();
    runtime().block_on(async {
        client::push_to_queue(&conn, "critical", &["{\"a\":1}", "{\"b\":2}"])
            .await
            .unwrap();
        let queues: Vec<String> = conn.call(&words(&["SMEMBERS", "queues"])).await.unwrap();
        assert_eq!(queues, vec!["critical"]);
        let jobs: Vec<String> = conn
            .call(&words(&["LRANGE", "queue:critical", "0", "-1"]))
            .await
            .unwrap();
        // LPUSH of [a, b] leaves b at the head; the fetcher pops a (the tail) first.
        assert_eq!(jobs, vec!["{\"b\":2}", "{\"a\":1}"]);
        client::push_to_queue::<&str>(&conn, "critical", &[])
            .await
            .unwrap();
    });
}

#[test]
fn push_to_schedule_zadds_with_the_given_scores() {
    let server = Server::start();
    let conn = server.connection();
    runtime().block_on(async {
        client::push_to_schedule(
            &conn,
            &[
                ("1700000000.5", "{\"x\":1}"),
                ("1700000001.25", "{\"y\":2}"),
            ],
        )
        .await
        .unwrap();
        let entries: Vec<(String, f64)> = conn
            .call(&words(&["ZRANGE", "schedule", "0", "-1", "WITHSCORES"]))
            .await
            .unwrap();
        assert_eq!(
            entries,
            vec![
                ("{\"x\":1}".to_string(), 1700000000.5),
                ("{\"y\":2}".to_string(), 1700000001.25)
            ]
        );
    });
}

#[test]
fn errors_name_the_server_and_the_reason() {
    let port = free_port();
    let conn = RedisConnection::new(RedisSettings {
        url: format!("redis://:pw@127.0.0.1:{port}/0"),
        timeout: Duration::from_millis(500),
        ..Default::default()
    })
    .unwrap();
    let failure = runtime()
        .block_on(conn.call::<String>(&words(&["PING"])))
        .unwrap_err();
    assert!(
        matches!(&failure, RedisFailure::CannotConnect { url, .. } if url.contains(":REDACTED@")),
        "{failure:?}"
    );

    let server = Server::start();
    let conn = server.connection();
    let rt = runtime();
    rt.block_on(conn.call::<()>(&words(&["SET", "s", "x"])))
        .unwrap();
    let wrongtype = rt
        .block_on(conn.call::<i64>(&words(&["LPUSH", "s", "y"])))
        .unwrap_err();
    assert!(
        matches!(&wrongtype, RedisFailure::Command(m) if m.starts_with("WRONGTYPE")),
        "{wrongtype:?}"
    );
}

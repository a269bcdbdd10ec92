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

/// How many connections `server` has accepted since it started.
fn connections_received(redis: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(redis).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_connections_received:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO stats has total_connections_received")
}

#[test]
fn a_write_refused_by_a_demoted_primary_is_sent_once_more_on_a_new_connection() {
    let primary = Server::start();
    let replica = Server::start();
    let mut admin = replica.redis();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port)
        .query(&mut admin)
        .unwrap();
    let conn = replica.connection();
    runtime().block_on(async {
        let _: String = conn.call(&words(&["PING"])).await.unwrap();
        let before = connections_received(&mut admin);
        let refused = conn
            .call::<()>(&words(&["SET", "k", "v"]))
            .await
            .unwrap_err();
        assert!(refused.to_string().starts_with("READONLY"), "{refused}");
        // One reconnect and one more try, not a loop.
        assert_eq!(connections_received(&mut admin), before + 1);

        // Promoted: the same connection object writes again (the new socket reached it).
        let _: () = redis::cmd("REPLICAOF")
            .arg("NO")
            .arg("ONE")
            .query(&mut admin)
            .unwrap();
        let _: () = conn.call(&words(&["SET", "k", "v"])).await.unwrap();
    });
}

#[test]
fn a_blocking_call_ended_by_client_unblock_is_sent_again_and_gets_its_element() {
    let server = Server::start();
    let conn = std::sync::Arc::new(server.connection());
    let rt = runtime();
    rt.block_on(async {
        let _: String = conn.call(&words(&["PING"])).await.unwrap();
    });
    let waiting = std::sync::Arc::clone(&conn);
    let popped = rt.spawn(async move {
        waiting
            .call::<Option<(String, String)>>(&words(&["BLPOP", "wakeup", "10"]))
            .await
    });
    let mut admin = server.redis();
    let blocked_id = |admin: &mut redis::Connection| -> Option<String> {
        let clients: String = redis::cmd("CLIENT").arg("LIST").query(admin).unwrap();
        clients
            .lines()
            .find(|line| line.contains("cmd=blpop"))
            .and_then(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
            .map(str::to_string)
    };
    support::wait_until(Duration::from_secs(5), "the BLPOP to block", || {
        blocked_id(&mut admin).is_some()
    });
    let first = blocked_id(&mut admin).unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(&first)
        .arg("ERROR")
        .query(&mut admin)
        .unwrap();
    support::wait_until(Duration::from_secs(5), "the BLPOP to block again", || {
        blocked_id(&mut admin).is_some_and(|id| id != first)
    });
    let _: i64 = redis::cmd("RPUSH")
        .arg("wakeup")
        .arg("job")
        .query(&mut admin)
        .unwrap();
    let got = rt.block_on(popped).unwrap().unwrap();
    assert_eq!(got, Some(("wakeup".to_string(), "job".to_string())));
}

//! `find_in_sorted_set` and `find_in_list` against a real redis-server started on a free port.

mod support;

use ferrokiq_core::search::{find_in_list, find_in_sorted_set, LIST_PAGE};
use ferrokiq_core::RedisConnection;
use support::Server;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn job(jid: &str, arg: &str) -> String {
    format!(r#"{{"class":"HardJob","args":["{arg}"],"jid":"{jid}","retry":true}}"#)
}

fn jid(i: usize) -> String {
    format!("{i:024x}")
}

async fn command(conn: &RedisConnection, parts: Vec<Vec<u8>>) {
    conn.call::<redis::Value>(&parts).await.expect("command");
}

/// ZADDs `count` jobs in batches (one command per batch).
async fn fill_sorted_set(conn: &RedisConnection, key: &str, count: usize) {
    for batch in (0..count).collect::<Vec<_>>().chunks(5_000) {
        let mut words = vec![b"ZADD".to_vec(), key.as_bytes().to_vec()];
        for &i in batch {
            words.push(format!("{}.5", 1_700_000_000 + i).into_bytes());
            words.push(job(&jid(i), "x").into_bytes());
        }
        command(conn, words).await;
    }
}

#[test]
fn finds_a_job_by_jid_in_a_large_sorted_set() {
    let server = Server::start();
    let conn = server.connection();
    runtime().block_on(async {
        fill_sorted_set(&conn, "retry", 20_000).await;
        let found = find_in_sorted_set(&conn, "retry", &jid(12_345))
            .await
            .expect("search")
            .expect("found");
        assert_eq!(found.member, job(&jid(12_345), "x").into_bytes());
        assert_eq!(found.score, 1_700_012_345.5);
        let missing = find_in_sorted_set(&conn, "retry", &jid(99_999))
            .await
            .expect("search");
        assert_eq!(missing, None);
    });
}

#[test]
fn a_jid_in_the_args_of_another_job_is_not_a_match() {
    let server = Server::start();
    let conn = server.connection();
    runtime().block_on(async {
        let target = jid(7);
        let decoy = job(&jid(8), &target);
        let words = ["ZADD", "dead", "10.0", &decoy, "20.0", &job(&target, "y")]
            .iter()
            .map(|w| w.as_bytes().to_vec())
            .collect();
        command(&conn, words).await;
        let found = find_in_sorted_set(&conn, "dead", &target)
            .await
            .expect("search")
            .expect("found");
        assert_eq!(found.score, 20.0);
        assert_eq!(found.member, job(&target, "y").into_bytes());
    });
}

#[test]
fn finds_a_job_in_a_list_across_pages() {
    let server = Server::start();
    let conn = server.connection();
    runtime().block_on(async {
        let count = LIST_PAGE * 2 + 10;
        let mut words = vec![b"LPUSH".to_vec(), b"queue:default".to_vec()];
        words.extend((0..count).map(|i| job(&jid(i), "x").into_bytes()));
        command(&conn, words).await;
        // LPUSH puts the first job at the tail: it is on the last page.
        let found = find_in_list(&conn, "queue:default", &jid(0))
            .await
            .expect("search");
        assert_eq!(found, Some(job(&jid(0), "x").into_bytes()));
        let missing = find_in_list(&conn, "queue:default", &jid(count))
            .await
            .expect("search");
        assert_eq!(missing, None);
        let empty = find_in_list(&conn, "queue:none", &jid(0))
            .await
            .expect("search");
        assert_eq!(empty, None);
    });
}

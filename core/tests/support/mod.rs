//! What the integration tests share: a throwaway redis-server on a free port, and for the
//! engine's tests, a running engine's configuration and ways to look into Redis.

// Each test crate includes this module and uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrokiq_core::rng::Rng;
use ferrokiq_core::server::{Engine, FetchMode, FetchedJob, NextJob, ServerConfig};
use ferrokiq_core::{RedisConnection, RedisSettings};

/// A throwaway redis-server, killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    /// Tests run in parallel threads: two of them can be handed the same free port before
    /// either server binds it, and the loser's server exits while its test would talk to the
    /// winner's. So a server counts as started only once the one answering on the port is the
    /// process this test spawned (its `process_id`); otherwise it tries another port.
    pub fn start() -> Server {
        for _ in 0..10 {
            let port = free_port();
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (apt-get install redis-server)");
            if answers_as(port, &mut child) {
                return Server { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start on any of 10 free ports");
    }

    pub fn connection(&self) -> RedisConnection {
        RedisConnection::new(RedisSettings {
            url: format!("redis://127.0.0.1:{}/0", self.port),
            ..Default::default()
        })
        .expect("valid settings")
    }
}

impl Server {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The engine's settings: a 1 s timeout, so that the sweep's bound,
    /// max(stranded_after, timeout + 1 s), is 2 s.
    pub fn settings(&self) -> RedisSettings {
        RedisSettings {
            url: self.url(),
            timeout: Duration::from_secs(1),
            ..Default::default()
        }
    }

    /// A plain synchronous connection, for the test's own look into Redis.
    pub fn redis(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|client| client.get_connection())
            .expect("a connection to the test's redis-server")
    }

    /// Starts an engine against this server.
    pub fn engine(&self, config: ServerConfig) -> Engine {
        Engine::start(config, self.settings()).expect("the engine starts")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the redis-server answering on `port` is `child` (false once `child` has exited).
fn answers_as(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        let pid = redis::Client::open(format!("redis://127.0.0.1:{port}/0"))
            .and_then(|client| client.get_connection())
            .and_then(|mut conn| redis::cmd("INFO").arg("server").query::<String>(&mut conn));
        if let Ok(info) = pid {
            let served_by = info
                .lines()
                .find_map(|line| line.strip_prefix("process_id:"))
                .and_then(|pid| pid.trim().parse::<u32>().ok());
            return served_by == Some(child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// This machine's host name, as the launcher gives it to the engine.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0, "gethostname");
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `host:pid:nonce`, a fresh nonce each time.
pub fn identity(host: &str) -> String {
    let nonce = Rng::from_os().next_u64() & 0xffff_ffff_ffff;
    format!("{host}:{}:{nonce:012x}", std::process::id())
}

/// A reliable-fetch process on this host, unweighted queues, `stranded_after` 1 s.
pub fn config(queues: &[&str], concurrency: usize) -> ServerConfig {
    config_on(&hostname(), queues, concurrency)
}

/// As `config`, for a process that says it runs on `host`.
pub fn config_on(host: &str, queues: &[&str], concurrency: usize) -> ServerConfig {
    ServerConfig {
        identity: identity(host),
        hostname: host.to_string(),
        pid: std::process::id(),
        tag: "test".into(),
        labels: Vec::new(),
        concurrency,
        queues: queues.iter().map(|q| (q.to_string(), 0)).collect(),
        capsules: Vec::new(),
        fetch: FetchMode::Reliable,
        dynamic: None,
        version: "7.3.10".into(),
        embedded: false,
        started_at: ferrokiq_core::payload::now_epoch_seconds(),
        stranded_after: Duration::from_secs(1),
        dead_max_jobs: 10_000,
        dead_timeout: Duration::from_secs(180 * 24 * 3600),
        scheduler_defaults: None,
        scheduler_hand_off: false,
    }
}

/// A runtime to await the engine's async methods on, as the Ruby threads do.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// One `next_job` call with an interrupt that never fires.
pub fn next(engine: &Engine, timeout: Duration) -> NextJob {
    let (_keep, interrupt) = crossbeam_channel::bounded::<()>(0);
    engine.next_job(timeout, &interrupt)
}

/// The next job, waiting up to `within` for it.
pub fn take_job(engine: &Engine, within: Duration) -> FetchedJob {
    let deadline = Instant::now() + within;
    loop {
        match next(engine, Duration::from_millis(100)) {
            NextJob::Job(job) => return job,
            NextJob::Stopped => panic!("next_job said Stopped while a job was expected"),
            NextJob::Empty => assert!(
                Instant::now() < deadline,
                "no job within {within:?} (failure: {:?}, events: {:?})",
                engine.failure(),
                engine.take_events()
            ),
        }
    }
}

/// Polls `done` until it holds, failing with `what` after `within`.
pub fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "after {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A distinct job payload.
pub fn job(tag: &str, n: usize) -> Vec<u8> {
    format!(r#"{{"class":"TestJob","args":[{n}],"jid":"{tag}-{n}","queue":"default"}}"#)
        .into_bytes()
}

/// Pushes jobs as Sidekiq's client does (LPUSH); the first given is the first popped.
pub fn push(redis: &mut redis::Connection, queue: &str, jobs: &[Vec<u8>]) {
    for job in jobs {
        redis::cmd("LPUSH")
            .arg(format!("queue:{queue}"))
            .arg(job)
            .query::<()>(redis)
            .expect("LPUSH");
    }
}

pub fn working_list(identity: &str, queue: &str) -> String {
    format!("ferrokiq:working:{identity}:{queue}")
}

/// A list's entries, index 0 first (the newest; a queue pops from the other end).
pub fn lrange(redis: &mut redis::Connection, key: &str) -> Vec<Vec<u8>> {
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(redis)
        .expect("LRANGE")
}

/// A queue's jobs in the order they would be popped (oldest first).
pub fn pop_order(redis: &mut redis::Connection, queue: &str) -> Vec<Vec<u8>> {
    let mut jobs = lrange(redis, &format!("queue:{queue}"));
    jobs.reverse();
    jobs
}

pub fn llen(redis: &mut redis::Connection, key: &str) -> usize {
    redis::cmd("LLEN").arg(key).query(redis).expect("LLEN")
}

/// The working-list registry, `ferrokiq:working`: list key → value.
pub fn registry(redis: &mut redis::Connection) -> HashMap<String, String> {
    redis::cmd("HGETALL")
        .arg("ferrokiq:working")
        .query(redis)
        .expect("HGETALL")
}

/// Redis's clock, whole seconds.
pub fn redis_time(redis: &mut redis::Connection) -> u64 {
    let (secs, _micros): (u64, u64) = redis::cmd("TIME").query(redis).expect("TIME");
    secs
}

/// Payloads sorted, to compare collections whose order does not matter.
pub fn sorted(mut jobs: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    jobs.sort();
    jobs
}

/// Bytes for an assertion message.
pub fn show(jobs: &[Vec<u8>]) -> Vec<String> {
    jobs.iter()
        .map(|j| String::from_utf8_lossy(j).into_owned())
        .collect()
}

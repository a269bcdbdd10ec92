//! Operations: the HTTP endpoint with Prometheus metrics and health checks, and systemd
//! notifications (docs/design.md, §21).
//!
//! Both run on threads of their own, apart from the engine thread: a wedged engine must still
//! be seen as wedged (`/live` answers 503, the watchdog stops pinging), and a slow scrape must
//! never hold up fetching. Neither touches Ruby.

pub mod cluster;
pub mod exposition;
pub mod health;
pub mod http;
pub mod systemd;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::connection::{RedisConnection, RedisSettings};
use crate::server::config::FetchMode;
use crate::server::heartbeat;
use crate::server::state::State;

use cluster::ClusterCache;
use exposition::{Exposition, ProcessGauges};
pub use health::Liveness;
use http::{Handler, Response};

/// How long `/ready` waits for Redis to answer a PING.
const READY_PING_DEADLINE: Duration = Duration::from_secs(2);

/// What the operations side reads from a running engine (`Engine::probe`).
#[derive(Clone)]
pub struct Probe {
    pub(crate) state: Arc<State>,
    pub(crate) identity: String,
    pub(crate) concurrency: usize,
    pub(crate) fetch: FetchMode,
    pub(crate) settings: RedisSettings,
}

impl Probe {
    pub fn liveness(&self) -> Liveness {
        health::liveness(&self.state)
    }

    fn process_gauges(&self) -> ProcessGauges {
        // Every capsule has its own channel and prefetch limit: the process's are the sums.
        let capsules = &self.state.capsules;
        let limit: usize = capsules
            .iter()
            .map(|capsule| capsule.prefetch_limit())
            .sum();
        let prefetched: usize = capsules.iter().map(|capsule| capsule.jobs.len()).sum();
        let rtt = self.state.health.redis_rtt_us.load(Ordering::Relaxed);
        ProcessGauges {
            busy: self
                .state
                .busy
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len(),
            concurrency: self.concurrency,
            rss_bytes: heartbeat::rss_kb() * 1024,
            redis_rtt_seconds: (rtt != u64::MAX).then(|| rtt as f64 / 1e6),
            prefetched,
            fetch_batch_limit: match self.fetch {
                FetchMode::Reliable => limit,
                FetchMode::Basic => limit.min(self.concurrency),
            },
        }
    }
}

/// The endpoint's answers; lives on the endpoint's thread.
struct Endpoint {
    probe: Probe,
    /// A connection of the endpoint's own, driven by its thread: Redis checks and cluster
    /// gauges do not depend on the engine thread.
    conn: RedisConnection,
    cluster: ClusterCache,
}

impl Endpoint {
    async fn metrics(&self) -> Response {
        let mut out = Exposition::default();
        if let Some(lifetime) = self.probe.state.metrics.lifetime() {
            exposition::write_jobs(&mut out, &lifetime);
        }
        exposition::write_process(&mut out, &self.probe.process_gauges());
        if let Some(cluster) = self.cluster.current(&self.conn).await {
            exposition::write_cluster(&mut out, &cluster);
        }
        Response::new(200, exposition::CONTENT_TYPE, out.finish())
    }

    fn live(&self) -> Response {
        let answer = self.probe.liveness();
        let body = json!({
            "status": if answer.live { "ok" } else { "failing" },
            "engine_tick_age": round(answer.engine_age.as_secs_f64()),
            "heartbeat_tick_age": round(answer.upkeep_age.as_secs_f64()),
            "failure": answer.failure,
        });
        health_response(answer.live, body)
    }

    async fn ready(&self) -> Response {
        let live = self.probe.liveness().live;
        let redis = tokio::time::timeout(READY_PING_DEADLINE, heartbeat::ping_rtt_us(&self.conn))
            .await
            .is_ok_and(|ping| ping.is_ok());
        let state = &self.probe.state;
        let quiet = state.quiet.load(Ordering::SeqCst);
        let fetching = !quiet
            && state
                .capsules
                .iter()
                .any(|capsule| capsule.fetcher_running.load(Ordering::SeqCst));
        let ready = live && redis && fetching;
        let body = json!({
            "status": if ready { "ok" } else { "unavailable" },
            "live": live,
            "redis": redis,
            "fetching": fetching,
            "quiet": quiet,
        });
        health_response(ready, body)
    }
}

fn round(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

fn health_response(ok: bool, body: serde_json::Value) -> Response {
    Response::new(
        if ok { 200 } else { 503 },
        "application/json",
        format!("{body}\n"),
    )
}

impl Handler for Endpoint {
    async fn respond(&self, path: &str) -> Response {
        match path {
            "/metrics" => self.metrics().await,
            "/live" => self.live(),
            "/ready" => self.ready().await,
            _ => http::not_found(),
        }
    }
}

/// The running endpoint: a thread with a single-threaded tokio runtime. Dropping it (or
/// `stop`) ends the thread.
pub struct OpsServer {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OpsServer {
    /// Binds `bind:port` (port 0: any free port) at once, so that a bad address or a port in
    /// use is an error here, then serves from a new thread. Starts keeping the lifetime
    /// execution totals the metrics show.
    pub fn start(probe: Probe, bind: &str, port: u16) -> std::io::Result<OpsServer> {
        let listener = std::net::TcpListener::bind((bind, port))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let conn = RedisConnection::new(probe.settings.clone())
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .on_runtime(runtime.handle().clone());
        probe.state.metrics.keep_lifetime();
        let endpoint = Arc::new(Endpoint {
            cluster: ClusterCache::new(probe.identity.clone()),
            probe,
            conn,
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("ferrokiq-ops".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => http::serve(listener, endpoint, stop_rx).await,
                        Err(_) => drop(stop_rx),
                    }
                });
            })?;
        Ok(OpsServer {
            address,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting and waits for the thread (connections still open are dropped).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for OpsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

//! Moves the execution tally to Redis on Sidekiq 7's cadence: every heartbeat period (10 s)
//! while the engine runs, and once more when it stops. A write that fails puts the window back
//! into the tally (within its bound) for the next flush, and is reported once per outage
//! through the engine's events, like the other background tasks' failures.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::payload::now_epoch_seconds;
use crate::server::metrics_store;
use crate::server::state::State;

/// Sidekiq 7 flushes its metrics on each heartbeat, every 10 seconds.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// Flushes every `FLUSH_INTERVAL` until the engine stops (its last flush is `Engine::stop`'s).
pub(crate) async fn flush_loop(conn: Arc<RedisConnection>, state: Arc<State>) {
    while !state.stopped.load(Ordering::SeqCst) {
        let _ = tokio::time::timeout(FLUSH_INTERVAL, state.metrics_stop.notified()).await;
        if state.stopped.load(Ordering::SeqCst) {
            break;
        }
        let _ = flush(&conn, &state).await;
    }
}

/// Writes what the tally gathered since the last flush. On failure the counts stay in the
/// tally and the error is returned (and reported once until a flush succeeds again).
pub(crate) async fn flush(conn: &RedisConnection, state: &State) -> RedisResult<usize> {
    let window = state.metrics.take();
    if window.dropped > 0 {
        state.events.warn(format!(
            "Execution metrics: {} jobs were not counted, the tally holds the most job class and queue pairs it keeps ({})",
            window.dropped,
            crate::server::execution_tally::MAX_PAIRS
        ));
    }
    match metrics_store::write(conn, &window, now_epoch_seconds()).await {
        Ok(fields) => {
            if state.metrics_failing.swap(false, Ordering::SeqCst) {
                state
                    .events
                    .info("Execution metrics are written to Redis again".to_string());
            }
            Ok(fields)
        }
        Err(e) => {
            let jobs = window.jobs();
            let mut kept = window;
            kept.dropped = 0;
            state.metrics.restore(kept);
            if !state.metrics_failing.swap(true, Ordering::SeqCst) {
                state.events.failure(
                    "metrics",
                    format!(
                        "Could not write execution metrics: {e}; keeping the counts of {jobs} jobs for the next flush"
                    ),
                    e.to_string(),
                );
            }
            Err(e)
        }
    }
}

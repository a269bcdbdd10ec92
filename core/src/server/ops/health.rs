//! Whether the process is healthy, as the `/live` and `/ready` endpoints and the systemd
//! watchdog see it (docs/design.md, §21).
//!
//! Two clocks prove progress: the engine thread stamps `engine_tick` from a task of its own
//! (so a blocked engine thread stops it), and the Ruby heartbeat thread stamps `upkeep_tick`
//! through `Engine::upkeep_tick` (so a stuck upkeep loop stops it). Redis being away does not
//! make a process unlive: restarting it would not bring Redis back. It makes it unready.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::server::state::State;

/// How often the engine thread stamps its clock.
pub const ENGINE_TICK: Duration = Duration::from_millis(500);
/// An engine clock older than this means the engine thread no longer runs its tasks.
pub const ENGINE_STALLED_AFTER: Duration = Duration::from_secs(5);
/// An upkeep clock older than this means the heartbeat thread is stuck. Its loop ticks every
/// second, but one beat may wait for Redis for the network timeout.
pub const UPKEEP_STALLED_AFTER: Duration = Duration::from_secs(15);

/// Test hook: while the file this variable names exists, the engine thread blocks (it is
/// "wedged"), so that specs can see `/live` fail and the watchdog pings stop. Unset in
/// production; reading it costs one `stat` per engine tick only when it is set.
pub const WEDGE_FILE_ENV: &str = "FERROKIQ_TEST_WEDGE_FILE";

/// Milliseconds on a monotonic clock that starts an hour in, so that any stamp can be
/// compared (and a test can put one in the past).
fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_millis() as u64 + 3_600_000
}

/// The progress clocks, and the last Redis round trip the heartbeat measured.
pub(crate) struct Health {
    engine_tick: AtomicU64,
    upkeep_tick: AtomicU64,
    /// Microseconds of the heartbeat's last PING (u64::MAX until one succeeded).
    pub(crate) redis_rtt_us: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        let now = now_ms();
        Health {
            engine_tick: AtomicU64::new(now),
            upkeep_tick: AtomicU64::new(now),
            redis_rtt_us: AtomicU64::new(u64::MAX),
        }
    }
}

impl Health {
    pub(crate) fn engine_ticked(&self) {
        self.engine_tick.store(now_ms(), Ordering::Relaxed);
    }

    pub(crate) fn upkeep_ticked(&self) {
        self.upkeep_tick.store(now_ms(), Ordering::Relaxed);
    }

    fn age(clock: &AtomicU64) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(clock.load(Ordering::Relaxed)))
    }
}

/// What `/live` answers.
#[derive(Debug, Clone)]
pub struct Liveness {
    pub live: bool,
    pub engine_age: Duration,
    pub upkeep_age: Duration,
    /// Why the engine gave up, if it did (the process is shutting down).
    pub failure: Option<String>,
}

pub(crate) fn liveness(state: &State) -> Liveness {
    let engine_age = Health::age(&state.health.engine_tick);
    let upkeep_age = Health::age(&state.health.upkeep_tick);
    let failure = state.failure();
    Liveness {
        live: failure.is_none()
            && engine_age < ENGINE_STALLED_AFTER
            && upkeep_age < UPKEEP_STALLED_AFTER,
        engine_age,
        upkeep_age,
        failure,
    }
}

/// The engine's clock: runs on the engine thread until the engine stops.
pub(crate) async fn tick_loop(state: Arc<State>) {
    let wedge = std::env::var_os(WEDGE_FILE_ENV).map(PathBuf::from);
    while !state.stopped.load(Ordering::SeqCst) {
        state.health.engine_ticked();
        if let Some(path) = &wedge {
            block_while_present(path);
        }
        tokio::time::sleep(ENGINE_TICK).await;
    }
}

/// Blocks the calling thread (the engine's, on purpose) while `path` exists.
fn block_while_present(path: &Path) {
    while path.exists() {
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_until_a_clock_stalls_or_the_engine_fails() {
        let state = State::new(Vec::new(), Vec::new());
        assert!(liveness(&state).live);
        state
            .health
            .engine_tick
            .store(now_ms() - 6_000, Ordering::Relaxed);
        assert!(!liveness(&state).live);
        state.health.engine_ticked();
        assert!(liveness(&state).live);
        state.fail("broken".to_string());
        let answer = liveness(&state);
        assert!(!answer.live);
        assert_eq!(answer.failure.as_deref(), Some("broken"));
    }
}

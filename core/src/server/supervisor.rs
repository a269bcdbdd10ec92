//! Keeps the engine's tasks running. A task that panics is reported (ERROR, and the error
//! handlers) and started again after a pause that doubles while it keeps failing; one that
//! fails too often in a row marks the engine as failed, and the launcher then shuts the
//! process down with a non-zero exit status rather than leave it beating without working.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server::state::State;

const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// Failures in a row (each within `CALM` of the previous restart) after which it gives up.
const MAX_FAILURES: u32 = 5;
/// A task that ran this long since its last restart starts counting afresh.
const CALM: Duration = Duration::from_secs(60);

/// Runs the task that `start` makes until it returns, restarting it when it panics.
pub(crate) async fn supervise<F, Fut>(name: impl std::fmt::Display, state: Arc<State>, start: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut pause = FIRST_PAUSE;
    let mut failures = 0;
    loop {
        let started = Instant::now();
        let failure = match tokio::spawn(start()).await {
            Ok(()) => return,
            Err(e) if e.is_panic() => panic_message(e.into_panic()),
            // Cancelled: the runtime is shutting down.
            Err(_) => return,
        };
        if started.elapsed() >= CALM {
            failures = 0;
            pause = FIRST_PAUSE;
        }
        failures += 1;
        if failures >= MAX_FAILURES {
            let message = format!(
                "The engine's {name} task failed {MAX_FAILURES} times in a row (last: {failure}); shutting down"
            );
            state.fail(message);
            return;
        }
        state.events.failure(
            "engine",
            format!(
                "The engine's {name} task failed: {failure}; restarting it in {:.1} s",
                pause.as_secs_f64()
            ),
            format!("the {name} task panicked: {failure}"),
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn restarts_a_panicking_task_and_reports_each_failure() {
        let state = Arc::new(State::new(Vec::new(), Vec::new()));
        let runs = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&runs);
        runtime().block_on(supervise("test", Arc::clone(&state), move || {
            let counter = Arc::clone(&counter);
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("boom");
                }
            }
        }));
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        let events = state.events.take();
        assert_eq!(events.len(), 2);
        assert!(events[0].message.contains("test task failed: boom"));
        let report = events[0].report.as_ref().expect("reported");
        assert_eq!(report.context, "engine");
        assert_eq!(report.error, "the test task panicked: boom");
        assert!(state.failure().is_none());
    }

    #[test]
    fn gives_up_and_marks_the_engine_failed() {
        let state = Arc::new(State::new(Vec::new(), Vec::new()));
        runtime().block_on(supervise("doomed", Arc::clone(&state), || async {
            panic!("always")
        }));
        let failure = state.failure().expect("failed");
        assert!(failure.contains("doomed task failed 5 times"), "{failure}");
    }
}

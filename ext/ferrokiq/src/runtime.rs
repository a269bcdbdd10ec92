//! The process's tokio runtime, rebuilt in a forked child.
//!
//! `fork(2)` copies only the calling thread, so a runtime inherited from the parent has no worker
//! or driver threads and anything blocked on it hangs forever. Each process therefore gets its
//! own runtime, keyed by pid. The parent's copy is leaked in the child: dropping it would try to
//! join threads that do not exist there.

use std::sync::Mutex;

use tokio::runtime::{Builder, Runtime};

static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// This process's runtime, built on first use.
pub fn runtime() -> std::io::Result<&'static Runtime> {
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pid = std::process::id();
    if let Some((owner, runtime)) = *slot {
        if owner == pid {
            return Ok(runtime);
        }
    }
    let runtime: &'static Runtime = Box::leak(Box::new(
        Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ferrokiq-io")
            .enable_all()
            .build()?,
    ));
    *slot = Some((pid, runtime));
    Ok(runtime)
}

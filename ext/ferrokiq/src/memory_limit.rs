//! `Ferrokiq::Native::MemoryLimit`: a thin handle over `ferrokiq_core::server::memory_limit`,
//! which reads the process's RSS and decides when it has stayed above the limit for long
//! enough (docs/design.md, §22).

use std::sync::Mutex;
use std::time::Duration;

use ferrokiq_core::server::memory_limit::{MemoryLimit, Verdict};
use magnus::{prelude::*, Error, RModule, Ruby};

#[magnus::wrap(class = "Ferrokiq::Native::MemoryLimit", free_immediately, size)]
struct NativeMemoryLimit {
    limit: Mutex<MemoryLimit>,
}

impl NativeMemoryLimit {
    /// `MemoryLimit.new(limit_mb, grace_seconds)`.
    fn new(limit_mb: u64, grace: f64) -> Self {
        let grace = Duration::from_secs_f64(grace.max(0.0));
        NativeMemoryLimit {
            limit: Mutex::new(MemoryLimit::new(limit_mb, grace)),
        }
    }

    /// `#check`: nil while the process is within its limit (or not yet over it for the whole
    /// grace period); once it has been, `[rss_kb, seconds_over]`, a single time.
    fn check(&self) -> Option<(u64, f64)> {
        let verdict = self.limit.lock().unwrap_or_else(|p| p.into_inner()).check();
        match verdict {
            Verdict::Exceeded { rss_kb, over_for } => Some((rss_kb, over_for.as_secs_f64())),
            Verdict::Within | Verdict::Over { .. } => None,
        }
    }
}

pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = native.define_class("MemoryLimit", ruby.class_object())?;
    class.define_singleton_method("new", magnus::function!(NativeMemoryLimit::new, 2))?;
    class.define_method("check", magnus::method!(NativeMemoryLimit::check, 0))?;
    Ok(())
}

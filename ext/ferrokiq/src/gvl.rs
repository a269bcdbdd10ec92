//! Waiting on Redis with the GVL released, interruptibly.
//!
//! While a Ruby thread waits on Redis, other Ruby threads must run, and `Thread#raise`,
//! `Thread#kill`, signals and `Timeout` must get the waiting thread back at once. The work runs
//! as a task on the runtime; the Ruby thread waits for it without the GVL, and Ruby's unblocking
//! function (UBF) wakes that wait. Once the thread holds the GVL again it lets Ruby raise whatever
//! is pending; if nothing is (a signal handler that just logs), it goes back to waiting for the
//! same task, so an interrupted push is never sent twice.

use std::ffi::c_void;
use std::future::Future;
use std::mem::MaybeUninit;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};

use ferrokiq_core::RedisResult;
use magnus::{Error, Ruby};
use tokio::sync::Notify;

use crate::errors;
use crate::runtime::runtime;

/// Set by the UBF; the waiting thread watches it.
#[derive(Default)]
struct Interrupt {
    raised: AtomicBool,
    wake: Notify,
}

struct Call<F, R> {
    work: Option<F>,
    result: MaybeUninit<std::thread::Result<R>>,
    ran: bool,
}

unsafe extern "C" fn trampoline<F: FnOnce() -> R, R>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Call` that `without_gvl` keeps alive across this call.
    let call = unsafe { &mut *(data as *mut Call<F, R>) };
    if let Some(work) = call.work.take() {
        // A panic must never unwind into Ruby's C frames.
        call.result
            .write(panic::catch_unwind(AssertUnwindSafe(work)));
        call.ran = true;
    }
    null_mut()
}

unsafe extern "C" fn unblock(data: *mut c_void) {
    // SAFETY: `data` is the `Interrupt` on `without_gvl`'s frame, alive while Ruby may call this.
    let interrupt = unsafe { &*(data as *const Interrupt) };
    interrupt.raised.store(true, Ordering::SeqCst);
    interrupt.wake.notify_one();
}

/// Runs `work` on this thread with the GVL released. `None` when Ruby had an interrupt pending
/// before it could start.
fn without_gvl<F, R>(work: F, interrupt: &Interrupt) -> Option<R>
where
    F: FnOnce() -> R,
{
    let mut call = Call {
        work: Some(work),
        result: MaybeUninit::uninit(),
        ran: false,
    };
    // SAFETY: `call` and `interrupt` outlive the C call; the trampoline and the UBF only use
    // them during it. `_gvl2` (not `_gvl`) so that Ruby never raises across our frames.
    unsafe {
        rb_sys::rb_thread_call_without_gvl2(
            Some(trampoline::<F, R>),
            &mut call as *mut _ as *mut c_void,
            Some(unblock),
            interrupt as *const Interrupt as *mut c_void,
        );
    }
    if !call.ran {
        return None;
    }
    // SAFETY: `ran` is set only after `result` was written.
    match unsafe { call.result.assume_init() } {
        Ok(value) => Some(value),
        Err(panic) => panic::resume_unwind(panic),
    }
}

/// Runs `future` on the runtime and waits for it without the GVL. Ruby interrupts raise in the
/// calling thread as usual; the task itself finishes in the background.
pub fn wait_for<T, Fut>(ruby: &Ruby, future: Fut) -> Result<T, Error>
where
    Fut: Future<Output = RedisResult<T>> + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime().map_err(|e| errors::runtime_error(ruby, &e))?;
    let mut task = rt.spawn(future);
    loop {
        let interrupt = Interrupt::default();
        let outcome = without_gvl(
            || {
                rt.block_on(async {
                    if interrupt.raised.load(Ordering::SeqCst) {
                        return None;
                    }
                    tokio::select! {
                        biased;
                        _ = interrupt.wake.notified() => None,
                        joined = &mut task => Some(joined),
                    }
                })
            },
            &interrupt,
        )
        .flatten();
        ruby.thread_check_ints()?;
        match outcome {
            None => continue,
            Some(Ok(Ok(value))) => return Ok(value),
            Some(Ok(Err(failure))) => return Err(errors::redis_error(ruby, &failure)),
            Some(Err(join)) => match join.try_into_panic() {
                Ok(payload) => panic::resume_unwind(payload),
                Err(join) => return Err(errors::runtime_error(ruby, &join)),
            },
        }
    }
}

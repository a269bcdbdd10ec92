//! Waiting on Redis with the GVL released, interruptibly.
//!
//! While a Ruby thread waits on Redis, other Ruby threads must run, and `Thread#raise`,
//! `Thread#kill`, signals and `Timeout` must get the waiting thread back at once. The thread
//! drives its future without the GVL, and Ruby's unblocking function (UBF) wakes that wait. Once
//! the thread holds the GVL again it lets Ruby raise whatever is pending; if nothing is (a
//! signal handler that just logs), it goes back to driving the same future.

use std::ffi::c_void;
use std::future::Future;
use std::mem::MaybeUninit;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use ferrokiq_core::RedisResult;
use magnus::{Error, Ruby};
use tokio::runtime::Runtime;

use crate::errors;
use crate::wakeup::{Signal, Wakeup};

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

/// Something Ruby's unblocking function can poke to get a waiting thread back.
pub trait Unblock {
    /// Whether `unblock` may run inside a signal handler (see `wakeup.rs`).
    const ASYNC_SIGNAL_SAFE: bool;
    fn unblock(&self);
}

impl Unblock for Signal {
    const ASYNC_SIGNAL_SAFE: bool = true;
    fn unblock(&self) {
        self.raise();
    }
}

/// For waits on a crossbeam channel: a message on this sender ends them.
impl Unblock for crossbeam_channel::Sender<()> {
    const ASYNC_SIGNAL_SAFE: bool = false;
    fn unblock(&self) {
        let _ = self.try_send(());
    }
}

unsafe extern "C" fn unblock<U: Unblock>(data: *mut c_void) {
    // SAFETY: `data` is the `U` on `without_gvl`'s frame, alive while Ruby may call this.
    let target = unsafe { &*(data as *const U) };
    target.unblock();
}

/// Runs `work` on this thread with the GVL released. `None` when Ruby had an interrupt pending
/// before it could start.
pub fn without_gvl<F, R, U: Unblock>(work: F, target: &U) -> Option<R>
where
    F: FnOnce() -> R,
{
    let mut call = Call {
        work: Some(work),
        result: MaybeUninit::uninit(),
        ran: false,
    };
    let mut flags = rb_sys::RB_NOGVL_INTR_FAIL;
    if U::ASYNC_SIGNAL_SAFE {
        flags |= rb_sys::RB_NOGVL_UBF_ASYNC_SAFE;
    }
    // SAFETY: `call` and `target` outlive the C call; the trampoline and the UBF only use
    // them during it. INTR_FAIL: with an interrupt pending Ruby skips the call rather than
    // raising across our frames. UBF_ASYNC_SAFE: see `wakeup.rs`.
    unsafe {
        rb_sys::rb_nogvl(
            Some(trampoline::<F, R>),
            &mut call as *mut _ as *mut c_void,
            Some(unblock::<U>),
            target as *const U as *mut c_void,
            flags as i32,
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

/// Drives `future` on this thread's runtime without the GVL. Ruby interrupts raise in the
/// calling thread as usual; an interrupt with nothing to raise resumes the same future, so a
/// command is never sent twice.
pub fn wait_for<T, Fut>(
    ruby: &Ruby,
    runtime: &Runtime,
    wakeup: &Wakeup,
    future: Fut,
) -> Result<T, Error>
where
    Fut: Future<Output = RedisResult<T>>,
{
    let mut future = pin!(future);
    let _waiting = RedisWait::begin();
    loop {
        let signal = Signal::new(wakeup);
        let outcome = without_gvl(
            || {
                runtime.block_on(async {
                    if let Some(result) = spin_briefly(future.as_mut(), &signal).await {
                        return Some(result);
                    }
                    tokio::select! {
                        biased;
                        _ = wakeup.interrupted(&signal) => None,
                        result = &mut future => Some(result),
                    }
                })
            },
            &signal,
        )
        .flatten();
        ruby.thread_check_ints()?;
        match outcome {
            None => continue,
            Some(Ok(value)) => return Ok(value),
            Some(Err(failure)) => return Err(errors::redis_error(ruby, &failure)),
        }
    }
}

/// How long a wait polls instead of sleeping. A reply from a nearby Redis takes tens of
/// microseconds; a thread that sleeps for it pays for a wake-up on top, which on virtual
/// machines with idle cores (the vCPU halts) costs as much as the round trip itself.
const SPIN: Duration = Duration::from_micros(100);

/// Only one thread of the process spins at a time, so busy web servers or many pushing
/// threads do not burn their cores on it; the others sleep as before.
static SPINNING: AtomicBool = AtomicBool::new(false);

/// How many threads of the process are waiting on Redis. A wait spins only while it is the
/// only one: when several threads push at once, the others' Ruby code and Redis itself need
/// the core a spinner would hold (measured in `docs/performance.md`, §6: ten threads calling
/// `perform_async` pushed a quarter fewer jobs with one of them spinning).
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// In a forked child: the threads that were waiting or polling in the parent do not exist
/// here, so the turn is free and nobody waits (async-signal-safe: atomic stores).
pub fn forget_spinner() {
    SPINNING.store(false, Ordering::Release);
    WAITING.store(0, Ordering::Release);
}

/// One thread's wait on Redis, counted in WAITING for as long as it lasts (a Ruby exception
/// that ends the wait included).
struct RedisWait;

impl RedisWait {
    fn begin() -> RedisWait {
        WAITING.fetch_add(1, Ordering::AcqRel);
        RedisWait
    }

    fn alone() -> bool {
        WAITING.load(Ordering::Acquire) <= 1
    }
}

impl Drop for RedisWait {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::AcqRel);
    }
}

struct SpinTurn;

impl SpinTurn {
    fn take() -> Option<SpinTurn> {
        SPINNING
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SpinTurn)
    }
}

impl Drop for SpinTurn {
    fn drop(&mut self) {
        SPINNING.store(false, Ordering::Release);
    }
}

/// Polls `future` for up to SPIN, letting the runtime check its sockets without blocking
/// between polls (`yield_now`); None when it is still pending, or a Ruby interrupt came, or
/// another thread is spinning or waiting on Redis too.
async fn spin_briefly<Fut: Future>(
    mut future: Pin<&mut Fut>,
    signal: &Signal,
) -> Option<Fut::Output> {
    if !RedisWait::alone() {
        return None;
    }
    let _turn = SpinTurn::take()?;
    let until = Instant::now() + SPIN;
    loop {
        let polled = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
        if let Poll::Ready(output) = polled {
            return Some(output);
        }
        if signal.is_raised() || !RedisWait::alone() || Instant::now() >= until {
            return None;
        }
        tokio::task::yield_now().await;
    }
}

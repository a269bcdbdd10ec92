//! A per-thread eventfd that Ruby's unblocking function writes to, to wake a thread that waits
//! on Redis without the GVL.
//!
//! The UBF must be async-signal-safe: it is registered with `RB_NOGVL_UBF_ASYNC_SAFE`, so Ruby
//! may call it from a signal handler. (Without that flag Ruby 3.1 runs a helper thread around
//! every GVL-free call from the main thread, which costs tens of microseconds per call.) A
//! `write(2)` to an eventfd and an atomic store are safe there; a mutex or a tokio `Notify`
//! would not be.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::unix::AsyncFd;
use tokio::runtime::Runtime;

/// The thread's eventfd, registered with the thread's runtime.
pub struct Wakeup {
    fd: AsyncFd<OwnedFd>,
}

impl Wakeup {
    pub fn new(runtime: &Runtime) -> io::Result<Self> {
        // SAFETY: plain syscall; the result is checked before use.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        let _guard = runtime.enter();
        // SAFETY: the OwnedFd is moved into the AsyncFd and stays open, as the same
        // descriptor, until the AsyncFd is dropped.
        let fd = unsafe { AsyncFd::register(owned) }.map_err(|e| e.into_parts().1)?;
        Ok(Wakeup { fd })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.get_ref().as_raw_fd()
    }

    /// Resolves once `signal.raised` is set (a wake-up left over from an earlier call, whose
    /// signal is not raised, is consumed and ignored).
    pub async fn interrupted(&self, signal: &Signal) {
        loop {
            if signal.raised.load(Ordering::SeqCst) {
                return;
            }
            match self.fd.readable().await {
                Ok(mut ready) => {
                    drain(self.raw_fd());
                    ready.clear_ready();
                }
                // The descriptor cannot fail in practice; if it did, only the atomic flag is
                // left to go by, so poll it rather than spin.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    }
}

fn drain(fd: RawFd) {
    let mut counter = 0u64;
    // SAFETY: reads 8 bytes into a local; EAGAIN when empty is fine.
    unsafe {
        libc::read(fd, &mut counter as *mut u64 as *mut libc::c_void, 8);
    }
}

/// One GVL-free call's interrupt state, handed to Ruby as the UBF's argument.
pub struct Signal {
    raised: AtomicBool,
    fd: RawFd,
}

impl Signal {
    pub fn new(wakeup: &Wakeup) -> Self {
        Signal {
            raised: AtomicBool::new(false),
            fd: wakeup.raw_fd(),
        }
    }

    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Async-signal-safe: an atomic store and one `write(2)`.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        let one = 1u64;
        // SAFETY: writes 8 bytes from a local to an eventfd; failure (full counter) still
        // leaves the descriptor readable, which is all that matters.
        unsafe {
            libc::write(self.fd, &one as *const u64 as *const libc::c_void, 8);
        }
    }
}

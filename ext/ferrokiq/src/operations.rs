//! `Ferrokiq::Native::Operations` (the metrics and health endpoint), `::Watchdog` (systemd
//! watchdog pings) and `Ferrokiq::Native.sd_notify`: thin handles over
//! `ferrokiq_core::server::ops`, which runs them on threads of its own.

use std::sync::Mutex;
use std::time::Duration;

use ferrokiq_core::server::ops::{systemd, OpsServer};
use magnus::{prelude::*, Error, RModule, Ruby};

use crate::engine::NativeEngine;

fn io_error(ruby: &Ruby, message: String) -> Error {
    Error::new(ruby.exception_io_error(), message)
}

#[magnus::wrap(class = "Ferrokiq::Native::Operations", free_immediately, size)]
struct NativeOperations {
    server: Mutex<Option<OpsServer>>,
    address: String,
}

impl NativeOperations {
    /// `Operations.new(engine, bind, port)`: serves `/metrics`, `/live` and `/ready`; raises
    /// IOError when the address cannot be bound.
    fn new(ruby: &Ruby, engine: &NativeEngine, bind: String, port: u16) -> Result<Self, Error> {
        let server = OpsServer::start(engine.core().probe(), &bind, port)
            .map_err(|e| io_error(ruby, format!("cannot serve metrics on {bind}:{port}: {e}")))?;
        Ok(NativeOperations {
            address: server.address().to_string(),
            server: Mutex::new(Some(server)),
        })
    }

    /// `host:port` actually bound (port 0 picks one).
    fn address(&self) -> String {
        self.address.clone()
    }

    fn stop(&self) -> bool {
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Joining the endpoint's thread takes no longer than its current accept.
        drop(server);
        true
    }
}

#[magnus::wrap(class = "Ferrokiq::Native::Watchdog", free_immediately, size)]
struct NativeWatchdog {
    watchdog: Mutex<Option<systemd::Watchdog>>,
}

impl NativeWatchdog {
    /// `Watchdog.new(engine, socket, period_seconds)`: pings WATCHDOG=1 every period while
    /// the engine is live.
    fn new(ruby: &Ruby, engine: &NativeEngine, socket: String, period: f64) -> Result<Self, Error> {
        let period = Duration::from_secs_f64(period.max(0.01));
        let watchdog = systemd::Watchdog::start(engine.core().probe(), socket, period)
            .map_err(|e| io_error(ruby, format!("cannot start the watchdog thread: {e}")))?;
        Ok(NativeWatchdog {
            watchdog: Mutex::new(Some(watchdog)),
        })
    }

    fn stop(&self) -> bool {
        let watchdog = self
            .watchdog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(watchdog);
        true
    }
}

/// `Ferrokiq::Native.sd_notify(socket, state)`: the bytes sent; IOError when it cannot.
fn sd_notify(ruby: &Ruby, socket: String, state: String) -> Result<usize, Error> {
    systemd::notify(&socket, &state).map_err(|e| io_error(ruby, e.to_string()))
}

pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    native.define_singleton_method("sd_notify", magnus::function!(sd_notify, 2))?;
    let operations = native.define_class("Operations", ruby.class_object())?;
    operations.define_singleton_method("new", magnus::function!(NativeOperations::new, 3))?;
    operations.define_method("address", magnus::method!(NativeOperations::address, 0))?;
    operations.define_method("stop", magnus::method!(NativeOperations::stop, 0))?;
    let watchdog = native.define_class("Watchdog", ruby.class_object())?;
    watchdog.define_singleton_method("new", magnus::function!(NativeWatchdog::new, 3))?;
    watchdog.define_method("stop", magnus::method!(NativeWatchdog::stop, 0))?;
    Ok(())
}

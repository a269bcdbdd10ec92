//! `Ferrokiq::Native::Redis#send_to_morgue`: `DeadSet#kill` adds a job to the dead set and trims
//! it through the server's own code (`ferrokiq_core::server::sets::send_to_morgue`), so a job
//! killed from the API and one killed by the retry logic leave the set in the same shape.

use ferrokiq_core::server::sets;
use magnus::{prelude::*, Error, RClass, RModule, RString, Ruby};

use crate::redis::NativeRedis;

/// Adds `payload` to `dead` scored `now` (Ruby's clock, which the app's tests may stub), then
/// trims entries older than `timeout_secs` and all but the newest `max_jobs - 1`, in one MULTI.
fn send_to_morgue(
    ruby: &Ruby,
    rb_self: &NativeRedis,
    payload: RString,
    max_jobs: u64,
    timeout_secs: f64,
    now: f64,
) -> Result<bool, Error> {
    // SAFETY: copied at once, while the GVL is held.
    let payload = unsafe { payload.as_slice() }.to_vec();
    rb_self.round_trip(ruby, |conn| async move {
        sets::send_to_morgue(&conn, now, &payload, max_jobs, timeout_secs).await
    })?;
    Ok(true)
}

pub fn init(native: &RModule) -> Result<(), Error> {
    let class: RClass = native.const_get("Redis")?;
    class.define_method("send_to_morgue", magnus::method!(send_to_morgue, 4))?;
    Ok(())
}

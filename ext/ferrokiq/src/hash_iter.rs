//! Walking a Ruby Hash's pairs without `rb_protect` around every Hash (magnus's `foreach`
//! protects the whole walk; the encoder's walks call no Ruby code and cannot raise, and the
//! protect was a tenth of bulk-push time).

use std::ffi::c_int;
use std::os::raw::c_void;

use magnus::rb_sys::{AsRawValue, FromRawValue};
use magnus::{RHash, Value};
use rb_sys::VALUE;

/// Calls `visit(key, value)` for each pair in insertion order until it returns false.
///
/// `visit` must not call into Ruby (nothing may raise or change the Hash during the walk).
pub fn each_pair<F: FnMut(Value, Value) -> bool>(hash: RHash, mut visit: F) {
    unsafe extern "C" fn step<F: FnMut(Value, Value) -> bool>(
        key: VALUE,
        value: VALUE,
        data: VALUE,
    ) -> c_int {
        // SAFETY: `data` is the `&mut F` passed below, alive for the whole walk; the keys and
        // values come from a live Hash.
        let visit = unsafe { &mut *(data as *mut F) };
        let (key, value) = unsafe { (Value::from_raw(key), Value::from_raw(value)) };
        if visit(key, value) {
            rb_sys::st_retval::ST_CONTINUE as c_int
        } else {
            rb_sys::st_retval::ST_STOP as c_int
        }
    }
    // SAFETY: the callback calls no Ruby code, so nothing can raise through this frame.
    unsafe {
        rb_sys::rb_hash_foreach(
            hash.as_raw(),
            Some(step::<F>),
            &mut visit as *mut F as *mut c_void as VALUE,
        );
    }
}

//! Frozen, interned Ruby Strings for Hash keys: `Hash#[]=` stores such a key as it is, where an
//! unfrozen one is copied and frozen for every Hash (as `JSON.parse` and Ruby literals make them).

use rb_sys::VALUE;

/// The interned UTF-8 String with these bytes.
///
/// # Safety
/// `bytes` is valid UTF-8, and the caller holds the GVL.
pub(crate) unsafe fn interned_utf8(bytes: &[u8]) -> VALUE {
    // SAFETY: the caller's contract; Ruby copies the bytes.
    unsafe {
        rb_sys::rb_enc_interned_str(
            bytes.as_ptr().cast(),
            bytes.len() as std::os::raw::c_long,
            rb_sys::rb_utf8_encoding(),
        )
    }
}

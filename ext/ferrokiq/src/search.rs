//! `Ferrokiq::Native::Redis#find_in_sorted_set` and `#find_in_list`: the Data API's `find_job`
//! searches, run in Rust without the GVL (see `ferrokiq_core::search`). Only the match is
//! turned into Ruby objects.

use ferrokiq_core::search;
use magnus::{prelude::*, Error, RClass, RModule, RString, Ruby};

use crate::redis::NativeRedis;

/// `[member, score]` of the first job with this jid in sorted set `key`, or nil.
fn find_in_sorted_set(
    ruby: &Ruby,
    rb_self: &NativeRedis,
    key: String,
    jid: String,
) -> Result<Option<(RString, f64)>, Error> {
    let found = rb_self.round_trip(ruby, |conn| async move {
        search::find_in_sorted_set(&conn, &key, &jid).await
    })?;
    Ok(found.map(|hit| (utf8(ruby, &hit.member), hit.score)))
}

/// The first job with this jid in list `key` (scanned from the head), or nil.
fn find_in_list(
    ruby: &Ruby,
    rb_self: &NativeRedis,
    key: String,
    jid: String,
) -> Result<Option<RString>, Error> {
    let found = rb_self.round_trip(ruby, |conn| async move {
        search::find_in_list(&conn, &key, &jid).await
    })?;
    Ok(found.map(|member| utf8(ruby, &member)))
}

/// The member's exact bytes, tagged UTF-8 as every other Redis reply is: the API deletes
/// entries by value, so nothing may be re-encoded.
fn utf8(ruby: &Ruby, bytes: &[u8]) -> RString {
    ruby.enc_str_new(bytes, ruby.utf8_encoding())
}

pub fn init(native: &RModule) -> Result<(), Error> {
    let class: RClass = native.const_get("Redis")?;
    class.define_method("find_in_sorted_set", magnus::method!(find_in_sorted_set, 2))?;
    class.define_method("find_in_list", magnus::method!(find_in_list, 2))?;
    Ok(())
}

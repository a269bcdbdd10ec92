//! The Web UI's large-data primitives on `Ferrokiq::Native::Redis` (docs/web.md §6): the bulk
//! moves of `ferrokiq_core::bulk` and the pages of `ferrokiq_core::listing`. All of them run
//! without the GVL; only counts and the page shown become Ruby objects.

use ferrokiq_core::bulk::{self, Push};
use ferrokiq_core::listing;
use magnus::{prelude::*, Error, RArray, RClass, RModule, RString, Ruby};

use crate::redis::NativeRedis;

/// `move_to_queues(key, manual_retry, limit, now)`: `[moved, unreadable]`; `now` is Ruby's clock.
fn move_to_queues(
    ruby: &Ruby,
    rb_self: &NativeRedis,
    key: String,
    manual_retry: bool,
    limit: u64,
    now: f64,
) -> Result<(u64, u64), Error> {
    let push = if manual_retry {
        Push::ManualRetry
    } else {
        Push::AsIs
    };
    let done = rb_self.round_trip(ruby, |conn| async move {
        bulk::move_to_queues(&conn, &key, push, limit, now).await
    })?;
    Ok((done.moved, done.unreadable))
}

/// `move_to_dead(key, limit, now)`: how many members moved; `now` is Ruby's clock.
fn move_to_dead(
    ruby: &Ruby,
    rb_self: &NativeRedis,
    key: String,
    limit: u64,
    now: f64,
) -> Result<u64, Error> {
    rb_self.round_trip(ruby, |conn| async move {
        bulk::move_to_dead(&conn, &key, limit, now).await
    })
}

/// `filtered_page(key, pattern, reverse, first, count)`: `[total, [[member, score], ...]]`.
fn filtered_page(
    ruby: &Ruby,
    rb_self: &NativeRedis,
    key: String,
    pattern: RString,
    reverse: bool,
    first: usize,
    count: usize,
) -> Result<(u64, RArray), Error> {
    // SAFETY: copied at once, while the GVL is held.
    let pattern = unsafe { pattern.as_slice() }.to_vec();
    let (total, entries) = rb_self.round_trip(ruby, |conn| async move {
        listing::filtered_page(&conn, &key, &pattern, reverse, first, count).await
    })?;
    let page = ruby.ary_new_capa(entries.len());
    for entry in entries {
        page.push((utf8(ruby, &entry.member), entry.score))?;
    }
    Ok((total, page))
}

/// `busy_page(first, count)`: `[total, [[identity, thread, work_json], ...]]`.
fn busy_page(
    ruby: &Ruby,
    rb_self: &NativeRedis,
    first: usize,
    count: usize,
) -> Result<(u64, RArray), Error> {
    let (total, threads) = rb_self.round_trip(ruby, |conn| async move {
        listing::busy_page(&conn, first, count).await
    })?;
    let page = ruby.ary_new_capa(threads.len());
    for busy in threads {
        page.push((
            utf8(ruby, busy.identity.as_bytes()),
            utf8(ruby, &busy.thread),
            utf8(ruby, &busy.work),
        ))?;
    }
    Ok((total, page))
}

/// Redis's bytes, tagged UTF-8 as every other reply is (members are deleted by value later).
fn utf8(ruby: &Ruby, bytes: &[u8]) -> RString {
    ruby.enc_str_new(bytes, ruby.utf8_encoding())
}

pub fn init(native: &RModule) -> Result<(), Error> {
    let class: RClass = native.const_get("Redis")?;
    class.define_method("move_to_queues", magnus::method!(move_to_queues, 4))?;
    class.define_method("move_to_dead", magnus::method!(move_to_dead, 3))?;
    class.define_method("filtered_page", magnus::method!(filtered_page, 5))?;
    class.define_method("busy_page", magnus::method!(busy_page, 2))?;
    Ok(())
}

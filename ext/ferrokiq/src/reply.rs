//! Redis replies as the Ruby values redis-client (Sidekiq 7's driver) gives with RESP3:
//! maps become Hashes, doubles Floats, booleans true/false, strings UTF-8 Strings.

use magnus::{prelude::*, Error, IntoValue, Ruby, Value};
use redis::Value as Reply;

use crate::errors;

pub fn to_ruby(ruby: &Ruby, reply: Reply) -> Result<Value, Error> {
    Ok(match reply {
        Reply::Nil => ruby.qnil().as_value(),
        Reply::Int(i) => i.into_value_with(ruby),
        Reply::BulkString(bytes) => ruby.enc_str_new(&bytes, ruby.utf8_encoding()).as_value(),
        Reply::SimpleString(text) => ruby.str_new(&text).as_value(),
        Reply::Okay => ruby.str_new("OK").as_value(),
        Reply::Double(f) => f.into_value_with(ruby),
        Reply::Boolean(b) => b.into_value_with(ruby),
        Reply::VerbatimString { text, .. } => ruby.str_new(&text).as_value(),
        Reply::BigNumber(digits) => ruby
            .str_new(&String::from_utf8_lossy(&digits))
            .funcall::<_, _, Value>("to_i", ())?,
        Reply::Array(items) | Reply::Set(items) | Reply::Push { data: items, .. } => {
            let array = ruby.ary_new_capa(items.len());
            for item in items {
                array.push(to_ruby(ruby, item)?)?;
            }
            array.as_value()
        }
        Reply::Map(pairs) => {
            let hash = ruby.hash_new();
            for (key, value) in pairs {
                hash.aset(to_ruby(ruby, key)?, to_ruby(ruby, value)?)?;
            }
            hash.as_value()
        }
        Reply::Attribute { data, .. } => to_ruby(ruby, *data)?,
        Reply::ServerError(e) => {
            let message = match e.details() {
                Some(details) => format!("{} {details}", e.code()),
                None => e.code().to_string(),
            };
            return Err(errors::redis_error(
                ruby,
                &ferrokiq_core::RedisFailure::Command(message),
            ));
        }
        other => ruby.str_new(&format!("{other:?}")).as_value(),
    })
}

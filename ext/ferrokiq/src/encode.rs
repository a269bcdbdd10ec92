//! Ruby values to JSON bytes, identical to Ruby's `JSON.generate`, without leaving Rust.
//!
//! Only exact Hash, Array, String, Integer (fixnum), Float, true, false and nil are written here:
//! these are what job payloads hold. Anything else (Symbols, Time, bignums, subclasses, NaN,
//! strings that are not valid UTF-8, objects with their own `to_json`) makes the encoder give up,
//! and the caller lets Ruby's `JSON.generate` write the whole payload instead, so the bytes and
//! the errors are always Ruby's own.

use ferrokiq_core::json;
use magnus::{prelude::*, r_hash::ForEach, Fixnum, Float, RArray, RHash, RString, Ruby, Value};

/// Ruby's `JSON.generate` refuses to nest deeper than this; let Ruby raise its own error.
const MAX_NESTING: usize = 100;

/// The encoder met something only Ruby can write.
#[derive(Debug)]
pub struct NeedsRuby;

pub struct Encoder<'r> {
    ruby: &'r Ruby,
    out: Vec<u8>,
}

impl<'r> Encoder<'r> {
    pub fn new(ruby: &'r Ruby) -> Self {
        Encoder {
            ruby,
            out: Vec::with_capacity(256),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    /// Writes a job Hash, leaving out the `skip` keys (the transient `at` of a scheduled job).
    pub fn payload(&mut self, hash: RHash, skip: &[&str]) -> Result<(), NeedsRuby> {
        self.hash(hash, 1, skip)
    }

    /// Writes any value (the top level of `JSON.generate(value)`).
    pub fn payload_value(&mut self, value: Value) -> Result<(), NeedsRuby> {
        self.value(value, 0)
    }

    fn value(&mut self, value: Value, depth: usize) -> Result<(), NeedsRuby> {
        let ruby = self.ruby;
        if value.is_nil() {
            self.out.extend_from_slice(b"null");
        } else if value.is_kind_of(ruby.class_true_class()) {
            self.out.extend_from_slice(b"true");
        } else if value.is_kind_of(ruby.class_false_class()) {
            self.out.extend_from_slice(b"false");
        } else if let Some(int) = Fixnum::from_value(value) {
            self.out
                .extend_from_slice(int.to_i64().to_string().as_bytes());
        } else {
            let class = value.class();
            if class.equal(ruby.class_string()).unwrap_or(false) {
                let string = RString::from_value(value).ok_or(NeedsRuby)?;
                self.string(string)?;
            } else if class.equal(ruby.class_float()).unwrap_or(false) {
                let float = Float::from_value(value).ok_or(NeedsRuby)?;
                let text = json::ruby_float(float.to_f64()).ok_or(NeedsRuby)?;
                self.out.extend_from_slice(text.as_bytes());
            } else if class.equal(ruby.class_array()).unwrap_or(false) {
                let array = RArray::from_value(value).ok_or(NeedsRuby)?;
                self.array(array, depth + 1)?;
            } else if class.equal(ruby.class_hash()).unwrap_or(false) {
                let hash = RHash::from_value(value).ok_or(NeedsRuby)?;
                self.hash(hash, depth + 1, &[])?;
            } else {
                return Err(NeedsRuby);
            }
        }
        Ok(())
    }

    fn string(&mut self, string: RString) -> Result<(), NeedsRuby> {
        let ruby = self.ruby;
        let index = string.enc_get();
        if index != ruby.utf8_encindex() && index != ruby.usascii_encindex() {
            return Err(NeedsRuby);
        }
        // SAFETY: the slice is used before any Ruby code can run and change the string.
        let bytes = unsafe { string.as_slice() };
        let text = std::str::from_utf8(bytes).map_err(|_| NeedsRuby)?;
        json::write_str(&mut self.out, text);
        Ok(())
    }

    fn array(&mut self, array: RArray, depth: usize) -> Result<(), NeedsRuby> {
        if depth > MAX_NESTING {
            return Err(NeedsRuby);
        }
        self.out.push(b'[');
        for i in 0..array.len() {
            if i > 0 {
                self.out.push(b',');
            }
            let item: Value = array.entry(i as isize).map_err(|_| NeedsRuby)?;
            self.value(item, depth)?;
        }
        self.out.push(b']');
        Ok(())
    }

    fn hash(&mut self, hash: RHash, depth: usize, skip: &[&str]) -> Result<(), NeedsRuby> {
        if depth > MAX_NESTING {
            return Err(NeedsRuby);
        }
        let ruby = self.ruby;
        self.out.push(b'{');
        let mut first = true;
        let mut failed = false;
        let walked = hash.foreach(|key: Value, item: Value| {
            let Some(key) = RString::from_value(key)
                .filter(|_| key.class().equal(ruby.class_string()).unwrap_or(false))
            else {
                failed = true;
                return Ok(ForEach::Stop);
            };
            if !skip.is_empty() {
                // SAFETY: read before any Ruby code runs.
                let bytes = unsafe { key.as_slice() };
                if skip.iter().any(|s| s.as_bytes() == bytes) {
                    return Ok(ForEach::Continue);
                }
            }
            if !first {
                self.out.push(b',');
            }
            first = false;
            if self.string(key).is_err() {
                failed = true;
                return Ok(ForEach::Stop);
            }
            self.out.push(b':');
            if self.value(item, depth).is_err() {
                failed = true;
                return Ok(ForEach::Stop);
            }
            Ok(ForEach::Continue)
        });
        if failed || walked.is_err() {
            return Err(NeedsRuby);
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// Sidekiq 7's strict-args walk: the first value in `args` that is not a native JSON type
/// (exact class Integer, Float, true, false, nil, String, Array, Hash; Hash keys must be
/// Strings), or `None` when every value is safe.
pub fn first_unsafe(ruby: &Ruby, value: Value) -> Option<Value> {
    if value.is_nil()
        || value.is_kind_of(ruby.class_true_class())
        || value.is_kind_of(ruby.class_false_class())
        || Fixnum::from_value(value).is_some()
    {
        return None;
    }
    let class = value.class();
    let is = |c| class.equal(c).unwrap_or(false);
    if is(ruby.class_string()) || is(ruby.class_float()) || is(ruby.class_integer()) {
        None
    } else if is(ruby.class_array()) {
        let array = RArray::from_value(value)?;
        (0..array.len()).find_map(|i| {
            array
                .entry::<Value>(i as isize)
                .ok()
                .and_then(|item| first_unsafe(ruby, item))
        })
    } else if is(ruby.class_hash()) {
        let hash = RHash::from_value(value)?;
        let mut found = None;
        let _ = hash.foreach(|key: Value, item: Value| {
            found = if key.is_kind_of(ruby.class_string()) {
                first_unsafe(ruby, item)
            } else {
                Some(key)
            };
            Ok(if found.is_some() {
                ForEach::Stop
            } else {
                ForEach::Continue
            })
        });
        found
    } else {
        Some(value)
    }
}

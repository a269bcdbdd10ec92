//! Ruby values to JSON bytes, identical to Ruby's `JSON.generate`, without leaving Rust.
//!
//! Only exact Hash, Array, String, Integer (fixnum), Float, true, false and nil are written here:
//! these are what job payloads hold. Anything else (Symbols, Time, bignums, subclasses, NaN,
//! strings that are not valid UTF-8, objects with their own `to_json`) makes the encoder give up,
//! and the caller lets Ruby's `JSON.generate` write the whole payload instead, so the bytes and
//! the errors are always Ruby's own.

use ferrokiq_core::json;
use magnus::rb_sys::AsRawValue;
use magnus::{prelude::*, Fixnum, Float, RArray, RClass, RHash, RString, Ruby, Value};
use rb_sys::special_consts::{Qfalse, Qnil, Qtrue};
use rb_sys::{ruby_coderange_type, ruby_encoding_consts, VALUE};
use std::sync::OnceLock;

use crate::hash_iter::each_pair;

fn is(value: Value, constant: rb_sys::ruby_special_consts) -> bool {
    value.as_raw() == constant as VALUE
}

/// Whether `class` is exactly `expected`. An identity test: magnus' `equal` calls `==` inside
/// `rb_protect`, which was a tenth of a bulk push's time (docs/performance.md, §6), and a
/// Class's `==` is identity anyway.
pub(crate) fn is_class(class: RClass, expected: RClass) -> bool {
    class.as_raw() == expected.as_raw()
}

/// The UTF-8 text of a String whose encoding is UTF-8 or US-ASCII, or `None`. Ruby caches a
/// string's code range, so a string seen before (a bulk slice's shared class and queue, keys
/// that are literals) is not scanned again; one of unknown range is checked here.
///
/// The encoding and the cached code range are read from the string's flags, as the C header's
/// inline `RB_ENCODING_GET_INLINED` and `RB_ENC_CODERANGE` read them: the exported functions
/// behind magnus' `enc_get` cost a call each, on every string of every payload
/// (docs/performance.md, §6).
///
/// The text borrows the string's bytes: read it before any Ruby code can run.
pub(crate) fn utf8_text(string: &RString) -> Option<&str> {
    let (utf8, usascii) = text_encodings();
    // SAFETY: a live String; only its header word is read.
    let flags = unsafe { (*(string.as_raw() as *const rb_sys::RBasic)).flags };
    // An index too large for the flags (INLINE_MAX) is an encoding registered late, never
    // UTF-8 or US-ASCII, whose indexes are small and fixed when Ruby boots.
    let index = ((flags & ENCODING_MASK) >> ENCODING_SHIFT) as i32;
    if index == INLINE_MAX || (index != utf8 && index != usascii) {
        return None;
    }
    // SAFETY: the caller reads the slice before any Ruby code can change the string.
    let bytes = unsafe { string.as_slice() };
    let mut range = flags & CODERANGE_MASK;
    if range == ruby_coderange_type::RUBY_ENC_CODERANGE_UNKNOWN as VALUE {
        // SAFETY: a live String; the call only scans it and caches the result in its flags.
        range = unsafe { rb_sys::rb_enc_str_coderange(string.as_raw()) } as VALUE;
    }
    let known_good = range == ruby_coderange_type::RUBY_ENC_CODERANGE_7BIT as VALUE
        || (range == ruby_coderange_type::RUBY_ENC_CODERANGE_VALID as VALUE && index == utf8);
    if known_good {
        // SAFETY: Ruby found every byte ASCII, or the whole text valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

const ENCODING_SHIFT: u32 = ruby_encoding_consts::RUBY_ENCODING_SHIFT as u32;
const ENCODING_MASK: VALUE = ruby_encoding_consts::RUBY_ENCODING_MASK as VALUE;
const INLINE_MAX: i32 = ruby_encoding_consts::RUBY_ENCODING_INLINE_MAX as i32;
const CODERANGE_MASK: VALUE = ruby_coderange_type::RUBY_ENC_CODERANGE_MASK as VALUE;

/// Ruby's encoding indexes of UTF-8 and US-ASCII, fixed for the life of the process.
fn text_encodings() -> (i32, i32) {
    static INDEXES: OnceLock<(i32, i32)> = OnceLock::new();
    // SAFETY: both functions only return a registered encoding's index.
    *INDEXES.get_or_init(|| unsafe { (rb_sys::rb_utf8_encindex(), rb_sys::rb_usascii_encindex()) })
}

/// The elements of `array`. Only for walks that call no Ruby code (which could change it).
fn elements(array: &RArray) -> &[Value] {
    // SAFETY: callers only read the slice while no Ruby code runs.
    unsafe { array.as_slice() }
}

/// Ruby's `JSON.generate` refuses to nest deeper than this; let Ruby raise its own error.
const MAX_NESTING: usize = 100;

/// The encoder met something only Ruby can write.
#[derive(Debug)]
pub struct NeedsRuby;

/// How a job Hash's fields are written, without building a new Hash in Ruby: `skip` keys are
/// left out; `set` keys take the given values with `Hash#merge` semantics (in place where the
/// key exists, otherwise appended in order).
#[derive(Default)]
pub struct Fields<'a> {
    pub skip: &'a [&'a str],
    pub set: &'a [(&'a str, Value)],
}

pub struct Encoder<'r> {
    ruby: &'r Ruby,
    out: Vec<u8>,
}

impl<'r> Encoder<'r> {
    pub fn new(ruby: &'r Ruby) -> Self {
        Encoder {
            ruby,
            // A job payload's usual size, so that most need no reallocation.
            out: Vec::with_capacity(512),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    /// Writes a job Hash with some fields left out or set (see [`Fields`]).
    pub fn payload(&mut self, hash: RHash, fields: &Fields) -> Result<(), NeedsRuby> {
        self.hash(hash, 1, fields)
    }

    /// Appends bytes as they are (JSON text written elsewhere).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Writes any value (the top level of `JSON.generate(value)`).
    pub fn payload_value(&mut self, value: Value) -> Result<(), NeedsRuby> {
        self.value(value, 0)
    }

    fn value(&mut self, value: Value, depth: usize) -> Result<(), NeedsRuby> {
        let ruby = self.ruby;
        if is(value, Qnil) {
            self.out.extend_from_slice(b"null");
        } else if is(value, Qtrue) {
            self.out.extend_from_slice(b"true");
        } else if is(value, Qfalse) {
            self.out.extend_from_slice(b"false");
        } else if let Some(int) = Fixnum::from_value(value) {
            json::write_int(&mut self.out, int.to_i64());
        } else {
            let class = value.class();
            if is_class(class, ruby.class_string()) {
                let string = RString::from_value(value).ok_or(NeedsRuby)?;
                self.string(string)?;
            } else if is_class(class, ruby.class_float()) {
                let float = Float::from_value(value).ok_or(NeedsRuby)?;
                if !json::write_float(&mut self.out, float.to_f64()) {
                    return Err(NeedsRuby);
                }
            } else if is_class(class, ruby.class_array()) {
                let array = RArray::from_value(value).ok_or(NeedsRuby)?;
                self.array(array, depth + 1)?;
            } else if is_class(class, ruby.class_hash()) {
                let hash = RHash::from_value(value).ok_or(NeedsRuby)?;
                self.hash(hash, depth + 1, &Fields::default())?;
            } else {
                return Err(NeedsRuby);
            }
        }
        Ok(())
    }

    fn string(&mut self, string: RString) -> Result<(), NeedsRuby> {
        let text = utf8_text(&string).ok_or(NeedsRuby)?;
        json::write_str(&mut self.out, text);
        Ok(())
    }

    fn array(&mut self, array: RArray, depth: usize) -> Result<(), NeedsRuby> {
        if depth > MAX_NESTING {
            return Err(NeedsRuby);
        }
        self.out.push(b'[');
        for (i, item) in elements(&array).iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.value(*item, depth)?;
        }
        self.out.push(b']');
        Ok(())
    }

    fn hash(&mut self, hash: RHash, depth: usize, fields: &Fields) -> Result<(), NeedsRuby> {
        if depth > MAX_NESTING {
            return Err(NeedsRuby);
        }
        let ruby = self.ruby;
        self.out.push(b'{');
        let mut first = true;
        let mut failed = false;
        // Which `set` fields were written in place; the others are appended.
        let mut placed = [false; 16];
        if fields.set.len() > placed.len() {
            return Err(NeedsRuby);
        }
        each_pair(hash, |key, item| {
            let Some(key) =
                RString::from_value(key).filter(|_| is_class(key.class(), ruby.class_string()))
            else {
                failed = true;
                return false;
            };
            let mut item = item;
            if !fields.skip.is_empty() || !fields.set.is_empty() {
                // SAFETY: read before any Ruby code runs.
                let bytes = unsafe { key.as_slice() };
                if fields.skip.iter().any(|s| s.as_bytes() == bytes) {
                    return true;
                }
                if let Some(i) = fields.set.iter().position(|(k, _)| k.as_bytes() == bytes) {
                    placed[i] = true;
                    item = fields.set[i].1;
                }
            }
            self.separator(&mut first);
            if self.string(key).is_err() || self.field_value(item, depth).is_err() {
                failed = true;
                return false;
            }
            true
        });
        if failed {
            return Err(NeedsRuby);
        }
        for (i, (key, item)) in fields.set.iter().enumerate() {
            if !placed[i] {
                self.separator(&mut first);
                json::write_str(&mut self.out, key);
                self.field_value(*item, depth)?;
            }
        }
        self.out.push(b'}');
        Ok(())
    }

    fn separator(&mut self, first: &mut bool) {
        if !*first {
            self.out.push(b',');
        }
        *first = false;
    }

    fn field_value(&mut self, item: Value, depth: usize) -> Result<(), NeedsRuby> {
        self.out.push(b':');
        self.value(item, depth)
    }
}

/// Ruby's own `JSON.generate(value)`, for what the encoder leaves to Ruby.
pub fn ruby_json(ruby: &Ruby, value: Value) -> Result<RString, magnus::Error> {
    let json: magnus::RModule = ruby.class_object().const_get("JSON")?;
    json.funcall("generate", (value,))
}

/// Sidekiq 7's strict-args walk: the first value in `args` that is not a native JSON type
/// (exact class Integer, Float, true, false, nil, String, Array, Hash; Hash keys must be
/// Strings), or `None` when every value is safe.
pub fn first_unsafe(ruby: &Ruby, value: Value) -> Option<Value> {
    if is(value, Qnil)
        || is(value, Qtrue)
        || is(value, Qfalse)
        || Fixnum::from_value(value).is_some()
    {
        return None;
    }
    let class = value.class();
    let is_a = |c| is_class(class, c);
    if is_a(ruby.class_string()) || is_a(ruby.class_float()) || is_a(ruby.class_integer()) {
        None
    } else if is_a(ruby.class_array()) {
        let array = RArray::from_value(value)?;
        elements(&array)
            .iter()
            .find_map(|item| first_unsafe(ruby, *item))
    } else if is_a(ruby.class_hash()) {
        let hash = RHash::from_value(value)?;
        let mut found = None;
        each_pair(hash, |key, item| {
            found = if key.is_kind_of(ruby.class_string()) {
                first_unsafe(ruby, item)
            } else {
                Some(key)
            };
            found.is_none()
        });
        found
    } else {
        Some(value)
    }
}

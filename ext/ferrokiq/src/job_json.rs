//! `Ferrokiq::Native.load_job(payload)`: a job payload's JSON object straight into a Ruby Hash,
//! the Hash `JSON.parse` (json 2.x, default options) returns for it (docs/performance.md, §3.2).
//!
//! Only plain RFC 8259 text is read here: UTF-8, no comments, objects and arrays nested at most
//! `MAX_DEPTH` deep, integers that fit an `i64`, floats of at most 17 significant digits in the
//! normal range (or an exact zero), string escapes that decode to valid UTF-8. For those, every
//! value converts the one way JSON.parse converts it: Strings are new UTF-8 Strings, object keys
//! the interned frozen Strings a Hash stores anyway (later duplicates overwrite the value in the
//! first one's place), integers Integer, floats the correctly rounded Float. Anything else, and
//! any top-level value that is not an object, gives nil: the caller asks JSON.parse, which then
//! decides (and raises what it raises).

use magnus::prelude::*;
use magnus::rb_sys::FromRawValue;
use magnus::{RString, Ruby, Value};
use rb_sys::VALUE;

use crate::interned::interned_utf8;

/// Deeper nesting goes to JSON.parse, whose own limit (100) then applies.
const MAX_DEPTH: usize = 32;

/// Mantissas with more significant digits (Float#to_s writes at most 17) are left to Ruby's
/// own conversion.
const MAX_FLOAT_DIGITS: usize = 17;

/// Pairs an object's reader holds before it stores them in its Hash with one call. Ruby then
/// sizes the Hash for all of them: past 8 pairs, a hash table from the start. Storing pairs one
/// at a time builds Ruby's small-array form first and converts it at the ninth, about a tenth
/// of the time it takes to read a payload with that many keys (a unique job's thirteen, a
/// realistic app's ten; docs/performance.md, §3.2).
const PAIRS_HELD: usize = 16;

/// The text is not in the subset this parser reads.
struct Unsupported;

type Parsed = Result<VALUE, Unsupported>;

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    /// Decoded bytes of the String being read when it has escapes.
    scratch: Vec<u8>,
}

/// `Ferrokiq::Native.load_job(payload)`: the payload's Hash, or nil when JSON.parse must decide.
pub fn load_job(ruby: &Ruby, payload: RString) -> Option<Value> {
    let encoding = payload.enc_get();
    let us_ascii = encoding == ruby.usascii_encindex();
    if encoding != ruby.utf8_encindex() && !us_ascii {
        return None;
    }
    // SAFETY: the bytes are read while the GVL is held, and no Ruby code runs until the parse
    // ends (it only allocates Strings, Arrays and Hashes), so nothing can change the String.
    let text = unsafe { payload.as_slice() };
    // JSON.parse converts other encodings first; US-ASCII is read here only when it is ASCII.
    if (us_ascii && !text.is_ascii()) || std::str::from_utf8(text).is_err() {
        return None;
    }
    let mut parser = Parser {
        text,
        at: 0,
        scratch: Vec::new(),
    };
    let parsed = parser.document();
    // Keeps the payload's bytes reachable until the parse is over.
    let _ = std::hint::black_box(payload);
    // SAFETY: a live object just built by the parser.
    parsed.ok().map(|hash| unsafe { Value::from_raw(hash) })
}

impl Parser<'_> {
    fn document(&mut self) -> Parsed {
        self.skip_space();
        if self.peek() != Some(b'{') {
            return Err(Unsupported);
        }
        let hash = self.value(0)?;
        self.skip_space();
        if self.at != self.text.len() {
            return Err(Unsupported);
        }
        Ok(hash)
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Consumes `byte` (after any whitespace) or fails.
    fn expect(&mut self, byte: u8) -> Result<(), Unsupported> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(Unsupported)
        }
    }

    fn literal(&mut self, word: &[u8], value: VALUE) -> Parsed {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(Unsupported)
        }
    }

    fn value(&mut self, depth: usize) -> Parsed {
        self.skip_space();
        match self.peek().ok_or(Unsupported)? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                let (start, end, escaped) = self.string()?;
                Ok(self.new_string(start, end, escaped))
            }
            b't' => self.literal(b"true", rb_sys::special_consts::Qtrue as VALUE),
            b'f' => self.literal(b"false", rb_sys::special_consts::Qfalse as VALUE),
            b'n' => self.literal(b"null", rb_sys::special_consts::Qnil as VALUE),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Unsupported),
        }
    }

    fn object(&mut self, depth: usize) -> Parsed {
        if depth > MAX_DEPTH {
            return Err(Unsupported);
        }
        // Past the opening '{'.
        self.at += 1;
        // SAFETY: plain allocation under the GVL.
        let hash = unsafe { rb_sys::rb_hash_new() };
        // Keys and values read but not yet in `hash`: an array on this frame's stack, which
        // Ruby's GC scans (conservatively), so they stay alive while later values allocate.
        // `black_box` makes the array a real place in memory rather than registers.
        let mut held = [rb_sys::special_consts::Qnil as VALUE; 2 * PAIRS_HELD];
        std::hint::black_box(&mut held);
        let mut filled = 0;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(hash);
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(Unsupported);
            }
            let key = self.string()?;
            // An escaped key's decoded bytes, kept while the value is read.
            let escaped_key = key.2.then(|| std::mem::take(&mut self.scratch));
            self.expect(b':')?;
            // The key's String is made after the value, so that only held objects live across
            // the allocations the value makes.
            let value = self.value(depth)?;
            let bytes = match &escaped_key {
                Some(decoded) => decoded.as_slice(),
                None => &self.text[key.0..key.1],
            };
            // SAFETY: valid UTF-8 (checked, or decoded from escapes), allocated under the GVL.
            held[filled] = unsafe { interned_utf8(bytes) };
            held[filled + 1] = value;
            filled += 2;
            self.skip_space();
            let closed = match self.peek() {
                Some(b',') => false,
                Some(b'}') => true,
                _ => return Err(Unsupported),
            };
            self.at += 1;
            if closed || filled == held.len() {
                // SAFETY: `filled` live keys and values (even), into the Hash this frame made.
                // Frozen String keys are stored as they are, as Hash#[]= stores JSON.parse's;
                // a later duplicate overwrites the value in the first one's place, as there.
                unsafe {
                    rb_sys::rb_hash_bulk_insert(filled as std::os::raw::c_long, held.as_ptr(), hash)
                };
                filled = 0;
            }
            if closed {
                return Ok(hash);
            }
        }
    }

    fn array(&mut self, depth: usize) -> Parsed {
        if depth > MAX_DEPTH {
            return Err(Unsupported);
        }
        // Past the opening '['.
        self.at += 1;
        // SAFETY: plain allocation under the GVL.
        let array = unsafe { rb_sys::rb_ary_new() };
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(array);
        }
        loop {
            let item = self.value(depth)?;
            // SAFETY: pushing onto the Array this frame made.
            unsafe { rb_sys::rb_ary_push(array, item) };
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(array);
                }
                _ => return Err(Unsupported),
            }
        }
    }

    /// Reads a string literal: `(start, end, escaped)`, the raw bytes between the quotes, or
    /// (when `escaped`) the decoded bytes in `scratch`.
    fn string(&mut self) -> Result<(usize, usize, bool), Unsupported> {
        self.at += 1; // '"'
        let start = self.at;
        loop {
            match self.peek().ok_or(Unsupported)? {
                b'"' => {
                    let end = self.at;
                    self.at += 1;
                    return Ok((start, end, false));
                }
                b'\\' => break,
                0x00..=0x1f => return Err(Unsupported),
                _ => self.at += 1,
            }
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.text[start..self.at]);
        loop {
            match self.peek().ok_or(Unsupported)? {
                b'"' => {
                    self.at += 1;
                    return Ok((start, self.at - 1, true));
                }
                b'\\' => self.escape()?,
                0x00..=0x1f => return Err(Unsupported),
                byte => {
                    self.scratch.push(byte);
                    self.at += 1;
                }
            }
        }
    }

    /// Decodes one escape sequence into `scratch`.
    fn escape(&mut self) -> Result<(), Unsupported> {
        let kind = *self.text.get(self.at + 1).ok_or(Unsupported)?;
        self.at += 2;
        let byte = match kind {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let unit = self.hex4()?;
                let code = match unit {
                    0xd800..=0xdbff => {
                        if !self.text[self.at..].starts_with(b"\\u") {
                            return Err(Unsupported);
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(Unsupported);
                        }
                        0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                    }
                    0xdc00..=0xdfff => return Err(Unsupported),
                    _ => unit,
                };
                let c = char::from_u32(code).ok_or(Unsupported)?;
                let mut utf8 = [0; 4];
                self.scratch
                    .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                return Ok(());
            }
            _ => return Err(Unsupported),
        };
        self.scratch.push(byte);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, Unsupported> {
        let digits = self.text.get(self.at..self.at + 4).ok_or(Unsupported)?;
        let mut unit = 0;
        for &digit in digits {
            unit = unit * 16 + (digit as char).to_digit(16).ok_or(Unsupported)?;
        }
        self.at += 4;
        Ok(unit)
    }

    fn new_string(&self, start: usize, end: usize, escaped: bool) -> VALUE {
        let bytes = if escaped {
            self.scratch.as_slice()
        } else {
            &self.text[start..end]
        };
        // SAFETY: valid UTF-8, allocated under the GVL.
        unsafe {
            rb_sys::rb_utf8_str_new(bytes.as_ptr().cast(), bytes.len() as std::os::raw::c_long)
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Parsed {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let integer_start = self.at;
        let integer_digits = self.digits();
        // JSON allows no leading zeros ("01"); JSON.parse rejects them.
        if integer_digits == 0 || (integer_digits > 1 && self.text[integer_start] == b'0') {
            return Err(Unsupported);
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(Unsupported);
            }
            float = true;
        }
        let mantissa_end = self.at;
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(Unsupported);
            }
            float = true;
        }
        // ASCII digits and signs only: valid UTF-8.
        let text = std::str::from_utf8(&self.text[start..self.at]).map_err(|_| Unsupported)?;
        if !float {
            // Beyond an i64 (the parse fails): left to Ruby, which makes a Bignum.
            let integer: i64 = text.parse().map_err(|_| Unsupported)?;
            // SAFETY: plain conversion (a Bignum beyond the Fixnum range) under the GVL.
            return Ok(unsafe { rb_sys::rb_ll2inum(integer) });
        }
        let mantissa = &self.text[integer_start..mantissa_end];
        let significant = mantissa
            .iter()
            .skip_while(|&&b| b == b'0' || b == b'.')
            .filter(|b| b.is_ascii_digit())
            .count();
        if significant > MAX_FLOAT_DIGITS {
            return Err(Unsupported);
        }
        let float: f64 = text.parse().map_err(|_| Unsupported)?;
        let exact_zero = significant == 0;
        // Overflow, underflow and subnormals: Ruby's conversion decides (and warns).
        if !float.is_finite() || (float.abs() < f64::MIN_POSITIVE && !exact_zero) {
            return Err(Unsupported);
        }
        // SAFETY: plain conversion under the GVL.
        Ok(unsafe { rb_sys::rb_float_new(float) })
    }
}

//! `Ferrokiq::Native::LogWriter`: a Sidekiq logger's lines formatted and written by
//! `ferrokiq_core::log_writer` (docs/design.md, §12).
//!
//! `line` turns the Ruby values of one line into `log_format::Value`s with the GVL held and
//! queues them; it answers false, queuing nothing, when a value is one only Ruby renders
//! exactly (an object with its own `to_s`, a Hash in the Pretty layout, a bignum, a string that
//! is not UTF-8, ...). The Ruby side then formats that line with its formatter and queues the
//! text, so the bytes (and any error) are always what Ruby's formatter gives.

use std::fs::File;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use ferrokiq_core::log_format::{severity_label, Layout, Line, Text, Value as LogValue};
use ferrokiq_core::log_writer::LogWriter;
use magnus::rb_sys::AsRawValue;
use magnus::{
    prelude::*, Error, Fixnum, Float, RArray, RHash, RModule, RString, Ruby, Symbol, Value,
};
use rb_sys::special_consts::{Qfalse, Qnil, Qtrue};
use rb_sys::VALUE;

use crate::encode::{is_class, utf8_text};
use crate::errors;
use crate::gvl;
use crate::hash_iter::each_pair;

/// Deeper values are left to Ruby (its JSON generator has its own nesting limit).
const MAX_DEPTH: usize = 32;

#[magnus::wrap(class = "Ferrokiq::Native::LogWriter", free_immediately, size)]
pub struct NativeLogWriter {
    writer: Arc<LogWriter>,
    /// Whether lines are queued as JSON values (see `Converter`); changed by `relayout`.
    json: AtomicBool,
}

impl NativeLogWriter {
    /// The core's writer, for the engine's job lines.
    pub fn writer(&self) -> Arc<LogWriter> {
        Arc::clone(&self.writer)
    }

    /// `LogWriter.new(fd, layout)`: writes to a duplicate of `fd` (the logger's device stays
    /// Ruby's to close) in `layout` (`"pretty"`, `"without_timestamp"` or `"json"`).
    fn new(ruby: &Ruby, fd: i32, layout: String) -> Result<Self, Error> {
        let layout = Layout::named(&layout).ok_or_else(|| {
            errors::argument_error(ruby, format!("unknown log layout {layout:?}"))
        })?;
        let file = duplicate(ruby, fd)?;
        let writer = LogWriter::start(Box::new(file), layout)
            .map_err(|e| errors::runtime_error(ruby, &e))?;
        Ok(NativeLogWriter {
            writer: Arc::new(writer),
            json: AtomicBool::new(layout == Layout::Json),
        })
    }

    /// Queues one line: `severity` as `Logger#format_severity` gives it, the message (with
    /// Pretty layouts already a String), the thread's Sidekiq context (a Hash or nil) and its
    /// tid. False when Ruby must format this line.
    fn line(
        ruby: &Ruby,
        rb_self: &Self,
        severity: RString,
        message: Value,
        context: Value,
        tid: RString,
    ) -> bool {
        let json = rb_self.json.load(Ordering::Relaxed);
        let convert = Converter { ruby, json };
        // The label is matched where it lies: the six Ruby gives need no copy.
        let (Some(severity), Some(tid)) = (utf8_text(&severity), convert.text(tid)) else {
            return false;
        };
        let message = if json {
            convert.value(message, 0)
        } else {
            RString::from_value(message)
                .and_then(|s| convert.text(s))
                .map(LogValue::Str)
        };
        let Some(message) = message else {
            return false;
        };
        let context = if context.as_raw() == Qnil as VALUE {
            Some(Vec::new())
        } else {
            RHash::from_value(context)
                .filter(|_| is_class(context.class(), ruby.class_hash()))
                .and_then(|hash| convert.pairs(hash, 0))
        };
        let Some(context) = context else {
            return false;
        };
        rb_self.writer.line(Line {
            at: SystemTime::now(),
            severity: severity_label(severity),
            tid,
            context,
            message,
        });
        true
    }

    /// Queues text as it is (a line Ruby formatted, `Logger#<<`, a `puts`). Always true.
    fn text(&self, text: RString) -> bool {
        // SAFETY: copied before any Ruby code runs.
        self.writer.text(unsafe { text.as_slice() }.to_vec());
        true
    }

    /// Waits (without the GVL) until everything queued so far is written. Ruby skips the wait
    /// when an interrupt is pending: what there is to raise is raised, then it waits again.
    fn flush(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        let writer = &rb_self.writer;
        let (never_tx, _never_rx) = crossbeam_channel::bounded::<()>(1);
        while gvl::without_gvl(|| writer.flush(), &never_tx).is_none() {
            ruby.thread_check_ints()?;
        }
        Ok(())
    }

    /// Lines queued from now on take `layout` (the logger's formatter changed).
    fn relayout(ruby: &Ruby, rb_self: &Self, layout: String) -> Result<bool, Error> {
        let layout = Layout::named(&layout).ok_or_else(|| {
            errors::argument_error(ruby, format!("unknown log layout {layout:?}"))
        })?;
        rb_self
            .json
            .store(layout == Layout::Json, Ordering::Relaxed);
        rb_self.writer.relayout(layout);
        Ok(true)
    }

    /// Lines queued from now on go to (a duplicate of) `fd`: the device was reopened.
    fn reopen(ruby: &Ruby, rb_self: &Self, fd: i32) -> Result<bool, Error> {
        rb_self.writer.reopen(duplicate(ruby, fd)?);
        Ok(true)
    }

    /// Lines queued from now on are dropped, and the duplicate of the device is closed.
    fn close(&self) {
        self.writer.close();
    }
}

fn duplicate(ruby: &Ruby, fd: i32) -> Result<File, Error> {
    if fd < 0 {
        return Err(errors::argument_error(
            ruby,
            format!("bad file descriptor {fd}"),
        ));
    }
    // SAFETY: Ruby passes the fileno of an open IO, which stays open during this call.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let owned = borrowed
        .try_clone_to_owned()
        .map_err(|e| errors::runtime_error(ruby, &e))?;
    Ok(File::from(owned))
}

/// Ruby values to `log_format::Value`s, or None for what only Ruby renders exactly.
struct Converter<'r> {
    ruby: &'r Ruby,
    json: bool,
}

impl Converter<'_> {
    /// A String's text when its bytes are UTF-8 as Ruby sees them (UTF-8 or US-ASCII, or
    /// binary but ASCII only).
    fn text(&self, string: RString) -> Option<Text> {
        if let Some(text) = utf8_text(&string) {
            return Some(Text::from(text));
        }
        if string.enc_get() != self.ruby.ascii8bit_encindex() {
            return None;
        }
        // SAFETY: copied before any Ruby code runs.
        let bytes = unsafe { string.as_slice() };
        bytes.is_ascii().then(|| Text::from_utf8_lossy(bytes))
    }

    fn name(&self, key: Value) -> Option<Text> {
        if let Some(symbol) = Symbol::from_value(key) {
            return symbol.name().ok().map(|name| Text::from(&*name));
        }
        RString::from_value(key)
            .filter(|_| is_class(key.class(), self.ruby.class_string()))
            .and_then(|s| self.text(s))
    }

    fn value(&self, value: Value, depth: usize) -> Option<LogValue> {
        let ruby = self.ruby;
        let raw = value.as_raw();
        if raw == Qnil as VALUE {
            return Some(LogValue::Nil);
        }
        if raw == Qtrue as VALUE || raw == Qfalse as VALUE {
            return Some(LogValue::Bool(raw == Qtrue as VALUE));
        }
        if let Some(int) = Fixnum::from_value(value) {
            return Some(LogValue::Int(int.to_i64()));
        }
        if Symbol::from_value(value).is_some() {
            return self.name(value).map(LogValue::Str);
        }
        if depth > MAX_DEPTH {
            return None;
        }
        let class = value.class();
        let is = |other| is_class(class, other);
        if is(ruby.class_string()) {
            RString::from_value(value)
                .and_then(|s| self.text(s))
                .map(LogValue::Str)
        } else if is(ruby.class_float()) {
            let float = Float::from_value(value)?.to_f64();
            // JSON.generate refuses NaN and the infinities: Ruby raises its own error.
            (float.is_finite() || !self.json).then_some(LogValue::Float(float))
        } else if is(ruby.class_array()) {
            let array = RArray::from_value(value)?;
            // SAFETY: read while no Ruby code runs.
            let items = unsafe { array.as_slice() };
            items
                .iter()
                .map(|item| self.value(*item, depth + 1))
                .collect::<Option<Vec<_>>>()
                .map(LogValue::Array)
        } else if is(ruby.class_hash()) && self.json {
            self.pairs(RHash::from_value(value)?, depth + 1)
                .map(LogValue::Hash)
        } else {
            None
        }
    }

    fn pairs(&self, hash: RHash, depth: usize) -> Option<Vec<(Text, LogValue)>> {
        let mut pairs = Vec::with_capacity(hash.len());
        let mut complete = true;
        each_pair(hash, |key, value| {
            match (self.name(key), self.value(value, depth)) {
                (Some(key), Some(value)) => pairs.push((key, value)),
                _ => complete = false,
            }
            complete
        });
        complete.then_some(pairs)
    }
}

pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = native.define_class("LogWriter", ruby.class_object())?;
    class.define_singleton_method("new", magnus::function!(NativeLogWriter::new, 2))?;
    class.define_method("line", magnus::method!(NativeLogWriter::line, 4))?;
    class.define_method("text", magnus::method!(NativeLogWriter::text, 1))?;
    class.define_method("flush", magnus::method!(NativeLogWriter::flush, 0))?;
    class.define_method("reopen", magnus::method!(NativeLogWriter::reopen, 1))?;
    class.define_method("close", magnus::method!(NativeLogWriter::close, 0))?;
    class.define_method("relayout", magnus::method!(NativeLogWriter::relayout, 1))?;
    Ok(())
}

//! Rust failures as Ruby exceptions. The classes are defined in Ruby (`lib/ferrokiq/errors.rb`,
//! loaded before this library) so they can be documented and rescued like any other.

use ferrokiq_core::RedisFailure;

use crate::runtime::SetupError;
use magnus::value::Lazy;
use magnus::{prelude::*, Error, ExceptionClass, RModule, Ruby};

fn ferrokiq_class(ruby: &Ruby, name: &str) -> ExceptionClass {
    ruby.class_object()
        .const_get::<_, RModule>("Ferrokiq")
        .and_then(|m| m.const_get::<_, ExceptionClass>(name))
        .unwrap_or_else(|_| ruby.exception_runtime_error())
}

macro_rules! ferrokiq_error {
    ($static:ident, $name:literal) => {
        static $static: Lazy<ExceptionClass> = Lazy::new(|ruby| {
            let class = ferrokiq_class(ruby, $name);
            ruby.gc_register_mark_object(class);
            class
        });
    };
}

ferrokiq_error!(CONFIG_ERROR, "ConfigurationError");
ferrokiq_error!(CANNOT_CONNECT, "CannotConnectError");
ferrokiq_error!(AUTHENTICATION, "AuthenticationError");
ferrokiq_error!(TIMEOUT, "TimeoutError");
ferrokiq_error!(CONNECTION_LOST, "ConnectionError");
ferrokiq_error!(COMMAND, "CommandError");

/// The Ruby exception for a Redis failure, with Redis's message.
pub fn redis_error(ruby: &Ruby, failure: &RedisFailure) -> Error {
    let class = match failure {
        RedisFailure::Config(_) => &CONFIG_ERROR,
        RedisFailure::CannotConnect { .. } => &CANNOT_CONNECT,
        RedisFailure::Authentication { .. } => &AUTHENTICATION,
        RedisFailure::Timeout { .. } => &TIMEOUT,
        RedisFailure::ConnectionLost { .. } | RedisFailure::Interrupted => &CONNECTION_LOST,
        RedisFailure::Command(_) => &COMMAND,
    };
    Error::new(ruby.get_inner(class), failure.to_string())
}

/// A failure of Ferrokiq itself (the runtime could not start, a task panicked).
pub fn runtime_error(ruby: &Ruby, e: &dyn std::fmt::Display) -> Error {
    Error::new(ruby.exception_runtime_error(), format!("Ferrokiq: {e}"))
}

/// A thread's I/O could not be set up (its runtime, or its Redis connection settings).
pub fn setup_error(ruby: &Ruby, e: SetupError) -> Error {
    match e {
        SetupError::Runtime(e) => runtime_error(ruby, &e),
        SetupError::Redis(e) => redis_error(ruby, &e),
    }
}

pub fn argument_error(ruby: &Ruby, message: impl Into<String>) -> Error {
    Error::new(ruby.exception_arg_error(), message.into())
}

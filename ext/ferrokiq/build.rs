//! Link settings for the native library (docs/performance.md, §8.1).
//!
//! The library holds about 35,000 pointers that the dynamic loader rewrites when it loads
//! (most of them in the time zone tables of chrono-tz). As classic `R_X86_64_RELATIVE` entries
//! they take 24 bytes each, about 800 kB that the loader reads and every process keeps mapped;
//! packed (`DT_RELR`) they take a few kB. Only glibc 2.36 and later understand packed
//! relocations, so they are asked for only when the library is built for the glibc it runs on
//! (the gem builds on the machine that installs it) and that glibc is new enough.

use std::ffi::CStr;
use std::os::raw::c_char;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target == host && target.ends_with("-linux-gnu") && host_glibc_at_least(2, 36) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn host_glibc_at_least(major: u32, minor: u32) -> bool {
    extern "C" {
        fn gnu_get_libc_version() -> *const c_char;
    }
    // SAFETY: glibc returns a pointer to a static, NUL-terminated version string.
    let version = unsafe { CStr::from_ptr(gnu_get_libc_version()) };
    let mut parts = version
        .to_str()
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn host_glibc_at_least(_major: u32, _minor: u32) -> bool {
    false
}

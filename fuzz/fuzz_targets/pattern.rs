//! `MatchPattern::parse` on arbitrary bytes: no panic; an accepted pattern displays as written
//! and re-parses to the same pattern, and matching a few fixed references does not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_auth_fuzz::checks::check_pattern;

fuzz_target!(|data: &[u8]| {
    check_pattern(&String::from_utf8_lossy(data));
});

//! `ImageReference::parse` on arbitrary bytes (invalid UTF-8 replaced, so non-ASCII and control
//! characters come up): no panic; an accepted input normalises to a string that re-parses to an
//! equal reference, whose accessors are consistent slices of `as_str()`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_auth_fuzz::checks::check_reference;

fuzz_target!(|data: &[u8]| {
    check_reference(&String::from_utf8_lossy(data));
});

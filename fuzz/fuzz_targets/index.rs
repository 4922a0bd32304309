//! `PatternIndex` against the plain-scan oracle (`pattern::best_match`): up to 32 patterns and
//! 8 references drawn from a small alphabet weighted toward valid syntax (see `input.rs`), the
//! parsable ones kept; `best_match` and `best_match_by` (with an accept mask) must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_auth_fuzz::checks::check_index;
use registry_auth_fuzz::input::IndexInput;

fuzz_target!(|input: IndexInput| {
    let (patterns, references) = input.strings();
    check_index(&patterns, &references, input.accepted);
});

//! Shared code of the fuzz targets: the checked properties ([`checks`], also included by the
//! root crate's `tests/fuzz_regressions.rs`) and the structured input of the `index` target.

pub mod checks;
pub mod input;

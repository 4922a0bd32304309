//! `registry-auth check FILE --live`: every image of a `valohai.yaml` proved against its
//! registry with the credential its entry gives (see [`live`](crate::live)), with a progress
//! line per image while it runs.

use std::io::Write;

use super::Setup;
use crate::live::{ImageCheck, DEFAULT_CONCURRENCY};
use crate::valohai::{LiveReport, ValohaiFile};
use crate::Error;

/// Checks every image of `file` with `setup`'s configuration, AWS settings, disk store and
/// context. While it runs, one line per image goes to `progress` when `is_terminal` says a
/// person watches it (the caller passes whether stderr is a terminal); nothing otherwise, so
/// logs and pipes get only the report.
///
/// # Errors
///
/// The configuration cannot be loaded, or a resolver cannot be built from it. Everything found
/// about an image is in the report.
pub async fn live(
    setup: &Setup,
    file: &ValohaiFile,
    progress: &mut dyn Write,
    is_terminal: bool,
) -> Result<LiveReport, Error> {
    let config = setup.load_config()?;
    let resolver = setup.resolver(&config)?;
    let report = file
        .check_live(
            &resolver,
            &setup.context,
            DEFAULT_CONCURRENCY,
            |done, total, check| {
                if is_terminal {
                    let _ = writeln!(progress, "{}", progress_line(done, total, check));
                    let _ = progress.flush();
                }
            },
        )
        .await;
    Ok(report)
}

/// `[2/5] permission missing    IMAGE`: one image done.
pub fn progress_line(done: usize, total: usize, check: &ImageCheck) -> String {
    format!(
        "[{done}/{total}] {:<22} {}",
        check.verdict.label(),
        check.image
    )
}

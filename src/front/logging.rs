//! How the front ends log: to stderr, at `warn` unless `REGISTRY_AUTH_LOG` or `-v`/`-q` say
//! otherwise, in colour only on a terminal without `NO_COLOR`; and, when
//! `REGISTRY_AUTH_LOG_FILE` names a file, to that file too, because docker discards a
//! helper's stderr on some paths (the daemon, BuildKit) and a failure would leave no trace.
//!
//! The log file is appended to, created `0600`, and refused (with a warning on stderr) when it
//! is a symbolic link, not a regular file, owned by another user, or open to group or others:
//! several helper processes write to it, and it must not become a way to write through
//! someone else's link. Each line carries the time and the process id. Secrets never reach
//! the log at any level (the AWS SDK's TRACE events are filtered out by the library).

use std::ffi::OsString;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use super::LOG_VAR;

/// A file that receives the log as well as stderr (see the [module documentation](self)).
pub const LOG_FILE_VAR: &str = "REGISTRY_AUTH_LOG_FILE";
/// The tracing target of [`report`]: failures already written to stderr by the caller, so the
/// stderr log leaves them out and only the log file records them.
const REPORT_TARGET: &str = "registry_auth::report";

/// How much the user asked to see, from `-q` and `-v`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// `-q`: errors only.
    Quiet,
    /// `REGISTRY_AUTH_LOG` when set, else `warn`.
    #[default]
    Normal,
    /// `-v` (info), `-vv` (debug), `-vvv` (trace).
    Verbose(u8),
}

impl Verbosity {
    /// From the count of `-v` flags and whether `-q` was given.
    pub fn from_flags(verbose: u8, quiet: bool) -> Self {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, n) => Verbosity::Verbose(n),
        }
    }
}

/// The filter directives for `verbosity`, given `REGISTRY_AUTH_LOG`'s value. Flags beat the
/// variable: `-v` on a machine with `REGISTRY_AUTH_LOG=error` still shows more.
fn directives(verbosity: Verbosity, env: Option<&str>) -> String {
    match verbosity {
        Verbosity::Quiet => "error".to_owned(),
        Verbosity::Verbose(1) => "info".to_owned(),
        Verbosity::Verbose(2) => "debug".to_owned(),
        Verbosity::Verbose(_) => "trace".to_owned(),
        Verbosity::Normal => env
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or("warn")
            .to_owned(),
    }
}

/// Colour on stderr only when it is a terminal and `NO_COLOR` is unset or empty (as
/// no-color.org defines it).
pub fn use_color(stderr_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Logs to stderr at `warn`, or as `REGISTRY_AUTH_LOG` says (an `EnvFilter` directive such as
/// `debug` or `registry_auth=trace`), and to `REGISTRY_AUTH_LOG_FILE` when set.
pub fn init_tracing() {
    init_logging(Verbosity::Normal);
}

/// [`init_tracing`] with `-v`/`-q` applied.
pub fn init_logging(verbosity: Verbosity) {
    let env = std::env::var(LOG_VAR).ok();
    let mut wanted = directives(verbosity, env.as_deref());
    let mut bad_directive = None;
    if EnvFilter::try_new(&wanted).is_err() {
        bad_directive = Some(wanted);
        wanted = "warn".to_owned();
    }
    let filter = || EnvFilter::new(&wanted);
    let ansi = use_color(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .with_filter(filter().and(filter_fn(|meta| meta.target() != REPORT_TARGET)));

    let file_path = std::env::var_os(LOG_FILE_VAR)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let (file, refused) = match file_path.as_deref().map(open_log_file) {
        Some(Ok(file)) => (Some(file), None),
        Some(Err(reason)) => (None, Some(reason)),
        None => (None, None),
    };
    let file_layer = file.map(|file| {
        tracing_subscriber::fmt::layer()
            .with_writer(Mutex::new(file))
            .with_ansi(false)
            .with_target(false)
            .with_timer(TimeAndPid)
            .with_filter(filter())
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();

    if let Some(bad) = bad_directive {
        tracing::warn!("{LOG_VAR}={bad:?} is not a log filter (try `debug` or `registry_auth=trace`); logging at warn");
    }
    if let (Some(path), Some(reason)) = (file_path, refused) {
        tracing::warn!(
            "not logging to {LOG_FILE_VAR}={}: {reason}; logging to stderr only",
            path.display()
        );
    }
}

/// A failure the caller must see: one line on `err` (the process's stderr, prefixed with
/// `who`), and the same line in the log file when one is set. The stderr log leaves it out, so
/// it is on stderr exactly once.
pub fn report(err: &mut impl Write, who: &str, message: &str) {
    let _ = writeln!(err, "{who}: {message}");
    tracing::error!(target: REPORT_TARGET, "{message}");
}

/// RFC 3339 time and the process id: many helper processes append to one file.
struct TimeAndPid;

impl FormatTime for TimeAndPid {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        tracing_subscriber::fmt::time::SystemTime.format_time(w)?;
        write!(w, " [{}]", std::process::id())
    }
}

/// Opens the log file for appending, as the [module documentation](self) says; the error is
/// the reason it was refused.
#[cfg(unix)]
pub(crate) fn open_log_file(path: &Path) -> Result<File, String> {
    use rustix::fs::OFlags;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    // No following a link at the last component; no blocking on a FIFO without a reader.
    let flags = i32::try_from((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits()).unwrap_or(0);
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                "it is a symbolic link; name the file itself".to_owned()
            } else {
                format!("cannot open it: {e}")
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot inspect it: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".to_owned());
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "it is owned by uid {}, not by this user (uid {me})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "its mode is {mode:04o}, open to group or others; run chmod 600 on it"
        ));
    }
    Ok(file)
}

/// Without Unix modes and owners there is nothing to check: the file is opened for appending
/// in the user's own directory, as named.
#[cfg(not(unix))]
pub(crate) fn open_log_file(path: &Path) -> Result<File, String> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| format!("cannot open it: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_variable_which_beats_the_default() {
        assert_eq!(directives(Verbosity::Normal, None), "warn");
        assert_eq!(directives(Verbosity::Normal, Some("  ")), "warn");
        assert_eq!(
            directives(Verbosity::Normal, Some("registry_auth=trace")),
            "registry_auth=trace"
        );
        assert_eq!(directives(Verbosity::Quiet, Some("debug")), "error");
        assert_eq!(directives(Verbosity::Verbose(1), Some("error")), "info");
        assert_eq!(directives(Verbosity::Verbose(2), None), "debug");
        assert_eq!(directives(Verbosity::Verbose(9), None), "trace");
        assert_eq!(Verbosity::from_flags(0, false), Verbosity::Normal);
        assert_eq!(Verbosity::from_flags(2, false), Verbosity::Verbose(2));
        assert_eq!(Verbosity::from_flags(0, true), Verbosity::Quiet);
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_color(true, None));
        assert!(use_color(true, Some("".into())));
        assert!(!use_color(true, Some("1".into())));
        assert!(!use_color(false, None));
        assert!(!use_color(false, Some("1".into())));
    }

    #[cfg(unix)]
    #[test]
    fn the_log_file_is_created_0600_appended_and_refused_when_unsafe() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("helper.log");
        writeln!(open_log_file(&path).unwrap(), "one").unwrap();
        writeln!(open_log_file(&path).unwrap(), "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = open_log_file(&path).unwrap_err();
        assert!(e.contains("0644") && e.contains("chmod 600"), "{e}");

        let target = dir.path().join("target.log");
        std::fs::write(&target, "").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open_log_file(&link).unwrap_err();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "");

        let e = open_log_file(dir.path()).unwrap_err();
        assert!(
            e.contains("cannot open") || e.contains("not a regular"),
            "{e}"
        );
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        assert!(open_log_file(&fifo).is_err(), "a FIFO without a reader");
    }
}

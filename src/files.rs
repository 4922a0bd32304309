//! Reading files a user points at (a configuration, a secret, a `valohai.yaml`): regular files
//! only, never blocking, never more than a stated size.
//!
//! A path that names `/dev/zero`, a FIFO or a huge file must end in an error that names the file
//! and the limit, not in a process that reads forever, waits forever or eats the machine's
//! memory. So the file is opened without blocking (`O_NONBLOCK` on Unix, which makes opening a
//! FIFO return at once), checked to be a regular file before a byte is read, and read up to one
//! byte past its cap.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Opening or reading failed.
    Io(io::Error),
    /// Not a regular file (a directory, a FIFO, a device).
    NotRegular,
    /// Larger than the cap, in bytes.
    TooLarge(u64),
    /// Not UTF-8.
    NotText,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular => f.write_str(
                "it is not a regular file (a directory, a pipe or a device); point at a file",
            ),
            ReadError::TooLarge(cap) => write!(
                f,
                "it is larger than {}, more than such a file can be",
                human_size(*cap)
            ),
            ReadError::NotText => f.write_str("it is not UTF-8 text"),
        }
    }
}

/// Warns when the file at `path`, which holds `what` (a private key), can be read or written
/// by group or others: a key file should be its owner's alone.
#[cfg(any(feature = "gcp", feature = "azure"))]
pub(crate) fn warn_if_shared(path: &Path, what: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "{}: holds {what} and is readable or writable by group or others (mode {mode:04o}): run chmod 600 on it",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
}

/// `16 MiB`, `64 KiB`, `100 bytes`.
fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// The whole text of the regular file at `path`, at most `cap` bytes.
pub(crate) fn read_text(path: &Path, cap: u64) -> Result<String, ReadError> {
    let file = open_nonblocking(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge(cap));
    }
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotText)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = i32::try_from(rustix::fs::OFlags::NONBLOCK.bits()).unwrap_or(0);
    OpenOptions::new().read(true).custom_flags(flags).open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_directories_and_big_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_text(dir.path(), 10),
            Err(ReadError::NotRegular)
        ));
        #[cfg(unix)]
        assert!(matches!(
            read_text(Path::new("/dev/zero"), 10),
            Err(ReadError::NotRegular)
        ));
        let big = dir.path().join("big");
        std::fs::write(&big, "x".repeat(11)).unwrap();
        let e = read_text(&big, 10).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge(10)));
        assert_eq!(
            e.to_string(),
            "it is larger than 10 bytes, more than such a file can be"
        );
        assert_eq!(read_text(&big, 11).unwrap(), "x".repeat(11));
        assert_eq!(human_size(16 << 20), "16 MiB");
        assert_eq!(human_size(64 << 10), "64 KiB");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        assert!(matches!(read_text(&fifo, 10), Err(ReadError::NotRegular)));
    }
}

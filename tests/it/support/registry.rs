//! A password-checking registry (Debian's docker-registry, started by `scripts/registry`) for
//! the real-pull tests. Each one has its own state directory and is stopped, by its PID, when
//! dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running registry with one htpasswd user (`AWS` unless started with another).
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    state: tempfile::TempDir,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/registry")
}

impl Registry {
    /// Starts a registry whose user `AWS` has `password`. The password goes to the script in a
    /// 0600 file, never on a command line.
    pub fn start(password: &str) -> Registry {
        Self::start_as("AWS", password)
    }

    /// Starts a registry whose one user is `user`, with `password`.
    pub fn start_as(user: &str, password: &str) -> Registry {
        let state = tempfile::tempdir().expect("temp dir");
        let password_file = state.path().join("given-password");
        super::write_private(&password_file, password);
        let out = Command::new(script())
            .arg("start")
            .env("REGISTRY_STATE_DIR", state.path().join("registry"))
            .env("REGISTRY_PASSWORD_FILE", &password_file)
            .env("REGISTRY_USER", user)
            .output()
            .expect("run scripts/registry start");
        let _ = std::fs::remove_file(&password_file);
        // The guard exists from here on, so a failed assertion below still stops it.
        let mut registry = Registry {
            addr: String::new(),
            state,
        };
        assert!(
            out.status.success(),
            "scripts/registry start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(registry.state_dir().join("env")).expect("registry env");
        registry.addr = env
            .lines()
            .find_map(|l| l.strip_prefix("REGISTRY_ADDR="))
            .expect("REGISTRY_ADDR")
            .to_owned();
        registry
    }

    fn state_dir(&self) -> PathBuf {
        self.state.path().join("registry")
    }

    /// Pushes the tiny image as `name_tag` (`tiny:v1`); returns its manifest digest.
    pub fn push(&self, name_tag: &str) -> String {
        let out = self.run(&["push", name_tag]);
        assert!(
            out.status.success(),
            "scripts/registry push failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The registry's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("registry.log")).unwrap_or_default()
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(script())
            .args(args)
            .env("REGISTRY_STATE_DIR", self.state_dir())
            .output()
            .expect("run scripts/registry")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // `stop` signals only the PID in the state directory's pid file, after checking that it
        // is this registry; it is a no-op when nothing runs.
        let _ = self.run(&["stop"]);
    }
}

/// Writes `text` to a new 0600 file (for secrets the tests hand to other processes).
pub fn write_private_file(path: &Path, text: &str) {
    super::write_private(path, text);
}

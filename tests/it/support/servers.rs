//! The loopback test servers of `scripts/` that the credential-source tests start: ECR Public
//! (`ecr_public_server.py`), ECS/EKS container credentials (`container_credentials_server.py`)
//! and a second moto with its IAM checks off (`moto_open_server.py`), for the unsigned
//! `AssumeRoleWithWebIdentity` that moto answers with a 500 when its checks are on.
//!
//! Each runs under the emulator venv's python with `--exit-on-stdin-eof` and a piped stdin, so
//! it dies with the test process even after a panic, and is killed, by its own PID, when
//! dropped.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};

use super::Emulator;

/// A running `scripts/NAME.py`.
pub struct ScriptServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    child: Child,
}

impl ScriptServer {
    /// Starts `scripts/<script>` with `args`, and waits for its `PORT` line.
    pub fn start<I, S>(emu: &Emulator, script: &str, args: I) -> ScriptServer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("scripts")
            .join(script);
        let mut child = Command::new(emu.var("MOTO_PYTHON"))
            .arg(&path)
            .args(args)
            .arg("--exit-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("{script} said {line:?}"))
            .to_owned();
        ScriptServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    /// The server's `/_test/stats`.
    pub fn stats(&self) -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/_test/stats", self.endpoint)])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The second moto, IAM checks off, shared by the tests that run at the same time and stopped
/// when the last of them ends.
pub fn open_moto(emu: &Emulator) -> Arc<ScriptServer> {
    static SHARED: Mutex<Weak<ScriptServer>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = shared.upgrade() {
        return s;
    }
    let server = Arc::new(ScriptServer::start(
        emu,
        "moto_open_server.py",
        std::iter::empty::<&str>(),
    ));
    *shared = Arc::downgrade(&server);
    server
}

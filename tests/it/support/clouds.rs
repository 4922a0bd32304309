//! The Google and Azure sides of the tests: loopback servers that speak each protocol
//! (`scripts/gcp_server.py`, `scripts/entra_server.py`, `scripts/acr_server.py`) and key
//! material made fresh per run by `scripts/cloud_fixture.py`. Neither cloud has an emulator
//! here; these servers check what the providers send (signatures against the keys' public
//! halves, audiences, scopes, lifetimes, headers) and the registry behind the ACR front is the
//! real `docker-registry`.
//!
//! They run on the emulator venv's python (it has `cryptography`, which moto depends on), and
//! are stopped, by their child handle, when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The emulator venv's python: `scripts/emulator install` (run by `scripts/test`) makes it.
pub fn python() -> PathBuf {
    let python = repo().join(".venv/emulator/bin/python");
    assert!(
        python.exists(),
        "{}: missing. Install the test venv first: scripts/emulator install (scripts/test does it)",
        python.display()
    );
    python
}

/// Runs `scripts/cloud_fixture.py ARGS` and returns its JSON.
pub fn fixture(args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(repo().join("scripts/cloud_fixture.py"))
        .args(args)
        .output()
        .expect("run cloud_fixture.py");
    assert!(
        out.status.success(),
        "cloud_fixture.py {:?} failed: {}",
        args.first(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("fixture JSON")
}

/// A loopback test server, killed when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    child: Child,
}

impl Server {
    /// Starts `scripts/SCRIPT ARGS` and waits for its `PORT n` line.
    pub fn start(script: &str, args: &[String]) -> Server {
        let mut child = Command::new(python())
            .arg(repo().join("scripts").join(script))
            .args(["--port", "0", "--exit-on-stdin-eof"])
            .args(args)
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
        Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            addr: format!("127.0.0.1:{port}"),
            child,
        }
    }

    /// Request counts per path, from the server's `/_test/stats`.
    pub fn stats(&self) -> Value {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/_test/stats", self.endpoint)])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// How many requests reached `path`.
    pub fn count(&self, path: &str) -> u64 {
        self.stats()[path].as_u64().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `value` as JSON to a new 0600 file `dir/name`, and returns its path as a string.
pub fn write_json(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    super::write_private(&path, &value.to_string());
    path.display().to_string()
}

/// The `exp` claim of a JWT, read as the providers read it (unverified).
pub fn jwt_exp(token: &str) -> u64 {
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .unwrap(),
    )
    .unwrap();
    claims["exp"].as_u64().expect("exp")
}

/// Writes a registry-auth configuration (0600) to `dir/name` and returns its path.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    super::write_private(&path, text);
    path
}

/// `skopeo copy` of `addr/tiny:v1` into an OCI layout under `work`, with an auth file that
/// names only the docker credential helper for `addr`, the helper reading `config`, and
/// `envs` added to the helper's environment (it inherits skopeo's).
pub fn skopeo_pull(
    work: &Path,
    config: &Path,
    addr: &str,
    envs: &[(&str, &str)],
) -> (std::process::Output, PathBuf) {
    std::fs::create_dir_all(work).unwrap();
    let auth = work.join("auth.json");
    std::fs::write(
        &auth,
        serde_json::json!({ "credHelpers": { addr: "registry-auth" } }).to_string(),
    )
    .unwrap();
    let helper = Path::new(env!("CARGO_BIN_EXE_docker-credential-registry-auth"));
    let path = format!(
        "{}:{}",
        helper.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out_dir = work.join("pulled");
    let output = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--authfile",
        ])
        .arg(&auth)
        .arg(format!("docker://{addr}/tiny:v1"))
        .arg(format!("oci:{}:pulled", out_dir.display()))
        .env_clear()
        .env("PATH", path)
        .env("HOME", work)
        .env("XDG_RUNTIME_DIR", work)
        .env("XDG_CACHE_HOME", work.join("cache"))
        .env("REGISTRY_AUTH_CONFIG", config)
        .envs(envs.iter().copied())
        .output()
        .expect("run skopeo");
    (output, out_dir)
}

/// The manifest digest an OCI layout written by skopeo names.
pub fn pulled_digest(layout: &Path) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

/// stdout and stderr of a child, for assertion messages.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `registry-auth ARGS` with a clean environment plus `envs`.
pub fn cli(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_registry-auth"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(envs.iter().copied())
        .output()
        .expect("run registry-auth")
}

/// Runs `registry-auth kubelet --config CONFIG` with `request` on stdin; returns the parsed
/// response, failing with stderr when it exits non-zero.
pub fn kubelet(config: &Path, home: &Path, image: &str, envs: &[(&str, &str)]) -> Value {
    let request = serde_json::json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": image,
    });
    let out = super::run_with_input(
        Command::new(env!("CARGO_BIN_EXE_registry-auth"))
            .arg("kubelet")
            .arg("--config")
            .arg(config)
            .env_clear()
            .env("HOME", home)
            .env("XDG_CACHE_HOME", home.join("kubelet-cache"))
            .envs(envs.iter().copied()),
        request.to_string().as_bytes(),
    );
    assert!(out.status.success(), "kubelet: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

//! `registry-auth`'s contract with scripts: exit codes (0 success, 1 no entry, 2 bad input, 3
//! upstream), and what it refuses before doing anything.

use std::process::{Command, Output};

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn run(args: &[&str], config: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registries.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_registry-auth"))
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .env("REGISTRY_AUTH_CONFIG", &path)
        // Nothing may be asked upstream in these tests: a closed port.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const ONE_ENTRY: &str = r#"
[[registry]]
pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/*"
iam_user = { access_key_id = "AKIAIOSFODNN7EXAMPLE", secret_access_key = { env = "REGISTRY_AUTH_TEST_CLI_SECRET" }, region = "us-east-1" }
"#;

#[test]
fn get_exits_1_for_no_entry_2_for_bad_input_and_3_for_upstream() {
    // No entry serves it.
    let out = run(&["get", "quay.io/x/y"], ONE_ENTRY);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no registry entry matches"),
        "{}",
        stderr(&out)
    );
    // Bad input: the image, the configuration, a secret that is not there.
    let out = run(&["get", "Not/A:::ref"], ONE_ENTRY);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(
        &["get", &format!("{ECR}/app")],
        "[[registry]]\npattern = 5\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(&["get", &format!("{ECR}/app")], ONE_ENTRY);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("REGISTRY_AUTH_TEST_CLI_SECRET"),
        "{}",
        stderr(&out)
    );
    // Upstream: nothing listens there.
    let config = ONE_ENTRY.replace(
        "{ env = \"REGISTRY_AUTH_TEST_CLI_SECRET\" }",
        "\"not-a-real-secret\"",
    );
    let out = run(&["get", "--json", &format!("{ECR}/app")], &config);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "upstream", "{v}");
    assert!(v["error"].as_str().unwrap().contains("127.0.0.1:9"), "{v}");
}

#[test]
fn repeated_patterns_are_refused() {
    let out = run(
        &[
            "explain",
            "--pattern",
            &format!("{ECR}/*"),
            "--pattern",
            &format!("{}/*", ECR.to_ascii_uppercase()),
            &format!("{ECR}/app"),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--pattern #1") && stderr(&out).contains("--pattern #0"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_file_mode_warning_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registries.toml");
    std::fs::write(
        &path,
        ONE_ENTRY.replace(
            "{ env = \"REGISTRY_AUTH_TEST_CLI_SECRET\" }",
            "\"inline-secret\"",
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_registry-auth"))
        .args(["get", &format!("{ECR}/app")])
        .arg("--config")
        .arg(&path)
        .env_clear()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(
        stderr(&out).matches("chmod 600").count(),
        1,
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_reader_that_went_away_ends_the_output_quietly_without_a_panic() {
    // The read end is closed before the process starts, so its first line meets a broken pipe.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_registry-auth"))
        .args([
            "policy",
            "--region",
            "us-east-1",
            "--account",
            "123456789012",
            "--repository",
            "my-ml-image",
        ])
        .env_clear()
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
}

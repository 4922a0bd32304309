//! What an operator sets, through the built binaries: which configuration file is found and
//! why (the same search for every subcommand and both binaries), the disk-cache switches on
//! `get` and `kubelet`, `-v`/`-q`, colour only on a terminal without `NO_COLOR`, and the note
//! a slow `get` prints on a terminal. Terminals are real pseudo-terminals, from `script(1)`.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::proxy::{Fault, Proxy};
use support::{pull_policy, Emulator};

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const PASSWORD: &str = "123456789012-auth-token";
const GET_TOKEN: &str = "GetAuthorizationToken";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `command` (a shell command line) under `script`, on a pseudo-terminal: its stdout and
/// stderr both go to the terminal, whose output is returned with the exit status.
pub fn on_a_terminal(command: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new("script")
        .args(["-q", "-e", "-c", command, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("script(1), from util-linux");
    (out.status.code(), text(&out.stdout))
}

/// A home directory with nothing in it, for the configuration search.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` at `relative` (parents created) and returns the path.
    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `registry-auth ARGS` with only HOME (and `env`) set.
    fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_registry-auth"))
            .args(args)
            .env_clear()
            .env("HOME", self.path())
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

/// One entry for the ECR host, with an inline secret (nothing here asks AWS).
const OFFLINE_CONFIG: &str = r#"
[[registry]]
pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/*"
iam_user = { access_key_id = "AKIAIOSFODNN7EXAMPLE", secret_access_key = "not-a-real-secret", region = "us-east-1" }
"#;

#[test]
fn config_path_follows_flag_variable_xdg_home_and_says_why() {
    let home = Home::new();
    let default_user = home.path().join(".config/registry-auth/registries.toml");

    // Nothing anywhere (this machine has no /etc/registry-auth): exit 1, every place named.
    let out = home.cli(&["config", "path"], &[]);
    if !Path::new("/etc/registry-auth/registries.toml").exists() {
        assert_eq!(out.status.code(), Some(1));
        let said = text(&out.stderr);
        assert!(
            said.contains(&default_user.display().to_string())
                && said.contains("/etc/registry-auth/registries.toml")
                && said.contains("--config"),
            "{said}"
        );
    }

    // ~/.config when XDG_CONFIG_HOME is unset.
    home.write(".config/registry-auth/registries.toml", OFFLINE_CONFIG);
    let out = home.cli(&["config", "path"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let mut lines = said.lines();
    assert_eq!(lines.next(), Some(default_user.to_str().unwrap()));
    assert!(lines.next().unwrap().contains("per-user file"), "{said}");

    // $XDG_CONFIG_HOME wins over ~/.config once set, and is named as the reason.
    let xdg = home.path().join("xdg");
    let xdg_file = home.write("xdg/registry-auth/registries.toml", OFFLINE_CONFIG);
    let xdg_env = [("XDG_CONFIG_HOME", xdg.to_str().unwrap())];
    let out = home.cli(&["config", "path", "--json"], &xdg_env);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["path"], xdg_file.to_str().unwrap());
    assert!(
        v["reason"].as_str().unwrap().contains("XDG_CONFIG_HOME"),
        "{v}"
    );
    assert_eq!(v["exists"], true);

    // The variable beats both, even naming a file that is not there (a typo is reported).
    let missing = home.path().join("typo.toml");
    let env = [
        ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
        ("REGISTRY_AUTH_CONFIG", missing.to_str().unwrap()),
    ];
    let out = home.cli(&["config", "path"], &env);
    let said = text(&out.stdout);
    assert!(
        said.starts_with(missing.to_str().unwrap())
            && said.contains("REGISTRY_AUTH_CONFIG")
            && said.contains("does not exist"),
        "{said}"
    );
    // And --config beats the variable.
    let out = home.cli(
        &["config", "path", "--config", default_user.to_str().unwrap()],
        &env,
    );
    let said = text(&out.stdout);
    assert!(
        said.starts_with(default_user.to_str().unwrap()) && said.contains("--config"),
        "{said}"
    );
}

#[test]
fn every_subcommand_and_both_binaries_find_the_same_file() {
    let home = Home::new();
    let xdg = home.path().join("xdg");
    home.write("xdg/registry-auth/registries.toml", OFFLINE_CONFIG);
    let env = [("XDG_CONFIG_HOME", xdg.to_str().unwrap())];
    let image = format!("{HOST}/app:v1");

    let out = home.cli(&["explain", &image], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("served by entry 0"));

    let valohai = home.write(
        "valohai.yaml",
        &format!("- step:\n    name: train\n    image: {image}\n    command: python train.py\n"),
    );
    let out = home.cli(&["check", valohai.to_str().unwrap()], &env);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let out = home.cli(&["policy"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ecr:GetAuthorizationToken"));

    // `get` goes as far as AWS (a closed port here): it found the file and its entry.
    let out = home.cli(&["get", "--no-disk-cache", &image], &env);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    // The kubelet plugin: the same file, as far as AWS.
    let mut kubelet = Command::new(env!("CARGO_BIN_EXE_registry-auth"));
    kubelet
        .args(["kubelet", "--no-disk-cache"])
        .env_clear()
        .env("HOME", home.path())
        .envs(env)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let request = serde_json::json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": image,
    });
    let out = fed(kubelet, &request.to_string());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("127.0.0.1:9"),
        "{}",
        text(&out.stderr)
    );

    // The docker helper: `list` reads the same file.
    let mut helper = Command::new(env!("CARGO_BIN_EXE_docker-credential-registry-auth"));
    helper
        .arg("list")
        .env_clear()
        .env("HOME", home.path())
        .envs(env);
    let out = fed(helper, "");
    assert!(out.status.success(), "{}", text(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({ format!("https://{HOST}"): "AWS" }));

    // Nothing to find: every front end names the places it looked.
    let empty = Home::new();
    if !Path::new("/etc/registry-auth/registries.toml").exists() {
        for args in [
            vec!["explain", image.as_str()],
            vec!["get", image.as_str()],
            vec!["policy"],
        ] {
            let out = empty.cli(&args, &[]);
            assert!(!out.status.success(), "{args:?}");
            assert!(
                text(&out.stderr).contains(".config/registry-auth/registries.toml"),
                "{args:?}: {}",
                text(&out.stderr)
            );
        }
    }
}

/// Runs `command` with `input` on stdin and stdout/stderr captured.
fn fed(mut command: Command, input: &str) -> Output {
    support::run_with_input(&mut command, input.as_bytes())
}

#[test]
fn verbose_and_quiet_move_the_log_level_and_a_bad_filter_is_named() {
    let home = Home::new();
    let config = home.write("registries.toml", OFFLINE_CONFIG);
    {
        use std::os::unix::fs::PermissionsExt;
        // Inline secret in a 0644 file: a warning at the default level.
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let env = [("REGISTRY_AUTH_CONFIG", config.to_str().unwrap())];
    let image = format!("{HOST}/app");

    let out = home.cli(&["explain", &image], &env);
    assert_eq!(text(&out.stderr).matches("chmod 600").count(), 1);
    assert!(!text(&out.stderr).contains("INFO"));

    let out = home.cli(&["-q", "explain", &image], &env);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    // Flags beat the variable.
    let loud = [env[0], ("REGISTRY_AUTH_LOG", "debug")];
    let out = home.cli(&["explain", "--quiet", &image], &loud);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    let out = home.cli(&["-v", "explain", &image], &env);
    let said = text(&out.stderr);
    assert!(
        said.contains("INFO") && said.contains(config.to_str().unwrap()),
        "{said}"
    );
    assert!(said.contains("named by REGISTRY_AUTH_CONFIG"), "{said}");
    let out = home.cli(&["explain", "-vv", &image], &env);
    assert!(text(&out.stderr).contains("INFO"), "debug includes info");

    let out = home.cli(&["-v", "-q", "explain", &image], &env);
    assert_eq!(out.status.code(), Some(2), "-v and -q conflict");

    let bad = [env[0], ("REGISTRY_AUTH_LOG", "registry_auth=loud")];
    let out = home.cli(&["explain", &image], &bad);
    let said = text(&out.stderr);
    assert!(
        said.contains("REGISTRY_AUTH_LOG") && said.contains("not a log filter"),
        "{said}"
    );
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let home = Home::new();
    let config = home.write("registries.toml", OFFLINE_CONFIG);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let line = format!("{} explain {HOST}/app", env!("CARGO_BIN_EXE_registry-auth"));
    let env = [
        ("HOME", home.path().to_str().unwrap()),
        ("REGISTRY_AUTH_CONFIG", config.to_str().unwrap()),
    ];
    const ESC: &str = "\u{1b}[";

    let (code, screen) = on_a_terminal(&line, &env);
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("chmod 600"), "{screen}");
    assert!(screen.contains(ESC), "a terminal gets colour: {screen:?}");

    let no_color = [env[0], env[1], ("NO_COLOR", "1")];
    let (_, screen) = on_a_terminal(&line, &no_color);
    assert!(screen.contains("chmod 600"), "{screen}");
    assert!(!screen.contains(ESC), "NO_COLOR: {screen:?}");

    // Not a terminal: plain text.
    let out = home.cli(
        &["explain", &format!("{HOST}/app")],
        &[("REGISTRY_AUTH_CONFIG", config.to_str().unwrap())],
    );
    assert!(text(&out.stderr).contains("chmod 600"));
    assert!(!text(&out.stderr).contains(ESC));
}

/// An IAM user with the pull policy behind a counting proxy, and its configuration.
struct Upstream {
    proxy: Proxy,
    home: Home,
    config: PathBuf,
}

fn upstream(name: &str) -> Upstream {
    let emu = Emulator::get();
    let user = emu.user(name, Some(&pull_policy()));
    let home = Home::new();
    let config = home.write(
        "registries.toml",
        &format!(
            "[[registry]]\npattern = \"{HOST}/*\"\niam_user = {{ access_key_id = \"{}\", secret_access_key = \"{}\", region = \"us-east-1\" }}\n",
            user.access_key_id, user.secret_access_key
        ),
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    Upstream {
        proxy: Proxy::start(&emu.endpoint),
        home,
        config,
    }
}

impl Upstream {
    fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("REGISTRY_AUTH_CONFIG", self.config.to_str().unwrap()),
            ("AWS_ENDPOINT_URL", self.proxy.endpoint.as_str()),
        ]
    }

    fn get(&self, flags: &[&str], env: &[(&str, &str)]) -> Output {
        let image = format!("{HOST}/app");
        let mut args = vec!["get", "--json", "--show-password"];
        args.extend_from_slice(flags);
        args.push(&image);
        let mut all = self.env();
        all.extend_from_slice(env);
        self.home.cli(&args, &all)
    }

    fn kubelet(&self, flags: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_registry-auth"));
        command
            .arg("kubelet")
            .args(flags)
            .env_clear()
            .env("HOME", self.home.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(self.env())
            .envs(env.iter().copied());
        let request = serde_json::json!({
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderRequest",
            "image": format!("{HOST}/app:v1"),
        });
        fed(command, &request.to_string())
    }
}

fn password(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["password"]
        .as_str()
        .or_else(|| v["auth"][HOST]["password"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn get_and_kubelet_take_the_cache_switches_as_flags_or_variables() {
    let u = upstream("operator-cache-switches");
    let default_dir = u.home.path().join(".cache/registry-auth");
    let flagged = u.home.path().join("flagged");
    let flag_dir = ["--cache-dir", flagged.to_str().unwrap()];

    // `get` keeps tokens on disk now, where --cache-dir says; the kubelet then shares them.
    assert_eq!(password(&u.get(&flag_dir, &[])), PASSWORD);
    assert_eq!(password(&u.get(&flag_dir, &[])), PASSWORD);
    assert_eq!(password(&u.kubelet(&flag_dir, &[])), PASSWORD);
    assert_eq!(u.proxy.count(GET_TOKEN), 1, "{:?}", u.proxy.counts());
    assert!(flagged.join("identity.key").exists() || flagged.is_dir());
    assert!(!default_dir.exists());

    // --no-disk-cache and REGISTRY_AUTH_NO_DISK_CACHE: every run asks upstream.
    assert_eq!(password(&u.get(&["--no-disk-cache"], &[])), PASSWORD);
    assert_eq!(password(&u.kubelet(&["--no-disk-cache"], &[])), PASSWORD);
    let off = [("REGISTRY_AUTH_NO_DISK_CACHE", "1")];
    assert_eq!(password(&u.get(&[], &off)), PASSWORD);
    assert_eq!(password(&u.kubelet(&[], &off)), PASSWORD);
    assert_eq!(u.proxy.count(GET_TOKEN), 5);
    assert!(!default_dir.exists());

    // REGISTRY_AUTH_CACHE_DIR moves it for both; the flag beats the variable.
    let by_var = u.home.path().join("by-var");
    let var = [("REGISTRY_AUTH_CACHE_DIR", by_var.to_str().unwrap())];
    assert_eq!(password(&u.kubelet(&[], &var)), PASSWORD);
    assert_eq!(password(&u.get(&[], &var)), PASSWORD);
    assert_eq!(u.proxy.count(GET_TOKEN), 6);
    assert!(by_var.is_dir());
    assert_eq!(password(&u.get(&flag_dir, &var)), PASSWORD);
    assert_eq!(u.proxy.count(GET_TOKEN), 6, "the flagged directory's token");

    // And with no switch at all, the default directory.
    assert_eq!(password(&u.get(&[], &[])), PASSWORD);
    assert!(default_dir.is_dir());
    assert_eq!(
        u.home
            .cli(&["get", "--no-disk-cache", "--cache-dir", "x", "a"], &[])
            .status
            .code(),
        Some(2),
        "the two flags conflict"
    );
}

#[test]
fn a_slow_cli_get_says_what_it_waits_for_once_on_a_terminal_unless_quiet() {
    let u = upstream("operator-slow");
    u.proxy.set_hook(|r| {
        if r.action == GET_TOKEN {
            Fault::delay(Duration::from_secs(3))
        } else {
            Fault::default()
        }
    });
    let mut env = u.env();
    env.extend([
        ("HOME", u.home.path().to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]);
    let bin = env!("CARGO_BIN_EXE_registry-auth");
    let (code, screen) = on_a_terminal(&format!("{bin} get --no-disk-cache {HOST}/app"), &env);
    assert_eq!(code, Some(0), "{screen}");
    let note = format!(
        "registry-auth: still waiting after 2 s for an ECR token for {HOST} from AWS (registry[0]: iam_user in us-east-1)"
    );
    assert_eq!(screen.matches(&note).count(), 1, "{screen}");

    let (code, screen) = on_a_terminal(&format!("{bin} -q get --no-disk-cache {HOST}/app"), &env);
    assert_eq!(code, Some(0), "{screen}");
    assert!(!screen.contains("still waiting"), "{screen}");
    assert_eq!(u.proxy.count(GET_TOKEN), 2);
}

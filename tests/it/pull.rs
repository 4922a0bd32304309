//! A real pull, end to end: Debian's docker-registry on 127.0.0.1 checking the password of user
//! `AWS` against the emulator's ECR token, a tiny OCI image pushed into it with skopeo, then
//! pulled (a) by skopeo through the docker credential helper protocol and (b) from Rust by
//! `examples/pull_manifest.rs`, both resolving the credential at moto with an IAM user.
//!
//! A plain registry the same way: a `docker-registry` whose htpasswd user is a robot account,
//! served by a `[registry.basic]` entry (through the helper and `pull_manifest`) and by the
//! robot-account provider of `examples/custom_provider.rs`.
//!
//! The registries are shared by the tests of this file and stopped, by PID, when the last test
//! using them ends.

use crate::support;

#[allow(dead_code)]
#[path = "../../examples/pull_manifest.rs"]
pub(crate) mod pull_manifest;

#[allow(dead_code)]
#[path = "../../examples/custom_provider.rs"]
mod custom_provider;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use pull_manifest::PullError;
use registry_auth::aws::AwsOptions;
use registry_auth::reference::ImageReference;
use registry_auth::RegistryCredential;
use registry_auth::{DefaultResolver, RegistryResolver};

use support::registry::{write_private_file, Registry};
use support::{pull_policy, Emulator, User};

const HELPER: &str = env!("CARGO_BIN_EXE_docker-credential-registry-auth");
/// moto's token for any host that is not an ECR host: the caller's account is the registry id.
const ACCOUNT_TOKEN: &str = "123456789012-auth-token";

/// Two registries: `good` expects the token the emulator gives this account and holds
/// `tiny:v1`; `other` expects another account's token, so this account's is wrong there.
struct Fixture {
    emu: Emulator,
    user: User,
    good: Registry,
    other: Registry,
    digest: String,
    dir: tempfile::TempDir,
}

fn fixture() -> Arc<Fixture> {
    static SHARED: Mutex<Weak<Fixture>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = shared.upgrade() {
        return f;
    }
    let emu = Emulator::get();
    let user = emu.user("puller", Some(&pull_policy()));
    let dir = tempfile::tempdir().unwrap();
    // The registry's password is the token the library gets for this user on a host that is
    // not an ECR host; the pull below resolves it again for the registry's own address.
    let config = write_config(dir.path(), "token-probe", "registry.test/*", &user);
    let resolver = resolver_for(&config, &emu);
    // Its own thread and runtime: async tests call this from inside theirs.
    let password = std::thread::spawn(move || {
        runtime().block_on(async {
            let login = resolver
                .resolve_str("registry.test/probe:v1")
                .await
                .unwrap()
                .credential;
            login.expose_password().to_owned()
        })
    })
    .join()
    .unwrap();
    assert_eq!(password, ACCOUNT_TOKEN, "moto's token for a non-ECR host");
    let good = Registry::start(&password);
    let digest = good.push("tiny:v1");
    let other = Registry::start("210987654321-auth-token");
    let f = Arc::new(Fixture {
        emu,
        user,
        good,
        other,
        digest,
        dir,
    });
    *shared = Arc::downgrade(&f);
    f
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A registry-auth config with one IAM-user entry; the secret sits in a 0600 file beside it.
fn write_config(dir: &Path, name: &str, pattern: &str, user: &User) -> PathBuf {
    let secret = format!("{name}.secret");
    write_private_file(&dir.join(&secret), &user.secret_access_key);
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[[registry]]\npattern = \"{pattern}\"\n[registry.iam_user]\naccess_key_id = \"{}\"\nsecret_access_key = {{ file = \"{secret}\" }}\nregion = \"us-east-1\"\n",
        user.access_key_id
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn options(emu: &Emulator) -> AwsOptions {
    AwsOptions::default()
        .with_endpoint_url(&emu.endpoint)
        .with_max_attempts(1)
}

fn resolver_for(config: &Path, emu: &Emulator) -> DefaultResolver {
    let config = registry_auth::config::RegistryConfig::load(config).unwrap();
    DefaultResolver::builder()
        .aws_options(options(emu))
        .config(&config)
        .build()
        .unwrap()
}

/// `skopeo copy` from the registry into an OCI layout, with an auth file naming only the
/// credential helper for `addr`, and the helper found on PATH.
fn skopeo_pull(f: &Fixture, addr: &str, cred_helpers: bool, name: &str) -> (Output, PathBuf) {
    let work = f.dir.path().join(name);
    std::fs::create_dir_all(&work).unwrap();
    let config = write_config(&work, "registries", &format!("{addr}/*"), &f.user);
    skopeo_with(&work, &config, addr, cred_helpers, &f.emu.endpoint)
}

/// `skopeo copy` of `addr/tiny:v1` in `work`, with the helper reading `config`.
fn skopeo_with(
    work: &Path,
    config: &Path,
    addr: &str,
    cred_helpers: bool,
    aws_endpoint: &str,
) -> (Output, PathBuf) {
    let auth = work.join("auth.json");
    let auth_json = if cred_helpers {
        serde_json::json!({ "credHelpers": { addr: "registry-auth" } })
    } else {
        serde_json::json!({})
    };
    std::fs::write(&auth, auth_json.to_string()).unwrap();
    let helper_dir = Path::new(HELPER).parent().unwrap();
    let path = format!(
        "{}:{}",
        helper_dir.display(),
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
        .env("PATH", path)
        .env("HOME", work)
        .env("XDG_RUNTIME_DIR", work)
        .env("XDG_CACHE_HOME", work.join("cache"))
        .env("REGISTRY_AUTH_CONFIG", config)
        .env("AWS_ENDPOINT_URL", aws_endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("REGISTRY_AUTH_FILE")
        .output()
        .expect("run skopeo");
    (output, out_dir)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn skopeo_pulls_with_credentials_from_the_helper() {
    let f = fixture();
    let (out, pulled) = skopeo_pull(&f, &f.good.addr, true, "skopeo-ok");
    assert!(
        out.status.success(),
        "skopeo: {}\nregistry log:\n{}",
        text(&out),
        f.good.log()
    );
    // The layout skopeo wrote names the pushed manifest, and holds the layer's file.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pulled.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], f.digest.as_str());
    let layers: Vec<_> = std::fs::read_dir(pulled.join("blobs/sha256"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        layers
            .iter()
            .any(|b| b.windows(24).any(|w| w == b"hello from registry-auth")),
        "no blob holds hello.txt"
    );
    assert!(!text(&out).contains(ACCOUNT_TOKEN));
    // The registry saw user AWS.
    // The registry authorized skopeo's manifest GET (the push only PUT it).
    let log = f.good.log();
    assert!(
        log.lines().any(|l| l.contains("msg=\"authorized request\"")
            && l.contains("http.request.method=GET")
            && l.contains("http.request.uri=/v2/tiny/manifests/v1")
            && l.contains("useragent=skopeo")),
        "{log}"
    );
}

#[test]
fn skopeo_without_the_helper_gets_a_401() {
    let f = fixture();
    let (out, _) = skopeo_pull(&f, &f.good.addr, false, "skopeo-anonymous");
    assert!(!out.status.success());
    let t = text(&out).to_lowercase();
    assert!(
        t.contains("unauthorized") || t.contains("authentication required"),
        "{t}"
    );
}

#[test]
fn skopeo_with_the_wrong_credentials_gets_a_clear_401() {
    let f = fixture();
    let (out, _) = skopeo_pull(&f, &f.other.addr, true, "skopeo-wrong");
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.to_lowercase().contains("unauthorized") || t.contains("authentication required"),
        "{t}"
    );
    assert!(!t.contains(ACCOUNT_TOKEN), "{t}");
    assert!(
        t.contains(&format!(
            "{}/tiny: unauthorized: authentication required",
            f.other.addr
        )),
        "{t}"
    );
}

#[tokio::test]
async fn the_example_pulls_the_manifest_through_the_library() {
    let f = fixture();
    let config = write_config(
        f.dir.path(),
        "example-ok",
        &format!("{}/*", f.good.addr),
        &f.user,
    );
    let image = format!("{}/tiny:v1", f.good.addr);
    let pulled = pull_manifest::pull(&config, &image, options(&f.emu))
        .await
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", f.good.log()));
    assert_eq!(pulled.manifest.digest, f.digest);
    assert_eq!(
        pulled.manifest.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(pulled.entry, (0, format!("{}/*", f.good.addr)));
    let manifest: serde_json::Value = serde_json::from_slice(&pulled.manifest.body).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );

    // By digest too: the reference's own digest is checked against the body.
    let by_digest = format!("{}/tiny@{}", f.good.addr, f.digest);
    let pulled = pull_manifest::pull(&config, &by_digest, options(&f.emu))
        .await
        .unwrap();
    assert_eq!(pulled.manifest.digest, f.digest);
}

#[tokio::test]
async fn the_example_reports_wrong_credentials_as_a_401() {
    let f = fixture();
    // Through the library: this account's token, at a registry that expects another's.
    let config = write_config(
        f.dir.path(),
        "example-wrong",
        &format!("{}/*", f.other.addr),
        &f.user,
    );
    let image = format!("{}/tiny:v1", f.other.addr);
    let err = pull_manifest::pull(&config, &image, options(&f.emu))
        .await
        .unwrap_err();
    assert!(matches!(&err, PullError::Unauthorized { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("401 Unauthorized: "), "{msg}");
    assert!(
        msg.contains(&f.other.addr) && msg.contains("user AWS"),
        "{msg}"
    );
    assert!(msg.contains("Basic realm="), "{msg}");
    assert!(!msg.contains(ACCOUNT_TOKEN) && !format!("{err:?}").contains(ACCOUNT_TOKEN));

    // A wrong password straight at the good registry.
    let image = ImageReference::parse(&format!("{}/tiny:v1", f.good.addr)).unwrap();
    let wrong = RegistryCredential::new(
        "AWS",
        "not-the-token".into(),
        format!("http://{}", f.good.addr),
        Some(SystemTime::now()),
    );
    let err = pull_manifest::fetch_manifest(&image, &wrong)
        .await
        .unwrap_err();
    assert!(matches!(&err, PullError::Unauthorized { .. }), "{err:?}");
}

#[tokio::test]
async fn the_example_names_a_missing_image_and_refuses_non_loopback_hosts() {
    let f = fixture();
    let resolver = resolver_for(
        &write_config(
            f.dir.path(),
            "example-missing",
            &format!("{}/*", f.good.addr),
            &f.user,
        ),
        &f.emu,
    );
    let image = ImageReference::parse(&format!("{}/nothing-here:v1", f.good.addr)).unwrap();
    let login = resolver.resolve(&image).await.unwrap().credential;
    let err = pull_manifest::fetch_manifest(&image, &login)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("404") && msg.contains("nothing-here:v1"),
        "{msg}"
    );

    let remote = ImageReference::parse("registry.example.com/app:v1").unwrap();
    let err = pull_manifest::fetch_manifest(&remote, &login)
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::NotLoopback(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Plain registries: `[registry.basic]`, and an embedder's robot-account provider.

const ROBOT: &str = "robot-ci";

/// A registry whose one user is the robot account, holding `tiny:v1`.
struct Plain {
    registry: Registry,
    password: String,
    digest: String,
    dir: tempfile::TempDir,
}

fn plain() -> Arc<Plain> {
    static SHARED: Mutex<Weak<Plain>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = shared.upgrade() {
        return p;
    }
    let password = format!("robot-password-{}", std::process::id());
    let registry = Registry::start_as(ROBOT, &password);
    let digest = registry.push("tiny:v1");
    let p = Arc::new(Plain {
        registry,
        password,
        digest,
        dir: tempfile::tempdir().unwrap(),
    });
    *shared = Arc::downgrade(&p);
    p
}

/// A `[registry.basic]` configuration for the plain registry, its password in a 0600 file.
fn basic_config(p: &Plain, name: &str, password: &str) -> PathBuf {
    let secret = format!("{name}.password");
    write_private_file(&p.dir.path().join(&secret), password);
    let path = p.dir.path().join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[[registry]]\npattern = \"{}/*\"\n[registry.basic]\nusername = \"{ROBOT}\"\npassword = {{ file = \"{secret}\" }}\n",
            p.registry.addr
        ),
    )
    .unwrap();
    path
}

#[test]
fn skopeo_pulls_from_a_plain_registry_with_a_basic_entry_through_the_helper() {
    let p = plain();
    let work = p.dir.path().join("basic-skopeo");
    std::fs::create_dir_all(&work).unwrap();
    let config = basic_config(&p, "basic-skopeo", &p.password);
    // No AWS anywhere: a closed port.
    let (out, pulled) = skopeo_with(&work, &config, &p.registry.addr, true, "http://127.0.0.1:9");
    assert!(
        out.status.success(),
        "skopeo: {}\nregistry log:\n{}",
        text(&out),
        p.registry.log()
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pulled.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], p.digest.as_str());
    assert!(!text(&out).contains(&p.password));
    // A basic password never goes to the disk cache.
    let cache = work.join("cache");
    let leaked = walk(&cache).into_iter().any(|f| {
        std::fs::read(&f).is_ok_and(|b| {
            b.windows(p.password.len())
                .any(|w| w == p.password.as_bytes())
        })
    });
    assert!(
        !leaked,
        "the password was written under {}",
        cache.display()
    );

    // The wrong password: the registry's clear 401.
    let wrong = basic_config(&p, "basic-wrong", "not-the-password");
    let work = p.dir.path().join("basic-skopeo-wrong");
    std::fs::create_dir_all(&work).unwrap();
    let (out, _) = skopeo_with(&work, &wrong, &p.registry.addr, true, "http://127.0.0.1:9");
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "{}/tiny: unauthorized: authentication required",
            p.registry.addr
        )),
        "{t}"
    );
    assert!(!t.contains("not-the-password"), "{t}");
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[tokio::test]
async fn the_example_pulls_from_a_plain_registry_with_a_basic_entry() {
    let p = plain();
    let image = format!("{}/tiny:v1", p.registry.addr);
    let config = basic_config(&p, "basic-example", &p.password);
    let no_aws = AwsOptions::default().with_endpoint_url("http://127.0.0.1:9");
    let pulled = pull_manifest::pull(&config, &image, no_aws.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", p.registry.log()));
    assert_eq!(pulled.manifest.digest, p.digest);

    let wrong = basic_config(&p, "basic-example-wrong", "not-the-password");
    let err = pull_manifest::pull(&wrong, &image, no_aws)
        .await
        .unwrap_err();
    assert!(matches!(&err, PullError::Unauthorized { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("401 Unauthorized: "), "{msg}");
    assert!(msg.contains(&format!("user {ROBOT}")), "{msg}");
    assert!(!msg.contains("not-the-password") && !format!("{err:?}").contains("not-the-password"));
}

#[tokio::test]
async fn the_custom_provider_example_pulls_with_its_robot_account() {
    use custom_provider::{resolver_for, RobotAccount};
    let p = plain();
    let image = ImageReference::parse(&format!("{}/tiny:v1", p.registry.addr)).unwrap();
    let robot = Arc::new(RobotAccount::new(ROBOT, p.password.as_str().into()));
    let resolver = resolver_for(&p.registry.addr, robot.clone()).unwrap();
    let login = resolver.resolve(&image).await.unwrap().credential;
    assert_eq!(login.username(), ROBOT);
    let manifest = pull_manifest::fetch_manifest(&image, &login)
        .await
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", p.registry.log()));
    assert_eq!(manifest.digest, p.digest);
    resolver.resolve(&image).await.unwrap();
    assert_eq!(robot.calls(), 1, "the second resolve is a cache hit");

    let impostor = Arc::new(RobotAccount::new(ROBOT, "guessed".into()));
    let resolver = resolver_for(&p.registry.addr, impostor).unwrap();
    let login = resolver.resolve(&image).await.unwrap().credential;
    let err = pull_manifest::fetch_manifest(&image, &login)
        .await
        .unwrap_err();
    assert!(matches!(&err, PullError::Unauthorized { .. }), "{err:?}");
    assert!(!err.to_string().contains("guessed"));
}

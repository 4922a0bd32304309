//! `[registry.gcp]` against `scripts/gcp_server.py`, a loopback server that speaks Google's
//! token endpoint (it verifies the service-account JWT's RS256 signature against the key's
//! public half, its audience, scope and lifetime), the metadata server (it requires
//! `Metadata-Flavor: Google`) and IAM Credentials `generateAccessToken`; and real pulls from
//! Debian's `docker-registry` whose htpasswd user `oauth2accesstoken` has the access token the
//! server issues as its password: through the library (`examples/pull_manifest.rs`), the docker
//! helper under skopeo, `registry-auth get` and the kubelet plugin.
//!
//! The key material is made fresh per run (`scripts/cloud_fixture.py`); no key is committed.

use crate::pull::pull_manifest;
use crate::support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use registry_auth::config::RegistryConfig;
use registry_auth::gcp::GcpError;
use registry_auth::{DefaultResolver, Error, ErrorKind, ImageReference, RegistryResolver};
use serde_json::{json, Value};

use support::clouds::{self, fixture, Server};
use support::registry::Registry;

const EMAIL: &str = "puller@proj.iam.gserviceaccount.com";
const TARGET: &str = "ci-pull@proj.iam.gserviceaccount.com";
const METADATA_EMAIL: &str = "1234-compute@developer.gserviceaccount.com";

/// A service-account key made for this run, and what the server needs to know of it.
struct Key {
    file: PathBuf,
    id: String,
    public_pem: String,
}

/// A key for `email` in `dir/name.json` whose `token_uri` is `token_uri`.
fn key(dir: &Path, name: &str, email: &str, token_uri: &str) -> Key {
    let v = fixture(&[
        "gcp-key",
        "--dir",
        &dir.display().to_string(),
        "--name",
        name,
        "--email",
        email,
        "--token-uri",
        token_uri,
    ]);
    Key {
        file: PathBuf::from(v["key_file"].as_str().unwrap()),
        id: v["key_id"].as_str().unwrap().to_owned(),
        public_pem: v["public_key_pem"].as_str().unwrap().to_owned(),
    }
}

/// Points the key file's `token_uri` at `uri` (the server's port is known only once it runs).
fn set_token_uri(key: &Key, uri: &str) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(&key.file).unwrap()).unwrap();
    v["token_uri"] = uri.into();
    std::fs::write(&key.file, v.to_string()).unwrap();
}

/// The server's configuration: `key` registered for EMAIL issuing `token`, the metadata
/// server's account issuing `token` too, and TARGET impersonable by EMAIL, issuing
/// `impersonated`.
fn server_config(key: &Key, token: &str, impersonated: &str) -> Value {
    json!({
        "service_accounts": { EMAIL: { "public_key_pem": key.public_pem, "key_id": key.id, "token": token } },
        "metadata": { "email": METADATA_EMAIL, "token": token },
        "impersonation": { TARGET: { "allowed": [EMAIL], "token": impersonated } },
    })
}

/// A fresh key and a server that holds it, started with `args`; the key's `token_uri` is the
/// server's.
fn server_with(dir: &Path, token: &str, args: &[&str]) -> (Server, Key) {
    let key = key(dir, "puller", EMAIL, "http://127.0.0.1:1/token");
    let config = clouds::write_json(dir, "gcp.json", &server_config(&key, token, "unused"));
    let mut all = vec!["--config".to_owned(), config];
    all.extend(args.iter().map(|a| a.to_string()));
    let server = Server::start("gcp_server.py", &all);
    set_token_uri(&key, &format!("{}/token", server.endpoint));
    (server, key)
}

/// Shared by the tests that pull: one server, one key, and two registries: `good` takes the
/// token of EMAIL (and of the metadata server's account), `impersonated` takes TARGET's only.
struct Fixture {
    dir: tempfile::TempDir,
    server: Server,
    key: Key,
    token: String,
    impersonated_token: String,
    good: Registry,
    impersonated: Registry,
    digest: String,
}

fn shared() -> Arc<Fixture> {
    static SHARED: Mutex<Weak<Fixture>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = slot.upgrade() {
        return f;
    }
    let dir = tempfile::tempdir().unwrap();
    let token = format!("ya29.key-{}", support::unique("gcp"));
    let impersonated_token = format!("ya29.target-{}", support::unique("gcp"));
    let key = key(dir.path(), "puller", EMAIL, "http://127.0.0.1:1/token");
    let config = clouds::write_json(
        dir.path(),
        "gcp.json",
        &server_config(&key, &token, &impersonated_token),
    );
    let server = Server::start("gcp_server.py", &["--config".to_owned(), config]);
    set_token_uri(&key, &format!("{}/token", server.endpoint));
    let good = Registry::start_as("oauth2accesstoken", &token);
    let digest = good.push("tiny:v1");
    let impersonated = Registry::start_as("oauth2accesstoken", &impersonated_token);
    assert_eq!(impersonated.push("tiny:v1"), digest);
    let f = Arc::new(Fixture {
        dir,
        server,
        key,
        token,
        impersonated_token,
        good,
        impersonated,
        digest,
    });
    *slot = Arc::downgrade(&f);
    f
}

fn resolver(toml: &str) -> DefaultResolver {
    let config = RegistryConfig::from_toml_str(toml, "gcp-test.toml").unwrap();
    DefaultResolver::builder().config(&config).build().unwrap()
}

fn key_entry(pattern: &str, key_file: &Path, extra: &str) -> String {
    format!(
        "[[registry]]\npattern = \"{pattern}\"\n[registry.gcp]\nkey_file = \"{}\"\n{extra}\n",
        key_file.display()
    )
}

fn refusal(e: &Error) -> (&str, &str) {
    match e.detail::<GcpError>() {
        Some(GcpError::Refused {
            identity, reason, ..
        }) => (identity, reason),
        other => panic!("not a refusal: {other:?} ({e})"),
    }
}

#[tokio::test]
async fn a_service_account_key_pulls_through_the_library_with_a_verified_jwt_grant() {
    let f = shared();
    let config = clouds::write_config(
        f.dir.path(),
        "key.toml",
        &key_entry(&format!("{}/*", f.good.addr), &f.key.file, ""),
    );
    let image = format!("{}/tiny:v1", f.good.addr);
    let pulled = pull_manifest::pull(&config, &image, Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", f.good.log()));
    assert_eq!(pulled.manifest.digest, f.digest);

    // The login: Google's user name, the token, an expiry from expires_in (3599 s after the
    // request went out), and the same token from the cache the second time. A server of its
    // own, so that other tests' grants are not counted.
    let dir = tempfile::tempdir().unwrap();
    let token = format!("ya29.cache-{}", support::unique("gcp"));
    let (server, key) = server_with(dir.path(), &token, &[]);
    let r = resolver(&key_entry(&format!("{}/*", f.good.addr), &key.file, ""));
    let before = SystemTime::now();
    let login = r.resolve_str(&image).await.unwrap().credential;
    let after = SystemTime::now();
    assert_eq!(login.username(), "oauth2accesstoken");
    assert_eq!(login.expose_password(), token);
    let expires = login.expires_at().unwrap();
    assert!(
        expires >= before + Duration::from_secs(3599)
            && expires <= after + Duration::from_secs(3599),
        "expires_in 3599 from the request"
    );
    r.resolve_str(&image).await.unwrap();
    assert_eq!(server.count("/token"), 1, "one grant, then the cache");
    assert!(!format!("{login:?}").contains(&token));
}

#[test]
fn the_docker_helper_serves_a_metadata_server_token_to_skopeo() {
    let f = shared();
    let work = f.dir.path().join("skopeo-metadata");
    std::fs::create_dir_all(&work).unwrap();
    let config = clouds::write_config(
        &work,
        "registries.toml",
        &format!(
            "[[registry]]\npattern = \"{}/*\"\n[registry.gcp]\nmetadata_server = true\n",
            f.good.addr
        ),
    );
    let before = f
        .server
        .count("/computeMetadata/v1/instance/service-accounts/default/token");
    let (out, layout) = clouds::skopeo_pull(
        &work,
        &config,
        &f.good.addr,
        &[("GCE_METADATA_HOST", f.server.addr.as_str())],
    );
    assert!(
        out.status.success(),
        "skopeo: {}\nregistry log:\n{}",
        clouds::text(&out),
        f.good.log()
    );
    assert_eq!(clouds::pulled_digest(&layout), f.digest);
    assert!(!clouds::text(&out).contains(&f.token));
    let after = f
        .server
        .count("/computeMetadata/v1/instance/service-accounts/default/token");
    assert!(after > before, "the helper asked the metadata server");
    // The registry, whose one user is oauth2accesstoken, authorized skopeo's manifest GET.
    let log = f.good.log();
    assert!(
        log.lines().any(|l| l.contains("msg=\"authorized request\"")
            && l.contains("http.request.method=GET")
            && l.contains("http.request.uri=/v2/tiny/manifests/v1")),
        "{log}"
    );
}

#[tokio::test]
async fn impersonation_trades_the_token_for_the_target_accounts() {
    let f = shared();
    let entry = |target: &str| {
        key_entry(
            &format!("{}/*", f.impersonated.addr),
            &f.key.file,
            &format!(
                "impersonate_service_account = \"{target}\"\niam_endpoint = \"{}\"",
                f.server.endpoint
            ),
        )
    };
    let image = ImageReference::parse(&format!("{}/tiny:v1", f.impersonated.addr)).unwrap();
    let login = resolver(&entry(TARGET))
        .resolve(&image)
        .await
        .unwrap()
        .credential;
    assert_eq!(login.expose_password(), f.impersonated_token);
    let manifest = pull_manifest::fetch_manifest(&image, &login).await.unwrap();
    assert_eq!(manifest.digest, f.digest);
    // The key's own token is not what this registry takes: the pull proves impersonation.
    assert_ne!(f.token, f.impersonated_token);

    // An account EMAIL may not impersonate: a refusal that names both and the role.
    let other = "someone-else@proj.iam.gserviceaccount.com";
    let e = resolver(&entry(other)).resolve(&image).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Credentials, "{e}");
    let (identity, reason) = refusal(&e);
    assert!(
        identity.contains(other) && identity.contains(EMAIL),
        "{identity}"
    );
    assert!(
        reason.contains("roles/iam.serviceAccountTokenCreator"),
        "{reason}"
    );
    let text = e.to_string();
    assert!(text.starts_with("Google Cloud refused"), "{text}");
    assert!(text.contains("PERMISSION_DENIED"), "{text}");
    assert!(!text.contains(&f.token), "{text}");
}

#[tokio::test]
async fn a_key_the_account_does_not_hold_is_refused_as_a_wrong_key() {
    let f = shared();
    // The same account and key id, another private key: what a deleted or foreign key looks
    // like to Google.
    let dir = tempfile::tempdir().unwrap();
    let other = key(
        dir.path(),
        "other",
        EMAIL,
        &format!("{}/token", f.server.endpoint),
    );
    let mut v: Value = serde_json::from_slice(&std::fs::read(&other.file).unwrap()).unwrap();
    v["private_key_id"] = f.key.id.clone().into();
    std::fs::write(&other.file, v.to_string()).unwrap();
    let private_key = v["private_key"].as_str().unwrap().to_owned();

    let r = resolver(&key_entry("us-docker.pkg.dev/*", &other.file, ""));
    let e = r
        .resolve_str("us-docker.pkg.dev/proj/repo/app:v1")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Credentials, "{e}");
    let (identity, reason) = refusal(&e);
    assert_eq!(
        identity,
        format!("service account {EMAIL} (key {})", f.key.id)
    );
    assert!(
        reason.contains("signature") && reason.contains("keys create"),
        "{reason}"
    );
    let text = e.to_string();
    assert!(text.contains("invalid_grant"), "{text}");
    for line in private_key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!text.contains(line) && !format!("{e:?}").contains(line));
    }
}

#[tokio::test]
async fn a_token_uri_that_is_not_the_endpoint_is_a_wrong_audience() {
    let dir = tempfile::tempdir().unwrap();
    // The server is reached at 127.0.0.1 but expects to be named localhost: the audience the
    // key file's token_uri puts in the JWT is not the one it checks.
    let (server, key) = server_with(dir.path(), "t", &["--audience", "http://localhost/token"]);
    let r = resolver(&key_entry("gcr.io/*", &key.file, ""));
    let e = r.resolve_str("gcr.io/proj/app:v1").await.unwrap_err();
    let (identity, reason) = refusal(&e);
    assert!(identity.contains(EMAIL), "{identity}");
    assert!(
        reason.contains("audience")
            && reason.contains("token_uri")
            && reason.contains("https://oauth2.googleapis.com/token"),
        "{reason}"
    );
    assert_eq!(server.count("/token"), 1);
}

#[tokio::test]
async fn a_clock_hours_off_makes_the_assertion_expired() {
    let dir = tempfile::tempdir().unwrap();
    // The server's clock is two hours ahead: the hour-long assertion has expired by it.
    let (_server, key) = server_with(dir.path(), "t", &["--clock-offset", "7200"]);
    let r = resolver(&key_entry("europe-docker.pkg.dev/*", &key.file, ""));
    let e = r
        .resolve_str("europe-docker.pkg.dev/proj/repo/app:v1")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Credentials);
    let (identity, reason) = refusal(&e);
    assert!(identity.contains(EMAIL), "{identity}");
    assert!(
        reason.contains("expired") && reason.contains("clock"),
        "{reason}"
    );
}

#[tokio::test]
async fn the_metadata_server_must_say_it_is_google_and_have_an_account() {
    let dir = tempfile::tempdir().unwrap();
    // A server with no account attached: 404, marked as Google's.
    let key = key(dir.path(), "k", EMAIL, "http://127.0.0.1:1/token");
    let config = clouds::write_json(
        dir.path(),
        "bare.json",
        &json!({ "service_accounts": { EMAIL: { "public_key_pem": key.public_pem, "key_id": key.id } } }),
    );
    let bare = Server::start("gcp_server.py", &["--config".to_owned(), config]);
    let entry = |host: &str| {
        format!(
            "[[registry]]\npattern = \"gcr.io/*\"\n[registry.gcp]\nmetadata_server = true\nmetadata_host = \"{host}\"\n"
        )
    };
    let e = resolver(&entry(&bare.addr))
        .resolve_str("gcr.io/proj/app")
        .await
        .unwrap_err();
    let (identity, reason) = refusal(&e);
    assert!(identity.contains(&bare.addr), "{identity}");
    assert!(reason.contains("no service account"), "{reason}");

    // A server that is not a metadata server (the registry): not believed.
    let f = shared();
    let e = resolver(&entry(&f.good.addr))
        .resolve_str("gcr.io/proj/app")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("not a Google metadata server"),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Upstream);

    // Nothing listening: the error says where this works.
    let e = resolver(&entry("127.0.0.1:9"))
        .resolve_str("gcr.io/proj/app")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("GCE, GKE and Cloud Run"), "{e}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn the_token_goes_only_to_google_registries_and_this_machine() {
    // A server of its own, whose grants only this test could cause.
    let dir = tempfile::tempdir().unwrap();
    let (server, key) = server_with(dir.path(), "ya29.for-google-only", &[]);
    let hosts = ["ghcr.io", "gcr.io.evil.example", "contoso.azurecr.io"];
    let toml: String = hosts
        .iter()
        .map(|h| key_entry(&format!("{h}/*"), &key.file, ""))
        .collect();
    let r = resolver(&toml);
    for image in hosts.map(|h| format!("{h}/team/app:v1")) {
        let image = image.as_str();
        let e = r.resolve_str(image).await.unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{image}: {e}");
        assert!(e.to_string().contains("is not a Google registry"), "{e}");
    }
    assert_eq!(server.count("/token"), 0, "no grant was even asked for");
    // The same source serves a Google host.
    let r = resolver(&key_entry("gcr.io/*", &key.file, ""));
    let login = r.resolve_str("gcr.io/proj/app").await.unwrap().credential;
    assert_eq!(login.expose_password(), "ya29.for-google-only");
    assert_eq!(server.count("/token"), 1);
}

#[test]
fn explain_get_and_the_kubelet_plugin_serve_artifact_registry() {
    let f = shared();
    let work = f.dir.path().join("cli");
    std::fs::create_dir_all(&work).unwrap();
    let config = clouds::write_config(
        &work,
        "registries.toml",
        &format!(
            "{}\n[[registry]]\npattern = \"123456789012.dkr.ecr.us-east-1.amazonaws.com/*\"\ninstance_role = {{ role_name = \"Worker\", region = \"us-east-1\" }}\n",
            key_entry("europe-west4-docker.pkg.dev/proj/*", &f.key.file, "")
        ),
    );
    let config_arg = config.display().to_string();
    let image = "europe-west4-docker.pkg.dev/proj/team/train:v1";

    let out = clouds::cli(&["explain", "--config", &config_arg, image, "--json"], &[]);
    assert!(out.status.success(), "{}", clouds::text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["cloud"], "gcp");
    assert_eq!(
        v["gcp"],
        json!({ "service": "artifact_registry", "location": "europe-west4", "project": "proj", "repository": "team" })
    );
    assert_eq!(
        (v["ecr"].clone(), v["azure"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(v["matched"]["index"], 0);
    let out = clouds::cli(&["explain", "--config", &config_arg, image], &[]);
    assert!(
        clouds::text(&out).contains("registry: Google Artifact Registry (location europe-west4, project proj, repository team)"),
        "{}",
        clouds::text(&out)
    );

    let out = clouds::cli(
        &[
            "get",
            "--config",
            &config_arg,
            image,
            "--json",
            "--show-password",
        ],
        &[("HOME", &work.display().to_string())],
    );
    assert!(out.status.success(), "{}", clouds::text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["username"], "oauth2accesstoken");
    assert_eq!(v["password"], f.token.as_str());
    assert_eq!(v["server"], "https://europe-west4-docker.pkg.dev");

    let v = clouds::kubelet(&config, &work, image, &[]);
    let auth = v["auth"].as_object().unwrap();
    let (_, login) = auth.iter().next().expect("one auth entry");
    assert_eq!(login["username"], "oauth2accesstoken");
    assert_eq!(login["password"], f.token.as_str());
}

#[test]
fn configuration_errors_name_the_field_and_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let parse = |gcp: &str| {
        RegistryConfig::from_toml_str(
            &format!("[[registry]]\npattern = \"gcr.io/*\"\n[registry.gcp]\n{gcp}\n"),
            "r.toml",
        )
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    for (gcp, field, words) in [
        ("", "gcp.key_file", "metadata_server = true"),
        ("metadata_server = false", "gcp.key_file", "is missing"),
        (
            "key_file = \"k.json\"\nmetadata_server = true",
            "gcp.metadata_server",
            "keep key_file",
        ),
        (
            "key_file = \"k.json\"\nmetadata_host = \"127.0.0.1:1\"",
            "gcp.metadata_host",
            "only applies",
        ),
        (
            "metadata_server = true\nmetadata_host = \"http://x/\"",
            "gcp.metadata_host",
            "HOST[:PORT]",
        ),
        (
            "key_file = \"k.json\"\nimpersonate_service_account = \"not an email\"",
            "gcp.impersonate_service_account",
            "its email",
        ),
        (
            "key_file = \"k.json\"\niam_endpoint = \"http://iam.example.com\"",
            "gcp.iam_endpoint",
            "plain HTTP",
        ),
        (
            "key_file = \"k.json\"\nscopes = []",
            "gcp.scopes",
            "unknown field",
        ),
    ] {
        let e = parse(gcp);
        assert!(
            e.contains(&format!(": {field}: ")) && e.contains(words),
            "{gcp:?}: {e}"
        );
    }

    // Key files are read when the entry serves: a bad one is an error there, naming the file.
    let private = "-----BEGIN PRIVATE KEY-----\naHVudGVyMg==\n-----END PRIVATE KEY-----\n";
    for (name, content, words) in [
        ("garbage.json", "hunter2".to_owned(), "not a JSON service-account key"),
        ("external.json", json!({ "type": "external_account" }).to_string(), "workload identity federation"),
        ("partial.json", json!({ "type": "service_account", "client_email": EMAIL }).to_string(), "has no private_key_id"),
        ("badkey.json", json!({ "type": "service_account", "client_email": EMAIL, "private_key_id": "k", "private_key": private }).to_string(), "private_key holds"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &content).unwrap();
        let r = resolver(&key_entry("gcr.io/*", &path, ""));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let e = rt.block_on(r.resolve_str("gcr.io/p/app")).unwrap_err();
        let text = e.to_string();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{text}");
        assert!(text.contains("gcp.key_file") && text.contains(name) && text.contains(words), "{text}");
        assert!(!text.contains("hunter2") && !text.contains("aHVudGVyMg"), "{text}");
    }
}

#[test]
fn no_token_or_key_reaches_any_log_line_at_trace_level() {
    let f = shared();
    let work = f.dir.path().join("trace");
    std::fs::create_dir_all(&work).unwrap();
    let key: Value = serde_json::from_slice(&std::fs::read(&f.key.file).unwrap()).unwrap();
    let key_lines: Vec<String> = key["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_owned)
        .collect();
    let impersonating = key_entry(
        &format!("{}/*", f.impersonated.addr),
        &f.key.file,
        &format!(
            "impersonate_service_account = \"{TARGET}\"\niam_endpoint = \"{}\"",
            f.server.endpoint
        ),
    );
    let refused = key_entry(
        &format!("{}/*", f.impersonated.addr),
        &f.key.file,
        &format!(
            "impersonate_service_account = \"nobody@proj.iam.gserviceaccount.com\"\niam_endpoint = \"{}\"",
            f.server.endpoint
        ),
    );
    for (name, toml, host) in [
        (
            "key",
            key_entry(&format!("{}/*", f.good.addr), &f.key.file, ""),
            &f.good.addr,
        ),
        ("impersonating", impersonating, &f.impersonated.addr),
        ("refused", refused, &f.impersonated.addr),
    ] {
        let config = clouds::write_config(&work, &format!("{name}.toml"), &toml);
        let out = clouds::cli(
            &[
                "get",
                "--config",
                &config.display().to_string(),
                &format!("{host}/tiny:v1"),
            ],
            &[("REGISTRY_AUTH_LOG", "trace")],
        );
        let all = clouds::text(&out);
        assert!(all.contains("gcp"), "{name}: nothing was logged: {all}");
        for (what, secret) in [
            ("token", &f.token),
            ("impersonated token", &f.impersonated_token),
        ] {
            assert!(
                !all.contains(secret.as_str()),
                "{name}: the {what} was printed"
            );
        }
        for line in &key_lines {
            assert!(
                !all.contains(line.as_str()),
                "{name}: the private key was printed"
            );
        }
    }
}

#[test]
fn policy_stays_aws_only_and_names_googles_role_for_google_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let config = clouds::write_config(
        dir.path(),
        "mixed.toml",
        "[[registry]]\npattern = \"123456789012.dkr.ecr.us-east-1.amazonaws.com/team/*\"\ninstance_role = { role_name = \"Worker\", region = \"us-east-1\" }\n\n\
         [[registry]]\npattern = \"europe-west4-docker.pkg.dev/proj/*\"\ngcp = { metadata_server = true }\n",
    );
    let out = clouds::cli(&["policy", "--config", &config.display().to_string()], &[]);
    assert!(out.status.success(), "{}", clouds::text(&out));
    let policy: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        policy["Statement"][0]["Resource"],
        "arn:aws:ecr:us-east-1:123456789012:repository/team/*"
    );
    let notes = String::from_utf8_lossy(&out.stderr);
    assert!(
        notes.contains("entry [1] europe-west4-docker.pkg.dev/proj/*: skipped: a Google registry, and `policy` writes AWS IAM policies only")
            && notes.contains("roles/artifactregistry.reader"),
        "{notes}"
    );
}

#[test]
fn the_mixed_example_explains_every_cloud_behind_one_set_of_patterns() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/clouds.toml");
    let loaded = RegistryConfig::load(config).unwrap();
    let kinds: Vec<&str> = loaded.entries().iter().map(|e| e.source.kind()).collect();
    assert_eq!(
        kinds,
        ["instance_role", "gcp", "gcp", "azure", "azure", "basic"]
    );
    for (image, index, cloud) in [
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:v1",
            0,
            json!("aws"),
        ),
        (
            "europe-west4-docker.pkg.dev/acme-ml/serving/api:v3",
            1,
            json!("gcp"),
        ),
        (
            "europe-west4-docker.pkg.dev/acme-ml/research/lab:v1",
            2,
            json!("gcp"),
        ),
        ("acmeml.azurecr.io/etl:v2", 3, json!("azure")),
        ("acmeml.azurecr.us/etl:v2", 4, json!("azure")),
        ("ghcr.io/acme/tools:v1", 5, Value::Null),
    ] {
        let out = clouds::cli(&["explain", "--config", config, image, "--json"], &[]);
        assert!(out.status.success(), "{image}: {}", clouds::text(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (v["matched"]["index"].clone(), v["cloud"].clone()),
            (json!(index), cloud),
            "{image}: {v}"
        );
    }

    // The docker helper's `list` names each host with its cloud's user name.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_docker-credential-registry-auth"))
        .arg("list")
        .env_clear()
        .env("REGISTRY_AUTH_CONFIG", config)
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        listed,
        json!({
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com": "AWS",
            "https://europe-west4-docker.pkg.dev": "oauth2accesstoken",
            "https://acmeml.azurecr.io": "00000000-0000-0000-0000-000000000000",
            "https://acmeml.azurecr.us": "00000000-0000-0000-0000-000000000000",
            "https://ghcr.io": "acme-ci",
        })
    );
}

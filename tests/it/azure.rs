//! `[registry.azure]` against loopback servers that speak Azure's protocols:
//! `scripts/entra_server.py` (the client-credentials grant with a client secret or a certificate
//! assertion, whose RS256 signature and `x5t` it checks against the certificate; the instance
//! metadata service's and App Service's managed-identity endpoints), and
//! `scripts/acr_server.py`, an `/oauth2/exchange` in front of Debian's real `docker-registry`,
//! whose htpasswd user `00000000-0000-0000-0000-000000000000` has the ACR refresh token as its
//! password. So every pull here is a real one: through the library
//! (`examples/pull_manifest.rs`), the docker helper under skopeo, `registry-auth get` and the
//! kubelet plugin.
//!
//! The keys, certificates and refresh tokens are made fresh per run
//! (`scripts/cloud_fixture.py`); none is committed.

use crate::pull::pull_manifest;
use crate::support;

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use registry_auth::azure::{AzureError, USERNAME};
use registry_auth::config::RegistryConfig;
use registry_auth::{DefaultResolver, Error, ErrorKind, RegistryResolver};
use serde_json::{json, Value};

use support::clouds::{self, fixture, Server};
use support::registry::Registry;

const TENANT: &str = "0a1b2c3d-1111-4222-8333-444455556666";
const SECRET_APP: &str = "11111111-2222-4333-8444-555555555555";
const CERT_APP: &str = "22222222-3333-4444-8555-666666666666";
const PKCS1_APP: &str = "44444444-5555-4666-8777-888888888888";
const EXPIRED_APP: &str = "55555555-6666-4777-8888-999999999999";
const MANAGED: &str = "33333333-4444-4555-8666-777777777777";
const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";

/// Shared by the tests: the Entra server, an ACR front over a real registry holding
/// `tiny:v1`, and the key material they were made with.
struct Fixture {
    dir: tempfile::TempDir,
    secret: String,
    identity_header: String,
    refresh_token: String,
    signing_public: String,
    cert: String,
    pkcs1_cert: String,
    entra: Server,
    front: Server,
    registry: Registry,
    digest: String,
}

fn shared() -> Arc<Fixture> {
    static SHARED: Mutex<Weak<Fixture>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = slot.upgrade() {
        return f;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let secret = format!("s3cret~{}", support::unique("azure"));
    let identity_header = format!("header-{}", support::unique("azure"));
    let signing = fixture(&["signing-key", "--dir", &d, "--name", "entra"]);
    let cert = fixture(&[
        "azure-cert",
        "--dir",
        &d,
        "--name",
        "sp",
        "--client-id",
        CERT_APP,
    ]);
    let pkcs1 = fixture(&[
        "azure-cert",
        "--dir",
        &d,
        "--name",
        "sp1",
        "--client-id",
        PKCS1_APP,
        "--pkcs1",
    ]);
    let config = json!({
        "tenants": { TENANT: { "apps": {
            SECRET_APP: { "secret": secret },
            EXPIRED_APP: { "secret": secret, "secret_expired": true },
            CERT_APP: { "certificate_pem": cert["certificate_pem"] },
            PKCS1_APP: { "certificate_pem": pkcs1["certificate_pem"] },
        } } },
        "managed_identities": { "system": true, "user": [MANAGED] },
        "identity_header": identity_header,
    });
    let entra = Server::start(
        "entra_server.py",
        &[
            "--config".to_owned(),
            clouds::write_json(dir.path(), "entra.json", &config),
            "--signing-key".to_owned(),
            signing["private"].as_str().unwrap().to_owned(),
        ],
    );
    let refresh_token = fixture(&[
        "acr-refresh-token",
        "--service",
        "127.0.0.1",
        "--ttl",
        "10800",
    ])["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let registry = Registry::start_as(USERNAME, &refresh_token);
    let digest = registry.push("tiny:v1");
    let signing_public = signing["public"].as_str().unwrap().to_owned();
    let front = acr_front(dir.path(), &registry, &signing_public, &refresh_token, &[]);
    let f = Arc::new(Fixture {
        cert: cert["pem"].as_str().unwrap().to_owned(),
        pkcs1_cert: pkcs1["pem"].as_str().unwrap().to_owned(),
        dir,
        secret,
        identity_header,
        refresh_token,
        signing_public,
        entra,
        front,
        registry,
        digest,
    });
    *slot = Arc::downgrade(&f);
    f
}

/// An ACR front over `registry` handing out `refresh_token`, started with `args`.
fn acr_front(
    dir: &Path,
    registry: &Registry,
    issuer: &str,
    refresh_token: &str,
    args: &[&str],
) -> Server {
    let token_file = dir.join(format!("refresh-{}", support::unique("acr")));
    support::registry::write_private_file(&token_file, refresh_token);
    let mut all = vec![
        "--upstream".to_owned(),
        registry.addr.clone(),
        "--issuer-key".to_owned(),
        issuer.to_owned(),
        "--refresh-token-file".to_owned(),
        token_file.display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    Server::start("acr_server.py", &all)
}

fn resolver(toml: &str) -> DefaultResolver {
    let config = RegistryConfig::from_toml_str(toml, "azure-test.toml").unwrap();
    DefaultResolver::builder().config(&config).build().unwrap()
}

/// A `[registry.azure]` entry for `pattern` with the lines of `azure`.
fn entry(pattern: &str, azure: &str) -> String {
    format!("[[registry]]\npattern = \"{pattern}\"\n[registry.azure]\n{azure}\n")
}

impl Fixture {
    /// The lines of a service principal signing in with `credential` at the Entra server.
    fn principal(&self, client: &str, credential: &str) -> String {
        format!(
            "tenant_id = \"{TENANT}\"\nclient_id = \"{client}\"\n{credential}\nauthority_host = \"{}\"",
            self.entra.endpoint
        )
    }

    fn secret_entry(&self, pattern: &str, secret: &str) -> String {
        entry(
            pattern,
            &self.principal(SECRET_APP, &format!("client_secret = \"{secret}\"")),
        )
    }

    fn image(&self) -> String {
        format!("{}/tiny:v1", self.front.addr)
    }
}

fn refusal(e: &Error) -> (&str, &str) {
    match e.detail::<AzureError>() {
        Some(AzureError::Refused {
            identity, reason, ..
        }) => (identity, reason),
        other => panic!("not a refusal: {other:?} ({e})"),
    }
}

#[tokio::test]
async fn a_client_secret_pulls_through_the_acr_exchange_with_the_library() {
    let f = shared();
    let toml = f.secret_entry(&format!("{}/*", f.front.addr), &f.secret);
    let config = clouds::write_config(f.dir.path(), "secret.toml", &toml);
    let pulled = pull_manifest::pull(&config, &f.image(), Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", f.registry.log()));
    assert_eq!(pulled.manifest.digest, f.digest);

    // The login: ACR's user name, the refresh token, its own exp; then the cache. A front of
    // its own, so that other tests' exchanges are not counted.
    let dir = tempfile::tempdir().unwrap();
    let front = acr_front(
        dir.path(),
        &f.registry,
        &f.signing_public,
        &f.refresh_token,
        &[],
    );
    let r = resolver(&f.secret_entry(&format!("{}/*", front.addr), &f.secret));
    let image = format!("{}/tiny:v1", front.addr);
    let login = r.resolve_str(&image).await.unwrap().credential;
    assert_eq!(login.username(), "00000000-0000-0000-0000-000000000000");
    assert_eq!(login.expose_password(), f.refresh_token);
    let exp = clouds::jwt_exp(&f.refresh_token);
    assert_eq!(login.expires_at(), registry_auth_time(exp));
    r.resolve_str(&image).await.unwrap();
    assert_eq!(
        front.count("/oauth2/exchange"),
        1,
        "one exchange, then the cache"
    );
    assert!(!format!("{login:?}").contains(&f.refresh_token));
}

fn registry_auth_time(secs: u64) -> Option<std::time::SystemTime> {
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[test]
fn a_certificate_signs_the_client_assertion_for_skopeo_through_the_helper() {
    let f = shared();
    let work = f.dir.path().join("skopeo-cert");
    std::fs::create_dir_all(&work).unwrap();
    // No authority_host: AZURE_AUTHORITY_HOST names the Entra server.
    let config = clouds::write_config(
        &work,
        "registries.toml",
        &entry(
            &format!("{}/*", f.front.addr),
            &format!(
                "tenant_id = \"{TENANT}\"\nclient_id = \"{CERT_APP}\"\nclient_certificate = \"{}\"",
                f.cert
            ),
        ),
    );
    let tokens = f.entra.count(&format!("/{TENANT}/oauth2/v2.0/token"));
    let (out, layout) = clouds::skopeo_pull(
        &work,
        &config,
        &f.front.addr,
        &[("AZURE_AUTHORITY_HOST", f.entra.endpoint.as_str())],
    );
    assert!(
        out.status.success(),
        "skopeo: {}\nregistry log:\n{}",
        clouds::text(&out),
        f.registry.log()
    );
    assert_eq!(clouds::pulled_digest(&layout), f.digest);
    assert!(f.entra.count(&format!("/{TENANT}/oauth2/v2.0/token")) > tokens);
    assert!(!clouds::text(&out).contains(&f.refresh_token));
    assert!(
        f.registry
            .log()
            .lines()
            .any(|l| l.contains("msg=\"authorized request\"")
                && l.contains("http.request.uri=/v2/tiny/manifests/v1")),
        "{}",
        f.registry.log()
    );
}

#[tokio::test]
async fn a_pkcs1_key_signs_as_well_as_a_pkcs8_one() {
    let f = shared();
    let r = resolver(&entry(
        &format!("{}/*", f.front.addr),
        &f.principal(
            PKCS1_APP,
            &format!("client_certificate = \"{}\"", f.pkcs1_cert),
        ),
    ));
    let login = r.resolve_str(&f.image()).await.unwrap().credential;
    assert_eq!(login.expose_password(), f.refresh_token);
}

#[tokio::test]
async fn managed_identities_from_the_metadata_service_and_app_service() {
    let f = shared();
    let imds = format!("{}/metadata/identity/oauth2/token", f.entra.endpoint);
    let managed = |client: Option<&str>| {
        let client = client.map_or(String::new(), |c| format!("client_id = \"{c}\"\n"));
        entry(
            &format!("{}/*", f.front.addr),
            &format!("managed_identity = true\n{client}managed_identity_endpoint = \"{imds}\""),
        )
    };
    for client in [Some(MANAGED), None] {
        let login = resolver(&managed(client))
            .resolve_str(&f.image())
            .await
            .unwrap()
            .credential;
        assert_eq!(login.expose_password(), f.refresh_token, "{client:?}");
    }
    let unknown = "99999999-9999-4999-8999-999999999999";
    let e = resolver(&managed(Some(unknown)))
        .resolve_str(&f.image())
        .await
        .unwrap_err();
    let (identity, reason) = refusal(&e);
    assert!(identity.contains(unknown), "{identity}");
    assert!(
        reason.contains("no managed identity with client id") && reason.contains(unknown),
        "{reason}"
    );

    // App Service: IDENTITY_ENDPOINT and IDENTITY_HEADER, through `registry-auth get`.
    let work = f.dir.path().join("app-service");
    std::fs::create_dir_all(&work).unwrap();
    let config = clouds::write_config(
        &work,
        "registries.toml",
        &entry(&format!("{}/*", f.front.addr), "managed_identity = true"),
    );
    let msi = format!("{}/msi/token", f.entra.endpoint);
    let get = |header: &str| {
        clouds::cli(
            &[
                "get",
                "--config",
                &config.display().to_string(),
                &f.image(),
                "--json",
                "--show-password",
            ],
            &[
                ("IDENTITY_ENDPOINT", msi.as_str()),
                ("IDENTITY_HEADER", header),
            ],
        )
    };
    let out = get(&f.identity_header);
    assert!(out.status.success(), "{}", clouds::text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["username"], USERNAME);
    assert_eq!(v["password"], f.refresh_token.as_str());
    assert!(f.entra.count("/msi/token") >= 1);

    let out = get("not-the-header");
    assert_eq!(out.status.code(), Some(3), "{}", clouds::text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "credentials", "{v}");
    let message = v["error"].as_str().unwrap();
    assert!(
        message.starts_with("Azure refused the system-assigned managed identity"),
        "{message}"
    );
    assert!(!clouds::text(&out).contains("not-the-header"));
}

#[tokio::test]
async fn wrong_expired_and_unknown_secrets_name_the_application_and_the_fix() {
    let f = shared();
    let pattern = format!("{}/*", f.front.addr);
    let wrong = "not-the-secret-but-close";
    let e = resolver(&f.secret_entry(&pattern, wrong))
        .resolve_str(&f.image())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Credentials);
    let (identity, reason) = refusal(&e);
    assert_eq!(
        identity,
        format!("service principal {SECRET_APP} in tenant {TENANT}")
    );
    assert!(
        reason.contains("client secret is wrong") && reason.contains("Value (not its Secret ID)"),
        "{reason}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with("Azure refused service principal"),
        "{text}"
    );
    assert!(
        text.contains("AADSTS7000215") && text.contains("trace id "),
        "{text}"
    );
    assert!(
        !text.contains(wrong) && !format!("{e:?}").contains(wrong),
        "{text}"
    );

    let expired = entry(
        &pattern,
        &f.principal(EXPIRED_APP, &format!("client_secret = \"{}\"", f.secret)),
    );
    let e = resolver(&expired)
        .resolve_str(&f.image())
        .await
        .unwrap_err();
    assert!(
        refusal(&e).1.contains("has expired: create a new one"),
        "{e}"
    );
    assert!(!e.to_string().contains(&f.secret));

    let unknown = "66666666-7777-4888-8999-aaaaaaaaaaaa";
    let e = resolver(&entry(
        &pattern,
        &f.principal(unknown, "client_secret = \"x\""),
    ))
    .resolve_str(&f.image())
    .await
    .unwrap_err();
    assert!(e.to_string().contains("AADSTS700016"), "{e}");
    assert!(
        refusal(&e)
            .1
            .contains(&format!("tenant {TENANT} has no application {unknown}")),
        "{e}"
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused_by_the_registry() {
    let f = shared();
    // The front accepts ACR's audience only, as a registry with Resource Manager tokens off.
    let toml = entry(
        &format!("{}/*", f.front.addr),
        &format!(
            "{}\nscope = \"https://management.azure.com/.default\"",
            f.principal(SECRET_APP, &format!("client_secret = \"{}\"", f.secret))
        ),
    );
    let e = resolver(&toml).resolve_str(&f.image()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Credentials);
    let (identity, reason) = refusal(&e);
    assert!(identity.contains(SECRET_APP), "{identity}");
    assert!(
        reason.contains("audience") && reason.contains(ACR_SCOPE),
        "{reason}"
    );
    let text = e.to_string();
    assert!(
        text.contains("/oauth2/exchange") && text.contains("UNAUTHORIZED"),
        "{text}"
    );
}

#[tokio::test]
async fn expired_tokens_say_the_clock_is_off() {
    let f = shared();
    let dir = tempfile::tempdir().unwrap();

    // Entra's clock two hours ahead: the ten-minute client assertion has expired by it.
    let d = dir.path().display().to_string();
    let cert = fixture(&[
        "azure-cert",
        "--dir",
        &d,
        "--name",
        "late",
        "--client-id",
        CERT_APP,
    ]);
    let signing = fixture(&["signing-key", "--dir", &d, "--name", "late-entra"]);
    let config = json!({ "tenants": { TENANT: { "apps": { CERT_APP: { "certificate_pem": cert["certificate_pem"] } } } } });
    let late = Server::start(
        "entra_server.py",
        &[
            "--config".to_owned(),
            clouds::write_json(dir.path(), "late.json", &config),
            "--signing-key".to_owned(),
            signing["private"].as_str().unwrap().to_owned(),
            "--clock-offset".to_owned(),
            "7200".to_owned(),
        ],
    );
    let toml = entry(
        &format!("{}/*", f.front.addr),
        &format!(
            "tenant_id = \"{TENANT}\"\nclient_id = \"{CERT_APP}\"\nclient_certificate = \"{}\"\nauthority_host = \"{}\"",
            cert["pem"].as_str().unwrap(),
            late.endpoint
        ),
    );
    let e = resolver(&toml).resolve_str(&f.image()).await.unwrap_err();
    let (identity, reason) = refusal(&e);
    assert!(
        identity.contains(CERT_APP) && identity.contains("certificate "),
        "{identity}"
    );
    assert!(e.to_string().contains("AADSTS700024"), "{e}");
    assert!(reason.contains("clock"), "{reason}");

    // The registry's clock two hours ahead: the Entra ID token has expired by it.
    let late_front = acr_front(
        dir.path(),
        &f.registry,
        &f.signing_public,
        &f.refresh_token,
        &["--clock-offset", "7200"],
    );
    let e = resolver(&f.secret_entry(&format!("{}/*", late_front.addr), &f.secret))
        .resolve_str(&format!("{}/tiny:v1", late_front.addr))
        .await
        .unwrap_err();
    let (_, reason) = refusal(&e);
    assert!(
        reason.contains("had expired") && reason.contains("clock"),
        "{reason}"
    );

    // A refresh token already expired by this machine's clock.
    let stale = fixture(&[
        "acr-refresh-token",
        "--service",
        "127.0.0.1",
        "--ttl",
        "-60",
    ])["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let stale_front = acr_front(dir.path(), &f.registry, &f.signing_public, &stale, &[]);
    let e = resolver(&f.secret_entry(&format!("{}/*", stale_front.addr), &f.secret))
        .resolve_str(&format!("{}/tiny:v1", stale_front.addr))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Credentials);
    match e.detail::<AzureError>() {
        Some(AzureError::Expired {
            identity,
            expired_at,
            now,
            ..
        }) => {
            assert!(identity.contains(SECRET_APP), "{identity}");
            assert!(expired_at < now);
        }
        other => panic!("not an expiry: {other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("refresh token") && text.contains("clock is off"),
        "{text}"
    );
    assert!(!e.to_string().contains(&stale));
}

#[tokio::test]
async fn the_entra_token_goes_only_to_acr_hosts_and_this_machine() {
    // The authority is a port nothing listens on: asking it would fail otherwise.
    let secret_at_nowhere = |pattern: &str| {
        entry(
            pattern,
            &format!("tenant_id = \"{TENANT}\"\nclient_id = \"{SECRET_APP}\"\nclient_secret = \"x\"\nauthority_host = \"http://127.0.0.1:9\""),
        )
    };
    let hosts = ["ghcr.io", "contoso.azurecr.io.evil.example", "gcr.io"];
    let toml: String = hosts
        .iter()
        .map(|h| secret_at_nowhere(&format!("{h}/*")))
        .collect();
    let r = resolver(&toml);
    for image in hosts.map(|h| format!("{h}/team/app:v1")) {
        let image = image.as_str();
        let e = r.resolve_str(image).await.unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{image}: {e}");
        assert!(
            e.to_string()
                .contains("is not an Azure Container Registry host"),
            "{e}"
        );
    }
    // An ACR host with the same source does try the authority.
    let e = resolver(&secret_at_nowhere("contoso.azurecr.io/*"))
        .resolve_str("contoso.azurecr.io/team/app:v1")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("could not connect") && e.is_retryable(),
        "{e}"
    );

    // An air-gapped cloud's registry without its authority and scope: said, not guessed.
    let e = resolver(&entry(
        "contoso.azurecr.eaglex.ic.gov/*",
        &format!("tenant_id = \"{TENANT}\"\nclient_id = \"{SECRET_APP}\"\nclient_secret = \"x\""),
    ))
    .resolve_str("contoso.azurecr.eaglex.ic.gov/app")
    .await
    .unwrap_err();
    assert!(
        e.to_string().contains("USNat") && e.to_string().contains("authority_host"),
        "{e}"
    );
}

#[test]
fn explain_and_the_kubelet_plugin_serve_acr() {
    let f = shared();
    let work = f.dir.path().join("kubelet");
    std::fs::create_dir_all(&work).unwrap();
    let out = clouds::cli(
        &[
            "explain",
            "--pattern",
            "contoso.azurecr.us/*",
            "contoso.azurecr.us/team/app:v1",
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", clouds::text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["cloud"], "azure");
    assert_eq!(
        v["azure"],
        json!({
            "registry": "contoso",
            "cloud": "AzureUSGovernment",
            "authority_host": "https://login.microsoftonline.us",
            "scope": "https://management.usgovcloudapi.net/.default",
        })
    );
    let out = clouds::cli(
        &[
            "explain",
            "--pattern",
            "contoso.azurecr.io/*",
            "contoso.azurecr.io/app",
        ],
        &[],
    );
    assert!(
        clouds::text(&out).contains("registry: Azure Container Registry contoso (AzureCloud)"),
        "{}",
        clouds::text(&out)
    );

    let config = clouds::write_config(
        &work,
        "registries.toml",
        &f.secret_entry(&format!("{}/*", f.front.addr), &f.secret),
    );
    let v = clouds::kubelet(&config, &work, &f.image(), &[]);
    let (_, login) = v["auth"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .expect("one auth entry");
    assert_eq!(login["username"], USERNAME);
    assert_eq!(login["password"], f.refresh_token.as_str());
}

#[test]
fn configuration_errors_name_the_field_and_never_the_secret() {
    let parse = |azure: &str| {
        RegistryConfig::from_toml_str(&entry("contoso.azurecr.io/*", azure), "r.toml")
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let sp = format!("tenant_id = \"{TENANT}\"\nclient_id = \"{SECRET_APP}\"");
    for (azure, field, words) in [
        (String::new(), "azure.client_secret", "managed_identity = true"),
        (format!("{sp}\nclient_secret = \"hunter2\"\nmanaged_identity = true"), "azure.managed_identity", "signs in one way"),
        ("client_secret = \"hunter2\"".to_owned(), "azure.tenant_id", "is required"),
        (format!("tenant_id = \"{TENANT}\"\nclient_secret = \"hunter2\""), "azure.client_id", "is required"),
        (format!("tenant_id = \"common\"\nclient_id = \"{SECRET_APP}\"\nclient_secret = \"hunter2\""), "azure.tenant_id", "names no directory"),
        (format!("tenant_id = \"{TENANT}\"\nclient_id = \"my-app\"\nclient_secret = \"hunter2\""), "azure.client_id", "not an application (client) id"),
        (format!("{sp}\nclient_secret = \"hunter2\"\nauthority_host = \"http://login.example.com\""), "azure.authority_host", "plain HTTP"),
        (format!("{sp}\nclient_secret = \"hunter2\"\nscope = \"https://containerregistry.azure.net\""), "azure.scope", "RESOURCE/.default"),
        (format!("{sp}\nclient_secret = \"hunter2\"\nmanaged_identity_endpoint = \"http://127.0.0.1:1/\""), "azure.managed_identity_endpoint", "only applies"),
        (format!("{sp}\nclient_secret = 5"), "azure.client_secret", "must be a string"),
    ] {
        let e = parse(&azure);
        assert!(e.contains(&format!(": {field}: ")) && e.contains(words), "{azure:?}: {e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    // The certificate is read when the entry serves: a file without one says so.
    let f = shared();
    let no_cert = f.dir.path().join("key-only.pem");
    let pem = std::fs::read_to_string(&f.cert).unwrap();
    let key_only: String = pem
        .split("-----BEGIN CERTIFICATE-----")
        .next()
        .unwrap()
        .to_owned();
    support::registry::write_private_file(&no_cert, &key_only);
    let r = resolver(&entry(
        "contoso.azurecr.io/*",
        &format!(
            "tenant_id = \"{TENANT}\"\nclient_id = \"{CERT_APP}\"\nclient_certificate = \"{}\"",
            no_cert.display()
        ),
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt
        .block_on(r.resolve_str("contoso.azurecr.io/app"))
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("azure.client_certificate") && text.contains("holds no certificate"),
        "{text}"
    );
    for line in key_only
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
    {
        assert!(!text.contains(line));
    }
}

#[test]
fn no_secret_token_or_key_reaches_any_log_line_at_trace_level() {
    let f = shared();
    let work = f.dir.path().join("trace");
    std::fs::create_dir_all(&work).unwrap();
    let pem = std::fs::read_to_string(&f.cert).unwrap();
    let key_lines: Vec<&str> = pem
        .split("-----BEGIN CERTIFICATE-----")
        .next()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    let pattern = format!("{}/*", f.front.addr);
    let msi = format!("{}/msi/token", f.entra.endpoint);
    for (name, toml, envs) in [
        ("secret", f.secret_entry(&pattern, &f.secret), vec![]),
        (
            "wrong secret",
            f.secret_entry(&pattern, "wrong-but-secret"),
            vec![],
        ),
        (
            "certificate",
            entry(
                &pattern,
                &f.principal(CERT_APP, &format!("client_certificate = \"{}\"", f.cert)),
            ),
            vec![],
        ),
        (
            "app service",
            entry(&pattern, "managed_identity = true"),
            vec![
                ("IDENTITY_ENDPOINT", msi.as_str()),
                ("IDENTITY_HEADER", f.identity_header.as_str()),
            ],
        ),
    ] {
        let config =
            clouds::write_config(&work, &format!("{}.toml", name.replace(' ', "-")), &toml);
        let mut envs = envs;
        envs.push(("REGISTRY_AUTH_LOG", "trace"));
        let out = clouds::cli(
            &["get", "--config", &config.display().to_string(), &f.image()],
            &envs,
        );
        let all = clouds::text(&out);
        assert!(
            all.contains("azure") || all.contains("Azure"),
            "{name}: nothing was logged: {all}"
        );
        for (what, secret) in [
            ("client secret", f.secret.as_str()),
            ("wrong secret", "wrong-but-secret"),
            ("refresh token", f.refresh_token.as_str()),
            ("identity header", f.identity_header.as_str()),
        ] {
            assert!(!all.contains(secret), "{name}: the {what} was printed");
        }
        for line in &key_lines {
            assert!(!all.contains(line), "{name}: the private key was printed");
        }
    }
}

#[test]
fn policy_stays_aws_only_and_names_acrs_role_for_acr_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let config = clouds::write_config(
        dir.path(),
        "acr-only.toml",
        "[[registry]]\npattern = \"contoso.azurecr.io/*\"\nazure = { managed_identity = true }\n",
    );
    let out = clouds::cli(&["policy", "--config", &config.display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", clouds::text(&out));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("entry [0] contoso.azurecr.io/*: skipped: an Azure Container Registry, and `policy` writes AWS IAM policies only")
            && text.contains("AcrPull")
            && text.contains("no entry names a private ECR registry"),
        "{text}"
    );
}

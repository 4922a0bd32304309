//! The docker credential helper protocol, spoken by `docker-credential-registry-auth`.
//!
//! Docker (and skopeo, podman, buildah: everything built on `docker-credential-helpers`) runs
//! `docker-credential-NAME ACTION` with one line on stdin and reads stdout:
//!
//! | action | stdin | stdout, exit status |
//! | --- | --- | --- |
//! | `get` | a server URL | `{"ServerURL": "…", "Username": "AWS", "Secret": "…"}`, 0 |
//! | `list` | nothing | `{"https://HOST[:PORT]": "USERNAME", …}`: the literal hosts `get` would serve, 0 |
//! | `store` | credentials JSON | an error saying nothing is stored, 1 (see below) |
//! | `erase` | a server URL | an error saying nothing is stored, 1 (see below) |
//! | `version` (`--version`, `-v`) | nothing | `docker-credential-registry-auth VERSION`, 0 |
//! | `--help`, `-h` | nothing | the usage, 0 |
//!
//! # `store` and `erase`
//!
//! Tokens are minted on each `get`, never stored, so by default `store` and `erase` fail with
//! a message that says so, as AWS's ECR helper does. The reason is `credsStore`: with this
//! helper as docker's default store, a `docker login` to *another* registry calls `store`, and
//! a success would tell the user their password was kept when it was thrown away. Setting
//! `REGISTRY_AUTH_IGNORE_CREDS_STORAGE=true` makes both succeed doing nothing (for tools that
//! insist on logging in to a host this helper serves); prefer `credHelpers`, which sends only
//! the listed hosts here and leaves other registries to docker's own store.
//!
//! # Which entry serves a host
//!
//! Docker asks per registry *host*, never per image. The server URL is reduced to `HOST[:PORT]`
//! (a scheme, a trailing `/` and any path are dropped; `index.docker.io` is `docker.io`), and the
//! entry is picked by [`DefaultResolver::select_host`](crate::DefaultResolver::select_host): among the entries whose host and port fit,
//! the most specific host wins (fewer wildcard host labels, then more literal host characters);
//! then an entry serving the whole host (pattern without a path, or `/*`) beats one that narrows
//! by path; then the entry listed first. **Entries that narrow by path cannot be told apart by
//! host**: with `HOST/*` and `HOST/team/*`, docker always gets `HOST/*`'s credentials; with only
//! `HOST/team/*` (or several path entries), the first listed serves every image on that host.
//! Use the kubelet provider ([`super::kubelet`]) or the library where per-repository credentials
//! matter: they see the whole image.
//!
//! # Who asks
//!
//! Docker names no job, so the helper takes the context from its environment:
//! `REGISTRY_AUTH_OWNER` (the organisation) and `REGISTRY_AUTH_ENVIRONMENT` (the worker pool).
//! Without them, entries scoped to an organisation or to environments are never used (fail
//! closed); a host that only such entries serve gets an error that names the two variables,
//! not docker's "not found".
//!
//! # Configuration, cache and errors
//!
//! The configuration is found as for every front end ([`find_config`](super::find_config)):
//! `REGISTRY_AUTH_CONFIG`, else the per-user file, else `/etc/registry-auth/registries.toml`.
//! Tokens are kept in the [disk store](crate::cache) (`$XDG_CACHE_HOME/registry-auth`, or
//! `REGISTRY_AUTH_CACHE_DIR`; none with `REGISTRY_AUTH_NO_DISK_CACHE=1`), so docker's one
//! process per pull still makes one upstream call per token lifetime; if the cache directory
//! is refused, a warning says why and every `get` goes upstream. Only the entry that serves the
//! host reads its secret.
//!
//! A failure exits 1 with its one-line message on stdout, where docker's client reads it
//! (`error getting credentials - err: exit status 1, out: …`), and once on stderr, prefixed with
//! the helper's name; with `REGISTRY_AUTH_LOG_FILE` set it is also appended to that file, since
//! docker discards the helper's stderr on some paths. A host no entry serves is not a failure:
//! docker's conventional [`NOT_FOUND`] text on stdout, exit 1, nothing on stderr, and docker
//! pulls anonymously. Empty stdin gets the protocol's [`NO_SERVER_URL`] text. When stderr is a
//! terminal and a `get` waits on AWS for more than two seconds, one line there says what for.
//!
//! ```json
//! {
//!   "credHelpers": {
//!     "123456789012.dkr.ecr.us-east-1.amazonaws.com": "registry-auth"
//!   }
//! }
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use super::{notify_if_slow, report, switch_on, waiting_for, DiskChoice, Setup, SLOW_AFTER};
use crate::aws::AwsOptions;
use crate::config::{CredentialSource, RegistryConfig};
use crate::reference::ImageReference;
use crate::scope::ResolveContext;
use crate::Error;

/// What docker's helpers print on stdout for a server they hold nothing for; docker's client
/// recognises exactly this text.
pub const NOT_FOUND: &str = "credentials not found in native keychain";
/// What docker's helpers print on stdout when stdin holds no server URL; docker's client
/// recognises exactly this text.
pub const NO_SERVER_URL: &str = "no credentials server URL";
/// `true` (or `1`): `store` and `erase` succeed doing nothing instead of failing.
pub const IGNORE_CREDS_STORAGE_VAR: &str = "REGISTRY_AUTH_IGNORE_CREDS_STORAGE";

/// The binary's name, used in messages.
const NAME: &str = "docker-credential-registry-auth";
/// More than any server URL or credentials JSON docker sends.
const MAX_INPUT: u64 = 64 * 1024;
/// The longest server URL answered (and so repeated in the reply).
const MAX_SERVER_URL: usize = 256;

/// One of the protocol's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Credentials for a server URL.
    Get,
    /// Server URL → user name for every server the helper knows.
    List,
    /// Keep credentials: a no-op here.
    Store,
    /// Forget credentials: a no-op here.
    Erase,
    /// The helper's version.
    Version,
    /// The usage.
    Help,
}

impl Action {
    /// The action named by the helper's first argument; `None` for anything else.
    pub fn parse(arg: &str) -> Option<Action> {
        match arg {
            "get" => Some(Action::Get),
            "list" => Some(Action::List),
            "store" => Some(Action::Store),
            "erase" => Some(Action::Erase),
            "version" | "--version" | "-v" => Some(Action::Version),
            "--help" | "-h" | "help" => Some(Action::Help),
            _ => None,
        }
    }
}

/// A server URL that names no registry host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ServerUrlError {
    reason: String,
}

impl ServerUrlError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// The registry `HOST[:PORT]` a server URL names: `https://HOST:PORT/v2/` → `HOST:PORT`.
///
/// Surrounding whitespace, an `http://` or `https://` scheme, and everything from the first `/`,
/// `?` or `#` after the host are dropped; `index.docker.io` becomes `docker.io`. The host keeps
/// its case (matching is ASCII case-insensitive).
///
/// ```
/// use registry_auth::front::docker::registry_host;
///
/// let host = registry_host("https://123456789012.dkr.ecr.us-east-1.amazonaws.com/")?;
/// assert_eq!(host, "123456789012.dkr.ecr.us-east-1.amazonaws.com");
/// assert_eq!(registry_host("localhost:5000/v2/team/app")?, "localhost:5000");
/// assert_eq!(registry_host("https://index.docker.io/v1/")?, "docker.io");
/// assert!(registry_host("ftp://example.com").is_err());
/// # Ok::<(), registry_auth::front::docker::ServerUrlError>(())
/// ```
///
/// # Errors
///
/// An empty input, another scheme, user info (`user:pass@host`: the input is then not repeated
/// in the message), or something that is not a registry host.
pub fn registry_host(server_url: &str) -> Result<String, ServerUrlError> {
    let url = server_url.trim();
    if url.is_empty() {
        return Err(ServerUrlError::new(
            "no server URL on stdin: docker sends one, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com",
        ));
    }
    let rest = match url.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") =>
        {
            rest
        }
        Some((scheme, _)) => {
            return Err(ServerUrlError::new(format!(
                "the server URL's scheme {:?} is not http or https",
                cut(scheme)
            )))
        }
        None => url,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(ServerUrlError::new(
            "the server URL holds user info (user@host); give the registry host only",
        ));
    }
    if authority.is_empty() {
        return Err(ServerUrlError::new(format!(
            "the server URL {:?} names no host",
            cut(url)
        )));
    }
    if authority.eq_ignore_ascii_case("index.docker.io") {
        return Ok("docker.io".to_owned());
    }
    // A registry host is whatever the reference grammar takes as the domain of `HOST/x`.
    match ImageReference::parse(&format!("{authority}/x")) {
        Ok(probe) if probe.domain().eq_ignore_ascii_case(authority) => Ok(authority.to_owned()),
        _ => Err(ServerUrlError::new(format!(
            "{:?} is not a registry host: expected HOST[:PORT] with a dot, a port, or localhost",
            cut(authority)
        ))),
    }
}

/// At most 100 characters of `s`, for messages.
fn cut(s: &str) -> String {
    match s.char_indices().nth(100) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Docker's "not found": the text on stdout and exit 1, which docker takes as "pull
/// anonymously". Nothing on stderr: under `credsStore` docker asks for every registry (Docker
/// Hub included), and a line per pull would be noise; `REGISTRY_AUTH_LOG=debug` says why.
fn not_found(out: &mut impl Write, config: &str, host: &str) -> u8 {
    let _ = writeln!(out, "{NOT_FOUND}");
    tracing::debug!("no entry in {config} serves {host}: answering {NOT_FOUND:?}");
    1
}

/// The usage, for `--help` and a missing action.
fn usage() -> String {
    format!(
        "Usage: {NAME} <get|list|store|erase|version>\n\n\
         A docker credential helper that mints short-lived registry credentials (AWS ECR first)\n\
         from a registry-auth configuration. Docker runs it; the action is the first argument,\n\
         its input comes on stdin.\n\n\
         Environment:\n  \
           REGISTRY_AUTH_CONFIG                the configuration file (else ~/.config/registry-auth/registries.toml,\n                                      then /etc/registry-auth/registries.toml)\n  \
           REGISTRY_AUTH_OWNER                 the organisation whose job asks\n  \
           REGISTRY_AUTH_ENVIRONMENT           the environment (worker pool) it runs in\n  \
           REGISTRY_AUTH_CACHE_DIR             the disk token cache's directory\n  \
           REGISTRY_AUTH_NO_DISK_CACHE=1       keep no tokens on disk\n  \
           REGISTRY_AUTH_LOG                   log filter (warn, info, debug, registry_auth=trace)\n  \
           REGISTRY_AUTH_LOG_FILE              also append the log to this file (created 0600)\n  \
           REGISTRY_AUTH_IGNORE_CREDS_STORAGE  true: store and erase succeed doing nothing"
    )
}

/// The helper: a [`Setup`] (configuration, AWS settings, disk store, who asks) and
/// [`run`](Self::run).
#[derive(Debug, Clone)]
pub struct Helper {
    setup: Setup,
    ignore_creds_storage: bool,
    slow_notice: bool,
}

impl Helper {
    /// A helper reading the configuration at `config`, with the default disk store and no
    /// context; `store` and `erase` fail, and a slow `get` says nothing.
    pub fn new(config: impl Into<PathBuf>) -> Self {
        Self {
            setup: Setup::new(config),
            ignore_creds_storage: false,
            slow_notice: false,
        }
    }

    /// A helper set up from the environment, as the binary runs ([`Setup::from_env`], and
    /// `REGISTRY_AUTH_IGNORE_CREDS_STORAGE`).
    pub fn from_env() -> Self {
        Self {
            setup: Setup::from_env(),
            ignore_creds_storage: switch_on(
                std::env::var(IGNORE_CREDS_STORAGE_VAR).ok().as_deref(),
            ),
            slow_notice: false,
        }
    }

    /// Endpoint, timeouts and retries for the AWS calls.
    pub fn with_aws_options(mut self, aws: AwsOptions) -> Self {
        self.setup.aws = aws;
        self
    }

    /// Keep tokens in `dir` instead of the default directory; `None` keeps none on disk.
    pub fn with_disk_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.setup.disk = dir.map_or(DiskChoice::Off, DiskChoice::Dir);
        self
    }

    /// Who asks (the binary reads it from `REGISTRY_AUTH_OWNER` and
    /// `REGISTRY_AUTH_ENVIRONMENT`).
    pub fn with_context(mut self, context: ResolveContext) -> Self {
        self.setup.context = context;
        self
    }

    /// Whether `store` and `erase` succeed doing nothing (`true`) or fail saying that nothing
    /// is stored (`false`, the default); see the [module documentation](self).
    pub fn with_ignore_creds_storage(mut self, ignore: bool) -> Self {
        self.ignore_creds_storage = ignore;
        self
    }

    /// Whether a `get` still waiting after [`SLOW_AFTER`] says so on the error stream, once
    /// (the binary turns it on when stderr is a terminal).
    pub fn with_slow_notice(mut self, on: bool) -> Self {
        self.slow_notice = on;
        self
    }

    /// Runs `action` (the helper's first argument) with the protocol's stdin, stdout and
    /// stderr; returns the exit status. Never panics on any input.
    pub async fn run(
        &self,
        action: &str,
        input: impl Read,
        mut out: impl Write,
        mut err: impl Write,
    ) -> u8 {
        if action.is_empty() {
            // As docker-credential-helpers does: the usage on stdout, exit 1.
            let _ = writeln!(out, "{}", usage());
            return 1;
        }
        let Some(action) = Action::parse(action) else {
            return fail(
                &mut out,
                &mut err,
                &format!(
                    "unknown action {:?}; usage: {NAME} get|list|store|erase|version",
                    cut(action)
                ),
            );
        };
        match action {
            Action::Version => {
                let _ = writeln!(out, "{NAME} {}", env!("CARGO_PKG_VERSION"));
                0
            }
            Action::Help => {
                let _ = writeln!(out, "{}", usage());
                0
            }
            Action::Store | Action::Erase => {
                // Read what docker sends so it never sees a broken pipe.
                let _ = std::io::copy(&mut input.take(MAX_INPUT), &mut std::io::sink());
                let verb = if action == Action::Store {
                    "store"
                } else {
                    "erase"
                };
                if self.ignore_creds_storage {
                    tracing::debug!("`{verb}` ignored ({IGNORE_CREDS_STORAGE_VAR} is set)");
                    return 0;
                }
                fail(
                    &mut out,
                    &mut err,
                    &format!(
                        "`{verb}` is not supported: registry-auth stores no credentials, it mints a short-lived token on each `get` for the hosts its configuration serves; list those hosts under `credHelpers` and leave `credsStore` to a store, or set {IGNORE_CREDS_STORAGE_VAR}=true to make `{verb}` succeed doing nothing"
                    ),
                )
            }
            Action::List => self.list(&mut out, &mut err),
            Action::Get => self.get(input, &mut out, &mut err).await,
        }
    }

    fn list(&self, out: &mut impl Write, err: &mut impl Write) -> u8 {
        match self.setup.load_config() {
            Ok(config) => {
                let map = list_entries(&config, &self.setup.context);
                let text = serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned());
                if writeln!(out, "{text}").is_err() {
                    return 1;
                }
                0
            }
            Err(e) => fail(out, err, &e.to_string()),
        }
    }

    async fn get(&self, input: impl Read, out: &mut impl Write, err: &mut impl Write) -> u8 {
        let mut raw = String::new();
        if let Err(e) = input.take(MAX_INPUT).read_to_string(&mut raw) {
            return fail(
                out,
                err,
                &format!("cannot read the server URL from stdin: {e}"),
            );
        }
        let server_url = raw.trim();
        if server_url.is_empty() {
            let _ = writeln!(out, "{NO_SERVER_URL}");
            report(
                err,
                NAME,
                "no server URL on stdin: docker sends one, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            );
            return 1;
        }
        // The reply repeats the URL: never a page of whatever came in.
        if server_url.len() > MAX_SERVER_URL {
            return fail(
                out,
                err,
                &format!("the server URL on stdin is longer than {MAX_SERVER_URL} characters; docker sends a registry host such as 123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            );
        }
        let host = match registry_host(server_url) {
            Ok(h) => h,
            Err(e) => return fail(out, err, &e.to_string()),
        };
        // `registry_host` accepted it, so it parses as the registry of an image.
        let Ok(probe) = ImageReference::parse(&format!("{host}/x")) else {
            return fail(out, err, "the server URL names no registry host");
        };
        let (config, resolver) = match self.setup.resolver_for_registry(probe.host(), probe.port())
        {
            Ok(both) => both,
            Err(e) => return fail(out, err, &e.to_string()),
        };
        let notice = self.slow_notice_for(&resolver, &config, &host, &mut *err);
        let resolved = notify_if_slow(
            resolver.resolve_host(&self.setup.context, &host),
            SLOW_AFTER,
            notice,
        )
        .await;
        let login = match resolved {
            Ok(resolved) => resolved.credential,
            // Not ours: docker goes anonymous. Ours but scoped away: say so.
            Err(Error::NoEntry(e)) if e.ruled_out.is_empty() && !e.personal => {
                return not_found(out, config.origin(), &host)
            }
            Err(e) => return fail(out, err, &e.to_string()),
        };
        let reply = SecretString::from(
            serde_json::json!({
                "ServerURL": server_url,
                "Username": login.username(),
                "Secret": login.expose_password(),
            })
            .to_string(),
        );
        if writeln!(out, "{}", reply.expose_secret()).is_err() {
            return 1;
        }
        0
    }

    /// The note for a slow `get` of `host`, when notes are on and an entry serves it.
    fn slow_notice_for<'a>(
        &self,
        resolver: &crate::DefaultResolver,
        config: &RegistryConfig,
        host: &str,
        err: &'a mut impl Write,
    ) -> Option<impl FnOnce() + 'a> {
        if !self.slow_notice {
            return None;
        }
        let probe = ImageReference::parse(&format!("{host}/x")).ok()?;
        let (index, _) = resolver.select_host(&self.setup.context, probe.host(), probe.port())?;
        let what = waiting_for(config, index, host);
        Some(move || {
            let _ = writeln!(
                err,
                "{NAME}: still waiting after {} s for {what}…",
                SLOW_AFTER.as_secs()
            );
        })
    }
}

/// `https://HOST[:PORT]` → username for every entry `context` may use whose pattern has a
/// literal host that `get` would serve, as `list` prints. Wildcard hosts name no server, so
/// they are left out. The first entry listed for a host names its username.
pub fn list_entries(config: &RegistryConfig, context: &ResolveContext) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for e in config.entries() {
        if e.scope.check(context).is_err() {
            continue;
        }
        let Some(host) = e.pattern.literal_host() else {
            continue;
        };
        let username = match &e.source {
            CredentialSource::Basic(b) => b.username.clone(),
            #[cfg(feature = "gcp")]
            CredentialSource::Gcp(_) => crate::gcp::USERNAME.to_owned(),
            #[cfg(feature = "azure")]
            CredentialSource::Azure(_) => crate::azure::USERNAME.to_owned(),
            _ => "AWS".to_owned(),
        };
        let server = match e.pattern.port() {
            Some(port) => format!("https://{host}:{port}"),
            None => format!("https://{host}"),
        };
        map.entry(server).or_insert(username);
    }
    map
}

/// A failure: the message on stdout for docker to show, and once on stderr (and in the log
/// file, when one is set).
fn fail(out: &mut impl Write, err: &mut impl Write, message: &str) -> u8 {
    let _ = writeln!(out, "{message}");
    report(err, NAME, message);
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_reduce_to_the_registry_host() {
        let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        for input in [
            ecr.to_owned(),
            format!("https://{ecr}"),
            format!("https://{ecr}/"),
            format!("HTTPS://{ecr}/v2/my-ml-image/manifests/v1"),
            format!("  http://{ecr}?x=1\n"),
            format!("{ecr}/"),
        ] {
            assert_eq!(registry_host(&input).unwrap(), ecr, "{input:?}");
        }
        assert_eq!(
            registry_host("https://localhost:5000/v2/").unwrap(),
            "localhost:5000"
        );
        assert_eq!(registry_host("[::1]:5000").unwrap(), "[::1]:5000");
        assert_eq!(
            registry_host("Registry.Example.com").unwrap(),
            "Registry.Example.com"
        );
        assert_eq!(
            registry_host("https://index.docker.io/v1/").unwrap(),
            "docker.io"
        );
    }

    #[test]
    fn bad_server_urls_are_refused_without_echoing_user_info() {
        for bad in [
            "",
            "   \n",
            "ftp://example.com",
            "https://",
            "https:///path",
            "not a host",
            "registry",
            "example.com:99999",
            "exa mple.com",
            "\u{0}",
        ] {
            assert!(registry_host(bad).is_err(), "{bad:?}");
        }
        let e = registry_host("https://user:hunter2@example.com/").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let long = "a".repeat(10_000);
        assert!(registry_host(&long).unwrap_err().to_string().len() < 300);
    }

    #[test]
    fn actions_parse() {
        assert_eq!(Action::parse("get"), Some(Action::Get));
        assert_eq!(Action::parse("list"), Some(Action::List));
        assert_eq!(Action::parse("store"), Some(Action::Store));
        assert_eq!(Action::parse("erase"), Some(Action::Erase));
        assert_eq!(Action::parse("version"), Some(Action::Version));
        assert_eq!(Action::parse("GET"), None);
        assert_eq!(Action::parse(""), None);
    }

    const CONFIG: &str = r#"
        [[registry]]
        pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/*"
        iam_user = { access_key_id = "AKIAIOSFODNN7EXAMPLE", secret_access_key = "not-a-real-secret", region = "us-east-1" }

        [[registry]]
        pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/*"
        instance_role = { role_name = "Worker", region = "us-east-1" }

        [[registry]]
        pattern = "*.dkr.ecr.eu-west-1.amazonaws.com"
        instance_role = { role_name = "Worker", region = "eu-west-1" }

        [[registry]]
        pattern = "localhost:5000/team"
        instance_role = { role_name = "Worker", region = "us-east-1" }
    "#;

    fn helper() -> (tempfile::TempDir, Helper) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registries.toml");
        std::fs::write(&path, CONFIG).unwrap();
        let helper = Helper::new(path).with_disk_cache_dir(None);
        (dir, helper)
    }

    fn run(helper: &Helper, action: &str, input: &str) -> (u8, String, String) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = rt.block_on(helper.run(action, input.as_bytes(), &mut out, &mut err));
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn list_prints_the_literal_hosts() {
        let (_dir, h) = helper();
        let (code, out, _) = run(&h, "list", "");
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "https://123456789012.dkr.ecr.us-east-1.amazonaws.com": "AWS",
                "https://localhost:5000": "AWS",
            })
        );
    }

    #[test]
    fn get_of_a_host_no_entry_serves_is_docker_not_found() {
        let (_dir, h) = helper();
        for host in ["https://index.docker.io/v1/", "ghcr.io", "localhost:5001"] {
            let (code, out, err) = run(&h, "get", host);
            assert_eq!(code, 1, "{host}");
            assert_eq!(out.trim(), NOT_FOUND, "{host}");
            assert!(err.is_empty(), "not found is not an error: {err}");
        }
    }

    #[test]
    fn a_missing_secret_does_not_break_registries_no_entry_serves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registries.toml");
        std::fs::write(
            &path,
            "[[registry]]\npattern = \"123456789012.dkr.ecr.us-east-1.amazonaws.com/*\"\n\
             iam_user = { access_key_id = \"AKIAIOSFODNN7EXAMPLE\", secret_access_key = { env = \"REGISTRY_AUTH_UNSET_FOR_THIS_TEST\" }, region = \"us-east-1\" }\n",
        )
        .unwrap();
        let h = Helper::new(path).with_disk_cache_dir(None);
        // Docker Hub under `credsStore`: not ours, so docker goes anonymous.
        let (code, out, _) = run(&h, "get", "https://index.docker.io/v1/");
        assert_eq!((code, out.trim()), (1, NOT_FOUND));
        // Ours: now the missing secret is the error, named.
        let (code, out, err) = run(&h, "get", "123456789012.dkr.ecr.us-east-1.amazonaws.com");
        assert_eq!(code, 1);
        assert_ne!(out.trim(), NOT_FOUND);
        assert!(err.contains("REGISTRY_AUTH_UNSET_FOR_THIS_TEST"), "{err}");
    }

    #[test]
    fn get_of_a_bad_url_fails_on_both_streams() {
        let (_dir, h) = helper();
        let (code, out, err) = run(&h, "get", "ftp://example.com");
        assert_eq!(code, 1);
        assert!(out.contains("scheme"), "{out}");
        assert!(err.starts_with(NAME), "{err}");
    }

    #[test]
    fn store_and_erase_fail_saying_nothing_is_stored_unless_told_to_ignore() {
        let (_dir, h) = helper();
        let creds = r#"{"ServerURL":"localhost:5000","Username":"AWS","Secret":"s3cret"}"#;
        for (action, input) in [("store", creds), ("erase", "localhost:5000")] {
            let (code, out, err) = run(&h, action, input);
            assert_eq!(code, 1, "{action}");
            assert!(
                out.contains("not supported") && out.contains(IGNORE_CREDS_STORAGE_VAR),
                "{out}"
            );
            assert_eq!(err.matches("not supported").count(), 1, "{err}");
            assert!(!out.contains("s3cret") && !err.contains("s3cret"));

            let ignoring = h.clone().with_ignore_creds_storage(true);
            let (code, out, err) = run(&ignoring, action, input);
            assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""), "{action}");
        }
    }

    #[test]
    fn version_help_and_unknown_actions() {
        let (_dir, h) = helper();
        let (code, out, _) = run(&h, "version", "");
        assert_eq!(code, 0);
        assert!(out.starts_with(NAME), "{out}");
        for help in ["--help", "-h"] {
            let (code, out, err) = run(&h, help, "");
            assert_eq!(code, 0);
            assert!(
                out.starts_with("Usage: ") && out.contains("get|list|store|erase|version"),
                "{out}"
            );
            assert!(out.contains(IGNORE_CREDS_STORAGE_VAR), "{out}");
            assert!(err.is_empty());
        }
        // No action at all: the usage, as a failure.
        let (code, out, _) = run(&h, "", "");
        assert_eq!(code, 1);
        assert!(out.starts_with("Usage: "), "{out}");
        let (code, out, err) = run(&h, "fetch", "");
        assert_eq!(code, 1);
        assert!(out.contains("unknown action \"fetch\""), "{out}");
        assert_eq!(err.matches("usage").count(), 1, "{err}");
    }

    #[test]
    fn empty_stdin_is_the_protocols_missing_server_url() {
        let (_dir, h) = helper();
        for input in ["", "  \n"] {
            let (code, out, err) = run(&h, "get", input);
            assert_eq!(code, 1);
            assert_eq!(out.trim(), NO_SERVER_URL);
            assert_eq!(err.matches("no server URL").count(), 1, "{err}");
        }
    }

    #[test]
    fn a_missing_configuration_is_named() {
        let h = Helper::new("/nonexistent/registries.toml").with_disk_cache_dir(None);
        let (code, _, err) = run(&h, "get", "localhost:5000");
        assert_eq!(code, 1);
        assert!(err.contains("/nonexistent/registries.toml"), "{err}");
        let (code, _, err) = run(&h, "list", "");
        assert_eq!(code, 1);
        assert!(err.contains("/nonexistent/registries.toml"), "{err}");
    }

    #[test]
    fn hosts_pick_the_whole_host_entry_first() {
        let config = RegistryConfig::from_toml_str(CONFIG, "test").unwrap();
        let r = crate::DefaultResolver::builder()
            .config(&config)
            .build()
            .unwrap();
        let anyone = ResolveContext::unscoped();
        let pick = |host: &str, port| r.select_host(&anyone, host, port).map(|(i, _)| i);
        assert_eq!(
            pick("123456789012.dkr.ecr.us-east-1.amazonaws.com", None),
            Some(0)
        );
        assert_eq!(
            pick("123456789012.DKR.ecr.us-east-1.amazonaws.com", None),
            Some(0)
        );
        assert_eq!(
            pick("210987654321.dkr.ecr.eu-west-1.amazonaws.com", None),
            Some(2)
        );
        // Only a path-narrowed entry: it serves the host.
        assert_eq!(pick("localhost", Some(5000)), Some(3));
        assert_eq!(pick("localhost", None), None);
        assert_eq!(pick("ghcr.io", None), None);
    }
}

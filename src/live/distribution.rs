//! The registry-neutral pull check: the distribution API, as docker speaks it.
//!
//! 1. `HEAD /v2/<repository>/manifests/<digest or tag>`, with `Authorization: Basic` when there
//!    is a credential and every manifest type in `Accept`. A `HEAD` is not counted as a pull
//!    by registries that meter pulls.
//! 2. A `401` with a `WWW-Authenticate: Bearer realm=…,service=…` challenge: a token from the
//!    realm for `repository:<repository>:pull`, asked with the credential as Basic auth, then
//!    the `HEAD` again with `Authorization: Bearer`.
//! 3. A `404`: `GET /v2/<repository>/tags/list?n=1` tells a missing repository from a missing
//!    tag.
//!
//! Docker Hub's `docker.io` is spoken to at `registry-1.docker.io`. Registries on this machine
//! (`localhost`, `127.0.0.0/8`, `::1`) are tried over HTTPS, then plain HTTP, as docker treats
//! them as insecure registries; every other registry and token service only over HTTPS.
//! Replies are read only up to a small cap, and nothing of a reply reaches a message but its
//! status and a digest checked to be one.

use std::time::Duration;

use base64::Engine as _;
use hyper::Method;
use secrecy::{ExposeSecret, SecretString};

use super::{is_digest, PullCheck, Verdict};
use crate::http::{Http, HttpFailure, Reply};
use crate::reference::ImageReference;
use crate::RegistryCredential;

/// The manifest types a pull accepts.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Bodies read for a status or a tag list.
const MAX_SMALL: usize = 64 * 1024;
/// A token service's answer (some tokens are large JWTs).
const MAX_TOKEN: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Proves through the distribution API that `image` can be pulled with `credential` (or
/// without credentials, when `None`): the default of
/// [`CredentialProvider::check_pull`](crate::CredentialProvider::check_pull), for a provider of
/// your own to fall back on.
///
/// Without a credential, a registry that asks for one gives
/// [`Verdict::CredentialsRejected`](super::Verdict::CredentialsRejected).
pub async fn check_manifest(
    image: &ImageReference,
    credential: Option<&RegistryCredential>,
) -> PullCheck {
    let http = Http::new(CONNECT_TIMEOUT, REQUEST_TIMEOUT);
    let mut probe = Probe {
        http: &http,
        image,
        credential,
        base: None,
    };
    probe.run().await
}

struct Probe<'a> {
    http: &'a Http,
    image: &'a ImageReference,
    credential: Option<&'a RegistryCredential>,
    /// `scheme://host[:port]` once the first request chose it.
    base: Option<String>,
}

/// How the registry wants to be authenticated, from a `401`'s `WWW-Authenticate`.
#[derive(Debug, PartialEq, Eq)]
struct Challenge {
    /// Lowercased: `bearer`, `basic`.
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Probe<'_> {
    async fn run(&mut self) -> PullCheck {
        let basic = self.credential.map(|c| {
            let pair = format!("{}:{}", c.username(), c.expose_password());
            SecretString::from(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        });
        let path = self.manifest_path();
        let first = match self.send(Method::HEAD, &path, basic.as_ref()).await {
            Ok(r) => r,
            Err(f) => return self.unreachable(&f),
        };
        if first.status != 401 {
            return self.judge(&first, basic.as_ref()).await;
        }
        let Some(bearer) = bearer_challenge(&first) else {
            return self.refused(first.status);
        };
        let token = match self.token(&bearer, basic.as_ref()).await {
            Ok(t) => t,
            Err(check) => return check,
        };
        let auth = SecretString::from(format!("Bearer {}", token.expose_secret()));
        match self.send(Method::HEAD, &path, Some(&auth)).await {
            Ok(r) if r.status == 401 => self.denied(r.status),
            Ok(r) => self.judge(&r, Some(&auth)).await,
            Err(f) => self.unreachable(&f),
        }
    }

    /// A manifest reply other than the first `401`.
    async fn judge(&mut self, reply: &Reply, auth: Option<&SecretString>) -> PullCheck {
        match reply.status {
            200..=299 => self.ok(reply),
            401 => self.refused(reply.status),
            403 => self.denied(reply.status),
            404 => self.not_found(auth).await,
            429 => PullCheck::new(
                Verdict::Unreachable,
                format!(
                    "{} is throttling requests (HTTP 429); try again later",
                    self.registry()
                ),
            ),
            s => PullCheck::new(
                Verdict::Unreachable,
                format!(
                    "{} answered HTTP {s} for the manifest of {}; {}",
                    self.registry(),
                    self.image.path_and_version(),
                    if s >= 500 {
                        "the registry failed: try again later"
                    } else {
                        "it is not answering as a container registry: check the image's registry host"
                    }
                ),
            ),
        }
    }

    fn ok(&self, reply: &Reply) -> PullCheck {
        let digest = self.image.digest().map(str::to_owned).or_else(|| {
            reply
                .header("docker-content-digest")
                .filter(|d| is_digest(d))
                .map(str::to_owned)
        });
        let digest = digest.map(|d| format!(" ({d})")).unwrap_or_default();
        let detail = match self.credential {
            Some(c) => format!(
                "{} serves the manifest of {}{digest} to user {}",
                self.registry(),
                self.image.path_and_version(),
                c.username()
            ),
            None => format!(
                "{} serves the manifest of {}{digest} without credentials",
                self.registry(),
                self.image.path_and_version()
            ),
        };
        PullCheck::new(Verdict::Ok, detail)
    }

    /// The registry (or its token service) refused the credential.
    fn refused(&self, status: u16) -> PullCheck {
        let detail = match self.credential {
            Some(c) => format!(
                "{} refused user {}'s password or token (HTTP {status}): it is wrong, expired or revoked; update the entry's password (`docker login {}` tries one by hand)",
                self.registry(),
                c.username(),
                self.registry()
            ),
            None => format!(
                "{} asks for credentials (HTTP {status})",
                self.registry()
            ),
        };
        PullCheck::new(Verdict::CredentialsRejected, detail)
    }

    /// Authenticated, but not allowed to pull this repository.
    fn denied(&self, status: u16) -> PullCheck {
        let who = match self.credential {
            Some(c) => format!("user {}", c.username()),
            None => "an anonymous pull".to_owned(),
        };
        let detail = format!(
            "{} does not let {who} pull {} (HTTP {status}): the repository does not exist, or {who} lacks pull access to it; grant it pull access in the registry, or fix the repository name",
            self.registry(),
            self.image.repository()
        );
        let verdict = if self.credential.is_some() {
            Verdict::PermissionMissing
        } else {
            Verdict::CredentialsRejected
        };
        PullCheck::new(verdict, detail)
    }

    /// A `404` for the manifest: the repository's tag list says whether the repository exists.
    async fn not_found(&mut self, auth: Option<&SecretString>) -> PullCheck {
        let path = format!("/v2/{}/tags/list?n=1", self.image.repository());
        let tags = self.send(Method::GET, &path, auth).await;
        let reference = match self.image.digest() {
            Some(d) => format!("digest {d}"),
            None => format!("tag {}", self.image.tag().unwrap_or("latest")),
        };
        match tags {
            Ok(r) if r.status == 404 => PullCheck::new(
                Verdict::RepositoryNotFound,
                format!(
                    "{} has no repository {}: fix the repository name in the image, or push the image there",
                    self.registry(),
                    self.image.repository()
                ),
            ),
            _ => PullCheck::new(
                Verdict::ReferenceNotFound,
                format!(
                    "{} has no {reference} in repository {} (HTTP 404): push it, or fix the image's tag or digest",
                    self.registry(),
                    self.image.repository()
                ),
            ),
        }
    }

    fn unreachable(&self, failure: &HttpFailure) -> PullCheck {
        let why = match failure {
            HttpFailure::Refused(_) => "this client does not send credentials to it over plain HTTP (only https://, or http:// to this machine)".to_owned(),
            other => other.to_string(),
        };
        PullCheck::new(
            Verdict::Unreachable,
            format!(
                "could not reach {}: {why}; check the registry host and the network path to it",
                self.registry()
            ),
        )
    }

    /// A bearer token from the challenge's realm, asked with the credential as Basic auth.
    async fn token(
        &self,
        challenge: &Challenge,
        basic: Option<&SecretString>,
    ) -> Result<SecretString, PullCheck> {
        let service_failed = |what: String| {
            PullCheck::new(
                Verdict::Unreachable,
                format!(
                    "{} asks for a token, and its token service {what}; try again later, or check the registry's token service",
                    self.registry()
                ),
            )
        };
        let Some(realm) = challenge.param("realm").filter(|r| !r.is_empty()) else {
            return Err(service_failed(
                "is not named (no realm in its challenge)".into(),
            ));
        };
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(service) = challenge.param("service") {
                query.append_pair("service", service);
            }
            query.append_pair(
                "scope",
                &format!("repository:{}:pull", self.image.repository()),
            );
            query.finish()
        };
        let separator = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{separator}{query}");
        let mut headers = Vec::new();
        if let Some(b) = basic {
            headers.push(("authorization", b.expose_secret()));
        }
        let reply = match self.http.get(&url, &headers, MAX_TOKEN).await {
            Ok(r) => r,
            Err(HttpFailure::Refused(_)) => {
                return Err(service_failed(
                    "is not at an https:// address (credentials go over plain HTTP only to this machine)".into(),
                ))
            }
            Err(f) => return Err(service_failed(format!("could not be reached: {f}"))),
        };
        match reply.status {
            200..=299 => {}
            401 | 403 => return Err(self.refused(reply.status)),
            s => return Err(service_failed(format!("answered HTTP {s}"))),
        }
        #[derive(serde::Deserialize)]
        struct TokenReply {
            token: Option<SecretString>,
            access_token: Option<SecretString>,
        }
        let parsed: TokenReply = serde_json::from_slice(&reply.body)
            .map_err(|_| service_failed("answered something that is not a token".into()))?;
        parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.expose_secret().is_empty())
            .ok_or_else(|| service_failed("answered without a token".into()))
    }

    /// One request to the registry; the first one chooses between HTTPS and, for a registry on
    /// this machine, plain HTTP.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<&SecretString>,
    ) -> Result<Reply, HttpFailure> {
        let mut headers = vec![("accept", MANIFEST_TYPES)];
        if let Some(a) = auth {
            headers.push(("authorization", a.expose_secret()));
        }
        if let Some(base) = &self.base {
            let url = format!("{base}{path}");
            return self
                .http
                .send(method, &url, &headers, Default::default(), MAX_SMALL)
                .await;
        }
        let host = api_host(self.image);
        let mut bases = vec![format!("https://{host}")];
        if is_this_machine(self.image.host()) {
            bases.push(format!("http://{host}"));
        }
        let mut last = HttpFailure::Connection("could not connect");
        for base in bases {
            let url = format!("{base}{path}");
            match self
                .http
                .send(
                    method.clone(),
                    &url,
                    &headers,
                    Default::default(),
                    MAX_SMALL,
                )
                .await
            {
                Ok(reply) => {
                    self.base = Some(base);
                    return Ok(reply);
                }
                Err(f @ HttpFailure::Connection(_)) => last = f,
                Err(f) => return Err(f),
            }
        }
        Err(last)
    }

    fn manifest_path(&self) -> String {
        let reference = self.image.digest().or(self.image.tag()).unwrap_or("latest");
        format!("/v2/{}/manifests/{reference}", self.image.repository())
    }

    /// `HOST[:PORT]` as the image names it.
    fn registry(&self) -> &str {
        self.image.domain()
    }
}

/// Where the registry's API is: Docker Hub's `docker.io` answers at `registry-1.docker.io`.
fn api_host(image: &ImageReference) -> String {
    if image.domain() == "docker.io" {
        "registry-1.docker.io".to_owned()
    } else {
        image.domain().to_owned()
    }
}

/// `localhost` or a loopback address: registries docker speaks plain HTTP to.
fn is_this_machine(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The `Bearer` challenge among the reply's `WWW-Authenticate` headers.
fn bearer_challenge(reply: &Reply) -> Option<Challenge> {
    reply
        .headers
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(parse_challenge)
        .find(|c| c.scheme == "bearer")
}

/// `Scheme k="v", k2=v2`: the first challenge of a `WWW-Authenticate` value (RFC 9110
/// `auth-param`s with quoted strings), or `None` when it does not read as one.
fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, mut rest) = match value.find(char::is_whitespace) {
        Some(i) => (&value[..i], value[i..].trim_start()),
        None => (value, ""),
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return None;
    }
    let mut params = Vec::new();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim();
        if key.is_empty() || key.contains([',', ' ', '"']) {
            // The start of a second challenge (`, Basic realm=…`): stop at the first one.
            break;
        }
        rest = rest[eq + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = &quoted[end?..];
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        params.push((key.to_owned(), value));
        rest = rest.trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return None,
        }
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_read_as_registries_write_them() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("SERVICE"), Some("registry.docker.io"));
        assert_eq!(
            c.param("scope"),
            Some("repository:library/ubuntu:pull,push")
        );
        assert_eq!(c.param("error"), Some("insufficient_scope"));

        let c = parse_challenge(r#"Basic realm="a \"quoted\" realm""#).unwrap();
        assert_eq!(
            (c.scheme.as_str(), c.param("realm")),
            ("basic", Some(r#"a "quoted" realm"#))
        );
        let c = parse_challenge("Bearer realm=https://x/token, service=x").unwrap();
        assert_eq!(c.param("realm"), Some("https://x/token"));
        assert_eq!(c.param("service"), Some("x"));
        let c = parse_challenge(r#"Bearer realm="r", Basic realm="b""#).unwrap();
        assert_eq!(c.params.len(), 1);
        assert_eq!(parse_challenge("Bearer").unwrap().params, vec![]);
        for bad in [
            "",
            "Bearer realm=\"unterminated",
            "Be@rer realm=x",
            "Bearer realm",
        ] {
            assert_eq!(parse_challenge(bad), None, "{bad}");
        }
    }

    #[test]
    fn docker_hub_has_its_own_api_host_and_loopback_may_be_plain_http() {
        let hub = ImageReference::parse("ubuntu").unwrap();
        assert_eq!(api_host(&hub), "registry-1.docker.io");
        let local = ImageReference::parse("localhost:5000/app").unwrap();
        assert_eq!(api_host(&local), "localhost:5000");
        assert!(
            is_this_machine("localhost")
                && is_this_machine("127.0.0.1")
                && is_this_machine("[::1]")
        );
        assert!(!is_this_machine("registry.example.com") && !is_this_machine("10.0.0.1"));
    }
}

//! HTTP for the registries and token services that are not AWS's API: the distribution API of
//! a registry, OAuth2 token endpoints, metadata servers. (The AWS SDK makes its own calls, over
//! the same hyper and rustls.)
//!
//! - **One TLS stack**: hyper 1 and rustls, with the `ring` crypto provider and the system's
//!   roots (`SSL_CERT_FILE` names another bundle, as for the AWS calls).
//! - **No credential over plain HTTP to another machine**: `http://` is allowed only to a
//!   loopback address (`127.0.0.1`, `[::1]`, `localhost`), where test servers and some
//!   metadata endpoints live; link-local metadata addresses (`169.254.169.254`) are allowed
//!   too, since that is how cloud metadata servers are reached.
//! - **Bounded**: every request has a deadline, and a reply body larger than the caller's cap
//!   is an error, never read whole.
//! - **Quiet**: failures are described by kind (timeout, refused, TLS, too large), never by the
//!   text of a lower layer, which can quote a reply.
//!
//! A client holds a connection pool tied to the Tokio runtime it first ran on, so it is made per
//! provider (lazily), not per process.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Why a request did not get a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HttpFailure {
    /// The URL is not one this client sends to.
    #[error("{0}")]
    Refused(String),
    /// No reply within the deadline.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The connection could not be made or broke (refused, reset, TLS).
    #[error("the connection failed ({0})")]
    Connection(&'static str),
    /// The reply's body was larger than the cap.
    #[error("the reply was larger than {0} bytes")]
    TooLarge(usize),
}

/// A reply: status, headers, and the body, read whole up to the caller's cap.
#[derive(Clone)]
#[cfg_attr(not(feature = "gcp"), allow(dead_code))]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl fmt::Debug for Reply {
    // The body can hold a token: only its size is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

#[cfg_attr(not(feature = "gcp"), allow(dead_code))]
impl Reply {
    /// A header's value as text, if it has one.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON, or `null` when it is not JSON.
    #[cfg(any(feature = "gcp", feature = "azure"))]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(any(feature = "gcp", feature = "azure"))]
impl HttpFailure {
    /// Whether trying again may help: no connection, or no reply in time.
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, HttpFailure::Connection(_) | HttpFailure::Timeout(_))
    }
}

/// An unexpected status as the caller's error, built by `unavailable(status, what, retryable)`:
/// 429 and 5xx are worth retrying.
#[cfg(any(feature = "gcp", feature = "azure"))]
pub(crate) fn status_failure<E>(
    status: u16,
    unavailable: impl Fn(Option<u16>, String, bool) -> E,
) -> E {
    let retry = status == 429 || status >= 500;
    let what = if retry {
        "the service failed or is throttling; retry later".to_owned()
    } else {
        "an unexpected answer".to_owned()
    };
    unavailable(Some(status), what, retry)
}

/// An HTTPS client with a deadline per request.
#[derive(Clone)]
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// A client whose requests end after `timeout`, connecting within `connect_timeout`.
    pub(crate) fn new(connect_timeout: Duration, timeout: Duration) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable certificates are skipped, as every rustls user of the system store does.
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                // The ring provider supports the default versions; this branch is unreachable in
                // practice, and an empty configuration fails every TLS handshake visibly.
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_protocol_versions(&[&rustls::version::TLS13])
                .expect("TLS 1.3 with ring")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
            });
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// `GET url` with `headers`.
    pub(crate) async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        max_body: usize,
    ) -> Result<Reply, HttpFailure> {
        self.send(Method::GET, url, headers, Bytes::new(), max_body)
            .await
    }

    /// `POST url` with a form body (`application/x-www-form-urlencoded`).
    #[cfg(any(feature = "gcp", feature = "azure"))]
    pub(crate) async fn post_form(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
        max_body: usize,
    ) -> Result<Reply, HttpFailure> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut all = headers.to_vec();
        all.push(("content-type", "application/x-www-form-urlencoded"));
        self.send(Method::POST, url, &all, Bytes::from(body), max_body)
            .await
    }

    /// `POST url` with a JSON body (`application/json`).
    #[cfg(feature = "gcp")]
    pub(crate) async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        json: &serde_json::Value,
        max_body: usize,
    ) -> Result<Reply, HttpFailure> {
        let mut all = headers.to_vec();
        all.push(("content-type", "application/json"));
        self.send(
            Method::POST,
            url,
            &all,
            Bytes::from(json.to_string()),
            max_body,
        )
        .await
    }

    /// One request, with the URL checked, the deadline applied and the body capped.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        max_body: usize,
    ) -> Result<Reply, HttpFailure> {
        let uri = checked_uri(url)?;
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpFailure::Refused(format!("{name:?} is not a header name")))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| HttpFailure::Refused(format!("the {name} header cannot be sent")))?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|_| HttpFailure::Refused("the request cannot be built".into()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                HttpFailure::Connection(if e.is_connect() {
                    "could not connect"
                } else {
                    "the connection broke"
                })
            })?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = Limited::new(response.into_body(), max_body)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        HttpFailure::TooLarge(max_body)
                    } else {
                        HttpFailure::Connection("the reply broke off")
                    }
                })?
                .to_bytes();
            Ok(Reply {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(HttpFailure::Timeout(self.timeout)))
    }
}

/// The URL as a `Uri`, if this client sends to it: `https://` anywhere, `http://` only to a
/// loopback or link-local address. Configuration checks call it too, so that an endpoint this
/// client would refuse is an error when the file loads rather than at the first request.
pub(crate) fn checked_uri(url: &str) -> Result<Uri, HttpFailure> {
    let uri: Uri = url.parse().map_err(|_| {
        HttpFailure::Refused(format!("{:?} is not a URL", crate::error::cut(url, 100)))
    })?;
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_local(host) => Ok(uri),
        Some("http") => Err(HttpFailure::Refused(format!(
            "refusing to send credentials over plain HTTP to {host}: use https://"
        ))),
        _ => Err(HttpFailure::Refused(format!(
            "{:?} is not an http(s) URL",
            crate::error::cut(url, 100)
        ))),
    }
}

/// Loopback (`127.0.0.0/8`, `::1`, `localhost`) or link-local (`169.254.0.0/16`, `fe80::/10`).
fn is_local(host: &str) -> bool {
    if is_loopback(host) {
        return true;
    }
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(IpAddr::V4(ip)) => ip.is_link_local(),
        Ok(IpAddr::V6(ip)) => (ip.segments()[0] & 0xffc0) == 0xfe80,
        Err(_) => false,
    }
}

/// This machine: `localhost`, `127.0.0.0/8` or `::1` (brackets allowed). Registries here are
/// reached over plain HTTP, as docker reaches them.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `HOST[:PORT]`: no scheme, no path, no whitespace.
#[cfg(feature = "gcp")]
pub(crate) fn check_host_port(field: &str, value: &str) -> Result<(), crate::config::FieldError> {
    crate::config::check_text(field, value)?;
    let ok = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok && !value.starts_with(':') {
        Ok(())
    } else {
        Err(crate::config::FieldError::new(
            field,
            format!(
                "{:?} is not HOST[:PORT]; write it without scheme or path, e.g. 169.254.169.254",
                crate::error::cut(value, 100)
            ),
        ))
    }
}

/// A URL the HTTP client would send to: `https://`, or `http://` to this machine.
#[cfg(any(feature = "gcp", feature = "azure"))]
pub(crate) fn check_endpoint(field: &str, url: &str) -> Result<(), crate::config::FieldError> {
    crate::config::check_text(field, url)?;
    checked_uri(url)
        .map(|_| ())
        .map_err(|e| crate::config::FieldError::new(field, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_goes_only_to_this_machine_or_a_metadata_address() {
        for ok in [
            "https://registry.example.com/v2/",
            "http://127.0.0.1:5000/v2/",
            "http://localhost:8080/token",
            "http://[::1]:9/x",
            "http://169.254.169.254/metadata",
        ] {
            assert!(checked_uri(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://registry.example.com/v2/",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            assert!(checked_uri(refused).is_err(), "{refused}");
        }
    }

    #[tokio::test]
    async fn failures_are_named_by_kind_and_bodies_are_capped() {
        let http = Http::new(Duration::from_secs(2), Duration::from_secs(5));
        // Nothing listens on port 9 of this machine's loopback.
        let e = http.get("http://127.0.0.1:9/", &[], 100).await.unwrap_err();
        assert_eq!(e, HttpFailure::Connection("could not connect"));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let body = "x".repeat(1000);
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nwww-authenticate: Bearer realm=\"r\"\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        let url = format!("http://127.0.0.1:{port}/v2/");
        let reply = http
            .get(&url, &[("authorization", "Basic eDp5")], 2000)
            .await
            .unwrap();
        assert_eq!((reply.status, reply.body.len()), (200, 1000));
        assert_eq!(reply.header("www-authenticate"), Some("Bearer realm=\"r\""));
        assert!(!format!("{reply:?}").contains("xxx"));
        let e = http.get(&url, &[], 100).await.unwrap_err();
        assert_eq!(e, HttpFailure::TooLarge(100));
    }
}

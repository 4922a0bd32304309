//! The HTTP client every AWS call of this crate goes through: the SDK's own hyper 1 + rustls
//! client on the `ring` crypto provider, with TLS set up only when a call needs it.
//!
//! Two things cost a short-lived process more than its one call does:
//!
//! - AWS-LC, `default-https-client`'s crypto library, seeds its entropy pool on the first TLS
//!   connection, tens of milliseconds of CPU: `ring` is used instead (one TLS stack, no second
//!   crypto library).
//! - Loading the system's root certificates (the bundle and `/etc/ssl/certs`, or
//!   `SSL_CERT_FILE`) parses every certificate, a few milliseconds. A call to a plain `http://`
//!   endpoint (IMDS, the container credentials endpoint, a local emulator) needs none of it, so
//!   the TLS connector, and the roots with it, is built on the first `https://` request and
//!   kept; a process that only speaks plain HTTP never loads a certificate.

use std::sync::OnceLock;

use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;

/// A client whose connectors send `http://` requests over plain TCP and build the TLS
/// connector on the first `https://` one.
///
/// One per SDK configuration, not per process: a connection pool is tied to the Tokio runtime
/// it first ran on.
pub(crate) fn https_client() -> SharedHttpClient {
    SchemeClient {
        plain: Builder::new().build_with_connector_fn(|settings, components| {
            let mut connector = ConnectorBuilder::default();
            configure(&mut connector, settings, components);
            connector.build_http()
        }),
        tls: Builder::new().build_with_connector_fn(|settings, components| {
            let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ));
            configure(&mut connector, settings, components);
            connector.build()
        }),
        proxy_needs_tls: proxy_needs_tls(|name| std::env::var(name).ok()),
    }
    .into_shared()
}

/// The settings both connectors share: the SDK's timeouts, its sleep, and the proxy variables
/// (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`) as the SDK's default client honours them.
fn configure<T>(
    connector: &mut ConnectorBuilder<T>,
    settings: Option<&HttpConnectorSettings>,
    components: Option<&RuntimeComponents>,
) {
    connector.set_connector_settings(settings.cloned());
    if let Some(components) = components {
        connector.set_sleep_impl(components.sleep_impl());
    }
    connector.set_proxy_config(Some(ProxyConfig::from_env()));
}

/// The variables that name a proxy for some or all requests.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Whether a proxy variable names an `https://` proxy: then even a plain `http://` request
/// needs TLS (to the proxy), and every request takes the TLS connector.
fn proxy_needs_tls(var: impl Fn(&str) -> Option<String>) -> bool {
    PROXY_VARIABLES
        .iter()
        .filter_map(|name| var(name))
        .any(|value| {
            value
                .trim()
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        })
}

#[derive(Debug)]
struct SchemeClient {
    plain: SharedHttpClient,
    tls: SharedHttpClient,
    proxy_needs_tls: bool,
}

impl HttpClient for SchemeClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        if self.proxy_needs_tls {
            return self.tls.http_connector(settings, components);
        }
        SchemeConnector {
            plain: self.plain.http_connector(settings, components),
            tls_client: self.tls.clone(),
            settings: settings.clone(),
            components: components.clone(),
            tls: OnceLock::new(),
        }
        .into_shared()
    }

    // Not `validate_base_client_config`: the SDK's client builds its connector there, roots
    // and all, which is what this client puts off until an `https://` request.
    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.tls.connector_metadata()
    }
}

/// Sends each request over the connector its URL's scheme needs.
#[derive(Debug)]
struct SchemeConnector {
    plain: SharedHttpConnector,
    tls_client: SharedHttpClient,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
    tls: OnceLock<SharedHttpConnector>,
}

impl HttpConnector for SchemeConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if needs_tls(request.uri()) {
            // The TLS client keeps one connector per settings, so a process builds it (and
            // loads the roots) once however many connectors ask.
            self.tls
                .get_or_init(|| {
                    self.tls_client
                        .http_connector(&self.settings, &self.components)
                })
                .call(request)
        } else {
            self.plain.call(request)
        }
    }
}

/// Anything but a plain `http://` URL goes over TLS (the TLS connector refuses what it cannot
/// serve, as it always did).
fn needs_tls(uri: &str) -> bool {
    !uri.get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_skip_tls() {
        for uri in [
            "http://127.0.0.1:5000/",
            "HTTP://169.254.169.254/latest/api/token",
            "http://localhost",
        ] {
            assert!(!needs_tls(uri), "{uri}");
        }
        for uri in [
            "https://api.ecr.us-east-1.amazonaws.com/",
            "HTTPS://sts.amazonaws.com",
            "httpx://example.com",
            "http:/x",
            "",
        ] {
            assert!(needs_tls(uri), "{uri}");
        }
    }

    #[test]
    fn an_https_proxy_in_any_variable_sends_everything_over_tls() {
        let with = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            proxy_needs_tls(|name| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        };
        assert!(!with(&[]));
        assert!(!with(&[("HTTP_PROXY", "http://proxy:3128")]));
        assert!(!with(&[("NO_PROXY", "https://x")]));
        for name in PROXY_VARIABLES {
            assert!(with(&[(name, " HTTPS://proxy:3129")]), "{name}");
        }
    }
}

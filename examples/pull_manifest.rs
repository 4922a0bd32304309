//! Pull an image manifest with a credential the library resolves: the last step ("Use the private
//! image") of Valohai's guide to pulling from AWS ECR, done by hand.
//!
//! ```sh
//! cargo run --example pull_manifest -- --config registries.toml 127.0.0.1:5000/tiny:v1
//! # image:      127.0.0.1:5000/tiny:v1
//! # entry:      [0] 127.0.0.1:5000/*
//! # digest:     sha256:1b97…
//! # media type: application/vnd.oci.image.manifest.v1+json
//! ```
//!
//! The configuration comes from `--config` or `REGISTRY_AUTH_CONFIG`; AWS calls go to
//! `--endpoint-url` or `AWS_ENDPOINT_URL` when set (an emulator). `scripts/registry` starts a
//! registry to try it on, and `tests/pull.rs` runs [`pull`] against one.
//!
//! The fetch is one `GET /v2/<repository>/manifests/<tag or digest>` with
//! `Authorization: Basic base64(AWS:<password>)` and the manifest media types in `Accept`; the
//! body is checked against `Docker-Content-Digest` (and the reference's own digest, when it
//! names one).
//!
//! # HTTPS
//!
//! This example speaks plain HTTP, and only to loopback. For a real registry, build the client
//! with the rustls connector that is already in the dependency tree through the AWS SDK (no
//! second TLS stack): add `hyper-rustls = { version = "0.27", default-features = false,
//! features = ["http1", "native-tokio", "aws-lc-rs"] }` and
//!
//! ```ignore
//! let https = hyper_rustls::HttpsConnectorBuilder::new()
//!     .with_native_roots()?
//!     .https_only()
//!     .enable_http1()
//!     .build();
//! let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(https);
//! ```
//!
//! then send `https://` URLs.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use registry_auth::aws::AwsOptions;
use registry_auth::{
    DefaultResolver, ImageReference, RegistryConfig, RegistryCredential, RegistryResolver,
};
use sha2::{Digest, Sha256};

/// The manifest types a pull accepts, most wanted first.
pub const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Manifests are small; anything bigger is refused rather than read.
const MAX_MANIFEST: usize = 4 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(30);

/// A fetched manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `sha256:…` of the body, as checked.
    pub digest: String,
    /// The `Content-Type` the registry gave.
    pub media_type: String,
    /// The manifest itself.
    pub body: Bytes,
}

/// What a pull resolved and fetched.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The normalised image.
    pub image: ImageReference,
    /// The entry that served it: position and pattern.
    pub entry: (usize, String),
    /// The manifest.
    pub manifest: Manifest,
}

/// Why a pull failed. No variant holds the password.
#[derive(Debug)]
pub enum PullError {
    /// Resolving the credential failed.
    Resolve(registry_auth::Error),
    /// The registry answered 401: it refused the credential.
    Unauthorized {
        /// `HOST[:PORT]`.
        registry: String,
        /// The user name sent.
        username: String,
        /// The `WWW-Authenticate` challenge, if any.
        challenge: Option<String>,
    },
    /// Any other non-success answer.
    Status {
        /// `HOST[:PORT]/REPOSITORY:REF`.
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// The registry's error code and message, when it sent them.
        detail: String,
    },
    /// The body does not match its digest.
    DigestMismatch {
        /// The digest the registry or the reference promised.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// Connecting, sending or reading failed.
    Transport(String),
    /// This example only speaks plain HTTP to loopback.
    NotLoopback(String),
}

impl fmt::Display for PullError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PullError::Resolve(e) => write!(f, "could not resolve a credential: {e}"),
            PullError::Unauthorized {
                registry,
                username,
                challenge,
            } => write!(
                f,
                "401 Unauthorized: {registry} refused the credentials for user {username}{}; the password is wrong, expired, or minted for another registry account: check which entry serves the image (registry-auth explain) and that the registry expects that account's token",
                challenge
                    .as_deref()
                    .map(|c| format!(" (it asks for {c})"))
                    .unwrap_or_default()
            ),
            PullError::Status {
                url,
                status,
                detail,
            } => write!(f, "{url}: the registry answered {status}{detail}"),
            PullError::DigestMismatch { expected, actual } => write!(
                f,
                "the manifest's digest is {actual}, not {expected}: it was changed on the way"
            ),
            PullError::Transport(e) => write!(f, "{e}"),
            PullError::NotLoopback(host) => write!(
                f,
                "{host} is not a loopback address: this example speaks plain HTTP to 127.0.0.1 / localhost only (its doc comment shows how to add HTTPS)"
            ),
        }
    }
}

impl std::error::Error for PullError {}

/// Resolves the credential for `image` with the entries of `config`, then fetches its
/// manifest: what `main` does, as a function the tests call.
pub async fn pull(config: &Path, image: &str, aws: AwsOptions) -> Result<Pulled, PullError> {
    let image = ImageReference::parse(image).map_err(|e| PullError::Resolve(e.into()))?;
    let config = RegistryConfig::load(config).map_err(PullError::Resolve)?;
    let resolver = DefaultResolver::builder()
        .aws_options(aws)
        .config(&config)
        .build()
        .map_err(PullError::Resolve)?;
    let resolved = resolver.resolve(&image).await.map_err(PullError::Resolve)?;
    let entry = (resolved.entry, resolved.pattern.to_string());
    let manifest = fetch_manifest(&image, &resolved.credential).await?;
    Ok(Pulled {
        image,
        entry,
        manifest,
    })
}

/// `GET /v2/<repository>/manifests/<digest or tag>` on `image`'s registry with `login`.
pub async fn fetch_manifest(
    image: &ImageReference,
    login: &RegistryCredential,
) -> Result<Manifest, PullError> {
    let host = image.host();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(PullError::NotLoopback(host.to_owned()));
    }
    let reference = image.digest().or(image.tag()).unwrap_or("latest");
    let url = format!(
        "http://{}/v2/{}/manifests/{reference}",
        image.domain(),
        image.repository()
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        login.username(),
        login.expose_password()
    ));
    let mut authorization = HeaderValue::from_str(&format!("Basic {basic}"))
        .map_err(|_| PullError::Transport("the credential cannot be sent as a header".into()))?;
    authorization.set_sensitive(true);
    let mut request = Request::get(&url);
    for media_type in MANIFEST_TYPES {
        request = request.header(ACCEPT, media_type);
    }
    let request = request
        .header(AUTHORIZATION, authorization)
        .body(Empty::<Bytes>::new())
        .map_err(|e| PullError::Transport(format!("{url}: {e}")))?;

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .map_err(|_| PullError::Transport(format!("{url}: no answer within {TIMEOUT:?}")))?
        .map_err(|e| PullError::Transport(format!("{url}: {e}")))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = Limited::new(response.into_body(), MAX_MANIFEST)
        .collect()
        .await
        .map_err(|e| PullError::Transport(format!("{url}: reading the answer: {e}")))?
        .to_bytes();

    if status == StatusCode::UNAUTHORIZED {
        return Err(PullError::Unauthorized {
            registry: image.domain().to_owned(),
            username: login.username().to_owned(),
            challenge: headers
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
    }
    if !status.is_success() {
        return Err(PullError::Status {
            url: format!("{}/{}:{reference}", image.domain(), image.repository()),
            status,
            detail: registry_error(&body),
        });
    }
    let digest = format!("sha256:{}", hex(&Sha256::digest(&body)));
    let promised = image.digest().map(str::to_owned).or_else(|| {
        headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    if let Some(expected) = promised.filter(|d| d.starts_with("sha256:")) {
        if expected != digest {
            return Err(PullError::DigestMismatch {
                expected,
                actual: digest,
            });
        }
    }
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Ok(Manifest {
        digest,
        media_type,
        body,
    })
}

/// `: CODE: message` from a distribution error body (`{"errors": [{"code", "message"}]}`).
fn registry_error(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match v["errors"].get(0) {
        Some(e) => format!(
            ": {}: {}",
            e["code"].as_str().unwrap_or("?"),
            e["message"].as_str().unwrap_or("")
        ),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Args {
    config: PathBuf,
    endpoint_url: Option<String>,
    image: String,
}

fn parse_args() -> Result<Args, String> {
    const USAGE: &str =
        "usage: pull_manifest [--config FILE] [--endpoint-url URL] IMAGE (or REGISTRY_AUTH_CONFIG)";
    let mut config = std::env::var_os("REGISTRY_AUTH_CONFIG").map(PathBuf::from);
    let (mut endpoint_url, mut image) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = args.next().map(PathBuf::from),
            "--endpoint-url" => endpoint_url = args.next(),
            "-h" | "--help" => return Err(USAGE.into()),
            _ if image.is_none() && !arg.starts_with('-') => image = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}; {USAGE}")),
        }
    }
    Ok(Args {
        config: config.ok_or(USAGE)?,
        endpoint_url,
        image: image.ok_or(USAGE)?,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut aws = AwsOptions::default();
    if let Some(url) = args.endpoint_url {
        aws = aws.with_endpoint_url(url);
    }
    match pull(&args.config, &args.image, aws).await {
        Ok(p) => {
            println!("image:      {}", p.image);
            println!("entry:      [{}] {}", p.entry.0, p.entry.1);
            println!("digest:     {}", p.manifest.digest);
            println!("media type: {}", p.manifest.media_type);
            println!("size:       {} bytes", p.manifest.body.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pull_manifest: {e}");
            ExitCode::from(1)
        }
    }
}

//! The front ends container tooling runs: the docker credential helper ([`docker`]) and the
//! kubelet credential provider ([`kubelet`]), and the start-up they share ([`Setup`]): where the
//! configuration is, who is asking, where tokens are kept between processes, how logs look.
//! Beside them, the checks run before a job ([`check`]: `check --live`) and on the machine
//! ([`doctor`]).
//!
//! They talk to the library through [`DefaultResolver`]'s public API only, load the
//! configuration once, and run on one current-thread Tokio runtime. Behind the `cli` feature.

pub mod check;
pub mod docker;
pub mod doctor;
pub mod kubelet;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use crate::aws::AwsOptions;
use crate::cache::TokenStore;
use crate::config::{ConfigError, RegistryConfig};
use crate::scope::ResolveContext;
use crate::{DefaultResolver, Error};

/// The organisation whose job asks, for the docker helper and the kubelet plugin.
pub const OWNER_VAR: &str = "REGISTRY_AUTH_OWNER";
/// The environment (worker pool) the job runs in.
pub const ENVIRONMENT_VAR: &str = "REGISTRY_AUTH_ENVIRONMENT";
/// The registry configuration file.
pub const CONFIG_VAR: &str = "REGISTRY_AUTH_CONFIG";
/// The log filter (`warn` by default; `debug`, `registry_auth=trace`, ...).
pub const LOG_VAR: &str = "REGISTRY_AUTH_LOG";

/// Logs to stderr at `warn`, or as `REGISTRY_AUTH_LOG` says (an `EnvFilter` directive such as
/// `debug` or `registry_auth=trace`). Secrets never reach the log at any level.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(LOG_VAR)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .without_time()
        .try_init();
}

/// The one runtime a front end runs on: current-thread, with the I/O and time drivers the AWS
/// SDK needs.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("the async runtime", e))
}

/// `REGISTRY_AUTH_CONFIG` when set (and not empty), else
/// `$HOME/.config/registry-auth/registries.toml`; `None` when neither is known.
pub fn default_config_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(CONFIG_VAR).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".config/registry-auth/registries.toml"))
}

/// Who asks, from `REGISTRY_AUTH_OWNER` and `REGISTRY_AUTH_ENVIRONMENT`. Neither set: a request
/// without an organisation, which only unscoped entries serve.
pub fn context_from_env() -> ResolveContext {
    let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    context(var(OWNER_VAR), var(ENVIRONMENT_VAR), false)
}

/// The context for an owner, an environment and whether a personal project asks.
pub fn context(
    owner: Option<String>,
    environment: Option<String>,
    personal: bool,
) -> ResolveContext {
    match (owner, personal) {
        (_, true) => ResolveContext::personal("cli"),
        (Some(org), false) => {
            let ctx = ResolveContext::organization(org);
            match environment {
                Some(env) => ctx.with_environment(env),
                None => ctx,
            }
        }
        (None, false) => ResolveContext::unscoped(),
    }
}

/// Where tokens are kept between processes.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum DiskChoice {
    /// `$XDG_CACHE_HOME/registry-auth`, else `~/.cache/registry-auth`.
    #[default]
    Default,
    /// This directory.
    Dir(PathBuf),
    /// Nowhere: every process fetches upstream.
    Off,
}

impl DiskChoice {
    /// The store, or `None` after a warning saying why it cannot be used (the caller then
    /// fetches upstream every time).
    pub fn open(&self) -> Option<Arc<dyn TokenStore>> {
        #[cfg(unix)]
        {
            use crate::cache::DiskStore;
            let opened = match self {
                DiskChoice::Default => DiskStore::open_default(),
                DiskChoice::Dir(dir) => DiskStore::open(dir),
                DiskChoice::Off => return None,
            };
            match opened {
                Ok(disk) => Some(Arc::new(disk)),
                Err(e) => {
                    tracing::warn!(error = %e, "no disk token cache; every run asks upstream");
                    None
                }
            }
        }
        #[cfg(not(unix))]
        {
            None
        }
    }
}

/// What a front end needs before it answers: the configuration file, AWS settings, the disk
/// store and who asks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Setup {
    /// The registry configuration file; `None` when none is known.
    pub config: Option<PathBuf>,
    /// Endpoint, timeouts and retries for AWS calls.
    pub aws: AwsOptions,
    /// Where tokens are kept between processes.
    pub disk: DiskChoice,
    /// Who asks.
    pub context: ResolveContext,
}

impl Setup {
    /// The configuration at `config`, default AWS settings, the default disk store, and no
    /// context.
    pub fn new(config: impl Into<PathBuf>) -> Self {
        Self {
            config: Some(config.into()),
            aws: AwsOptions::default(),
            disk: DiskChoice::Default,
            context: ResolveContext::unscoped(),
        }
    }

    /// As the binaries run: [`default_config_path`], the default disk store,
    /// `AWS_ENDPOINT_URL*` honoured by the SDK, and the context from
    /// [`context_from_env`].
    pub fn from_env() -> Self {
        Self {
            config: default_config_path(),
            aws: AwsOptions::default(),
            disk: DiskChoice::Default,
            context: context_from_env(),
        }
    }

    /// Loads the configuration (reading no secret).
    pub fn load_config(&self) -> Result<RegistryConfig, Error> {
        let path = self.config.as_deref().ok_or_else(|| {
            ConfigError::new(
                "the registry configuration",
                format!("no file is known: set {CONFIG_VAR}, or create ~/.config/registry-auth/registries.toml (HOME is not set)"),
            )
        })?;
        RegistryConfig::load(path)
    }

    /// A resolver over `config`, with this setup's AWS settings and disk store.
    pub fn resolver(&self, config: &RegistryConfig) -> Result<DefaultResolver, Error> {
        let mut builder = DefaultResolver::builder()
            .aws_options(self.aws.clone())
            .config(config);
        if let Some(store) = self.disk.open() {
            builder = builder.store(store);
        }
        builder.build()
    }
}

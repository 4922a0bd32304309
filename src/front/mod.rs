//! The front ends container tooling runs: the docker credential helper ([`docker`]) and the
//! kubelet credential provider ([`kubelet`]), and the start-up they share ([`Setup`]): which
//! configuration file ([`find_config`]), who is asking, where tokens are kept between
//! processes ([`DiskChoice`]), how logs look ([`init_logging`]), and a note when a call is
//! slow ([`notify_if_slow`]).
//! Beside them, the checks run before a job ([`check`]: `check --live`) and on the machine
//! ([`doctor`]).
//!
//! They talk to the library through [`DefaultResolver`]'s public API only, load the
//! configuration once, and run on one current-thread Tokio runtime. Behind the `cli` feature.
//!
//! # Environment
//!
//! | variable | effect |
//! | --- | --- |
//! | `REGISTRY_AUTH_CONFIG` | the configuration file, unless `--config` names one |
//! | `REGISTRY_AUTH_OWNER`, `REGISTRY_AUTH_ENVIRONMENT` | who asks (docker helper, kubelet) |
//! | `REGISTRY_AUTH_CACHE_DIR` | the disk token cache's directory |
//! | `REGISTRY_AUTH_NO_DISK_CACHE` | `1`: no disk token cache |
//! | `REGISTRY_AUTH_LOG` | the log filter (`warn` by default) |
//! | `REGISTRY_AUTH_LOG_FILE` | a `0600` file that receives the log too |
//! | `REGISTRY_AUTH_IGNORE_CREDS_STORAGE` | `true`: the helper's `store`/`erase` succeed doing nothing |
//! | `NO_COLOR` | no colour in logs |
//!
//! # Windows
//!
//! The library and both binaries build for Windows. The disk token cache needs Unix file
//! modes and owners to keep tokens private, so on Windows there is none: every process asks
//! upstream (the in-process cache still serves repeated requests), and `REGISTRY_AUTH_CACHE_DIR`
//! is ignored with a warning. The configuration's file-mode check does not apply; the per-user
//! configuration is `registry-auth\registries.toml` in the roaming AppData folder, and there is
//! no system-wide file (name one with `REGISTRY_AUTH_CONFIG`).

pub mod check;
pub mod discovery;
pub mod docker;
pub mod doctor;
pub mod kubelet;
pub mod logging;
pub mod progress;

use std::path::PathBuf;
use std::sync::Arc;

use crate::aws::AwsOptions;
use crate::cache::TokenStore;
use crate::config::{ConfigError, RegistryConfig};
use crate::scope::ResolveContext;
use crate::{DefaultResolver, Error};

#[cfg(unix)]
pub use discovery::SYSTEM_CONFIG;
pub use discovery::{find_config, ConfigLocation, ConfigNotFound, ConfigReason};
pub use logging::{init_logging, init_tracing, report, use_color, Verbosity, LOG_FILE_VAR};
pub use progress::{notify_if_slow, waiting_for, SLOW_AFTER};

/// The organisation whose job asks, for the docker helper and the kubelet plugin.
pub const OWNER_VAR: &str = "REGISTRY_AUTH_OWNER";
/// The environment (worker pool) the job runs in.
pub const ENVIRONMENT_VAR: &str = "REGISTRY_AUTH_ENVIRONMENT";
/// The registry configuration file.
pub const CONFIG_VAR: &str = "REGISTRY_AUTH_CONFIG";
/// The log filter (`warn` by default; `debug`, `registry_auth=trace`, ...).
pub const LOG_VAR: &str = "REGISTRY_AUTH_LOG";
/// The disk token cache's directory, instead of `$XDG_CACHE_HOME/registry-auth`.
pub const CACHE_DIR_VAR: &str = "REGISTRY_AUTH_CACHE_DIR";
/// `1` (or `true`, `yes`): keep no tokens on disk.
pub const NO_DISK_CACHE_VAR: &str = "REGISTRY_AUTH_NO_DISK_CACHE";

/// The one runtime a front end runs on: current-thread, with the I/O and time drivers the AWS
/// SDK needs.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("the async runtime", e))
}

/// Whether a switch variable's value turns it on: anything but empty, `0`, `false`, `no` or
/// `off` (any case).
pub fn switch_on(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        !(v.is_empty()
            || v == "0"
            || ["false", "no", "off"]
                .iter()
                .any(|off| v.eq_ignore_ascii_case(off)))
    })
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// From `REGISTRY_AUTH_NO_DISK_CACHE` (which wins) and `REGISTRY_AUTH_CACHE_DIR`.
    pub fn from_env() -> Self {
        Self::from_values(
            std::env::var(NO_DISK_CACHE_VAR).ok().as_deref(),
            std::env::var_os(CACHE_DIR_VAR).map(PathBuf::from),
        )
    }

    /// From the `--cache-dir` and `--no-disk-cache` flags, falling back on the environment
    /// ([`from_env`](Self::from_env)) for what they leave open.
    pub fn from_flags(cache_dir: Option<PathBuf>, no_disk_cache: bool) -> Self {
        match (no_disk_cache, cache_dir) {
            (true, _) => DiskChoice::Off,
            (false, Some(dir)) => DiskChoice::Dir(dir),
            (false, None) => Self::from_env(),
        }
    }

    fn from_values(no_disk_cache: Option<&str>, cache_dir: Option<PathBuf>) -> Self {
        if switch_on(no_disk_cache) {
            return DiskChoice::Off;
        }
        match cache_dir.filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => DiskChoice::Dir(dir),
            None => DiskChoice::Default,
        }
    }

    /// The store, or `None` after a warning saying why it cannot be used (the caller then
    /// fetches upstream every time).
    pub fn open(&self) -> Option<Arc<dyn TokenStore>> {
        #[cfg(unix)]
        {
            self.open_disk()
                .map(|disk| Arc::new(disk) as Arc<dyn TokenStore>)
        }
        #[cfg(not(unix))]
        {
            if let DiskChoice::Dir(dir) = self {
                tracing::warn!(
                    dir = %dir.display(),
                    "the disk token cache is Unix-only; every run asks upstream"
                );
            }
            None
        }
    }

    #[cfg(unix)]
    fn open_disk(&self) -> Option<crate::cache::DiskStore> {
        use crate::cache::DiskStore;
        let opened = match self {
            DiskChoice::Default => DiskStore::open_default(),
            DiskChoice::Dir(dir) => DiskStore::open(dir),
            DiskChoice::Off => return None,
        };
        match opened {
            Ok(disk) => Some(disk),
            Err(e) => {
                tracing::warn!(error = %e, "no disk token cache; every run asks upstream");
                None
            }
        }
    }
}

/// What a front end needs before it answers: the configuration file, AWS settings, the disk
/// store and who asks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Setup {
    /// The registry configuration file and why it was chosen, or where none was found.
    pub config: Result<ConfigLocation, ConfigNotFound>,
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
            config: Ok(ConfigLocation::given(config)),
            aws: AwsOptions::default(),
            disk: DiskChoice::Default,
            context: ResolveContext::unscoped(),
        }
    }

    /// As the docker helper runs: the configuration from [`find_config`], the disk store from
    /// [`DiskChoice::from_env`], `AWS_ENDPOINT_URL*` honoured by the SDK, and the context from
    /// [`context_from_env`].
    pub fn from_env() -> Self {
        Self::discover(None)
    }

    /// [`from_env`](Self::from_env), with `--config` when given.
    pub fn discover(config_flag: Option<PathBuf>) -> Self {
        Self {
            config: find_config(config_flag.as_deref()),
            aws: AwsOptions::default(),
            disk: DiskChoice::from_env(),
            context: context_from_env(),
        }
    }

    /// Loads the configuration (reading no secret).
    pub fn load_config(&self) -> Result<RegistryConfig, Error> {
        let found = self
            .config
            .as_ref()
            .map_err(|e| ConfigError::new("the registry configuration", e.to_string()))?;
        tracing::info!(file = %found.path.display(), reason = %found.reason, "configuration");
        RegistryConfig::load(&found.path)
    }

    /// The entries that could serve the registry `host`/`port`, and a resolver over them, for a
    /// process that answers one request: through the compiled snapshot of the configuration
    /// kept beside the disk store, so that a configuration of any size costs a few file reads
    /// rather than a parse of the whole file. Without a disk store, the whole file is read.
    pub fn resolver_for_registry(
        &self,
        host: &str,
        port: Option<u16>,
    ) -> Result<(RegistryConfig, DefaultResolver), Error> {
        #[cfg(unix)]
        if let (Ok(found), Some(disk)) = (self.config.as_ref(), self.disk.open_disk()) {
            tracing::info!(file = %found.path.display(), reason = %found.reason, "configuration");
            let config =
                crate::config::snapshot::load_for_registry(&found.path, &disk, host, port)?;
            let resolver = self.build(&config, Some(Arc::new(disk)))?;
            return Ok((config, resolver));
        }
        let _ = (host, port);
        let config = self.load_config()?;
        let resolver = self.resolver(&config)?;
        Ok((config, resolver))
    }

    /// A resolver over `config`, with this setup's AWS settings and disk store.
    pub fn resolver(&self, config: &RegistryConfig) -> Result<DefaultResolver, Error> {
        self.build(config, self.disk.open())
    }

    fn build(
        &self,
        config: &RegistryConfig,
        store: Option<Arc<dyn TokenStore>>,
    ) -> Result<DefaultResolver, Error> {
        let mut builder = DefaultResolver::builder()
            .aws_options(self.aws.clone())
            .config(config);
        if let Some(store) = store {
            builder = builder.store(store);
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_are_on_unless_empty_or_a_no() {
        for on in ["1", "true", "TRUE", "yes", " 1 ", "anything"] {
            assert!(switch_on(Some(on)), "{on:?}");
        }
        for off in ["", "  ", "0", "false", "False", "no", "OFF"] {
            assert!(!switch_on(Some(off)), "{off:?}");
        }
        assert!(!switch_on(None));
    }

    #[test]
    fn no_disk_cache_beats_a_cache_dir_and_flags_beat_the_environment() {
        let dir = || Some(PathBuf::from("/srv/cache"));
        assert_eq!(DiskChoice::from_values(None, None), DiskChoice::Default);
        assert_eq!(
            DiskChoice::from_values(None, dir()),
            DiskChoice::Dir("/srv/cache".into())
        );
        assert_eq!(
            DiskChoice::from_values(None, Some(PathBuf::new())),
            DiskChoice::Default
        );
        assert_eq!(DiskChoice::from_values(Some("1"), dir()), DiskChoice::Off);
        assert_eq!(
            DiskChoice::from_values(Some("0"), dir()),
            DiskChoice::Dir("/srv/cache".into())
        );
        assert_eq!(DiskChoice::from_flags(dir(), true), DiskChoice::Off);
        assert_eq!(
            DiskChoice::from_flags(dir(), false),
            DiskChoice::Dir("/srv/cache".into())
        );
    }
}

//! Which registry configuration file a front end reads, and why: one search, the same for the
//! docker helper, the kubelet plugin and every `registry-auth` subcommand.
//!
//! 1. `--config FILE` on the command line;
//! 2. else `REGISTRY_AUTH_CONFIG` (when not empty);
//! 3. else the per-user file, `registry-auth/registries.toml` in the user's configuration
//!    directory (`$XDG_CONFIG_HOME`, else `~/.config`; the roaming AppData folder on Windows),
//!    when it exists;
//! 4. else the system-wide `/etc/registry-auth/registries.toml` (Unix), when it exists.
//!
//! A file named by the first two is used as given, existing or not, so a typo is reported
//! rather than silently replaced by another file. `registry-auth config path` prints the
//! outcome and its reason.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use super::CONFIG_VAR;

/// The file name inside the per-user and system directories.
pub const CONFIG_FILE: &str = "registries.toml";
/// The directory under the user's configuration directory, and under `/etc`.
pub const CONFIG_DIR: &str = "registry-auth";
/// The system-wide configuration, looked at last.
#[cfg(unix)]
pub const SYSTEM_CONFIG: &str = "/etc/registry-auth/registries.toml";

/// Why a configuration file was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigReason {
    /// Named on the command line (`--config`), or by the embedding program.
    Given,
    /// Named by `REGISTRY_AUTH_CONFIG`.
    Env,
    /// The per-user file exists; `xdg` says whether `XDG_CONFIG_HOME` placed it.
    User {
        /// `XDG_CONFIG_HOME` is set (to an absolute path) and was used.
        xdg: bool,
    },
    /// The system-wide file exists and no per-user file does (`user` is where it was looked
    /// for, when a home directory is known).
    System {
        /// Where the per-user file would have been.
        user: Option<PathBuf>,
    },
}

impl fmt::Display for ConfigReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigReason::Given => f.write_str("given with --config"),
            ConfigReason::Env => write!(f, "named by {CONFIG_VAR}"),
            ConfigReason::User { xdg: true } => write!(
                f,
                "the per-user file under $XDG_CONFIG_HOME ({CONFIG_VAR} is not set)"
            ),
            ConfigReason::User { xdg: false } => write!(
                f,
                "the per-user file ({CONFIG_VAR} and XDG_CONFIG_HOME are not set)"
            ),
            ConfigReason::System { user: Some(user) } => write!(
                f,
                "the system-wide file: {CONFIG_VAR} is not set and {} does not exist",
                user.display()
            ),
            ConfigReason::System { user: None } => write!(
                f,
                "the system-wide file: {CONFIG_VAR} is not set and no home directory is known"
            ),
        }
    }
}

/// The configuration file a front end reads, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigLocation {
    /// The file.
    pub path: PathBuf,
    /// Why this one.
    pub reason: ConfigReason,
}

impl ConfigLocation {
    /// A file named by the caller.
    pub fn given(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            reason: ConfigReason::Given,
        }
    }
}

/// No configuration file was named and none exists where one is looked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no registry configuration: neither --config nor {CONFIG_VAR} names one, and {}; create one there, or pass --config FILE", self.looked())]
pub struct ConfigNotFound {
    /// The places looked at, in order.
    pub searched: Vec<PathBuf>,
}

impl ConfigNotFound {
    fn looked(&self) -> String {
        match self.searched.as_slice() {
            [] => "no home directory is known".to_owned(),
            paths => {
                let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                format!("none exists at {}", list.join(" or "))
            }
        }
    }
}

/// Finds the configuration file as every front end does (see the [module documentation](self)),
/// from `flag` (`--config`), the environment and the file system.
pub fn find_config(flag: Option<&Path>) -> Result<ConfigLocation, ConfigNotFound> {
    Search {
        flag: flag.map(Path::to_path_buf),
        env: std::env::var_os(CONFIG_VAR),
        user_dir: user_config_dir(),
        system: system_config(),
    }
    .run()
}

/// The per-user configuration directory, and whether `XDG_CONFIG_HOME` placed it.
fn user_config_dir() -> Option<(PathBuf, bool)> {
    use etcetera::BaseStrategy;
    let strategy = etcetera::choose_base_strategy().ok()?;
    let xdg = cfg!(not(windows))
        && std::env::var_os("XDG_CONFIG_HOME").is_some_and(|v| Path::new(&v).is_absolute());
    Some((strategy.config_dir(), xdg))
}

#[cfg(unix)]
fn system_config() -> Option<PathBuf> {
    Some(PathBuf::from(SYSTEM_CONFIG))
}

/// Windows has no `/etc`; a machine-wide file is named with `REGISTRY_AUTH_CONFIG`.
#[cfg(not(unix))]
fn system_config() -> Option<PathBuf> {
    None
}

/// The inputs of the search, so that it can be tested without touching the process's
/// environment or `/etc`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Search {
    pub(crate) flag: Option<PathBuf>,
    pub(crate) env: Option<OsString>,
    /// The user's configuration directory and whether `XDG_CONFIG_HOME` placed it.
    pub(crate) user_dir: Option<(PathBuf, bool)>,
    pub(crate) system: Option<PathBuf>,
}

impl Search {
    pub(crate) fn run(self) -> Result<ConfigLocation, ConfigNotFound> {
        if let Some(path) = self.flag {
            return Ok(ConfigLocation::given(path));
        }
        if let Some(path) = self.env.filter(|p| !p.is_empty()) {
            return Ok(ConfigLocation {
                path: PathBuf::from(path),
                reason: ConfigReason::Env,
            });
        }
        let mut searched = Vec::new();
        let user = self
            .user_dir
            .map(|(dir, xdg)| (dir.join(CONFIG_DIR).join(CONFIG_FILE), xdg));
        if let Some((path, xdg)) = &user {
            if path.is_file() {
                return Ok(ConfigLocation {
                    path: path.clone(),
                    reason: ConfigReason::User { xdg: *xdg },
                });
            }
            searched.push(path.clone());
        }
        if let Some(system) = self.system {
            if system.is_file() {
                return Ok(ConfigLocation {
                    path: system,
                    reason: ConfigReason::System {
                        user: user.map(|(p, _)| p),
                    },
                });
            }
            searched.push(system);
        }
        Err(ConfigNotFound { searched })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dirs {
        _tmp: tempfile::TempDir,
        user: PathBuf,
        system: PathBuf,
    }

    fn dirs() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("home/.config");
        let system = tmp.path().join("etc/registry-auth/registries.toml");
        Dirs {
            user,
            system,
            _tmp: tmp,
        }
    }

    fn create(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    fn search(d: &Dirs) -> Search {
        Search {
            flag: None,
            env: None,
            user_dir: Some((d.user.clone(), false)),
            system: Some(d.system.clone()),
        }
    }

    #[test]
    fn the_flag_wins_then_the_variable_even_for_files_that_do_not_exist() {
        let d = dirs();
        let user_file = d.user.join("registry-auth/registries.toml");
        create(&user_file);
        create(&d.system);
        let found = Search {
            flag: Some("/nowhere/flag.toml".into()),
            env: Some("/nowhere/env.toml".into()),
            ..search(&d)
        }
        .run()
        .unwrap();
        assert_eq!(found, ConfigLocation::given("/nowhere/flag.toml"));
        let found = Search {
            env: Some("/nowhere/env.toml".into()),
            ..search(&d)
        }
        .run()
        .unwrap();
        assert_eq!(found.path, Path::new("/nowhere/env.toml"));
        assert_eq!(found.reason, ConfigReason::Env);
        assert!(found.reason.to_string().contains("REGISTRY_AUTH_CONFIG"));
        // An empty variable is no choice.
        let found = Search {
            env: Some("".into()),
            ..search(&d)
        }
        .run()
        .unwrap();
        assert_eq!(found.path, user_file);
    }

    #[test]
    fn the_user_file_comes_before_the_system_file_when_it_exists() {
        let d = dirs();
        let user_file = d.user.join("registry-auth/registries.toml");
        create(&d.system);
        let found = search(&d).run().unwrap();
        assert_eq!(found.path, d.system);
        assert_eq!(
            found.reason,
            ConfigReason::System {
                user: Some(user_file.clone())
            }
        );
        assert!(found
            .reason
            .to_string()
            .contains(&user_file.display().to_string()));

        create(&user_file);
        let found = search(&d).run().unwrap();
        assert_eq!(found.path, user_file);
        assert_eq!(found.reason, ConfigReason::User { xdg: false });
        let found = Search {
            user_dir: Some((d.user.clone(), true)),
            ..search(&d)
        }
        .run()
        .unwrap();
        assert!(found.reason.to_string().contains("XDG_CONFIG_HOME"));
    }

    #[test]
    fn nothing_found_names_every_place_looked_at() {
        let d = dirs();
        let e = search(&d).run().unwrap_err();
        assert_eq!(
            e.searched,
            vec![
                d.user.join("registry-auth/registries.toml"),
                d.system.clone()
            ]
        );
        let text = e.to_string();
        assert!(text.contains("REGISTRY_AUTH_CONFIG") && text.contains("--config"));
        assert!(text.contains(&d.system.display().to_string()), "{text}");
        // A directory where the file should be is not a configuration.
        std::fs::create_dir_all(d.user.join("registry-auth/registries.toml")).unwrap();
        assert!(search(&d).run().is_err());
        let e = Search::default().run().unwrap_err();
        assert!(e.to_string().contains("no home directory"), "{e}");
    }
}

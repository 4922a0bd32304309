//! What a resolve hands back: a registry login, usually one that expires.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};

/// A registry login: `docker login -u USERNAME -p PASSWORD SERVER`, good until
/// [`expires_at`](Self::expires_at) when it expires.
///
/// Cloning is cheap (one reference count): the cache hands out the same login to every caller
/// without copying the password. `Debug` never shows the password; read it with
/// [`expose_password`](Self::expose_password) at the moment it is sent.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use registry_auth::RegistryCredential;
///
/// let login = RegistryCredential::new(
///     "AWS",
///     "from-ecr".into(),
///     "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
///     Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
/// );
/// assert_eq!(login.username(), "AWS");
/// assert_eq!(login.expose_password(), "from-ecr");
/// assert!(!format!("{login:?}").contains("from-ecr"));
/// ```
#[derive(Clone)]
pub struct RegistryCredential {
    inner: Arc<Inner>,
}

struct Inner {
    username: String,
    password: SecretString,
    server: String,
    expires_at: Option<SystemTime>,
}

impl RegistryCredential {
    /// A credential from its parts; `expires_at` is `None` for a password that does not expire
    /// (a plain registry's).
    pub fn new(
        username: impl Into<String>,
        password: SecretString,
        server: impl Into<String>,
        expires_at: Option<SystemTime>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                username: username.into(),
                password,
                server: server.into(),
                expires_at,
            }),
        }
    }

    /// The user name to log in with: `AWS` for every ECR token.
    pub fn username(&self) -> &str {
        &self.inner.username
    }

    /// The password, still wrapped: `Debug` and `Display` of it show `[REDACTED]`.
    pub fn password(&self) -> &SecretString {
        &self.inner.password
    }

    /// The password in the clear, to send to the registry. Keep it out of logs.
    pub fn expose_password(&self) -> &str {
        self.inner.password.expose_secret()
    }

    /// The registry endpoint the credential is for, e.g.
    /// `https://123456789012.dkr.ecr.us-east-1.amazonaws.com`.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// When the registry stops accepting the password; `None` if it never does.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner.expires_at
    }

    /// How long the credential stays good after `now`: zero once it has expired, `None` if it
    /// never expires.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.inner
            .expires_at
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
    }

    /// The same login, expiring at `expires_at` instead.
    pub fn with_expires_at(&self, expires_at: Option<SystemTime>) -> Self {
        Self::new(
            self.inner.username.clone(),
            self.inner.password.clone(),
            self.inner.server.clone(),
            expires_at,
        )
    }
}

impl fmt::Debug for RegistryCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredential")
            .field("username", &self.inner.username)
            .field("password", &"[REDACTED]")
            .field("server", &self.inner.server)
            .field(
                "expires_at",
                &self.inner.expires_at.map(crate::time::rfc3339),
            )
            .finish()
    }
}

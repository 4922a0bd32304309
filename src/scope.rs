//! Who is asking: the scope of an entry, and the context of a resolve.
//!
//! Two rules of a platform that pulls for many organisations' jobs: private registries are for **organisation** projects (personal projects
//! have no access to them), and a dedicated role can be **restricted to some environments**
//! (worker pools). A resolver that ignored who is asking would be a confused deputy, lending one
//! organisation's credentials to another's job; so an entry carries an [`EntryScope`] and a
//! resolve may carry a [`ResolveContext`]. Scope rules apply *before* best match: an entry the
//! context may not use is never a candidate, and the next best permitted entry serves instead.
//!
//! ```
//! use registry_auth::scope::{EntryScope, ResolveContext, ScopeDenial};
//!
//! let gpu_only = EntryScope::new()
//!     .with_owner("acme")
//!     .with_environments(["gpu-prod"]);
//!
//! let job = ResolveContext::organization("acme").with_environment("gpu-prod");
//! assert!(gpu_only.check(&job).is_ok());
//!
//! let other = ResolveContext::organization("acme").with_environment("cpu-dev");
//! assert!(matches!(gpu_only.check(&other), Err(ScopeDenial::Environment { .. })));
//!
//! let personal = ResolveContext::personal("alice");
//! assert_eq!(gpu_only.check(&personal), Err(ScopeDenial::PersonalProject));
//!
//! // A request that names no organisation may use only entries without a scope (fail closed):
//! // single-tenant configurations, whose entries have none, need no context at all.
//! assert_eq!(gpu_only.check(&ResolveContext::unscoped()), Err(ScopeDenial::NoContext));
//! assert!(EntryScope::new().check(&ResolveContext::unscoped()).is_ok());
//! ```

use std::fmt;

/// Which requests an entry may serve.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EntryScope {
    /// The organisation the entry belongs to. `None`: any organisation's jobs may use it (a
    /// single-tenant configuration; a file mixing owned and ownerless entries gets a warning).
    pub owner: Option<String>,
    /// The environments (worker pools) it may be used in. `None`: all of them.
    pub environments: Option<Vec<String>>,
}

impl EntryScope {
    /// No restriction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Belongs to organisation `owner`.
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// May be used only in these environments.
    pub fn with_environments<S: Into<String>>(
        mut self,
        environments: impl IntoIterator<Item = S>,
    ) -> Self {
        self.environments = Some(environments.into_iter().map(Into::into).collect());
        self
    }

    /// Whether the entry carries no restriction at all.
    pub fn is_unrestricted(&self) -> bool {
        self.owner.is_none() && self.environments.is_none()
    }

    /// Whether a request in `context` may use the entry, and if not, why.
    ///
    /// A request without a context ([`ResolveContext::unscoped`]) may use only unrestricted
    /// entries: a resolver that forgot who asks must not lend one organisation's credentials.
    ///
    /// Allocates nothing on the way to `Ok`; the resolver calls it for each candidate.
    pub fn check(&self, context: &ResolveContext) -> Result<(), ScopeDenial> {
        match &context.asker {
            Asker::Unscoped if self.is_unrestricted() => Ok(()),
            Asker::Unscoped => Err(ScopeDenial::NoContext),
            Asker::Personal { .. } => Err(ScopeDenial::PersonalProject),
            Asker::Organization { name, environment } => {
                if self.owner.as_ref().is_some_and(|owner| owner != name) {
                    return Err(ScopeDenial::OtherOrganization);
                }
                match (&self.environments, environment) {
                    (None, _) => Ok(()),
                    (Some(allowed), Some(env)) if allowed.iter().any(|a| a == env) => Ok(()),
                    (Some(allowed), env) => Err(ScopeDenial::Environment {
                        environment: env.clone(),
                        allowed: allowed.clone(),
                    }),
                }
            }
        }
    }
}

/// Who is asking for a credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolveContext {
    asker: Asker,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Asker {
    Unscoped,
    Organization {
        name: String,
        environment: Option<String>,
    },
    Personal {
        account: String,
    },
}

impl ResolveContext {
    /// A request that names no organisation or environment: only entries without an `owner`
    /// or `environments` may serve it. For single-tenant embedders, and what
    /// [`RegistryResolver::resolve`](crate::RegistryResolver::resolve) uses.
    pub fn unscoped() -> Self {
        Self {
            asker: Asker::Unscoped,
        }
    }

    /// A job of organisation `name`'s project.
    pub fn organization(name: impl Into<String>) -> Self {
        Self {
            asker: Asker::Organization {
                name: name.into(),
                environment: None,
            },
        }
    }

    /// A job of a personal project: private registries are never served to it.
    pub fn personal(account: impl Into<String>) -> Self {
        Self {
            asker: Asker::Personal {
                account: account.into(),
            },
        }
    }

    /// The environment (worker pool) the job runs in. Without one, entries restricted to
    /// environments are ruled out. Ignored for unscoped and personal contexts.
    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        if let Asker::Organization { environment: e, .. } = &mut self.asker {
            *e = Some(environment.into());
        }
        self
    }

    /// Whether this is a personal project's request.
    pub fn is_personal(&self) -> bool {
        matches!(self.asker, Asker::Personal { .. })
    }

    /// Whether the request names who asks (an organisation or a personal project).
    pub fn is_scoped(&self) -> bool {
        !matches!(self.asker, Asker::Unscoped)
    }
}

impl Default for ResolveContext {
    fn default() -> Self {
        Self::unscoped()
    }
}

impl fmt::Display for ResolveContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.asker {
            Asker::Unscoped => f.write_str("a request without an organisation"),
            Asker::Personal { account } => write!(f, "personal project of {account}"),
            Asker::Organization {
                name,
                environment: None,
            } => write!(f, "organisation {name}"),
            Asker::Organization {
                name,
                environment: Some(env),
            } => write!(f, "organisation {name}, environment {env}"),
        }
    }
}

/// Why an entry may not serve a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeDenial {
    /// Personal projects have no private registries.
    PersonalProject,
    /// The entry is restricted to an organisation or environments, and the request names
    /// neither.
    NoContext,
    /// The entry belongs to another organisation.
    OtherOrganization,
    /// The entry is restricted to environments that leave this one out.
    Environment {
        /// The request's environment, if it named one.
        environment: Option<String>,
        /// The entry's environments.
        allowed: Vec<String>,
    },
}

impl fmt::Display for ScopeDenial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeDenial::PersonalProject => {
                f.write_str("personal projects have no private registries")
            }
            ScopeDenial::OtherOrganization => f.write_str("belongs to another organisation"),
            ScopeDenial::NoContext => f.write_str(
                "is scoped to an organisation or environments, and the request names none",
            ),
            ScopeDenial::Environment {
                environment,
                allowed,
            } => {
                match environment {
                    Some(env) => write!(f, "environment {env} not in [")?,
                    None => f.write_str("the request names no environment; the entry is for [")?,
                }
                f.write_str(&allowed.join(", "))?;
                f.write_str("]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_says_who_asks() {
        #[rustfmt::skip]
        let cases = [
            (ResolveContext::unscoped(), false, false, "a request without an organisation"),
            (ResolveContext::default(), false, false, "a request without an organisation"),
            (ResolveContext::unscoped().with_environment("gpu"), false, false, "a request without an organisation"),
            (ResolveContext::personal("alice"), true, true, "personal project of alice"),
            (ResolveContext::personal("alice").with_environment("gpu"), true, true, "personal project of alice"),
            (ResolveContext::organization("acme"), true, false, "organisation acme"),
            (ResolveContext::organization("acme").with_environment("gpu"), true, false, "organisation acme, environment gpu"),
        ];
        for (context, scoped, personal, shown) in cases {
            assert_eq!(context.is_scoped(), scoped, "{context:?}");
            assert_eq!(context.is_personal(), personal, "{context:?}");
            assert_eq!(context.to_string(), shown);
        }
    }

    #[test]
    fn a_scope_admits_exactly_the_contexts_it_names() {
        let open = EntryScope::new();
        let acme = EntryScope::new().with_owner("acme");
        let gpu = EntryScope::new().with_environments(["gpu", "tpu"]);
        let acme_gpu = acme.clone().with_environments(["gpu"]);
        assert!(open.is_unrestricted());
        assert!(!acme.is_unrestricted() && !gpu.is_unrestricted());
        let org = |name: &str| ResolveContext::organization(name);
        let env = |d: Option<&str>| {
            d.map(|e| ScopeDenial::Environment {
                environment: Some(e.to_owned()),
                allowed: vec!["gpu".to_owned()],
            })
        };
        #[rustfmt::skip]
        let cases: [(&EntryScope, ResolveContext, Option<ScopeDenial>); 14] = [
            (&open, ResolveContext::unscoped(), None),
            (&open, org("acme"), None),
            (&open, ResolveContext::personal("alice"), Some(ScopeDenial::PersonalProject)),
            (&acme, ResolveContext::unscoped(), Some(ScopeDenial::NoContext)),
            (&acme, org("acme"), None),
            (&acme, org("acme").with_environment("cpu"), None),
            (&acme, org("globex"), Some(ScopeDenial::OtherOrganization)),
            (&gpu, ResolveContext::unscoped(), Some(ScopeDenial::NoContext)),
            (&gpu, org("globex").with_environment("tpu"), None),
            (&acme_gpu, org("acme").with_environment("gpu"), None),
            (&acme_gpu, org("acme").with_environment("cpu"), env(Some("cpu"))),
            (&acme_gpu, org("globex").with_environment("gpu"), Some(ScopeDenial::OtherOrganization)),
            (&acme_gpu, org("acme"), Some(ScopeDenial::Environment { environment: None, allowed: vec!["gpu".to_owned()] })),
            (&acme_gpu, ResolveContext::personal("alice"), Some(ScopeDenial::PersonalProject)),
        ];
        for (scope, context, denial) in cases {
            assert_eq!(
                scope.check(&context).err(),
                denial,
                "{scope:?} for {context}"
            );
        }
    }

    #[test]
    fn denials_read_as_reasons() {
        #[rustfmt::skip]
        let cases = [
            (ScopeDenial::PersonalProject, "personal projects have no private registries"),
            (ScopeDenial::OtherOrganization, "belongs to another organisation"),
            (ScopeDenial::NoContext, "is scoped to an organisation or environments, and the request names none"),
            (
                ScopeDenial::Environment { environment: Some("cpu".into()), allowed: vec!["gpu".into(), "tpu".into()] },
                "environment cpu not in [gpu, tpu]",
            ),
            (
                ScopeDenial::Environment { environment: None, allowed: vec!["gpu".into()] },
                "the request names no environment; the entry is for [gpu]",
            ),
        ];
        for (denial, text) in cases {
            assert_eq!(denial.to_string(), text);
        }
    }
}

//! What a Google registry hostname tells: which service, and where it keeps the images.
//!
//! - **Artifact Registry**: `LOCATION-docker.pkg.dev`, where LOCATION is a region
//!   (`europe-west4`) or a multi-region (`us`, `europe`, `asia`); images are
//!   `LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE`.
//! - **Container Registry** (and Artifact Registry's `gcr.io` repositories): `gcr.io` and
//!   `*.gcr.io` (`us.gcr.io`, `eu.gcr.io`, `asia.gcr.io`, ...); images are `gcr.io/PROJECT/IMAGE`.
//!
//! A domain-scoped project (`example.com:my-project`) is written with a slash in image paths
//! (`gcr.io/example.com/my-project/app`); [`GcpHost::project`] gives it back with its colon.
//! The host is ASCII-lowercased and a `:port` ignored, as for [`EcrHost`](crate::aws::EcrHost);
//! a look-alike with an extra label or suffix is not a Google host.
//!
//! ```
//! use registry_auth::gcp::{GcpHost, GcpService};
//! use registry_auth::ImageReference;
//!
//! let host = GcpHost::parse("europe-west4-docker.pkg.dev").unwrap();
//! assert_eq!(host.service(), GcpService::ArtifactRegistry);
//! assert_eq!(host.location(), Some("europe-west4"));
//!
//! let image = ImageReference::parse("europe-west4-docker.pkg.dev/my-project/team/train:v1")?;
//! assert_eq!(host.project(&image).as_deref(), Some("my-project"));
//! assert_eq!(host.repository(&image), Some("team"));
//!
//! let gcr = GcpHost::parse("EU.GCR.IO").unwrap();
//! assert_eq!((gcr.service(), gcr.location()), (GcpService::ContainerRegistry, Some("eu")));
//! assert_eq!(GcpHost::parse("europe-west4-docker.pkg.dev.evil.example"), None);
//! # Ok::<(), registry_auth::Error>(())
//! ```

use std::fmt;

use crate::reference::ImageReference;

/// The Artifact Registry suffix: hosts are `LOCATION-docker.pkg.dev`.
const ARTIFACT_SUFFIX: &str = "-docker.pkg.dev";
/// Container Registry's apex; regional hosts are one label below it.
const GCR: &str = "gcr.io";
/// The Container Registry hosts whose first label is the location of their storage.
const GCR_LOCATIONS: [&str; 3] = ["us", "eu", "asia"];

/// A hostname recognised as a Google container registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GcpHost {
    host: String,
    service: GcpService,
    location: Option<String>,
}

/// Which Google registry a host belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GcpService {
    /// Artifact Registry: `LOCATION-docker.pkg.dev`.
    ArtifactRegistry,
    /// Container Registry: `gcr.io` and `*.gcr.io`.
    ContainerRegistry,
}

impl GcpService {
    /// `artifact_registry` or `container_registry`, as JSON output writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            GcpService::ArtifactRegistry => "artifact_registry",
            GcpService::ContainerRegistry => "container_registry",
        }
    }
}

impl fmt::Display for GcpService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GcpService::ArtifactRegistry => "Artifact Registry",
            GcpService::ContainerRegistry => "Container Registry",
        })
    }
}

impl GcpHost {
    /// Classifies `host` (with or without `:port`); `None` when it is not a Google registry.
    pub fn parse(host: &str) -> Option<GcpHost> {
        let host = strip_port(host)?.to_ascii_lowercase();
        if let Some(location) = host.strip_suffix(ARTIFACT_SUFFIX) {
            if !is_location(location) {
                return None;
            }
            let location = location.to_owned();
            return Some(GcpHost {
                host,
                service: GcpService::ArtifactRegistry,
                location: Some(location),
            });
        }
        let location = if host == GCR {
            None
        } else {
            let label = host.strip_suffix(GCR)?.strip_suffix('.')?;
            if !is_label(label) {
                return None;
            }
            GCR_LOCATIONS.contains(&label).then(|| label.to_owned())
        };
        Some(GcpHost {
            host,
            service: GcpService::ContainerRegistry,
            location,
        })
    }

    /// Artifact Registry or Container Registry.
    pub fn service(&self) -> GcpService {
        self.service
    }

    /// Where the images are kept: the region or multi-region of an Artifact Registry host, or
    /// `us` / `eu` / `asia` for those Container Registry hosts; `None` otherwise.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The ASCII-lowercased hostname, without any port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The project an image on this host belongs to: the first path component, or the first
    /// two joined by `:` for a domain-scoped project (`example.com/my-project` →
    /// `example.com:my-project`). `None` when the path has too few components.
    pub fn project(&self, image: &ImageReference) -> Option<String> {
        let (project, _) = self.split(image.repository())?;
        Some(project)
    }

    /// The Artifact Registry repository of an image on this host (the path component after the
    /// project); `None` on Container Registry hosts, which have no repositories in the path.
    pub fn repository<'a>(&self, image: &'a ImageReference) -> Option<&'a str> {
        if self.service != GcpService::ArtifactRegistry {
            return None;
        }
        let (_, rest) = self.split(image.repository())?;
        rest.split('/').next().filter(|r| !r.is_empty())
    }

    /// `(project, rest of the path)`, when the path names a project and something in it.
    fn split<'a>(&self, path: &'a str) -> Option<(String, &'a str)> {
        let (first, rest) = path.split_once('/')?;
        if first.contains('.') {
            let (second, rest) = rest.split_once('/')?;
            Some((format!("{first}:{second}"), rest))
        } else {
            Some((first.to_owned(), rest))
        }
    }
}

/// Drops a `:port`; a port that is not a number means this is no host.
fn strip_port(input: &str) -> Option<&str> {
    match input.split_once(':') {
        None => Some(input),
        Some((host, port)) => port.parse::<u16>().is_ok().then_some(host),
    }
}

/// A location as Artifact Registry writes it: `[a-z0-9]+(-[a-z0-9]+)*`, one DNS label.
fn is_location(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// One DNS label: letters, digits and inner hyphens.
fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_hosts_and_their_look_alikes() {
        for (host, service, location) in [
            (
                "us-central1-docker.pkg.dev",
                GcpService::ArtifactRegistry,
                Some("us-central1"),
            ),
            (
                "europe-docker.pkg.dev:443",
                GcpService::ArtifactRegistry,
                Some("europe"),
            ),
            ("gcr.io", GcpService::ContainerRegistry, None),
            ("asia.gcr.io", GcpService::ContainerRegistry, Some("asia")),
            ("marketplace.gcr.io", GcpService::ContainerRegistry, None),
        ] {
            let h = GcpHost::parse(host).unwrap_or_else(|| panic!("{host}"));
            assert_eq!((h.service(), h.location()), (service, location), "{host}");
        }
        for other in [
            "docker.pkg.dev",
            "-docker.pkg.dev",
            "evil.us-docker.pkg.dev",
            "us-docker.pkg.dev.evil.example",
            "us_central1-docker.pkg.dev",
            "gcr.io.evil.example",
            "evilgcr.io",
            "a.b.gcr.io",
            "-x.gcr.io",
            "gcr.io:https",
            "ghcr.io",
        ] {
            assert_eq!(GcpHost::parse(other), None, "{other}");
        }
    }

    #[test]
    fn projects_come_from_the_path_and_keep_their_domain() {
        let ar = GcpHost::parse("us-docker.pkg.dev").unwrap();
        let image =
            ImageReference::parse("us-docker.pkg.dev/example.com/proj/repo/app:v1").unwrap();
        assert_eq!(ar.project(&image).as_deref(), Some("example.com:proj"));
        assert_eq!(ar.repository(&image), Some("repo"));
        let gcr = GcpHost::parse("gcr.io").unwrap();
        let image = ImageReference::parse("gcr.io/proj/app").unwrap();
        assert_eq!(gcr.project(&image).as_deref(), Some("proj"));
        assert_eq!(gcr.repository(&image), None);
        let bare = ImageReference::parse("gcr.io/app").unwrap();
        assert_eq!(gcr.project(&bare), None);
    }
}

//! What an Azure Container Registry hostname tells: the registry's name and its cloud.
//!
//! A registry's login server is `NAME.SUFFIX`, the suffix naming the cloud:
//!
//! | suffix | cloud | Entra ID authority | token scope |
//! | --- | --- | --- | --- |
//! | `azurecr.io` | `AzureCloud` | `https://login.microsoftonline.com` | `https://containerregistry.azure.net/.default` |
//! | `azurecr.cn` | `AzureChinaCloud` | `https://login.chinacloudapi.cn` | `https://management.chinacloudapi.cn/.default` |
//! | `azurecr.us` | `AzureUSGovernment` | `https://login.microsoftonline.us` | `https://management.usgovcloudapi.net/.default` |
//! | `azurecr.eaglex.ic.gov` | `USNat` | set `authority_host` | set `scope` |
//! | `azurecr.microsoft.scloud` | `USSec` | set `authority_host` | set `scope` |
//!
//! In the public cloud the ACR audience (`containerregistry.azure.net`) is asked for, which
//! every registry accepts, also one that refuses Azure Resource Manager tokens; the sovereign
//! clouds take their Resource Manager audience, as Azure's container registry SDKs ask there.
//! The air-gapped clouds publish neither, so an entry for them names both. Azure Germany's
//! `azurecr.de` closed in 2021 and is not recognised.
//!
//! NAME is one DNS label: the registry's name (5 to 50 letters and digits), with a `-HASH`
//! when the registry uses a domain-name-label scope. The host is ASCII-lowercased and a `:port`
//! ignored; a look-alike with an extra label or suffix is not an ACR host.
//!
//! ```
//! use registry_auth::azure::{AcrHost, AzureCloud};
//!
//! let host = AcrHost::parse("MyRegistry.azurecr.io").unwrap();
//! assert_eq!(host.registry(), "myregistry");
//! assert_eq!(host.cloud(), AzureCloud::Public);
//! assert_eq!(host.cloud().authority_host(), Some("https://login.microsoftonline.com"));
//!
//! assert_eq!(AcrHost::parse("contoso.azurecr.cn").unwrap().cloud(), AzureCloud::China);
//! assert_eq!(AcrHost::parse("contoso.azurecr.io.evil.example"), None);
//! ```

use std::fmt;

/// A hostname recognised as an Azure Container Registry login server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AcrHost {
    host: String,
    name_len: usize,
    cloud: AzureCloud,
}

/// The Azure cloud a registry lives in, from its host's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AzureCloud {
    /// Azure public cloud (`azurecr.io`).
    Public,
    /// Azure operated by 21Vianet in China (`azurecr.cn`).
    China,
    /// Azure Government (`azurecr.us`).
    UsGovernment,
    /// Azure Government Secret, air-gapped (`azurecr.eaglex.ic.gov`).
    UsNat,
    /// Azure Government Top Secret, air-gapped (`azurecr.microsoft.scloud`).
    UsSec,
}

/// Every cloud, with its registry suffix.
const CLOUDS: [(AzureCloud, &str); 5] = [
    (AzureCloud::Public, "azurecr.io"),
    (AzureCloud::China, "azurecr.cn"),
    (AzureCloud::UsGovernment, "azurecr.us"),
    (AzureCloud::UsNat, "azurecr.eaglex.ic.gov"),
    (AzureCloud::UsSec, "azurecr.microsoft.scloud"),
];

impl AzureCloud {
    /// The cloud's name as the Azure CLI writes it (`AzureCloud`, `AzureChinaCloud`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AzureCloud::Public => "AzureCloud",
            AzureCloud::China => "AzureChinaCloud",
            AzureCloud::UsGovernment => "AzureUSGovernment",
            AzureCloud::UsNat => "USNat",
            AzureCloud::UsSec => "USSec",
        }
    }

    /// The DNS suffix of the cloud's registries.
    pub fn suffix(self) -> &'static str {
        CLOUDS
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("azurecr.io", |(_, s)| s)
    }

    /// The Entra ID authority of the cloud; `None` for the air-gapped clouds, whose entries
    /// name it (`authority_host`).
    pub fn authority_host(self) -> Option<&'static str> {
        match self {
            AzureCloud::Public => Some("https://login.microsoftonline.com"),
            AzureCloud::China => Some("https://login.chinacloudapi.cn"),
            AzureCloud::UsGovernment => Some("https://login.microsoftonline.us"),
            AzureCloud::UsNat | AzureCloud::UsSec => None,
        }
    }

    /// The scope the Entra ID token is asked for; `None` for the air-gapped clouds, whose
    /// entries name it (`scope`).
    pub fn scope(self) -> Option<&'static str> {
        match self {
            AzureCloud::Public => Some("https://containerregistry.azure.net/.default"),
            AzureCloud::China => Some("https://management.chinacloudapi.cn/.default"),
            AzureCloud::UsGovernment => Some("https://management.usgovcloudapi.net/.default"),
            AzureCloud::UsNat | AzureCloud::UsSec => None,
        }
    }
}

impl fmt::Display for AzureCloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AcrHost {
    /// Classifies `host` (with or without `:port`); `None` when it is not an ACR login server.
    pub fn parse(host: &str) -> Option<AcrHost> {
        let host = match host.split_once(':') {
            None => host,
            Some((h, port)) => port.parse::<u16>().is_ok().then_some(h)?,
        }
        .to_ascii_lowercase();
        let (name, suffix) = host.split_once('.')?;
        let &(cloud, _) = CLOUDS.iter().find(|(_, s)| *s == suffix)?;
        if !is_registry_label(name) {
            return None;
        }
        let name_len = name.len();
        Some(AcrHost {
            host,
            name_len,
            cloud,
        })
    }

    /// The registry's name: the first label (`myregistry`, or `myregistry-HASH`).
    pub fn registry(&self) -> &str {
        &self.host[..self.name_len]
    }

    /// The cloud the registry lives in.
    pub fn cloud(&self) -> AzureCloud {
        self.cloud
    }

    /// The ASCII-lowercased hostname, without any port.
    pub fn host(&self) -> &str {
        &self.host
    }
}

/// 5 to 50 letters and digits, optionally followed by one `-` and more of them (a
/// domain-name-label hash), within one DNS label.
fn is_registry_label(label: &str) -> bool {
    let (name, hash) = match label.split_once('-') {
        Some((name, hash)) => (name, Some(hash)),
        None => (label, None),
    };
    let alnum = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (5..=50).contains(&name.len())
        && alnum(name)
        && hash.is_none_or(|h| !h.is_empty() && alnum(h))
        && label.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_of_every_cloud_and_their_look_alikes() {
        for (host, name, cloud) in [
            ("contoso.azurecr.io", "contoso", AzureCloud::Public),
            (
                "contoso-abc123.azurecr.io:443",
                "contoso-abc123",
                AzureCloud::Public,
            ),
            ("contoso.azurecr.cn", "contoso", AzureCloud::China),
            ("contoso.azurecr.us", "contoso", AzureCloud::UsGovernment),
            (
                "contoso.azurecr.eaglex.ic.gov",
                "contoso",
                AzureCloud::UsNat,
            ),
            (
                "contoso.azurecr.microsoft.scloud",
                "contoso",
                AzureCloud::UsSec,
            ),
        ] {
            let h = AcrHost::parse(host).unwrap_or_else(|| panic!("{host}"));
            assert_eq!((h.registry(), h.cloud()), (name, cloud), "{host}");
        }
        for other in [
            "azurecr.io",
            "abc.azurecr.io",
            "contoso.eastus.data.azurecr.io",
            "contoso.azurecr.io.evil.example",
            "evil.contoso.azurecr.io",
            "contoso.azurecr.de",
            "contoso-.azurecr.io",
            "contoso_x.azurecr.io",
            "contoso.azurecr.io:x",
            &format!("{}.azurecr.io", "a".repeat(51)),
        ] {
            assert_eq!(AcrHost::parse(other), None, "{other}");
        }
        assert_eq!(AzureCloud::UsGovernment.suffix(), "azurecr.us");
        assert_eq!(AzureCloud::UsNat.authority_host(), None);
    }
}

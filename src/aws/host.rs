//! What an Amazon ECR hostname tells: account, region, partition and endpoint variant.
//!
//! A private ECR registry is named `<account>.dkr.ecr[-fips].<region>.<suffix>` (or with
//! `dkr-ecr`), and every part of that name matters when asking for a token:
//!
//! - the **account id** is sent as `registryIds` in `GetAuthorizationToken`, so a pull from
//!   another account's registry gets a token (and proxy endpoint) for *that* registry rather
//!   than for the caller's own;
//! - the **region** decides where the call goes: an ECR token is only good in its own region;
//! - **FIPS** (`-fips`) and **dual-stack** (the `on.aws` / `on.amazonwebservices.com.cn`
//!   suffixes) pick the matching variant of the ECR API endpoint;
//! - the **partition** (from the suffix, and `us-gov-` regions) says which AWS partition the
//!   credentials must belong to.
//!
//! [`EcrHost::parse`] accepts the registry names AWS's own `amazon-ecr-credential-helper`
//! accepts (every suffix of every partition, both separators, `-fips`), with a stricter region
//! label (`[a-z0-9]+(-[a-z0-9]+)*`). The host is ASCII-lowercased first (a non-ASCII look-alike
//! such as the Kelvin sign U+212A never folds to `k`) and a `:port` is ignored; anything else,
//! such as a look-alike with an extra suffix or prefix, is not an ECR host. `public.ecr.aws` and
//! `ecr-public.aws.com` are ECR Public, which has no account and no region in its name.
//!
//! ```
//! use registry_auth::aws::{EcrHost, Partition};
//!
//! let host = EcrHost::parse("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com:443").unwrap();
//! assert_eq!(host.account_id(), Some("123456789012"));
//! assert_eq!(host.region(), Some("us-gov-west-1"));
//! assert_eq!(host.partition(), Partition::AwsUsGov);
//! assert_eq!(host.partition().to_string(), "aws-us-gov");
//! assert!(host.fips() && !host.dual_stack() && !host.is_public());
//! assert_eq!(host.host(), "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com");
//!
//! let dual = EcrHost::parse("123456789012.DKR-ECR.eu-west-1.on.aws").unwrap();
//! assert!(dual.dual_stack());
//!
//! assert!(EcrHost::parse("public.ecr.aws").unwrap().is_public());
//! assert_eq!(EcrHost::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example"), None);
//! ```

use std::fmt;

/// The ECR Public registry names: one global registry, no account or region in the name.
const PUBLIC_HOSTS: [&str; 2] = ["public.ecr.aws", "ecr-public.aws.com"];

/// The longest region label we accept: one DNS label.
const MAX_REGION_LEN: usize = 63;

/// A hostname recognised as an Amazon ECR registry, private or public.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EcrHost {
    host: String,
    /// `None` for ECR Public.
    private: Option<PrivateRegistry>,
    partition: Partition,
    fips: bool,
    dual_stack: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PrivateRegistry {
    account_id: String,
    region: String,
}

impl EcrHost {
    /// Classifies `host` (with or without `:port`); `None` when it is not an ECR hostname.
    pub fn parse(host: &str) -> Option<EcrHost> {
        let host = strip_port(host)?.to_ascii_lowercase();
        if PUBLIC_HOSTS.contains(&host.as_str()) {
            return Some(EcrHost {
                host,
                private: None,
                partition: Partition::Aws,
                fips: false,
                dual_stack: false,
            });
        }
        let parts = parse_private(&host)?;
        let private = PrivateRegistry {
            account_id: parts.account_id.to_owned(),
            region: parts.region.to_owned(),
        };
        let (partition, fips, dual_stack) = (parts.partition, parts.fips, parts.dual_stack);
        Some(EcrHost {
            host,
            private: Some(private),
            partition,
            fips,
            dual_stack,
        })
    }

    /// Whether this is ECR Public (`public.ecr.aws`, `ecr-public.aws.com`).
    pub fn is_public(&self) -> bool {
        self.private.is_none()
    }

    /// The 12-digit registry (account) id, sent as `registryIds`; `None` for ECR Public.
    pub fn account_id(&self) -> Option<&str> {
        self.private.as_ref().map(|p| p.account_id.as_str())
    }

    /// The region the registry lives in; `None` for ECR Public.
    pub fn region(&self) -> Option<&str> {
        self.private.as_ref().map(|p| p.region.as_str())
    }

    /// The AWS partition the registry belongs to (`Partition::Aws` for ECR Public).
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// Whether the host names a FIPS endpoint (`dkr.ecr-fips` / `dkr-ecr-fips`).
    pub fn fips(&self) -> bool {
        self.fips
    }

    /// Whether the host names a dual-stack (IPv4 and IPv6) endpoint.
    pub fn dual_stack(&self) -> bool {
        self.dual_stack
    }

    /// The ASCII-lowercased hostname, without any port.
    pub fn host(&self) -> &str {
        &self.host
    }
}

/// An AWS partition: a group of regions with its own credentials and DNS suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Partition {
    /// Commercial AWS (`aws`).
    Aws,
    /// AWS China (`aws-cn`).
    AwsCn,
    /// AWS GovCloud (US) (`aws-us-gov`).
    AwsUsGov,
    /// AWS European Sovereign Cloud (`aws-eusc`).
    AwsEusc,
    /// AWS ISO, C2S (`aws-iso`).
    AwsIso,
    /// AWS ISO-B, SC2S (`aws-iso-b`).
    AwsIsoB,
    /// AWS ISO-E (`aws-iso-e`).
    AwsIsoE,
    /// AWS ISO-F (`aws-iso-f`).
    AwsIsoF,
}

impl Partition {
    /// The partition id as AWS writes it (`"aws"`, `"aws-cn"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::AwsEusc => "aws-eusc",
            Partition::AwsIso => "aws-iso",
            Partition::AwsIsoB => "aws-iso-b",
            Partition::AwsIsoE => "aws-iso-e",
            Partition::AwsIsoF => "aws-iso-f",
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parts of a private registry host, borrowed from the lowercased host.
struct PrivateParts<'a> {
    account_id: &'a str,
    region: &'a str,
    partition: Partition,
    fips: bool,
    dual_stack: bool,
}

/// `<12 digits>.dkr(.|-)ecr[-fips].<region>.<suffix>`, on an already-lowercased host.
fn parse_private(host: &str) -> Option<PrivateParts<'_>> {
    let (account_id, rest) = host.split_once('.')?;
    if !is_account_id(account_id) {
        return None;
    }
    let rest = rest
        .strip_prefix("dkr.ecr")
        .or_else(|| rest.strip_prefix("dkr-ecr"))?;
    let (fips, rest) = match rest.strip_prefix("-fips") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let (region, suffix) = rest.strip_prefix('.')?.split_once('.')?;
    if !is_region_label(region) {
        return None;
    }
    let (partition, dual_stack) = classify_suffix(suffix, region)?;
    Some(PrivateParts {
        account_id,
        region,
        partition,
        fips,
        dual_stack,
    })
}

/// Drops a `:port`. A port that is not a number (or a second `:`) means this is no host.
fn strip_port(input: &str) -> Option<&str> {
    match input.split_once(':') {
        None => Some(input),
        Some((host, port)) => {
            let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
            (digits && port.parse::<u16>().is_ok()).then_some(host)
        }
    }
}

/// Exactly 12 ASCII digits (byte length 12 of ASCII digits rules out any multi-byte char).
fn is_account_id(label: &str) -> bool {
    label.len() == 12 && label.bytes().all(|b| b.is_ascii_digit())
}

/// A region as a registry host spells it: `[a-z0-9]+(-[a-z0-9]+)*`, at most one DNS label long.
///
/// As lenient as AWS's own credential helper, since the host is what AWS serves; a region
/// someone *writes* in a configuration is held to [`is_region`], which catches typos.
fn is_region_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_REGION_LEN
        && label.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Whether `s` is shaped like an AWS region name: letters, then at least two more
/// `-`-separated parts of lowercase letters and digits, the last all digits (`us-east-1`,
/// `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `eusc-de-east-1`). `us-east1` and `US-EAST-1`
/// are not.
///
/// ```
/// use registry_auth::aws::is_region;
/// assert!(is_region("us-gov-west-1"));
/// assert!(!is_region("us-east1"));
/// ```
pub fn is_region(s: &str) -> bool {
    let mut parts = s.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| p.len() >= 2 && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    s.len() <= MAX_REGION_LEN
        && first_ok
        && rest.len() >= 2
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && rest
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Every registry DNS suffix AWS's tooling accepts, with the partition it stands for (GovCloud
/// shares the commercial suffixes: see [`classify_suffix`]) and whether it is dual-stack.
pub(crate) const SUFFIXES: [(&str, Partition, bool); 9] = [
    ("amazonaws.com", Partition::Aws, false),
    ("on.aws", Partition::Aws, true),
    ("amazonaws.com.cn", Partition::AwsCn, false),
    ("on.amazonwebservices.com.cn", Partition::AwsCn, true),
    ("amazonaws.eu", Partition::AwsEusc, false),
    ("c2s.ic.gov", Partition::AwsIso, false),
    ("sc2s.sgov.gov", Partition::AwsIsoB, false),
    ("cloud.adc-e.uk", Partition::AwsIsoE, false),
    ("csp.hci.ic.gov", Partition::AwsIsoF, false),
];

/// The partition and dual-stack flag a suffix stands for; `None` for any other suffix.
fn classify_suffix(suffix: &str, region: &str) -> Option<(Partition, bool)> {
    let &(_, partition, dual_stack) = SUFFIXES.iter().find(|(s, _, _)| *s == suffix)?;
    // GovCloud shares the commercial DNS suffixes; only the region tells them apart.
    let partition = if partition == Partition::Aws && region.starts_with("us-gov-") {
        Partition::AwsUsGov
    } else {
        partition
    };
    Some((partition, dual_stack))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_ascii_digits_and_nothing_else() {
        assert!(is_account_id("123456789012"));
        assert!(is_account_id("000000000000"));
        for not in [
            "",
            "12345678901",
            "1234567890123",
            "12345678901a",
            "+12345678901",
            // Twelve bytes of numeric characters that are not ASCII digits.
            "\u{661}\u{662}\u{663}\u{664}\u{665}\u{666}",
            "\u{FF11}\u{FF12}\u{FF13}\u{FF14}",
            "123456789\u{FF10}",
            "1234567890\u{B2}",
        ] {
            assert!(!is_account_id(not), "{not:?}");
        }
    }

    #[test]
    fn region_labels_are_dash_separated_lowercase_words_of_one_dns_label() {
        let longest = format!("a{}", "-b".repeat(31));
        assert_eq!(longest.len(), MAX_REGION_LEN);
        for good in [
            "us-east-1",
            "eu-central-2",
            "x",
            "1",
            "a-b-c",
            longest.as_str(),
        ] {
            assert!(is_region_label(good), "{good:?}");
        }
        let too_long = format!("{longest}c");
        for bad in [
            "",
            "-",
            "us-",
            "-us",
            "us--east",
            "US-east-1",
            "us_east_1",
            "us.east",
            too_long.as_str(),
        ] {
            assert!(!is_region_label(bad), "{bad:?}");
        }
    }

    #[test]
    fn regions_as_written_in_a_configuration_are_held_to_aws_names() {
        let longest = format!("us-{}-1", "a".repeat(MAX_REGION_LEN - 5));
        assert_eq!(longest.len(), MAX_REGION_LEN);
        for good in [
            "us-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "eusc-de-east-1",
            "ap-southeast-10",
            longest.as_str(),
        ] {
            assert!(is_region(good), "{good:?}");
        }
        let too_long = format!("us-{}-1", "a".repeat(MAX_REGION_LEN - 4));
        for bad in [
            "",
            "us",
            "us-east",
            "us-east1",
            "u-east-1",
            "US-EAST-1",
            "us-East-1",
            "us-east-x",
            "us--1",
            "us-east-",
            "1s-east-1",
            "us-east-1a",
            too_long.as_str(),
        ] {
            assert!(!is_region(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_port_is_dropped_only_when_it_is_one() {
        assert_eq!(strip_port("h"), Some("h"));
        assert_eq!(strip_port("h:443"), Some("h"));
        assert_eq!(strip_port("h:65535"), Some("h"));
        for bad in ["h:", "h:65536", "h:x", "h:4x", "h:+1", "h:1:2"] {
            assert_eq!(strip_port(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn suffixes_name_their_partition_and_govcloud_its_region() {
        assert_eq!(
            classify_suffix("amazonaws.com", "us-east-1"),
            Some((Partition::Aws, false))
        );
        assert_eq!(
            classify_suffix("amazonaws.com", "us-gov-west-1"),
            Some((Partition::AwsUsGov, false))
        );
        assert_eq!(
            classify_suffix("on.aws", "us-gov-east-1"),
            Some((Partition::AwsUsGov, true))
        );
        // Only the commercial suffixes are shared with GovCloud.
        assert_eq!(
            classify_suffix("amazonaws.com.cn", "us-gov-west-1"),
            Some((Partition::AwsCn, false))
        );
        assert_eq!(
            classify_suffix("on.amazonwebservices.com.cn", "cn-north-1"),
            Some((Partition::AwsCn, true))
        );
        assert_eq!(classify_suffix("amazonaws.org", "us-east-1"), None);
        for (suffix, partition, dual_stack) in SUFFIXES {
            assert_eq!(
                classify_suffix(suffix, "eu-west-1"),
                Some((partition, dual_stack))
            );
        }
    }
}

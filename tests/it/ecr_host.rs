//! `EcrHost`: which hostnames are ECR registries, and what each one tells.

use proptest::prelude::*;
use registry_auth::aws::{EcrHost, Partition};

const ACCOUNT: &str = "123456789012";
const COMMERCIAL: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// Every registry suffix AWS's tooling accepts.
const SUFFIXES: [&str; 9] = [
    "amazonaws.com",
    "amazonaws.com.cn",
    "amazonaws.eu",
    "on.aws",
    "on.amazonwebservices.com.cn",
    "sc2s.sgov.gov",
    "c2s.ic.gov",
    "cloud.adc-e.uk",
    "csp.hci.ic.gov",
];

/// One accepted host and everything it should tell.
struct Accepted {
    name: &'static str,
    input: &'static str,
    host: &'static str,
    /// `None` for ECR Public (then there is no region either).
    account_region: Option<(&'static str, &'static str)>,
    partition: Partition,
    fips: bool,
    dual_stack: bool,
}

const fn private(
    name: &'static str,
    input: &'static str,
    host: &'static str,
    region: &'static str,
    partition: Partition,
    fips: bool,
    dual_stack: bool,
) -> Accepted {
    Accepted {
        name,
        input,
        host,
        account_region: Some((ACCOUNT, region)),
        partition,
        fips,
        dual_stack,
    }
}

const fn public(name: &'static str, input: &'static str, host: &'static str) -> Accepted {
    Accepted {
        name,
        input,
        host,
        account_region: None,
        partition: Partition::Aws,
        fips: false,
        dual_stack: false,
    }
}

/// A case whose input is already the canonical host.
const fn plain(
    name: &'static str,
    host: &'static str,
    region: &'static str,
    partition: Partition,
    fips: bool,
    dual_stack: bool,
) -> Accepted {
    private(name, host, host, region, partition, fips, dual_stack)
}

const ACCEPTED: &[Accepted] = {
    use Partition::*;
    &[
        plain("commercial", COMMERCIAL, "us-east-1", Aws, false, false),
        plain(
            "china",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "cn-north-1",
            AwsCn,
            false,
            false,
        ),
        plain(
            "eu sovereign cloud",
            "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
            "eusc-de-east-1",
            AwsEusc,
            false,
            false,
        ),
        plain(
            "govcloud west",
            "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
            "us-gov-west-1",
            AwsUsGov,
            false,
            false,
        ),
        plain(
            "govcloud fips",
            "123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com",
            "us-gov-east-1",
            AwsUsGov,
            true,
            false,
        ),
        plain(
            "iso (c2s)",
            "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
            "us-iso-east-1",
            AwsIso,
            false,
            false,
        ),
        plain(
            "iso-b (sc2s)",
            "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
            "us-isob-east-1",
            AwsIsoB,
            false,
            false,
        ),
        plain(
            "iso-e",
            "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
            "eu-isoe-west-1",
            AwsIsoE,
            false,
            false,
        ),
        plain(
            "iso-f",
            "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
            "us-isof-south-1",
            AwsIsoF,
            false,
            false,
        ),
        plain(
            "commercial fips",
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
            "us-east-1",
            Aws,
            true,
            false,
        ),
        plain(
            "dual-stack",
            "123456789012.dkr-ecr.us-west-2.on.aws",
            "us-west-2",
            Aws,
            false,
            true,
        ),
        plain(
            "dual-stack fips",
            "123456789012.dkr-ecr-fips.us-east-2.on.aws",
            "us-east-2",
            Aws,
            true,
            true,
        ),
        plain(
            "dkr-ecr separator on amazonaws.com",
            "123456789012.dkr-ecr.eu-west-1.amazonaws.com",
            "eu-west-1",
            Aws,
            false,
            false,
        ),
        plain(
            "dkr.ecr separator on on.aws",
            "123456789012.dkr.ecr.eu-west-1.on.aws",
            "eu-west-1",
            Aws,
            false,
            true,
        ),
        plain(
            "govcloud dual-stack",
            "123456789012.dkr-ecr.us-gov-west-1.on.aws",
            "us-gov-west-1",
            AwsUsGov,
            false,
            true,
        ),
        plain(
            "china dual-stack",
            "123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn",
            "cn-northwest-1",
            AwsCn,
            false,
            true,
        ),
        plain(
            "china fips dkr.ecr-fips",
            "123456789012.dkr.ecr-fips.cn-north-1.amazonaws.com.cn",
            "cn-north-1",
            AwsCn,
            true,
            false,
        ),
        plain(
            "region without the us-gov- prefix is commercial",
            "123456789012.dkr.ecr.us-gov.amazonaws.com",
            "us-gov",
            Aws,
            false,
            false,
        ),
        Accepted {
            name: "all-zero account id",
            input: "000000000000.dkr.ecr.ap-southeast-2.amazonaws.com",
            host: "000000000000.dkr.ecr.ap-southeast-2.amazonaws.com",
            account_region: Some(("000000000000", "ap-southeast-2")),
            partition: Aws,
            fips: false,
            dual_stack: false,
        },
        private(
            "uppercase host is folded",
            "123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM",
            COMMERCIAL,
            "us-east-1",
            Aws,
            false,
            false,
        ),
        private(
            "mixed case dual-stack fips",
            "123456789012.Dkr-Ecr-FIPS.Us-Gov-West-1.On.Aws",
            "123456789012.dkr-ecr-fips.us-gov-west-1.on.aws",
            "us-gov-west-1",
            AwsUsGov,
            true,
            true,
        ),
        private(
            "port is ignored",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com:443",
            COMMERCIAL,
            "us-east-1",
            Aws,
            false,
            false,
        ),
        private(
            "uppercase with port",
            "123456789012.DKR.ECR.CN-NORTH-1.AMAZONAWS.COM.CN:5000",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "cn-north-1",
            AwsCn,
            false,
            false,
        ),
        public("ecr public", "public.ecr.aws", "public.ecr.aws"),
        public(
            "ecr public alias",
            "ecr-public.aws.com",
            "ecr-public.aws.com",
        ),
        public(
            "ecr public uppercase with port",
            "PUBLIC.ECR.AWS:443",
            "public.ecr.aws",
        ),
        public(
            "ecr public alias mixed case",
            "ECR-Public.AWS.com",
            "ecr-public.aws.com",
        ),
    ]
};

#[test]
fn accepted_hosts_tell_their_parts() {
    for case in ACCEPTED {
        let name = case.name;
        let Some(host) = EcrHost::parse(case.input) else {
            panic!("{name}: {:?} should be an ECR host", case.input);
        };
        assert_eq!(host.host(), case.host, "{name}: host");
        assert_eq!(
            host.account_id(),
            case.account_region.map(|(a, _)| a),
            "{name}: account id"
        );
        assert_eq!(
            host.region(),
            case.account_region.map(|(_, r)| r),
            "{name}: region"
        );
        assert_eq!(
            host.is_public(),
            case.account_region.is_none(),
            "{name}: is_public"
        );
        assert_eq!(host.partition(), case.partition, "{name}: partition");
        assert_eq!(host.fips(), case.fips, "{name}: fips");
        assert_eq!(host.dual_stack(), case.dual_stack, "{name}: dual_stack");
        // Whatever the spelling of the input, the value equals the canonical host's.
        assert_eq!(
            EcrHost::parse(case.host).as_ref(),
            Some(&host),
            "{name}: equals its canonical host"
        );
    }
}

/// Inputs that are not ECR hosts, each with why.
const REJECTED: &[(&str, &str)] = &[
    ("empty string", ""),
    ("only a port", ":443"),
    ("bare suffix", "amazonaws.com"),
    ("bare dual-stack suffix", "on.aws"),
    ("no account label", "dkr.ecr.us-east-1.amazonaws.com"),
    ("empty account label", ".dkr.ecr.us-east-1.amazonaws.com"),
    ("11 digits", "12345678901.dkr.ecr.us-east-1.amazonaws.com"),
    ("13 digits", "1234567890123.dkr.ecr.us-east-1.amazonaws.com"),
    (
        "letter in account",
        "12345678901a.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "alphabetic account",
        "abcdefghijkl.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "signed account",
        "+12345678901.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "fullwidth digits in account",
        "１２３４５６７８９０１２.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "arabic-indic digits in account",
        "١٢٣٤٥٦٧٨٩٠١٢.dkr.ecr.us-east-1.amazonaws.com",
    ),
    // Twelve bytes that are not twelve ASCII digits: the byte length alone cannot reject
    // these, only the digit check (`char::is_numeric` would take every one of them).
    (
        "six arabic-indic digits, 12 bytes",
        "\u{661}\u{662}\u{663}\u{664}\u{665}\u{666}.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "four fullwidth digits, 12 bytes",
        "\u{FF11}\u{FF12}\u{FF13}\u{FF14}.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "four devanagari digits, 12 bytes",
        "\u{967}\u{968}\u{969}\u{96A}.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "nine digits and a fullwidth zero, 12 bytes",
        "123456789\u{FF10}.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "ten digits and a superscript two, 12 bytes",
        "1234567890\u{B2}.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "spoofed suffix",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
    ),
    (
        "spoofed suffix after china",
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn.evil.example",
    ),
    (
        "suffix glued to another domain",
        "123456789012.dkr.ecr.us-east-1.amazonaws.comevil.example",
    ),
    (
        "spoofed prefix",
        "x.123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "spoofed account-like prefix",
        "123456789012.123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "host as a path on another registry",
        "evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "host as a path behind a port",
        "evil.example:443/123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "host followed by a path",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/repo",
    ),
    (
        "userinfo before the host",
        "user@123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "host as userinfo of another",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com@evil.example",
    ),
    (
        "scheme",
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "trailing dot",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.",
    ),
    (
        "trailing dot before port",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.:443",
    ),
    ("leading dot", ".123456789012.dkr.ecr.us-east-1.amazonaws.com"),
    ("empty region", "123456789012.dkr.ecr..amazonaws.com"),
    ("missing region", "123456789012.dkr.ecr.amazonaws.com"),
    (
        "empty label in suffix",
        "123456789012.dkr.ecr.us-east-1.amazonaws..com",
    ),
    (
        "empty label in service",
        "123456789012.dkr..ecr.us-east-1.amazonaws.com",
    ),
    (
        "fipsx",
        "123456789012.dkr.ecr-fipsx.us-east-1.amazonaws.com",
    ),
    (
        "fips twice",
        "123456789012.dkr.ecr-fips-fips.us-east-1.amazonaws.com",
    ),
    (
        "fips as its own label",
        "123456789012.dkr.ecr.fips.us-east-1.amazonaws.com",
    ),
    (
        "underscore separator",
        "123456789012.dkr_ecr.us-east-1.amazonaws.com",
    ),
    ("ecrx", "123456789012.dkr.ecrx.us-east-1.amazonaws.com"),
    ("no dkr label", "123456789012.ecr.us-east-1.amazonaws.com"),
    (
        "api endpoint, not a registry",
        "api.ecr.us-east-1.amazonaws.com",
    ),
    (
        "dual-stack api suffix",
        "123456789012.dkr-ecr.us-east-1.api.aws",
    ),
    (
        "underscore in region",
        "123456789012.dkr.ecr.us_east-1.amazonaws.com",
    ),
    (
        "leading hyphen in region",
        "123456789012.dkr.ecr.-us-east-1.amazonaws.com",
    ),
    (
        "trailing hyphen in region",
        "123456789012.dkr.ecr.us-east-1-.amazonaws.com",
    ),
    (
        "double hyphen in region",
        "123456789012.dkr.ecr.us--east-1.amazonaws.com",
    ),
    (
        "region longer than a dns label",
        "123456789012.dkr.ecr.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.amazonaws.com",
    ),
    (
        "kelvin sign for k in dkr",
        "123456789012.d\u{212A}r.ecr.us-east-1.amazonaws.com",
    ),
    (
        "kelvin sign for k in suffix",
        "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.u\u{212A}",
    ),
    (
        "long s for s in suffix",
        "123456789012.dkr.ecr.us-east-1.amazonaw\u{17F}.com",
    ),
    (
        "cyrillic e in ecr",
        "123456789012.dkr.\u{435}cr.us-east-1.amazonaws.com",
    ),
    (
        "cyrillic a in region",
        "123456789012.dkr.ecr.us-e\u{430}st-1.amazonaws.com",
    ),
    (
        "fullwidth full stop",
        "123456789012\u{FF0E}dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "ideographic full stop",
        "123456789012.dkr.ecr.us-east-1.amazonaws\u{3002}com",
    ),
    (
        "zero-width space",
        "123456789012.dkr.ecr.us-east-1\u{200B}.amazonaws.com",
    ),
    (
        "percent-encoded dot after account",
        "123456789012%2edkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "percent-encoded dot in suffix",
        "123456789012.dkr.ecr.us-east-1.amazonaws%2Ecom",
    ),
    (
        "percent-encoded digit",
        "%3123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "leading space",
        " 123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ),
    (
        "trailing newline",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com\n",
    ),
    (
        "nul byte",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com\0",
    ),
    (
        "empty port",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:",
    ),
    (
        "alphabetic port",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:https",
    ),
    (
        "port out of range",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:65536",
    ),
    (
        "signed port",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:+443",
    ),
    (
        "two ports",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:443:443",
    ),
    (
        "unlisted sovereign dual-stack suffix",
        "123456789012.dkr-ecr.eusc-de-east-1.on.amazonwebservices.eu",
    ),
    (
        "unlisted suffix",
        "123456789012.dkr.ecr.us-east-1.amazonaws.org",
    ),
    ("ipv6 literal", "[::1]:5000"),
    ("public look-alike suffix", "public.ecr.aws.evil.example"),
    ("public look-alike prefix", "xpublic.ecr.aws"),
    ("public with trailing dot", "public.ecr.aws."),
    ("public with hyphen", "public-ecr.aws"),
    ("public alias look-alike", "ecr-public.aws.com.cn"),
    ("public with dotless i", "pub\u{131}ic.ecr.aws"),
];

#[test]
fn twelve_byte_non_ascii_account_ids_are_twelve_bytes_of_numeric_characters() {
    // What makes the rows above a test of the digit check rather than of the length check.
    let mut seen = 0;
    for (name, input) in REJECTED.iter().filter(|(n, _)| n.ends_with(", 12 bytes")) {
        let account = input.split('.').next().unwrap();
        assert_eq!(account.len(), 12, "{name}");
        assert!(!account.is_ascii(), "{name}");
        assert!(account.chars().all(char::is_numeric), "{name}");
        seen += 1;
    }
    assert_eq!(seen, 5);
}

#[test]
fn rejected_hosts_are_not_ecr() {
    for (name, input) in REJECTED {
        assert_eq!(
            EcrHost::parse(input),
            None,
            "{name}: {input:?} must not be an ECR host"
        );
    }
}

#[test]
fn partitions_print_as_aws_writes_them() {
    let cases = [
        (Partition::Aws, "aws"),
        (Partition::AwsCn, "aws-cn"),
        (Partition::AwsUsGov, "aws-us-gov"),
        (Partition::AwsEusc, "aws-eusc"),
        (Partition::AwsIso, "aws-iso"),
        (Partition::AwsIsoB, "aws-iso-b"),
        (Partition::AwsIsoE, "aws-iso-e"),
        (Partition::AwsIsoF, "aws-iso-f"),
    ];
    for (partition, name) in cases {
        assert_eq!(partition.as_str(), name, "{partition:?}: as_str");
        assert_eq!(partition.to_string(), name, "{partition:?}: Display");
    }
}

/// The partition a suffix and region stand for, written from the rules, not from the parser.
fn expected_partition(suffix: &str, region: &str) -> Partition {
    let gov = region.starts_with("us-gov-");
    match suffix {
        "amazonaws.com" | "on.aws" if gov => Partition::AwsUsGov,
        "amazonaws.com" | "on.aws" => Partition::Aws,
        "amazonaws.com.cn" | "on.amazonwebservices.com.cn" => Partition::AwsCn,
        "amazonaws.eu" => Partition::AwsEusc,
        "c2s.ic.gov" => Partition::AwsIso,
        "sc2s.sgov.gov" => Partition::AwsIsoB,
        "cloud.adc-e.uk" => Partition::AwsIsoE,
        "csp.hci.ic.gov" => Partition::AwsIsoF,
        other => panic!("not a registry suffix: {other}"),
    }
}

/// A valid private host, built from its parts.
#[derive(Debug, Clone)]
struct Generated {
    account: String,
    region: String,
    separator: char,
    fips: bool,
    suffix: &'static str,
    port: Option<u16>,
    case_mask: Vec<bool>,
}

impl Generated {
    fn canonical(&self) -> String {
        let fips = if self.fips { "-fips" } else { "" };
        format!(
            "{}.dkr{}ecr{fips}.{}.{}",
            self.account, self.separator, self.region, self.suffix
        )
    }

    /// The canonical host with random ASCII letters uppercased, and the port if any.
    fn input(&self) -> String {
        let mut input: String = self
            .canonical()
            .chars()
            .zip(self.case_mask.iter().cycle())
            .map(|(c, &upper)| if upper { c.to_ascii_uppercase() } else { c })
            .collect();
        if let Some(port) = self.port {
            input.push_str(&format!(":{port}"));
        }
        input
    }
}

fn generated_host() -> impl Strategy<Value = Generated> {
    (
        "[0-9]{12}",
        any::<bool>(),
        "[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}",
        prop::sample::select(vec!['.', '-']),
        any::<bool>(),
        prop::sample::select(SUFFIXES.to_vec()),
        prop::option::of(any::<u16>()),
        prop::collection::vec(any::<bool>(), 1..64),
    )
        .prop_map(
            |(account, gov, region, separator, fips, suffix, port, case_mask)| Generated {
                account,
                region: if gov {
                    format!("us-gov-{region}")
                } else {
                    region
                },
                separator,
                fips,
                suffix,
                port,
                case_mask,
            },
        )
}

proptest! {
    #[test]
    fn parse_never_panics_on_any_string(input in any::<String>()) {
        if let Some(host) = EcrHost::parse(&input) {
            prop_assert!(host.host().is_ascii(), "{:?} kept a non-ASCII char", input);
            prop_assert_eq!(EcrHost::parse(host.host()), Some(host.clone()));
            if let Some(account) = host.account_id() {
                prop_assert!(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }

    #[test]
    fn parse_never_panics_on_host_like_strings(
        input in "[0-9a-zA-Z.:%/@_\\- \u{212A}\u{17F}\u{FF0E}]{0,96}",
    ) {
        if let Some(host) = EcrHost::parse(&input) {
            prop_assert_eq!(EcrHost::parse(host.host()), Some(host));
        }
    }

    #[test]
    fn generated_valid_host_parses_back_to_its_parts(generated in generated_host()) {
        let input = generated.input();
        let host = EcrHost::parse(&input);
        prop_assert!(host.is_some(), "{:?} should parse", input);
        let host = host.unwrap();
        prop_assert!(!host.is_public());
        prop_assert_eq!(host.account_id(), Some(generated.account.as_str()));
        prop_assert_eq!(host.region(), Some(generated.region.as_str()));
        prop_assert_eq!(
            host.partition(),
            expected_partition(generated.suffix, &generated.region)
        );
        prop_assert_eq!(host.fips(), generated.fips);
        prop_assert_eq!(host.dual_stack(), generated.suffix.starts_with("on."));
        prop_assert_eq!(host.host(), generated.canonical());
    }

    #[test]
    fn one_inserted_char_never_panics_and_never_yields_a_non_canonical_host(
        generated in generated_host(),
        at in any::<prop::sample::Index>(),
        inserted in any::<char>(),
    ) {
        let mut chars: Vec<char> = generated.input().chars().collect();
        chars.insert(at.index(chars.len() + 1), inserted);
        let input: String = chars.into_iter().collect();
        if let Some(host) = EcrHost::parse(&input) {
            prop_assert!(host.host().is_ascii(), "{:?} kept a non-ASCII char", input);
            prop_assert_eq!(EcrHost::parse(host.host()), Some(host));
        }
    }

    #[test]
    fn extra_labels_around_a_valid_host_are_rejected(
        generated in generated_host(),
        label in "[a-z0-9-]{1,12}".prop_filter("`.cn` turns amazonaws.com into China", |l| l != "cn"),
    ) {
        let canonical = generated.canonical();
        let appended = format!("{canonical}.{label}");
        let prepended = format!("{label}.{canonical}");
        let as_path = format!("{label}.example/{canonical}");
        prop_assert_eq!(EcrHost::parse(&appended), None, "{}", appended);
        prop_assert_eq!(EcrHost::parse(&prepended), None, "{}", prepended);
        prop_assert_eq!(EcrHost::parse(&as_path), None, "{}", as_path);
    }
}

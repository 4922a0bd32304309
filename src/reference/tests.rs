//! Image reference parsing and normalisation: table tests and properties, through the public
//! API; and the one-pass reading of the first component against the domain rules.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

fn hex(len: usize) -> String {
    "0123456789abcdef".chars().cycle().take(len).collect()
}

fn sha256() -> String {
    format!("sha256:{}", hex(64))
}

/// A valid input and every accessor of its normalised form.
struct Valid {
    input: String,
    full: String,
    domain: &'static str,
    host: &'static str,
    port: Option<u16>,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn valid(
    input: impl Into<String>,
    full: impl Into<String>,
    domain: &'static str,
    host: &'static str,
    port: Option<u16>,
    repository: impl Into<String>,
    tag: Option<&str>,
    digest: Option<String>,
) -> Valid {
    Valid {
        input: input.into(),
        full: full.into(),
        domain,
        host,
        port,
        repository: repository.into(),
        tag: tag.map(str::to_owned),
        digest,
    }
}

#[test]
fn valid_references_expose_every_part() {
    let d256 = sha256();
    let d384 = format!("sha384:{}", hex(96));
    let d512 = format!("sha512:{}", hex(128));
    let h64 = hex(64);
    let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let latest = Some("latest");
    #[rustfmt::skip]
    let cases = [
        valid("ubuntu", "docker.io/library/ubuntu:latest", "docker.io", "docker.io", None, "library/ubuntu", latest, None),
        valid("library/ubuntu", "docker.io/library/ubuntu:latest", "docker.io", "docker.io", None, "library/ubuntu", latest, None),
        valid("ubuntu:22.04", "docker.io/library/ubuntu:22.04", "docker.io", "docker.io", None, "library/ubuntu", Some("22.04"), None),
        valid("docker.io/ubuntu", "docker.io/library/ubuntu:latest", "docker.io", "docker.io", None, "library/ubuntu", latest, None),
        valid("docker.io/x/y", "docker.io/x/y:latest", "docker.io", "docker.io", None, "x/y", latest, None),
        valid("index.docker.io/x", "docker.io/library/x:latest", "docker.io", "docker.io", None, "library/x", latest, None),
        valid("index.docker.io/team/x:v1", "docker.io/team/x:v1", "docker.io", "docker.io", None, "team/x", Some("v1"), None),
        valid("test_com/foo", "docker.io/test_com/foo:latest", "docker.io", "docker.io", None, "test_com/foo", latest, None),
        valid("localhost/x", "localhost/x:latest", "localhost", "localhost", None, "x", latest, None),
        valid("localhost:5000/x:tag", "localhost:5000/x:tag", "localhost:5000", "localhost", Some(5000), "x", Some("tag"), None),
        valid("registry:5000/x", "registry:5000/x:latest", "registry:5000", "registry", Some(5000), "x", latest, None),
        valid("host:0/x", "host:0/x:latest", "host:0", "host", Some(0), "x", latest, None),
        valid("host:65535/x", "host:65535/x:latest", "host:65535", "host", Some(65535), "x", latest, None),
        valid("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000", "[::1]", Some(5000), "x", latest, None),
        valid("[2001:db8::1]/repo:tag", "[2001:db8::1]/repo:tag", "[2001:db8::1]", "[2001:db8::1]", None, "repo", Some("tag"), None),
        valid("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "192.168.1.1", Some(5000), "repo", Some("5050"), None),
        valid("Example.COM/x", "Example.COM/x:latest", "Example.COM", "Example.COM", None, "x", latest, None),
        // distribution treats an uppercase first component as a host, never as a namespace.
        valid("Foo/bar", "Foo/bar:latest", "Foo", "Foo", None, "bar", latest, None),
        valid("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "xn--n3h.com", None, "myimage", Some("xn--n3h.com"), None),
        valid(format!("{ecr}/my-ml-image:v1.0"), format!("{ecr}/my-ml-image:v1.0"), ecr, ecr, None, "my-ml-image", Some("v1.0"), None),
        valid("example.com/a/b__c/d---e/f.g_h", "example.com/a/b__c/d---e/f.g_h:latest", "example.com", "example.com", None, "a/b__c/d---e/f.g_h", latest, None),
        valid("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", "docker.io", "docker.io", None, "library/lowercase", Some("Uppercase"), None),
        valid("x:_tag.-1", "docker.io/library/x:_tag.-1", "docker.io", "docker.io", None, "library/x", Some("_tag.-1"), None),
        // Without a '/', a host-looking name is a Docker Hub name and the port is a tag.
        valid("localhost:5000", "docker.io/library/localhost:5000", "docker.io", "docker.io", None, "library/localhost", Some("5000"), None),
        valid("example.com:8080", "docker.io/library/example.com:8080", "docker.io", "docker.io", None, "library/example.com", Some("8080"), None),
        valid(format!("ubuntu@{d256}"), format!("docker.io/library/ubuntu@{d256}"), "docker.io", "docker.io", None, "library/ubuntu", None, Some(d256.clone())),
        valid(format!("ubuntu:22.04@{d256}"), format!("docker.io/library/ubuntu:22.04@{d256}"), "docker.io", "docker.io", None, "library/ubuntu", Some("22.04"), Some(d256.clone())),
        valid(format!("[::1]:5000/x@{d256}"), format!("[::1]:5000/x@{d256}"), "[::1]:5000", "[::1]", Some(5000), "x", None, Some(d256.clone())),
        valid(format!("example.com/a@{d384}"), format!("example.com/a@{d384}"), "example.com", "example.com", None, "a", None, Some(d384.clone())),
        valid(format!("example.com/a:v@{d512}"), format!("example.com/a:v@{d512}"), "example.com", "example.com", None, "a", Some("v"), Some(d512.clone())),
        // Only the whole input as 64 hex digits is an image ID; as a tag or a path it is fine.
        valid(format!("{h64}:tag"), format!("docker.io/library/{h64}:tag"), "docker.io", "docker.io", None, format!("library/{h64}"), Some("tag"), None),
        valid(format!("example.com/{h64}"), format!("example.com/{h64}:latest"), "example.com", "example.com", None, h64.clone(), latest, None),
        valid(d256.clone(), format!("docker.io/library/{d256}"), "docker.io", "docker.io", None, "library/sha256", Some(h64.as_str()), None),
    ];
    for case in &cases {
        let input = &case.input;
        let image = ImageReference::parse(input)
            .unwrap_or_else(|e| panic!("{input:?} should parse, got: {e}"));
        assert_eq!(image.as_str(), case.full, "as_str of {input:?}");
        assert_eq!(image.to_string(), case.full, "Display of {input:?}");
        assert_eq!(image.domain(), case.domain, "domain of {input:?}");
        assert_eq!(image.host(), case.host, "host of {input:?}");
        assert_eq!(image.port(), case.port, "port of {input:?}");
        assert_eq!(
            image.repository(),
            case.repository,
            "repository of {input:?}"
        );
        let name = format!("{}/{}", case.domain, case.repository);
        assert_eq!(image.name(), name, "name of {input:?}");
        assert_eq!(image.tag(), case.tag.as_deref(), "tag of {input:?}");
        assert_eq!(
            image.digest(),
            case.digest.as_deref(),
            "digest of {input:?}"
        );
        let rest = &case.full[case.domain.len() + 1..];
        assert_eq!(
            image.path_and_version(),
            rest,
            "path_and_version of {input:?}"
        );
        let again: ImageReference = case.full.parse().unwrap();
        assert_eq!(
            again, image,
            "{input:?} normalised form re-parses to itself"
        );
    }
}

#[test]
fn normalisation() {
    let d256 = sha256();
    let cases = [
        (
            "ubuntu".to_owned(),
            "docker.io/library/ubuntu:latest".to_owned(),
        ),
        (
            "library/ubuntu".into(),
            "docker.io/library/ubuntu:latest".into(),
        ),
        (
            "docker.io/library/ubuntu:latest".into(),
            "docker.io/library/ubuntu:latest".into(),
        ),
        (
            "index.docker.io/x".into(),
            "docker.io/library/x:latest".into(),
        ),
        ("index.docker.io/x/y:1".into(), "docker.io/x/y:1".into()),
        // Only the exact legacy name is rewritten, as in distribution.
        (
            "index.docker.io:443/x".into(),
            "index.docker.io:443/x:latest".into(),
        ),
        ("docker.io/x/y".into(), "docker.io/x/y:latest".into()),
        ("localhost/x".into(), "localhost/x:latest".into()),
        ("localhost:5000/x:tag".into(), "localhost:5000/x:tag".into()),
        ("[::1]:5000/x".into(), "[::1]:5000/x:latest".into()),
        ("Example.COM/x".into(), "Example.COM/x:latest".into()),
        ("quay.io/x".into(), "quay.io/x:latest".into()),
        (
            format!("ubuntu@{d256}"),
            format!("docker.io/library/ubuntu@{d256}"),
        ),
        (
            format!("ubuntu:1@{d256}"),
            format!("docker.io/library/ubuntu:1@{d256}"),
        ),
        (
            format!("ubuntu:latest@{d256}"),
            format!("docker.io/library/ubuntu:latest@{d256}"),
        ),
    ];
    for (input, expected) in &cases {
        let image = ImageReference::parse(input)
            .unwrap_or_else(|e| panic!("{input:?} should parse, got: {e}"));
        assert_eq!(image.as_str(), expected, "normalised form of {input:?}");
    }
}

#[test]
fn length_limits() {
    let a = |n| "a".repeat(n);
    let long_host = format!("{}.example.com", "h".repeat(300));
    // (input, Ok(repository length) or Err(position))
    let cases: Vec<(String, Result<usize, usize>)> = vec![
        // The 255 limit is on the repository path, exactly at it and one over.
        (format!("example.com/{}", a(255)), Ok(255)),
        (format!("example.com/{}", a(256)), Err(12 + 255)),
        (format!("example.com/{}/b", a(253)), Ok(255)),
        (format!("example.com/{}/b", a(254)), Err(12 + 255)),
        // The domain never counts (distribution/reference PR #9).
        (format!("{long_host}/{}", a(255)), Ok(255)),
        // A one-component Docker Hub name counts the implied "library/".
        (a(247), Ok(255)),
        (a(248), Err(247)),
        (format!("{}:tag", a(248)), Err(247)),
        (format!("docker.io/{}", a(247)), Ok(255)),
        (format!("docker.io/{}", a(248)), Err(10 + 247)),
        (format!("index.docker.io/{}", a(248)), Err(16 + 247)),
        (format!("docker.io/{}/b", a(253)), Ok(255)),
        (format!("docker.io/{}/b", a(254)), Err(10 + 255)),
    ];
    for (input, expected) in &cases {
        let got = ImageReference::parse(input);
        match (expected, got) {
            (Ok(len), Ok(image)) => {
                assert_eq!(
                    image.repository().len(),
                    *len,
                    "repository length of {input:?}"
                );
            }
            (Err(position), Err(e)) => {
                assert_eq!(
                    e.kind(),
                    &ReferenceErrorKind::NameTooLong,
                    "kind for {input:?}"
                );
                assert_eq!(e.position(), *position, "position for {input:?}");
            }
            (expected, got) => panic!("{input:?}: expected {expected:?}, got {got:?}"),
        }
    }

    let tag_at_limit = format!("x:{}", "t".repeat(128));
    assert_eq!(
        ImageReference::parse(&tag_at_limit)
            .unwrap()
            .tag()
            .unwrap()
            .len(),
        128
    );
    let tag_over = format!("x:{}", "t".repeat(129));
    let e = ImageReference::parse(&tag_over).unwrap_err();
    assert_eq!(
        (e.kind(), e.position()),
        (&ReferenceErrorKind::InvalidTag, 2 + 128)
    );
}

#[test]
fn invalid_references_name_the_rule_and_the_byte() {
    use ReferenceErrorKind as K;
    let h64 = hex(64);
    let digest_at = |hex_digits: &str| format!("foo@sha256:{hex_digits}");
    let cases: Vec<(String, K, usize)> = vec![
        (String::new(), K::Empty, 0),
        (" ".into(), K::InvalidPathComponent, 0),
        (" ubuntu".into(), K::InvalidPathComponent, 0),
        ("ubuntu ".into(), K::InvalidPathComponent, 6),
        ("ubu\tntu".into(), K::InvalidPathComponent, 3),
        ("ubuntu:latest ".into(), K::InvalidTag, 13),
        ("foo%2fbar".into(), K::InvalidPathComponent, 3),
        ("https://example.com/x".into(), K::Scheme, 0),
        ("oci+http://example.com/x".into(), K::Scheme, 0),
        ("http:/x".into(), K::InvalidPort, 5),
        ("foo/bar/".into(), K::InvalidPathComponent, 8),
        ("foo//bar".into(), K::InvalidPathComponent, 4),
        ("/foo".into(), K::InvalidPathComponent, 0),
        ("example.com/".into(), K::InvalidPathComponent, 12),
        (":justtag".into(), K::InvalidPathComponent, 0),
        (format!("@{}", sha256()), K::InvalidPathComponent, 0),
        ("foo/bar:tag/baz".into(), K::InvalidPathComponent, 7),
        ("foo/bar-".into(), K::InvalidPathComponent, 8),
        ("foo/-bar".into(), K::InvalidPathComponent, 4),
        ("foo/a___b".into(), K::InvalidPathComponent, 7),
        ("foo/a._b".into(), K::InvalidPathComponent, 6),
        ("foo/a..b".into(), K::InvalidPathComponent, 6),
        ("aa/asdf$$^/aa".into(), K::InvalidPathComponent, 7),
        ("[2001:db8::1]:5000".into(), K::InvalidPathComponent, 0),
        ("example.com./x".into(), K::InvalidDomain, 11),
        (".example.com/x".into(), K::InvalidDomain, 0),
        ("example..com/x".into(), K::InvalidDomain, 8),
        ("example.com-/x".into(), K::InvalidDomain, 11),
        ("example-:5000/x".into(), K::InvalidDomain, 7),
        ("example.com.:5000/x".into(), K::InvalidDomain, 11),
        // Not schemes (one starts with a digit, one holds a '_'): read as a domain and port.
        ("9p://host/x".into(), K::InvalidPort, 3),
        ("a_b://x/y".into(), K::InvalidDomain, 1),
        ("-example.com/x".into(), K::InvalidDomain, 0),
        ("example-.com/x".into(), K::InvalidDomain, 7),
        ("exa_mple.com/x".into(), K::InvalidDomain, 3),
        (":5000/x".into(), K::InvalidDomain, 0),
        ("[::1/x".into(), K::InvalidDomain, 0),
        ("[:::]/x".into(), K::InvalidDomain, 0),
        ("[::1]x/repo".into(), K::InvalidDomain, 5),
        ("[fe80::1%eth0]:5000/repo".into(), K::InvalidDomain, 8),
        ("localhost:/x".into(), K::InvalidPort, 10),
        ("localhost:65536/x".into(), K::InvalidPort, 10),
        (
            "localhost:99999999999999999999999/x".into(),
            K::InvalidPort,
            10,
        ),
        ("localhost:50a/x".into(), K::InvalidPort, 12),
        ("example.com:5000:6000/x".into(), K::InvalidPort, 16),
        ("foo:tag/bar".into(), K::InvalidPort, 4),
        ("[::1]:/x".into(), K::InvalidPort, 6),
        ("foo/Bar".into(), K::Uppercase, 4),
        ("Ubuntu".into(), K::Uppercase, 0),
        ("Uppercase:tag".into(), K::Uppercase, 0),
        ("test:5000/Uppercase/lowercase:tag".into(), K::Uppercase, 10),
        ("example.com/team/App:v1".into(), K::Uppercase, 17),
        ("foo:".into(), K::InvalidTag, 4),
        (format!("foo:@{}", sha256()), K::InvalidTag, 4),
        ("foo:.tag".into(), K::InvalidTag, 4),
        ("foo:-tag".into(), K::InvalidTag, 4),
        ("foo:ta+g".into(), K::InvalidTag, 6),
        ("foo@".into(), K::InvalidDigest, 4),
        ("foo@sha256".into(), K::InvalidDigest, 10),
        ("foo@sha2$56".into(), K::InvalidDigest, 8),
        ("foo@sha256:".into(), K::InvalidDigest, 11),
        ("foo@1sha:abc".into(), K::InvalidDigest, 4),
        ("foo@sha-:abc".into(), K::InvalidDigest, 8),
        (digest_at(&hex(31)), K::InvalidDigest, 11 + 31),
        (digest_at(&hex(63)), K::InvalidDigest, 11 + 63),
        (digest_at(&hex(65)), K::InvalidDigest, 11 + 64),
        (digest_at(&format!("A{}", hex(63))), K::InvalidDigest, 11),
        (digest_at(&h64.to_uppercase()), K::InvalidDigest, 11 + 10),
        (digest_at(&format!("{h64}@x")), K::InvalidDigest, 11 + 64),
        (format!("foo@sha384:{}", hex(64)), K::InvalidDigest, 11 + 64),
        (format!("foo@sha512:{}", hex(96)), K::InvalidDigest, 11 + 96),
        ("foo@md5:".into(), K::InvalidDigest, 8),
        (
            format!("foo@md5:{}", hex(32)),
            K::UnsupportedDigestAlgorithm,
            4,
        ),
        (
            format!("foo@SHA256:{h64}"),
            K::UnsupportedDigestAlgorithm,
            4,
        ),
        (
            format!("validname@invaliddigest:{h64}"),
            K::UnsupportedDigestAlgorithm,
            10,
        ),
        (h64.clone(), K::HexIdentifierAsName, 0),
        ("ubuntü".into(), K::InvalidPathComponent, 5),
        ("exämple.com/x".into(), K::InvalidDomain, 2),
        ("foo:tä".into(), K::InvalidTag, 5),
        ("foo@sha256:ä".into(), K::InvalidDigest, 11),
        ("🐳".into(), K::InvalidPathComponent, 0),
    ];
    for (input, kind, position) in &cases {
        let e = match ImageReference::parse(input) {
            Ok(image) => panic!("{input:?} should fail with {kind:?}, parsed as {image}"),
            Err(e) => e,
        };
        assert_eq!(e.kind(), kind, "kind for {input:?} ({e})");
        assert_eq!(e.position(), *position, "position for {input:?} ({e})");
        assert_eq!(e.input(), input, "input kept for {input:?}");
        let message = e.to_string();
        assert!(
            message.starts_with(&format!("invalid image reference {input:?}: "))
                || input.len() > 100,
            "message for {input:?} quotes it: {message}"
        );
        assert!(
            message.contains(&format!("(at byte {position}")),
            "message for {input:?} names the byte: {message}"
        );
        assert!(
            message.contains("); "),
            "message for {input:?} has a fix: {message}"
        );
    }
}

#[test]
fn error_messages_read_as_sentences() {
    let cases = [
        (
            "foo/Bar".to_owned(),
            r#"invalid image reference "foo/Bar": repository name must be lowercase (at byte 4, 'B'); write it as "foo/bar""#.to_owned(),
        ),
        (
            String::new(),
            r#"invalid image reference "": the reference is empty (at byte 0); name an image, e.g. "ubuntu" or "registry.example.com/team/app:v1""#.into(),
        ),
        (
            "https://example.com/x".into(),
            r#"invalid image reference "https://example.com/x": an image reference has no URL scheme (at byte 0, 'h'); drop the scheme and write "example.com/x""#.into(),
        ),
        (
            "localhost:65536/x".into(),
            r#"invalid image reference "localhost:65536/x": a registry port is decimal digits from 0 to 65535 (at byte 10, '6'); use a port from 0 to 65535"#.into(),
        ),
        (
            "foo/bar/".into(),
            r#"invalid image reference "foo/bar/": a repository path is '/'-separated components of lowercase letters and digits, joined inside a component by '.', '_', '__' or dashes (at byte 8, end of input); remove the empty path component (a leading, trailing or doubled '/'), or write the missing name"#.into(),
        ),
        (
            format!("foo@md5:{}", hex(32)),
            format!(r#"invalid image reference "foo@md5:{}": digest algorithm "md5" is not supported (at byte 4, 'm'); use a sha256, sha384 or sha512 digest"#, hex(32)),
        ),
    ];
    for (input, expected) in &cases {
        let e = ImageReference::parse(input).unwrap_err();
        assert_eq!(&e.to_string(), expected, "message for {input:?}");
    }

    // Uppercase fix keeps the tag's case and the rest of the input.
    let e = ImageReference::parse("example.com/Team/App:V1").unwrap_err();
    assert!(
        e.to_string()
            .ends_with(r#"write it as "example.com/team/app:V1""#),
        "{e}"
    );
    // Control characters are escaped, never printed raw.
    let e = ImageReference::parse("a\u{1b}[31mb").unwrap_err();
    let message = e.to_string();
    assert!(!message.contains('\u{1b}'), "{message:?}");
    assert!(message.contains(r"\u{1b}"), "{message:?}");
    assert!(
        message.contains("remove the whitespace or control character"),
        "{message}"
    );
    // Long inputs are cut short, on a character boundary.
    let long = format!("{}é{}", "a".repeat(99), "B".repeat(5000));
    let message = ImageReference::parse(&long).unwrap_err().to_string();
    assert!(message.len() < 600, "message is {} bytes", message.len());
    assert!(message.contains("bytes in all"), "{message}");
}

#[test]
fn traits_follow_the_normalised_form() {
    let a: ImageReference = "ubuntu".parse().unwrap();
    let b = ImageReference::parse("index.docker.io/library/ubuntu:latest").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.clone(), b);
    assert_eq!(format!("{a}"), "docker.io/library/ubuntu:latest");
    let set: HashSet<ImageReference> = [a, b, "ubuntu:22.04".parse().unwrap()]
        .into_iter()
        .collect();
    assert_eq!(set.len(), 2);
    assert!(format!("{:?}", set.iter().next().unwrap()).contains("ImageReference"));

    let e = "foo/Bar".parse::<ImageReference>().unwrap_err();
    let boxed: Box<dyn std::error::Error> = Box::new(e.clone());
    assert_eq!(boxed.to_string(), e.to_string());
}

/// Valid references built from the grammar's pieces, so the properties see successes too.
pub(super) fn valid_reference() -> impl Strategy<Value = String> {
    let domain = prop_oneof![
        Just(String::new()),
        Just("localhost/".to_owned()),
        Just("docker.io/".to_owned()),
        Just("index.docker.io/".to_owned()),
        Just("[::1]:5000/".to_owned()),
        "[A-Za-z0-9]([A-Za-z0-9-]{0,5}[A-Za-z0-9])?(\\.[a-z0-9]{1,4}){1,2}(:[0-9]{1,5})?/",
    ];
    let component = "[a-z0-9]{1,4}(([._]|__|-{1,3})[a-z0-9]{1,4}){0,2}";
    let path = proptest::collection::vec(component, 1..4).prop_map(|c| c.join("/"));
    let tag = proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}");
    let digest = proptest::option::of(prop_oneof![
        "[a-f0-9]{64}".prop_map(|h| format!("sha256:{h}")),
        "[a-f0-9]{96}".prop_map(|h| format!("sha384:{h}")),
        "[a-f0-9]{128}".prop_map(|h| format!("sha512:{h}")),
    ]);
    (domain, path, tag, digest).prop_filter_map(
        "port over 65535, or a path read as a host",
        |(d, p, t, g)| {
            let port_ok = d
                .rsplit_once(':')
                .is_none_or(|(_, port)| port.trim_end_matches('/').parse::<u16>().is_ok());
            let tag = t.map(|t| format!(":{t}")).unwrap_or_default();
            let digest = g.map(|g| format!("@{g}")).unwrap_or_default();
            // Without a domain, a first component with a '.' would itself be read as a host.
            let first_is_host =
                d.is_empty() && p.split_once('/').is_some_and(|(f, _)| f.contains('.'));
            (port_ok && !first_is_host).then(|| format!("{d}{p}{tag}{digest}"))
        },
    )
}

/// `input` (ASCII, as [`valid_reference`] makes it) with the byte at `at` deleted, or `insert`
/// put there.
pub(super) fn edit_once(
    input: &str,
    at: prop::sample::Index,
    insert: char,
    delete: bool,
) -> String {
    let mut edited = input.to_owned();
    let i = at.index(input.len() + 1);
    if delete && i < input.len() {
        edited.remove(i);
    } else {
        edited.insert(i, insert);
    }
    edited
}

/// Every accessor agrees with `as_str`, and the normalised form parses to itself.
fn check_consistent(image: &ImageReference) -> Result<(), TestCaseError> {
    let full = image.as_str();
    prop_assert_eq!(
        format!("{}/{}", image.domain(), image.repository()),
        image.name()
    );
    prop_assert!(image.domain().starts_with(image.host()));
    prop_assert_eq!(
        image.as_image_ref().host_is_lowercase(),
        !image.host().bytes().any(|b| b.is_ascii_uppercase())
    );
    let mut rebuilt = image.name().to_owned();
    if let Some(tag) = image.tag() {
        rebuilt = format!("{rebuilt}:{tag}");
    }
    if let Some(digest) = image.digest() {
        rebuilt = format!("{rebuilt}@{digest}");
    }
    prop_assert_eq!(&rebuilt, full);
    prop_assert!(image.tag().is_some() || image.digest().is_some());
    prop_assert_eq!(image.path_and_version(), &full[image.domain().len() + 1..]);
    let again = ImageReference::parse(&image.to_string());
    prop_assert_eq!(
        again.as_ref(),
        Ok(image),
        "normalised {} re-parses to itself",
        full
    );
    Ok(())
}

proptest! {
    #[test]
    fn parse_never_panics_and_round_trips(input in "\\PC{0,80}|[a-zA-Z0-9:/@._\\[\\]-]{0,40}") {
        match ImageReference::parse(&input) {
            Ok(image) => check_consistent(&image)?,
            Err(e) => {
                prop_assert!(e.position() <= input.len());
                prop_assert!(input.is_char_boundary(e.position()));
                prop_assert!(e.to_string().starts_with("invalid image reference "));
            }
        }
    }

    #[test]
    fn grammar_built_references_parse_and_round_trip(input in valid_reference()) {
        let image = ImageReference::parse(&input);
        prop_assert!(image.is_ok(), "{:?} failed: {}", input, image.unwrap_err());
        check_consistent(&image.unwrap())?;
    }

    #[test]
    fn one_edit_never_panics(
        input in valid_reference(),
        at in any::<prop::sample::Index>(),
        insert in any::<char>(),
        delete in any::<bool>(),
    ) {
        let edited = edit_once(&input, at, insert, delete);
        match ImageReference::parse(&edited) {
            Ok(image) => check_consistent(&image)?,
            Err(e) => {
                prop_assert!(e.position() <= edited.len());
                prop_assert!(edited.is_char_boundary(e.position()));
                prop_assert_eq!(e.input(), edited.as_str());
                prop_assert!(e.to_string().starts_with("invalid image reference "));
            }
        }
    }
}

/// The first component read in one pass says what the domain rules, reading it again, say:
/// the same separators, the same domain test, and the same domain or the same error.
fn agrees_with_the_rules(first: &str) {
    let input = format!("{first}/repo");
    let bytes = input.as_bytes();
    let read = FirstComponent::read(bytes);
    let end = first.find(['/', '@']).unwrap_or(first.len());
    assert_eq!(read.end, end, "{input:?}");
    let component = &bytes[..end];
    let colons: Vec<usize> = (0..end).filter(|&i| bytes[i] == b':').collect();
    assert_eq!(read.first_colon, colons.first().copied(), "{input:?}");
    assert_eq!(read.last_colon, colons.last().copied(), "{input:?}");
    let looks = component == b"localhost"
        || component
            .iter()
            .any(|&b| b == b'.' || b == b':' || b.is_ascii_uppercase());
    assert_eq!(read.looks_like_domain(bytes), looks, "{input:?}");
    // The one pass vouches for exactly the names the rules accept (up to the first ':'): a
    // well-formed host never takes the slow path, a malformed one always does.
    assert_eq!(
        read.dot_or_upper,
        component
            .iter()
            .any(|&b| b == b'.' || b.is_ascii_uppercase()),
        "{input:?}"
    );
    assert_eq!(
        read.name_ok,
        scan_domain_name(bytes, end).is_ok(),
        "{input:?}"
    );
    assert_eq!(read.domain(bytes), scan_domain(bytes, end), "{input:?}");
}

#[test]
fn the_one_pass_domain_agrees_with_the_rules_on_every_kind_of_host() {
    for first in [
        "example.com",
        "Example.COM",
        "localhost",
        "localhost:5000",
        "a",
        "a-b.c-d:65535",
        "reg.example.com:65536",
        "reg.example.com:",
        "reg.example.com:5x",
        "reg.example.com:1:2",
        ":5000",
        "-a.com",
        "a-.com",
        "a..com",
        ".a.com",
        "a.com.",
        "a.com-",
        "a_b.com",
        "[::1]:5000",
        "[::1]",
        "[zz]:1",
        "exämple.com",
        "a.b@sha256",
        "",
    ] {
        agrees_with_the_rules(first);
    }
}

proptest! {
    #[test]
    fn the_one_pass_domain_agrees_with_the_rules(first in "[a-cA-C0-9.:_\\-\\[\\]@é]{0,16}") {
        agrees_with_the_rules(&first);
    }
}

#[test]
fn the_host_is_known_lowercase_exactly_when_it_is() {
    let long_path = "p".repeat(120);
    for (input, lowercase) in [
        ("example.com/x", true),
        ("Example.com/x", false),
        ("example.COM:5000/x:v1", false),
        ("ubuntu", true),
        ("library/ubuntu:22.04", true),
        ("index.docker.io/x", true),
        ("localhost/x", true),
        ("[::1]:5000/x", true),
        ("[::A]:5000/x", false),
        (&format!("example.com/{long_path}"), true),
        (&format!("EXAMPLE.com/{long_path}"), false),
    ] {
        let mut scratch = String::new();
        let image = ImageRef::parse(input, &mut scratch).unwrap();
        assert_eq!(image.host_is_lowercase(), lowercase, "{input}");
        assert_eq!(
            image.host_is_lowercase(),
            !image.host().bytes().any(|b| b.is_ascii_uppercase()),
            "{input}"
        );
    }
}

#[test]
fn a_borrowed_reference_shows_its_normal_form() {
    let mut scratch = String::new();
    let image = ImageRef::parse("Registry.Example.com:5000/team/app", &mut scratch).unwrap();
    assert_eq!(image.as_str(), "Registry.Example.com:5000/team/app:latest");
    assert_eq!(image.to_string(), image.as_str());
    assert_eq!(image.to_owned().as_str(), image.as_str());
    let written = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let image = ImageRef::parse(written, &mut scratch).unwrap();
    assert_eq!(image.as_str(), written);
    assert_eq!(format!("{image}"), written);
}

#[test]
fn a_reference_already_in_normal_form_is_not_copied() {
    let mut scratch = String::from("left over");
    for written in [
        "registry.example.com/team/app:v1",
        "registry.example.com/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "localhost:5000/app:v1",
    ] {
        let image = ImageRef::parse(written, &mut scratch).unwrap();
        assert_eq!(image.as_str(), written);
        assert_eq!(scratch, "left over", "{written} was copied");
    }
    // Normalising writes into the scratch buffer, replacing what was there.
    let image = ImageRef::parse("registry.example.com/team/app", &mut scratch).unwrap();
    assert_eq!(image.as_str(), "registry.example.com/team/app:latest");
    assert_eq!(scratch, "registry.example.com/team/app:latest");
}

#[test]
fn a_tag_too_long_is_told_its_limit_and_a_bad_character_is_not() {
    let long = format!("foo:{}", "a".repeat(129));
    let err = ImageReference::parse(&long).unwrap_err().to_string();
    assert!(err.contains("shorten the tag to 128 characters"), "{err}");
    for input in ["foo:ta+g", "foo:_tag%"] {
        let err = ImageReference::parse(input).unwrap_err().to_string();
        assert!(!err.contains("shorten the tag"), "{input}: {err}");
    }
}

#[test]
fn a_long_input_is_cut_on_a_character_boundary_in_messages() {
    // 'é' takes bytes 99 and 100: the shown part stops before it, at byte 99.
    let input = format!("{}é{}", "a".repeat(99), "B".repeat(20));
    let err = ImageReference::parse(&input).unwrap_err().to_string();
    let shown = format!("{:?}...", "a".repeat(99));
    assert!(err.contains(&shown), "{err}");
    assert!(
        err.contains(&format!("({} bytes in all)", input.len())),
        "{err}"
    );
}

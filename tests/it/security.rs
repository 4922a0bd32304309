//! Host confusion: look-alike, prefixed, suffixed, re-ported and encoded hosts must never match an
//! ECR pattern, through the plain scan, the compiled index, the resolver's selection and
//! `registry-auth explain`. Also the CLI's JSON contracts: `explain` with an account-wide and a
//! narrowed entry, and `registry-auth parse --json`.

use std::process::Command;

use std::sync::Arc;

use registry_auth::basic::BasicProvider;
use registry_auth::index::PatternIndex;
use registry_auth::pattern::{self, MatchPattern};
use registry_auth::reference::ImageReference;
use registry_auth::{DefaultResolver, ResolveContext};
use serde_json::Value;

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// A second real ECR host, with an `i` for the dotless-ı look-alike.
const ECR_IL: &str = "123456789012.dkr.ecr.il-central-1.amazonaws.com";
const WILDCARD: &str = "*.dkr.ecr.*.amazonaws.com/*";

/// Pattern and a host it legitimately serves.
fn targets() -> Vec<(String, &'static str)> {
    vec![
        (format!("{ECR}/*"), ECR),
        (WILDCARD.to_owned(), ECR),
        (WILDCARD.to_owned(), ECR_IL),
        (format!("{ECR}/x"), ECR),
        (ECR_IL.to_owned(), ECR_IL),
    ]
}

/// Replaces the first `from` in `s` with `to`; `None` when `s` has no `from`.
fn swap_first(s: &str, from: char, to: &str) -> Option<String> {
    s.find(from)
        .map(|i| format!("{}{to}{}", &s[..i], &s[i + from.len_utf8()..]))
}

/// Every way to dress up `host` so that it looks like, or contains, `host` without being it.
fn confusions(host: &str) -> Vec<(String, String)> {
    let upper = host.to_ascii_uppercase();
    let mut cases: Vec<(String, String)> = vec![
        (
            "another host, ECR host as the path".into(),
            format!("evil.example/{host}/x"),
        ),
        (
            "another host with a port, ECR host as the path".into(),
            format!("evil.example:443/{host}/x"),
        ),
        (
            "ECR host as a subdomain of another".into(),
            format!("{host}.evil.example/x"),
        ),
        (
            "ECR host under amazonaws.com again".into(),
            format!("{host}.amazonaws.com/x"),
        ),
        ("a label in front".into(), format!("evil.{host}/x")),
        (
            "ECR host, then @ and another host".into(),
            format!("{host}@evil.example/x"),
        ),
        (
            "ECR host, then :@ and another host".into(),
            format!("{host}:@evil.example/x"),
        ),
        ("userinfo".into(), format!("user@{host}/x")),
        (
            "userinfo with a password".into(),
            format!("user:pass@{host}/x"),
        ),
        (
            "ECR host as userinfo".into(),
            format!("{host}@evil.example"),
        ),
        ("trailing dot".into(), format!("{host}./x")),
        ("trailing dot and port".into(), format!("{host}.:443/x")),
        ("leading dot".into(), format!(".{host}/x")),
        ("other port".into(), format!("{host}:444/x")),
        ("explicit default port".into(), format!("{host}:443/x")),
        ("empty port".into(), format!("{host}:/x")),
        ("port 0".into(), format!("{host}:0/x")),
        ("dot-dot path".into(), format!("{host}/../x")),
        ("dot path".into(), format!("{host}/./x")),
        (
            "dot-dot after another host".into(),
            format!("evil.example/../{host}/x"),
        ),
        ("scheme".into(), format!("https://{host}/x")),
        ("protocol-relative".into(), format!("//{host}/x")),
        ("brackets".into(), format!("[{host}]/x")),
        (
            "backslash then @".into(),
            format!("{host}\\@evil.example/x"),
        ),
        (
            "backslash in front".into(),
            format!("evil.example\\{host}/x"),
        ),
        ("fragment then @".into(), format!("{host}#@evil.example/x")),
        ("query then @".into(), format!("{host}?@evil.example/x")),
        ("leading space".into(), format!(" {host}/x")),
        ("space before the path".into(), format!("{host} /x")),
        ("tab before the path".into(), format!("{host}\t/x")),
        ("newline before the path".into(), format!("{host}\n/x")),
        (
            "NUL then another host".into(),
            format!("{host}\0.evil.example/x"),
        ),
        (
            "percent-encoded slash".into(),
            format!("evil.example%2f{host}/x"),
        ),
        (
            "percent-encoded slash after the host".into(),
            format!("{host}%2fx"),
        ),
        (
            "zero-width space after the first label".into(),
            host.replacen('.', "\u{200B}.", 1) + "/x",
        ),
        (
            "soft hyphen".into(),
            host.replacen('.', "\u{AD}.", 1) + "/x",
        ),
        (
            "fullwidth digits".into(),
            host.chars()
                .map(|c| {
                    if c.is_ascii_digit() {
                        char::from_u32(0xFF10 + c.to_digit(10).unwrap()).unwrap()
                    } else {
                        c
                    }
                })
                .collect::<String>()
                + "/x",
        ),
    ];
    // Percent-encoding of single characters.
    for (from, to) in [('.', "%2e"), ('.', "%2E"), ('k', "%6b"), ('1', "%31")] {
        if let Some(h) = swap_first(host, from, to) {
            cases.push((
                format!("percent-encoded {from:?} as {to}"),
                format!("{h}/x"),
            ));
        }
    }
    // Non-ASCII look-alikes, on the host as written and upper-cased (they must not fold).
    #[rustfmt::skip]
    let lookalikes = [
        ('k', "\u{212A}", "Kelvin sign for k"),
        ('K', "\u{212A}", "Kelvin sign for K"),
        ('e', "\u{435}", "Cyrillic е for e"),
        ('E', "\u{415}", "Cyrillic Е for E"),
        ('a', "\u{430}", "Cyrillic а for a"),
        ('c', "\u{441}", "Cyrillic с for c"),
        ('o', "\u{43E}", "Cyrillic о for o"),
        ('s', "\u{455}", "Cyrillic ѕ for s"),
        ('i', "\u{131}", "dotless ı for i"),
        ('I', "\u{130}", "dotted İ for I"),
        ('1', "\u{FF11}", "fullwidth 1"),
        ('2', "\u{FF12}", "fullwidth 2"),
        ('-', "\u{2010}", "Unicode hyphen for -"),
        ('.', "\u{3002}", "ideographic full stop for ."),
        ('.', "\u{FF0E}", "fullwidth full stop for ."),
        ('.', "\u{2024}", "one dot leader for ."),
    ];
    for (from, to, what) in lookalikes {
        for (case, h) in [("", host), (" (upper case)", upper.as_str())] {
            if let Some(h) = swap_first(h, from, to) {
                cases.push((format!("{what}{case}"), format!("{h}/x")));
            }
        }
    }
    cases
}

/// The host, written as the same host (ASCII case only): these must match.
fn same_host(host: &str) -> Vec<(String, String)> {
    let mixed: String = host
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    vec![
        ("as written".into(), format!("{host}/x")),
        (
            "upper case".into(),
            format!("{}/x", host.to_ascii_uppercase()),
        ),
        ("mixed case".into(), format!("{mixed}/x")),
        (
            "upper case, tagged".into(),
            format!("{}/x:v1", host.to_ascii_uppercase()),
        ),
    ]
}

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_registry-auth"))
}

/// Runs the CLI; returns the exit code and stdout parsed as JSON.
fn run_json(args: &[&str]) -> (i32, Value) {
    let out = cli().args(args).output().expect("run registry-auth");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let code = out.status.code().expect("exit code");
    let value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON value ({e}): {stdout:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, value)
}

#[test]
fn host_confusion_never_matches_an_ecr_pattern() {
    let mut checked = 0;
    for (p, host) in targets() {
        let pattern = MatchPattern::parse(&p).expect("pattern");
        for (what, input) in same_host(host) {
            let image = ImageReference::parse(&input)
                .unwrap_or_else(|e| panic!("{p} / {what}: {input:?} should parse: {e}"));
            assert!(
                pattern.matches(&image),
                "{p} / {what}: {input:?} is the same host and should match"
            );
        }
        for (what, input) in confusions(host) {
            if let Ok(image) = ImageReference::parse(&input) {
                assert!(
                    !pattern.matches(&image),
                    "{p} / {what}: {input:?} parsed as {image} (host {:?}, port {:?}) and matched",
                    image.host(),
                    image.port()
                );
                assert_eq!(
                    pattern::best_match([&pattern], &image),
                    None,
                    "{p} / {what}: {input:?}: best_match"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} confusions were checked");
}

/// One resolver entry per pattern, each with its own login.
fn resolver(patterns: &[MatchPattern]) -> DefaultResolver {
    let mut builder = DefaultResolver::builder();
    for (i, p) in patterns.iter().enumerate() {
        builder = builder.provider_entry(
            p.clone(),
            Arc::new(BasicProvider::new(format!("user-{i}"), "pw".into())),
        );
    }
    builder.build().unwrap()
}

/// What serves `image` among `patterns`, by the plain scan, the index and the resolver, which
/// must agree.
fn served_by(patterns: &[MatchPattern], image: &ImageReference, what: &str) -> Option<usize> {
    let scan = pattern::best_match(patterns, image);
    let index = PatternIndex::new(patterns.iter().cloned()).best_match(image);
    let selected = resolver(patterns)
        .select_in(&ResolveContext::unscoped(), image)
        .unwrap()
        .map(|(i, _)| i);
    assert_eq!(
        (index, selected),
        (scan, scan),
        "{what}: {image}: the index and the resolver disagree with the plain scan"
    );
    scan
}

#[test]
fn host_confusion_never_matches_through_the_index_or_the_resolver() {
    let mut all: Vec<MatchPattern> = Vec::new();
    for (p, _) in targets() {
        let p = MatchPattern::parse(&p).unwrap();
        if !all.contains(&p) {
            all.push(p);
        }
    }
    let (mut tried, mut checked) = (0, 0);
    for (p, host) in targets() {
        let one = [MatchPattern::parse(&p).unwrap()];
        for (what, input) in same_host(host) {
            let image = ImageReference::parse(&input).unwrap();
            assert_eq!(served_by(&one, &image, &what), Some(0), "{p} / {what}");
            assert!(served_by(&all, &image, &what).is_some(), "{p} / {what}");
        }
        for (what, input) in confusions(host) {
            tried += 1;
            // Most never become an image reference, so no pattern can see them; the rest must
            // match nothing.
            let Ok(image) = ImageReference::parse(&input) else {
                continue;
            };
            assert_eq!(
                served_by(&one, &image, &what),
                None,
                "{p} / {what}: {input:?}"
            );
            assert_eq!(
                served_by(&all, &image, &what),
                None,
                "{what}: {input:?} matched one of {all:?}"
            );
            checked += 1;
        }
    }
    assert!(
        tried > 250 && checked >= 40,
        "only {checked} of {tried} confusions parsed and were checked"
    );
}

#[test]
fn host_confusion_through_the_cli() {
    for (p, host) in targets() {
        for (what, input) in same_host(host) {
            let (code, v) = run_json(&["explain", "--pattern", &p, &input, "--json"]);
            assert_eq!(code, 0, "{p} / {what}: {input:?}: exit code, output {v}");
            assert_eq!(
                v["matched"]["index"], 0,
                "{p} / {what}: {input:?}: matched, output {v}"
            );
        }
        for (what, input) in confusions(host) {
            if input.contains('\0') {
                continue; // not passable as a process argument
            }
            let (code, v) = run_json(&["explain", "--pattern", &p, &input, "--json"]);
            let parses = ImageReference::parse(&input).is_ok();
            match code {
                1 => {
                    assert!(
                        parses,
                        "{p} / {what}: {input:?}: exit 1 for an input the library rejects: {v}"
                    );
                    assert_eq!(
                        v["matched"],
                        Value::Null,
                        "{p} / {what}: {input:?}: matched must be null: {v}"
                    );
                    assert_eq!(
                        v["candidates"],
                        serde_json::json!([]),
                        "{p} / {what}: {input:?}: candidates: {v}"
                    );
                }
                2 => {
                    assert!(
                        !parses,
                        "{p} / {what}: {input:?}: exit 2 for an input the library parses: {v}"
                    );
                    assert!(
                        v["error"].as_str().is_some_and(|e| !e.is_empty()),
                        "{p} / {what}: {input:?}: exit 2 must print {{\"error\": ...}}: {v}"
                    );
                    assert!(
                        v.get("matched").is_none(),
                        "{p} / {what}: {input:?}: no `matched` with an error: {v}"
                    );
                }
                other => panic!("{p} / {what}: {input:?}: exit {other} (expected 1 or 2): {v}"),
            }
        }
    }
}

#[test]
fn explain_names_the_winner_its_reason_and_exits_by_outcome() {
    let whole = format!("{ECR}/*");
    let narrow = format!("{ECR}/my-repo/*");
    #[rustfmt::skip]
    let cases = [
        // (image, winner, candidates, the winner's reason says)
        (format!("{ECR}/my-repo/train:v1"), 1, vec![0, 1], "longer literal path prefix"),
        (format!("{ECR}/other/train:v1"), 0, vec![0], "only matching pattern"),
        (format!("{ECR}/my-repo:v1"), 0, vec![0], "only matching pattern"),
        (format!("{ECR}/my-repository/train:v1"), 0, vec![0], "only matching pattern"),
    ];
    for (image, winner, candidates, says) in &cases {
        let (code, v) = run_json(&[
            "explain",
            "--pattern",
            &whole,
            "--pattern",
            &narrow,
            image,
            "--json",
        ]);
        assert_eq!(code, 0, "{image}: exit code: {v}");
        assert_eq!(
            v["matched"]["index"], *winner,
            "{image}: matched index: {v}"
        );
        let pattern = if *winner == 0 { &whole } else { &narrow };
        assert_eq!(
            v["matched"]["pattern"],
            pattern.as_str(),
            "{image}: matched pattern: {v}"
        );
        let listed: Vec<u64> = v["candidates"]
            .as_array()
            .unwrap_or_else(|| panic!("{image}: candidates: {v}"))
            .iter()
            .map(|c| c["index"].as_u64().expect("candidate index"))
            .collect();
        let expected: Vec<u64> = candidates.iter().map(|&i| i as u64).collect();
        assert_eq!(listed, expected, "{image}: candidates: {v}");
        for c in v["candidates"].as_array().unwrap() {
            let reason = c["reason"]
                .as_str()
                .unwrap_or_else(|| panic!("{image}: reason: {c}"));
            let won = c["index"] == *winner;
            assert_eq!(c["won"], won, "{image}: won flag: {c}");
            if won {
                assert!(
                    reason.contains(says),
                    "{image}: the winner's reason {reason:?} should say {says:?}"
                );
            } else {
                assert!(
                    reason.contains("shorter literal path prefix"),
                    "{image}: the loser's reason {reason:?} should say why it lost"
                );
            }
        }
        let ecr = &v["ecr"];
        assert_eq!(ecr["account"], "123456789012", "{image}: ecr: {v}");
        assert_eq!(ecr["region"], "us-east-1", "{image}: ecr: {v}");
        assert_eq!(ecr["fips"], false, "{image}: ecr: {v}");
        assert_eq!(ecr["dual_stack"], false, "{image}: ecr: {v}");
        assert_eq!(ecr["public"], false, "{image}: ecr: {v}");
    }

    // Other exits of explain: no match is 1, a bad pattern or image is 2.
    #[rustfmt::skip]
    let exits: [(&[&str], i32); 5] = [
        (&["explain", "--pattern", &whole, "registry.example.com/x", "--json"], 1),
        (&["explain", "--pattern", &whole, "--pattern", &narrow, "public.ecr.aws/x/y", "--json"], 1),
        (&["explain", "--pattern", "https://example.com/*", "example.com/x", "--json"], 2),
        (&["explain", "--pattern", &whole, "--pattern", "example.com/", "example.com/x", "--json"], 2),
        (&["explain", "--pattern", &whole, "Not/An:Image:", "--json"], 2),
    ];
    for (args, expected) in exits {
        let (code, v) = run_json(args);
        assert_eq!(code, expected, "{args:?}: exit code: {v}");
        if expected == 2 {
            assert!(v["error"].is_string(), "{args:?}: error: {v}");
        } else {
            assert_eq!(v["matched"], Value::Null, "{args:?}: matched: {v}");
        }
    }
    let (_, v) = run_json(&[
        "explain",
        "--pattern",
        &whole,
        "public.ecr.aws/x/y",
        "--json",
    ]);
    assert_eq!(v["ecr"]["public"], true, "ECR Public: {v}");
    assert_eq!(v["ecr"]["account"], Value::Null, "ECR Public: {v}");

    // Without --json: a short human explanation, same exit code.
    let out = cli()
        .args([
            "explain",
            "--pattern",
            &whole,
            "--pattern",
            &narrow,
            &format!("{ECR}/my-repo/train:v1"),
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "human explain: exit code");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&narrow) && text.contains("longer literal path prefix"),
        "human explain: {text}"
    );
}

/// `(input, domain, repository, tag, digest, normalized)`.
type ParseCase<'a> = (
    String,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<String>,
    String,
);

#[test]
fn parse_prints_the_json_keys() {
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let upper = ECR.to_ascii_uppercase();
    #[rustfmt::skip]
    let cases: Vec<ParseCase> = vec![
        // (input, domain, repository, tag, digest, normalized)
        ("ubuntu".into(), "docker.io", "library/ubuntu", Some("latest"), None, "docker.io/library/ubuntu:latest".into()),
        ("index.docker.io/team/app:1.0".into(), "docker.io", "team/app", Some("1.0"), None, "docker.io/team/app:1.0".into()),
        (format!("{ECR}/my-repo/train:v1"), ECR, "my-repo/train", Some("v1"), None, format!("{ECR}/my-repo/train:v1")),
        (format!("localhost:5000/x@{digest}"), "localhost:5000", "x", None, Some(digest.clone()), format!("localhost:5000/x@{digest}")),
        (format!("{ECR}/app:v2@{digest}"), ECR, "app", Some("v2"), Some(digest.clone()), format!("{ECR}/app:v2@{digest}")),
        (format!("{upper}/app"), &upper, "app", Some("latest"), None, format!("{upper}/app:latest")),
    ];
    for (input, domain, repository, tag, dig, normalized) in &cases {
        let (code, v) = run_json(&["parse", input, "--json"]);
        assert_eq!(code, 0, "{input}: exit code: {v}");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            ["digest", "domain", "normalized", "repository", "tag"],
            "{input}: keys: {v}"
        );
        assert_eq!(v["domain"], *domain, "{input}: domain");
        assert_eq!(v["repository"], *repository, "{input}: repository");
        assert_eq!(
            v["tag"],
            tag.map_or(Value::Null, Value::from),
            "{input}: tag"
        );
        assert_eq!(
            v["digest"],
            dig.clone().map_or(Value::Null, Value::from),
            "{input}: digest"
        );
        assert_eq!(v["normalized"], normalized.as_str(), "{input}: normalized");
    }

    #[rustfmt::skip]
    let invalid = [
        "", "https://example.com/x", "Ubuntu", "a//b", "x:", "x@sha256:abc", &format!("{ECR}./x"),
        &format!("{ECR}@evil.example/x"), &format!("user@{ECR}/x"), &format!("{}/x", ECR.replacen('k', "\u{212A}", 1)),
        &format!("{ECR}/../x"), &format!("{}/x", ECR.replacen('.', "%2e", 1)),
    ];
    for input in invalid {
        let (code, v) = run_json(&["parse", input, "--json"]);
        assert_eq!(code, 2, "{input:?}: exit code: {v}");
        let obj = v.as_object().expect("object");
        assert_eq!(
            obj.keys().collect::<Vec<_>>(),
            ["error"],
            "{input:?}: only `error`: {v}"
        );
        let error = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{input:?}: error is a string: {v}"));
        assert_eq!(
            error,
            ImageReference::parse(input)
                .expect_err("invalid")
                .to_string(),
            "{input:?}: the library's message"
        );
    }
}

//! `valohai.yaml` checks: which entry serves each step's and endpoint's image, what fails, and
//! errors that name the file, the line and the step.

use std::process::Command;

use registry_auth::pattern::MatchPattern;
use registry_auth::valohai::{Kind, ValohaiFile, Verdict};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_registry-auth");

fn patterns() -> Vec<MatchPattern> {
    [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/*",
        "*.dkr.ecr.eu-west-1.amazonaws.com/*",
    ]
    .iter()
    .map(|p| MatchPattern::parse(p).unwrap())
    .collect()
}

/// What a row should say: kind, name, line, and the verdict in short (`served:N`, `public`,
/// `unserved`, `invalid`).
type Row = (Kind, &'static str, u32, &'static str);

fn short(v: &Verdict) -> String {
    match v {
        Verdict::Served { index, .. } => format!("served:{index}"),
        Verdict::Public => "public".into(),
        Verdict::Unserved => "unserved".into(),
        Verdict::Invalid(_) => "invalid".into(),
        _ => "other".into(),
    }
}

#[test]
fn each_image_is_judged() {
    use Kind::{Endpoint, Step};
    let cases: Vec<(&str, &str, Vec<Row>, bool)> = vec![
        (
            "the guide's step",
            "- step:\n    name: train\n    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0\n    command:\n      - python train.py\n",
            vec![(Step, "train", 3, "served:0")],
            true,
        ),
        (
            "the narrowed repository wins over the account-wide entry",
            "- step:\n    name: t\n    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/train:v2\n",
            vec![(Step, "t", 3, "served:1")],
            true,
        ),
        (
            "public images need no entry",
            "- step:\n    name: a\n    image: python:3.12\n- step:\n    name: b\n    image: ghcr.io/org/tool:1\n- step:\n    name: c\n    image: public.ecr.aws/docker/library/alpine:3\n",
            vec![(Step, "a", 3, "public"), (Step, "b", 6, "public"), (Step, "c", 9, "public")],
            true,
        ),
        (
            "a private ECR image without an entry fails",
            "- step:\n    name: other-account\n    image: 210987654321.dkr.ecr.us-west-2.amazonaws.com/x:1\n",
            vec![(Step, "other-account", 3, "unserved")],
            false,
        ),
        (
            "a wildcard account serves another account's registry",
            "- step:\n    name: x\n    image: 210987654321.dkr.ecr.eu-west-1.amazonaws.com/x:1\n",
            vec![(Step, "x", 3, "served:2")],
            true,
        ),
        (
            "endpoints count, pipelines and unknown items do not",
            "- pipeline:\n    name: p\n    nodes: []\n    edges: []\n- endpoint:\n    name: serve\n    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:v1\n    server-command: python serve.py\n- task:\n    name: t\n",
            vec![(Endpoint, "serve", 7, "served:0")],
            true,
        ),
        (
            "a missing image, a list, and a bad reference are findings on their step",
            "- step:\n    name: none\n    command: [echo]\n- step:\n    name: list\n    image: [a, b]\n- step:\n    name: bad\n    image: 'Has Spaces:1'\n",
            vec![(Step, "none", 2, "invalid"), (Step, "list", 6, "invalid"), (Step, "bad", 9, "invalid")],
            false,
        ),
        (
            "an unnamed step is named by its position",
            "- step:\n    name: first\n    image: python\n- step:\n    image: python\n",
            vec![(Step, "first", 3, "public"), (Step, "#2", 5, "public")],
            true,
        ),
        ("an empty file has nothing to check", "", vec![], true),
        ("a comment only", "# nothing yet\n", vec![], true),
        (
            "anchors and aliases resolve",
            "- step:\n    name: a\n    image: &img 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1\n- step:\n    name: b\n    image: *img\n",
            vec![(Step, "a", 3, "served:0"), (Step, "b", 6, "served:0")],
            true,
        ),
    ];
    let patterns = patterns();
    for (what, yaml, expected, passed) in cases {
        let file =
            ValohaiFile::parse(yaml, "valohai.yaml").unwrap_or_else(|e| panic!("{what}: {e}"));
        let report = file.check(&patterns);
        let got: Vec<(Kind, String, u32, String)> = report
            .rows
            .iter()
            .map(|r| (r.kind, r.name.clone(), r.line, short(&r.verdict)))
            .collect();
        let expected: Vec<(Kind, String, u32, String)> = expected
            .into_iter()
            .map(|(k, n, l, v)| (k, n.to_owned(), l, v.to_owned()))
            .collect();
        assert_eq!(got, expected, "{what}");
        assert_eq!(report.passed(), passed, "{what}");
    }
}

#[test]
fn findings_say_what_to_do() {
    let yaml = "- step:\n    name: none\n- step:\n    name: list\n    image: [a]\n- step:\n    name: ecr\n    image: 210987654321.dkr.ecr.us-west-2.amazonaws.com/x\n";
    let report = ValohaiFile::parse(yaml, "v.yaml")
        .unwrap()
        .check(&patterns());
    let text = report.to_string();
    assert!(text.contains("v.yaml:2: step \"none\""), "{text}");
    assert!(text.contains("the step has no `image`"), "{text}");
    assert!(text.contains("`image` is a list"), "{text}");
    assert!(
        text.contains("add an entry whose pattern covers 210987654321.dkr.ecr.us-west-2.amazonaws.com/x:latest"),
        "{text}"
    );
    assert!(
        text.ends_with("3 image(s): 0 served, 0 public, 1 unserved, 2 invalid"),
        "{text}"
    );
}

#[test]
fn unreadable_yaml_names_the_file_the_line_and_the_step() {
    // (yaml, line, step named in the error, words of the message)
    let cases: Vec<(&str, Option<u32>, Option<&str>, &str)> = vec![
        ("step:\n  name: x\n", Some(1), None, "a valohai.yaml is a list"),
        ("- step: just-text\n", Some(1), Some("the step starting at line 1"), "mapping"),
        (
            "- step:\n    name: train\n    image: *nowhere\n",
            Some(3),
            Some("step \"train\""),
            "anchor",
        ),
        (
            "- step:\n    name: one\n    image: python\n- step:\n    name: two\n    image: a\n    image: b\n",
            Some(7),
            Some("step \"two\""),
            "`image` is given twice in the same item; keep one",
        ),
        (
            "- step:\n    name: 'quoted name'\n    image: python\n   bad: indentation\n",
            Some(4),
            Some("step \"quoted name\""),
            "",
        ),
        (
            // The step's own name, not a parameter's.
            "- step:\n    parameters:\n      - name: lr\n        default: 0.1\n    name: train\n    image: *nowhere\n",
            Some(6),
            Some("step \"train\""),
            "anchor",
        ),
        (
            "- endpoint:\n    name: serve\n    image: {a: [\n",
            Some(3),
            Some("endpoint \"serve\""),
            "unclosed",
        ),
    ];
    for (yaml, line, item, words) in cases {
        let err = ValohaiFile::parse(yaml, "ci/valohai.yaml").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("ci/valohai.yaml:"), "{yaml:?}: {text}");
        assert_eq!(err.line(), line, "{yaml:?}: {text}");
        assert_eq!(err.item(), item, "{yaml:?}: {text}");
        assert!(text.contains(words), "{yaml:?}: {text}");
        // The user's terms: no setting or type of the YAML library.
        assert!(
            !text.contains("Options") && !text.contains("Policy"),
            "{text}"
        );
        if let Some(l) = line {
            assert!(text.starts_with(&format!("ci/valohai.yaml:{l}:")), "{text}");
        }
    }
}

#[test]
fn files_that_are_not_regular_or_too_large_are_refused_by_name_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("valohai.yaml");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, vec![b'#'; 16 * 1024 * 1024 + 1]).unwrap();
    for (path, says) in [
        (fifo.as_path(), "not a regular file"),
        (std::path::Path::new("/dev/zero"), "not a regular file"),
        (big.as_path(), "larger than 16 MiB"),
    ] {
        let err = ValohaiFile::load(path).unwrap_err().to_string();
        assert!(
            err.starts_with(&path.display().to_string()) && err.contains(says),
            "{err}"
        );
    }
}

#[test]
fn a_huge_image_string_is_not_repeated_whole() {
    let huge = "x".repeat(50_000);
    let file = ValohaiFile::parse(
        &format!("- step:\n    name: a\n    image: {huge}\n"),
        "valohai.yaml",
    )
    .unwrap();
    let report = file.check(&patterns());
    let shown = format!("{report}\n{}", report.to_json());
    assert!(shown.len() < 2_000, "{} bytes", shown.len());
    assert!(report.rows[0].image.chars().count() <= 257);
}

#[test]
fn a_missing_file_is_named() {
    let err = ValohaiFile::load("/nonexistent/valohai.yaml").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/valohai.yaml: cannot read it"),
        "{err}"
    );
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("REGISTRY_AUTH_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_checks_the_shipped_example() {
    let (code, out, err) = run(&[
        "check",
        "examples/valohai.yaml",
        "--config",
        "examples/registries.toml",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("step \"train\""), "{out}");
    assert!(
        out.ends_with("3 image(s): 2 served, 1 public, 0 unserved, 0 invalid\n"),
        "{out}"
    );

    let (code, out, _) = run(&[
        "check",
        "examples/valohai.yaml",
        "--config",
        "examples/registries.toml",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["passed"], true);
    let rows: Vec<(String, String, Value)> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
                i["entry"]["index"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("train".to_owned(), "served".to_owned(), Value::from(0)),
            ("preprocess".to_owned(), "public".to_owned(), Value::Null),
            ("predict".to_owned(), "served".to_owned(), Value::from(1)),
        ]
    );
}

#[test]
fn the_cli_exits_non_zero_for_an_unserved_image_and_for_bad_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let unserved = dir.path().join("valohai.yaml");
    std::fs::write(
        &unserved,
        "- step:\n    name: train\n    image: 210987654321.dkr.ecr.us-west-2.amazonaws.com/x:1\n",
    )
    .unwrap();
    let (code, out, _) = run(&[
        "check",
        unserved.to_str().unwrap(),
        "--config",
        "examples/registries.toml",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ERROR"), "{out}");

    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "- step:\n    name: train\n    image: *nowhere\n").unwrap();
    let (code, _, err) = run(&[
        "check",
        broken.to_str().unwrap(),
        "--config",
        "examples/registries.toml",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{}:3:", broken.display())) && err.contains("step \"train\""),
        "{err}"
    );

    let (code, _, err) = run(&["check", "examples/valohai.yaml", "--config", "nope.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("nope.toml"), "{err}");
}

proptest::proptest! {
    /// Whatever the bytes, parsing and checking return; nothing panics.
    #[test]
    fn any_text_parses_or_errors_without_panicking(text in "(- step:\n|    name: |    image: |- endpoint:\n|\\[|\\{|\\*a|&a |[ -~\n]){0,40}") {
        if let Ok(file) = ValohaiFile::parse(&text, "fuzz.yaml") {
            let report = file.check(&patterns());
            let json = report.to_json();
            proptest::prop_assert_eq!(&json["passed"], report.passed());
            proptest::prop_assert_eq!(
                json["images"].as_array().map(Vec::len),
                Some(report.rows.len())
            );
            let text = report.to_string();
            let summary = format!("{} image(s): ", report.rows.len());
            proptest::prop_assert!(text.contains(&summary), "{}", text);
        }
    }
}

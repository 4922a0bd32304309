//! `registry-auth completions bash|zsh|fish` and `registry-auth man`: the output is accepted by
//! the shells (`bash -n`, `zsh -n`, `fish --no-execute`) and by `man -l` without a warning, and
//! the completions complete: each shell, given the script, offers `config` for `registry-auth
//! con` and the subcommand's flags after it.

use std::path::Path;
use std::process::{Command, Output};

fn registry_auth(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_registry-auth"))
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes `registry-auth completions SHELL` into `dir` and returns the file.
fn script(dir: &Path, shell: &str) -> std::path::PathBuf {
    let out = registry_auth(&["completions", shell]);
    assert!(!out.stdout.is_empty());
    let path = dir.join(format!("registry-auth.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// Runs `shell ARGS` and returns its stdout, failing with its stderr.
fn shell(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/test installs it)"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{program} {args:?}: {stderr}");
    assert!(stderr.is_empty(), "{program} {args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bash_accepts_the_script_and_completes_subcommands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = script(dir.path(), "bash");
    let file = file.to_str().unwrap();
    shell("bash", &["-n", file]);
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        shell(
            "bash",
            &[
                "-c",
                &format!(
                    "source {file}; complete -p registry-auth >/dev/null; \
                     COMP_WORDS=({line}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; \
                     _registry__auth registry-auth '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                    words.len() - 1,
                    words[words.len() - 1],
                    words[words.len() - 2],
                ),
            ],
        )
    };
    let offered = complete("registry-auth con");
    assert!(offered.lines().any(|l| l == "config"), "{offered}");
    let offered = complete("registry-auth get --no");
    assert!(offered.lines().any(|l| l == "--no-disk-cache"), "{offered}");
    let offered = complete("registry-auth completions f");
    assert!(offered.lines().any(|l| l == "fish"), "{offered}");
}

#[test]
fn zsh_accepts_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let file = script(dir.path(), "zsh");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("#compdef registry-auth"),
        "{}",
        &text[..40]
    );
    shell("zsh", &["-n", file.to_str().unwrap()]);
    // Loaded the way zsh loads it: as an autoloaded function from a directory on $fpath.
    let fpath = dir.path().join("functions");
    std::fs::create_dir(&fpath).unwrap();
    std::fs::copy(&file, fpath.join("_registry-auth")).unwrap();
    let said = shell(
        "zsh",
        &[
            "-f",
            "-c",
            &format!(
                "fpath=({} $fpath); autoload -Uz compinit; compinit -u -D; print -r -- ${{_comps[registry-auth]}}",
                fpath.display()
            ),
        ],
    );
    assert_eq!(said.trim(), "_registry-auth");
}

#[test]
fn fish_accepts_the_script_and_completes_subcommands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = script(dir.path(), "fish");
    let file = file.to_str().unwrap();
    shell("fish", &["--no-execute", file]);
    let offered = shell(
        "fish",
        &[
            "--no-config",
            "-c",
            &format!("source {file}; complete -C'registry-auth con'"),
        ],
    );
    assert!(
        offered.lines().any(|l| l.starts_with("config\t")),
        "{offered}"
    );
    let offered = shell(
        "fish",
        &[
            "--no-config",
            "-c",
            &format!("source {file}; complete -C'registry-auth kubelet --'"),
        ],
    );
    assert!(offered.contains("--cache-dir"), "{offered}");
}

/// `man -l PAGE` rendered as text, failing on any warning.
fn man(page: &Path) -> String {
    let out = Command::new("man")
        .args(["--warnings", "-l", "-P", "cat"])
        .arg(page)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MANWIDTH", "80")
        .env("LANG", "C.UTF-8")
        .output()
        .expect("man, from man-db (scripts/test installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", page.display());
    assert!(stderr.is_empty(), "{}: {stderr}", page.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn man_renders_the_page_with_its_sections_and_one_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("registry-auth.1");
    std::fs::write(&page, registry_auth(&["man"]).stdout).unwrap();
    let text = man(&page);
    for section in [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "SUBCOMMANDS",
        "ENVIRONMENT",
        "EXIT STATUS",
        "FILES",
    ] {
        assert!(
            text.lines().any(|l| l == section),
            "no {section} section:\n{text}"
        );
    }
    for name in [
        "REGISTRY_AUTH_CONFIG",
        "REGISTRY_AUTH_LOG_FILE",
        "registry-auth-kubelet(1)",
    ] {
        assert!(text.contains(name), "{name}:\n{text}");
    }

    let pages = dir.path().join("man1");
    registry_auth(&["man", "--out-dir", pages.to_str().unwrap()]);
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for wanted in [
        "registry-auth.1",
        "registry-auth-get.1",
        "registry-auth-kubelet.1",
        "registry-auth-config-path.1",
        "registry-auth-completions.1",
    ] {
        assert!(names.iter().any(|n| n == wanted), "{wanted}: {names:?}");
    }
    for name in &names {
        let text = man(&pages.join(name));
        assert!(text.contains("NAME"), "{name}");
    }
    assert!(man(&pages.join("registry-auth-get.1")).contains("--no-disk-cache"));
    assert_eq!(
        std::fs::read(pages.join("registry-auth.1")).unwrap(),
        std::fs::read(&page).unwrap(),
        "the directory's main page is the full one"
    );
}

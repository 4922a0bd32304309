//! `registry-auth`: parse image references, explain which entry serves an image, get
//! credentials, print pull policies, check a valohai.yaml, serve the kubelet, say which
//! configuration file is used, and print shell completions and the man page. A thin shell over
//! the `registry_auth` library: arguments in, one library call, output.
//!
//! Exit codes: 0 success; 1 no entry serves the image (or a check found a problem, or no
//! configuration file was found); 2 bad input (arguments, image, configuration, a file); 3 the
//! registry or cloud refused or failed (credentials, permissions, outages).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use registry_auth::aws::{AwsOptions, EcrHost};
use registry_auth::front::{self, DiskChoice, Setup, Verbosity};
use registry_auth::pattern::{self, Explanation, MatchPattern};
use registry_auth::{
    DefaultResolver, Error, ErrorKind, ImageReference, RegistryConfig, RegistryResolver,
    ResolveContext,
};
use serde_json::{json, Value};

/// Prints a line on stdout. A reader that has gone away (`registry-auth policy | head -1`) ends
/// the process quietly with the status a shell gives a process killed by SIGPIPE, as other
/// Unix tools do; std's `println!` would panic there.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
            eprintln!("registry-auth: cannot write to standard output: {e}");
            std::process::exit(2);
        }
    }};
}

/// The variables every subcommand reads, for `--help` and the man page.
const ENVIRONMENT: [(&str, &str); 9] = [
    (
        "REGISTRY_AUTH_CONFIG",
        "the configuration file, unless --config names one",
    ),
    (
        "REGISTRY_AUTH_OWNER",
        "the organisation that asks (kubelet, docker helper)",
    ),
    (
        "REGISTRY_AUTH_ENVIRONMENT",
        "the environment (worker pool) it runs in",
    ),
    (
        "REGISTRY_AUTH_CACHE_DIR",
        "the disk token cache's directory, unless --cache-dir names one",
    ),
    (
        "REGISTRY_AUTH_NO_DISK_CACHE",
        "1: keep no tokens on disk (as --no-disk-cache)",
    ),
    (
        "REGISTRY_AUTH_LOG",
        "the log filter: warn (default), info, debug, registry_auth=trace; -v and -q beat it",
    ),
    (
        "REGISTRY_AUTH_LOG_FILE",
        "also append the log to this file (created 0600; a symbolic link is refused)",
    ),
    (
        "NO_COLOR",
        "no colour in logs (there is none unless stderr is a terminal)",
    ),
    (
        "AWS_ENDPOINT_URL",
        "send AWS calls elsewhere, e.g. an emulator",
    ),
];

/// Where the configuration is looked for, for `--help` and the man page.
const CONFIG_SEARCH: &str = "--config FILE, else REGISTRY_AUTH_CONFIG, else \
$XDG_CONFIG_HOME/registry-auth/registries.toml (~/.config/registry-auth/registries.toml when \
XDG_CONFIG_HOME is unset), else /etc/registry-auth/registries.toml. \
`registry-auth config path` prints which file and why.";

/// The exit statuses, for the man page.
const EXIT_STATUS: [(&str, &str); 4] = [
    ("0", "success"),
    (
        "1",
        "no entry serves the image, a check found a problem, or no configuration file was found",
    ),
    (
        "2",
        "bad input: arguments, image, configuration or another file",
    ),
    (
        "3",
        "the registry or cloud refused or failed: credentials, permissions, outages",
    ),
];

/// What `--help` adds after the options.
fn help_epilogue() -> String {
    let width = ENVIRONMENT.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = String::from("Environment:\n");
    for (name, what) in ENVIRONMENT {
        text.push_str(&format!("  {name:width$}  {what}\n"));
    }
    text.push_str(&format!("\nConfiguration: {CONFIG_SEARCH}"));
    text
}

/// The command line as parsed, `--help` included.
fn command() -> clap::Command {
    Cli::command().after_long_help(help_epilogue())
}

/// Short-lived credentials for private container registries (AWS ECR first).
///
/// Picks the registry entry that best matches an image, gets a short-lived credential from
/// its source (AWS keys, roles or the standard chain, a Google service account, an Azure
/// identity, or a plain registry's password), and keeps it until shortly before it expires. `registry-auth kubelet` serves the kubelet as an
/// image credential provider; `docker-credential-registry-auth` serves docker.
#[derive(Parser)]
#[command(name = "registry-auth", version)]
struct Cli {
    /// More log output: -v info, -vv debug, -vvv trace (beats REGISTRY_AUTH_LOG).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Errors only: no warnings, no progress notes (beats REGISTRY_AUTH_LOG).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and normalise an image reference.
    Parse {
        /// The image, e.g. `ubuntu` or `123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1`.
        image: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show which registry entry serves an image, and why.
    Explain {
        #[command(flatten)]
        entries: EntriesArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        /// The image to look up.
        image: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Get a registry credential for an image.
    Get {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        cache: CacheArgs,
        /// The image to log in for.
        image: String,
        /// Send AWS calls here (an emulator); `AWS_ENDPOINT_URL*` also work.
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        /// Print the password instead of `[REDACTED]`.
        #[arg(long)]
        show_password: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the least-privilege IAM pull policy: for one repository, or for every entry.
    Policy {
        /// The repository's region, e.g. `us-east-1` (with --account and --repository).
        #[arg(long, requires_all = ["account", "repository"])]
        region: Option<String>,
        /// The registry's account id, 12 digits.
        #[arg(long, requires = "region")]
        account: Option<String>,
        /// The repository, e.g. `my-ml-image`.
        #[arg(long, requires = "region")]
        repository: Option<String>,
        /// One policy for every entry of this configuration file (.toml or .json); without
        /// --region, the configuration is found as everywhere (`config path`).
        #[arg(long, value_name = "FILE", conflicts_with = "region")]
        config: Option<PathBuf>,
        /// For a configuration: only this partition's policy (`aws`, `aws-cn`, ...).
        #[arg(long, conflicts_with = "region")]
        partition: Option<String>,
    },
    /// Check that an entry serves every private ECR image a valohai.yaml names.
    Check {
        /// The valohai.yaml to check.
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
        /// Prove each pull: get each entry's credential and ask the registry (ECR's API, or the
        /// distribution API) whether it would serve the image. Who asks: --owner/--environment,
        /// else REGISTRY_AUTH_OWNER/REGISTRY_AUTH_ENVIRONMENT.
        #[arg(long)]
        live: bool,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Check this machine: configuration, secrets, instance metadata, clock, token cache, docker.
    Doctor {
        #[command(flatten)]
        config: ConfigArg,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Kubelet credential provider: a CredentialProviderRequest on stdin, the response on stdout.
    Kubelet {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        cache: CacheArgs,
        /// The organisation whose pods pull (default `REGISTRY_AUTH_OWNER`).
        #[arg(
            long,
            value_name = "ORG",
            env = "REGISTRY_AUTH_OWNER",
            conflicts_with = "personal"
        )]
        owner: Option<String>,
        /// The environment (worker pool) of this node (default `REGISTRY_AUTH_ENVIRONMENT`).
        #[arg(
            long,
            value_name = "ENV",
            env = "REGISTRY_AUTH_ENVIRONMENT",
            requires = "owner"
        )]
        environment: Option<String>,
        /// The node runs personal projects, which have no private registries.
        #[arg(long)]
        personal: bool,
    },
    /// The configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script for bash, zsh or fish.
    ///
    /// bash: `registry-auth completions bash > /etc/bash_completion.d/registry-auth`;
    /// zsh: `registry-auth completions zsh > "${fpath[1]}/_registry-auth"`;
    /// fish: `registry-auth completions fish > ~/.config/fish/completions/registry-auth.fish`.
    Completions {
        /// The shell.
        shell: CompletionShell,
    },
    /// Print the man page (roff), or write one per subcommand into a directory.
    Man {
        /// Write `registry-auth.1` and `registry-auth-SUBCOMMAND.1` here instead.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print which configuration file would be used, and why.
    Path {
        #[command(flatten)]
        config: ConfigArg,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// The shells `completions` writes for.
#[derive(Clone, Copy, ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl From<CompletionShell> for clap_complete::Shell {
    fn from(shell: CompletionShell) -> Self {
        match shell {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
        }
    }
}

#[derive(Args)]
struct ConfigArg {
    /// The registry configuration file (.toml or .json); default: REGISTRY_AUTH_CONFIG, then
    /// the per-user file, then /etc/registry-auth/registries.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct CacheArgs {
    /// Keep tokens in this directory (default: REGISTRY_AUTH_CACHE_DIR, else
    /// $XDG_CACHE_HOME/registry-auth).
    #[arg(long, value_name = "DIR", conflicts_with = "no_disk_cache")]
    cache_dir: Option<PathBuf>,
    /// Keep no tokens on disk: every run asks upstream (also REGISTRY_AUTH_NO_DISK_CACHE=1).
    #[arg(long)]
    no_disk_cache: bool,
}

impl CacheArgs {
    fn choice(&self) -> DiskChoice {
        DiskChoice::from_flags(self.cache_dir.clone(), self.no_disk_cache)
    }
}

/// Entries from a configuration file (found as everywhere when neither is given), or patterns.
#[derive(Args)]
#[group(multiple = false)]
struct EntriesArgs {
    /// A registry configuration file (.toml or .json); default: as `config path` says.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A match pattern standing for an entry; repeat for more, in order.
    #[arg(long = "pattern", value_name = "PATTERN")]
    patterns: Vec<String>,
}

/// Who is asking; none of these: no scope applies (a single-tenant configuration).
#[derive(Args)]
struct ScopeArgs {
    /// The organisation whose project asks.
    #[arg(long, value_name = "ORG", conflicts_with = "personal")]
    owner: Option<String>,
    /// A personal project asks (personal projects have no private registries).
    #[arg(long)]
    personal: bool,
    /// The environment (worker pool) the job runs in.
    #[arg(long, value_name = "ENV", requires = "owner")]
    environment: Option<String>,
}

impl ScopeArgs {
    fn context(&self) -> ResolveContext {
        front::context(self.owner.clone(), self.environment.clone(), self.personal)
    }
}

/// The configuration as every subcommand finds it (`--config`, the variable, the per-user
/// file, the system file), loaded without reading a secret.
fn load_config(flag: Option<&Path>) -> Result<RegistryConfig, Error> {
    Setup::discover(flag.map(Path::to_path_buf)).load_config()
}

/// The exit code for an error: 1 no entry, 2 bad input or a local file, 3 upstream.
fn exit_code(e: &Error) -> ExitCode {
    ExitCode::from(match e.kind() {
        ErrorKind::NoEntry => 1,
        ErrorKind::Credentials | ErrorKind::Upstream => 3,
        _ => 2,
    })
}

fn main() -> ExitCode {
    let cli = Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit());
    front::init_logging(Verbosity::from_flags(cli.verbose, cli.quiet));
    // Progress notes are for a person at a terminal, and `-q` silences them too.
    let notes = !cli.quiet && std::io::stderr().is_terminal();
    match cli.command {
        Command::Parse { image, json } => parse(&image, json),
        Command::Explain {
            entries,
            scope,
            image,
            json,
        } => explain(&entries, &scope.context(), &image, json),
        Command::Get {
            config,
            scope,
            cache,
            image,
            endpoint_url,
            show_password,
            json,
        } => {
            let mut setup = Setup::discover(config.config);
            setup.disk = cache.choice();
            setup.context = scope.context();
            if let Some(url) = endpoint_url {
                setup.aws = AwsOptions::default().with_endpoint_url(url);
            }
            get(&setup, &image, show_password, json, notes)
        }
        Command::Policy {
            region,
            account,
            repository,
            config,
            partition,
        } => policy(region, account, repository, config, partition),
        Command::Check {
            file,
            config,
            live: true,
            scope,
            json,
        } => check_live(&file, config.config, &scope, json),
        Command::Check {
            file, config, json, ..
        } => check(&file, config.config.as_deref(), json),
        Command::Doctor { config, json } => doctor(config.config, json),
        Command::Kubelet {
            config,
            cache,
            owner,
            environment,
            personal,
        } => {
            let mut setup = Setup::discover(config.config);
            setup.disk = cache.choice();
            setup.context = front::context(owner, environment, personal);
            kubelet(&setup)
        }
        Command::Config(ConfigCommand::Path { config, json }) => {
            config_path(config.config.as_deref(), json)
        }
        Command::Completions { shell } => completions(shell),
        Command::Man { out_dir } => man(out_dir.as_deref()),
    }
}

/// `config path`: the file and the reason; exit 1 with the places searched when none is found.
fn config_path(flag: Option<&Path>, json: bool) -> ExitCode {
    match front::find_config(flag) {
        Ok(found) => {
            let exists = found.path.is_file();
            if json {
                println!(
                    "{}",
                    json!({
                        "path": found.path.display().to_string(),
                        "reason": found.reason.to_string(),
                        "exists": exists,
                    })
                );
            } else {
                println!("{}", found.path.display());
                println!("  why: {}", found.reason);
                if !exists {
                    println!("  (it does not exist: create it, or name another)");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                let searched: Vec<String> =
                    e.searched.iter().map(|p| p.display().to_string()).collect();
                println!(
                    "{}",
                    json!({ "path": null, "searched": searched, "error": e.to_string() })
                );
            } else {
                eprintln!("registry-auth: {e}");
            }
            ExitCode::from(1)
        }
    }
}

/// `completions SHELL`: the script on stdout.
fn completions(shell: CompletionShell) -> ExitCode {
    const BIN: &str = "registry-auth";
    let mut script = Vec::new();
    clap_complete::generate(
        clap_complete::Shell::from(shell),
        &mut command(),
        BIN,
        &mut script,
    );
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if let CompletionShell::Bash = shell {
        // clap_complete's bash generator spells a subcommand's state of a hyphenated binary
        // two ways: the loop that walks the words reaches `registry__auth__subcmd__get`, the
        // `case` arms expect `registry__subcmd__auth__subcmd__get`, and no subcommand's flags
        // ever complete. One spelling, the loop's, fixes it (and is a no-op once the generator
        // agrees with itself); the completion test tries it in bash.
        script = script.replace(&BIN.replace('-', "__subcmd__"), &BIN.replace('-', "__"));
    }
    match std::io::Write::write_all(&mut std::io::stdout().lock(), script.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(false, &format!("cannot write the completion script: {e}")),
    }
}

/// `man`: the page on stdout, or one page per subcommand in `out_dir`.
fn man(out_dir: Option<&Path>) -> ExitCode {
    let written = match out_dir {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
            .and_then(|()| {
                let mut page = std::fs::File::create(dir.join("registry-auth.1"))?;
                render_man(&mut page)
            })
            .map_err(|e| format!("cannot write the man pages into {}: {e}", dir.display())),
        None => render_man(&mut std::io::stdout().lock())
            .map_err(|e| format!("cannot write the man page: {e}")),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(false, &e),
    }
}

/// The main man page: clap's sections, then ENVIRONMENT, FILES, EXIT STATUS and SEE ALSO.
fn render_man(w: &mut dyn std::io::Write) -> std::io::Result<()> {
    use roff::{bold, roman, Roff};
    let man = clap_mangen::Man::new(Cli::command());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    man.render_subcommands_section(w)?;
    let mut roff = Roff::new();
    let mut table = |title: &str, rows: &[(&str, &str)]| {
        roff.control("SH", [title]);
        for (term, what) in rows {
            roff.control("TP", [])
                .text([bold(*term)])
                .text([roman(*what)]);
        }
    };
    table("ENVIRONMENT", &ENVIRONMENT);
    table("EXIT STATUS", &EXIT_STATUS);
    roff.control("SH", ["FILES"]).text([roman(CONFIG_SEARCH)]);
    roff.control("SH", ["SEE ALSO"]).text([
        bold("docker-credential-registry-auth"),
        roman(" --help: the docker credential helper, reading the same configuration."),
    ]);
    roff.to_writer(w)?;
    man.render_version_section(w)
}

fn fail(json: bool, message: &str) -> ExitCode {
    if json {
        println!("{}", json!({ "error": message }));
    } else {
        eprintln!("registry-auth: {message}");
    }
    ExitCode::from(2)
}

/// An error, on stdout as JSON or on stderr, with its exit code.
fn fail_with(json: bool, e: &Error) -> ExitCode {
    if json {
        println!(
            "{}",
            json!({ "error": e.to_string(), "kind": e.kind().as_str() })
        );
    } else {
        eprintln!("registry-auth: {e}");
    }
    exit_code(e)
}

fn parse(image: &str, json: bool) -> ExitCode {
    let r = match ImageReference::parse(image) {
        Ok(r) => r,
        Err(e) => return fail(json, &e.to_string()),
    };
    if json {
        println!(
            "{}",
            json!({
                "domain": r.domain(),
                "repository": r.repository(),
                "tag": r.tag(),
                "digest": r.digest(),
                "normalized": r.as_str(),
            })
        );
    } else {
        println!("{r}");
        println!("  domain:     {}", r.domain());
        println!("  repository: {}", r.repository());
        println!("  tag:        {}", r.tag().unwrap_or("(none)"));
        println!("  digest:     {}", r.digest().unwrap_or("(none)"));
    }
    ExitCode::SUCCESS
}

/// The explanation for `image`: the plain patterns', or else the configuration's resolver's.
fn explanation(
    args: &EntriesArgs,
    context: &ResolveContext,
    image: &ImageReference,
) -> Result<(Explanation, Vec<MatchPattern>), String> {
    if args.patterns.is_empty() {
        let config = load_config(args.config.as_deref()).map_err(|e| e.to_string())?;
        let resolver = DefaultResolver::builder()
            .config(&config)
            .build()
            .map_err(|e| e.to_string())?;
        return Ok((
            resolver.explain_in(context, image),
            resolver.patterns().to_vec(),
        ));
    }
    let patterns = args
        .patterns
        .iter()
        .enumerate()
        .map(|(i, p)| MatchPattern::parse(p).map_err(|e| format!("--pattern #{i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((later, first)) = pattern::first_duplicate(&patterns) {
        return Err(format!(
            "--pattern #{later} ({:?}) serves the same images as --pattern #{first} ({:?}), so it could never win; give each pattern once",
            patterns[later].as_str(),
            patterns[first].as_str()
        ));
    }
    Ok((pattern::explain(&patterns, image), patterns))
}

fn ecr_json(image: &ImageReference) -> Value {
    match EcrHost::parse(image.domain()) {
        Some(h) => json!({
            "account": h.account_id(),
            "region": h.region(),
            "fips": h.fips(),
            "dual_stack": h.dual_stack(),
            "public": h.is_public(),
        }),
        None => Value::Null,
    }
}

fn gcp_json(image: &ImageReference) -> Value {
    match registry_auth::gcp::GcpHost::parse(image.domain()) {
        Some(h) => json!({
            "service": h.service().as_str(),
            "location": h.location(),
            "project": h.project(image),
            "repository": h.repository(image),
        }),
        None => Value::Null,
    }
}

fn azure_json(image: &ImageReference) -> Value {
    match registry_auth::azure::AcrHost::parse(image.domain()) {
        Some(h) => json!({
            "registry": h.registry(),
            "cloud": h.cloud().as_str(),
            "authority_host": h.cloud().authority_host(),
            "scope": h.cloud().scope(),
        }),
        None => Value::Null,
    }
}

/// `aws`, `gcp` or `azure` for a host one of them serves, and a line saying what it tells.
fn cloud(image: &ImageReference) -> Option<(&'static str, String)> {
    use registry_auth::{azure::AcrHost, gcp::GcpHost};
    let host = image.domain();
    if let Some(h) = EcrHost::parse(host) {
        let what = match (h.account_id(), h.region()) {
            (Some(account), Some(region)) => {
                format!("Amazon ECR (account {account}, region {region})")
            }
            _ => "Amazon ECR Public".to_owned(),
        };
        return Some(("aws", what));
    }
    if let Some(h) = GcpHost::parse(host) {
        let mut facts: Vec<String> = Vec::new();
        facts.extend(h.location().map(|l| format!("location {l}")));
        facts.extend(h.project(image).map(|p| format!("project {p}")));
        facts.extend(h.repository(image).map(|r| format!("repository {r}")));
        return Some((
            "gcp",
            format!("Google {} ({})", h.service(), facts.join(", ")),
        ));
    }
    AcrHost::parse(host).map(|h| {
        (
            "azure",
            format!("Azure Container Registry {} ({})", h.registry(), h.cloud()),
        )
    })
}

fn explain(args: &EntriesArgs, context: &ResolveContext, image: &str, json: bool) -> ExitCode {
    let image = match ImageReference::parse(image) {
        Ok(r) => r,
        Err(e) => return fail(json, &e.to_string()),
    };
    let (ex, patterns) = match explanation(args, context, &image) {
        Ok(x) => x,
        Err(e) => return fail(json, &e),
    };
    if json {
        let matched = ex
            .winner
            .map(|i| json!({ "index": i, "pattern": patterns[i].as_str() }));
        let candidates: Vec<Value> = ex
            .candidates
            .iter()
            .map(|c| {
                json!({
                    "index": c.index,
                    "pattern": c.pattern,
                    "won": Some(c.index) == ex.winner,
                    "ruled_out": c.ruled_out,
                    "reason": c.reason,
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "image": image.as_str(),
                "matched": matched,
                "candidates": candidates,
                "ecr": ecr_json(&image),
                "gcp": gcp_json(&image),
                "azure": azure_json(&image),
                "cloud": cloud(&image).map(|(id, _)| id),
            })
        );
    } else {
        println!("image: {image}");
        if let Some((_, what)) = cloud(&image) {
            println!("registry: {what}");
        }
        match ex.winner {
            Some(i) => println!("served by entry {i}: {}", patterns[i]),
            None if ex.candidates.is_empty() => println!(
                "no entry serves it ({} pattern(s) tried); add an entry whose pattern covers {}",
                patterns.len(),
                image.name()
            ),
            None => println!("no entry that {context} may use serves it"),
        }
        for c in &ex.candidates {
            println!("  [{}] {}: {}", c.index, c.pattern, c.reason);
        }
    }
    if ex.winner.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn get(setup: &Setup, image: &str, show_password: bool, json: bool, notes: bool) -> ExitCode {
    let result = front::runtime().and_then(|runtime| {
        runtime.block_on(async {
            let image = ImageReference::parse(image)?;
            let config = setup.load_config()?;
            let resolver = setup.resolver(&config)?;
            let notice = notes
                .then(|| resolver.select_in(&setup.context, &image).ok().flatten())
                .flatten()
                .map(|(index, _)| front::waiting_for(&config, index, image.domain()))
                .map(|what| {
                    move || {
                        eprintln!(
                            "registry-auth: still waiting after {} s for {what}…",
                            front::SLOW_AFTER.as_secs()
                        )
                    }
                });
            let resolved = front::notify_if_slow(
                resolver.resolve_in(&setup.context, &image),
                front::SLOW_AFTER,
                notice,
            )
            .await?;
            Ok::<_, Error>((image, resolved))
        })
    });
    let (image, resolved) = match result {
        Ok(r) => r,
        Err(e) => return fail_with(json, &e),
    };
    let login = &resolved.credential;
    let password = if show_password {
        login.expose_password()
    } else {
        "[REDACTED]"
    };
    let expires = login.expires_at().map(registry_auth::format_time);
    let expired = login
        .expires_at()
        .is_some_and(|at| at <= std::time::SystemTime::now());
    if json {
        println!(
            "{}",
            json!({
                "image": image.as_str(),
                "entry": { "index": resolved.entry, "pattern": &*resolved.pattern },
                "username": login.username(),
                "password": password,
                "server": login.server(),
                "expires_at": expires,
                "expired": expired,
            })
        );
    } else {
        println!("entry:    [{}] {}", resolved.entry, resolved.pattern);
        println!("username: {}", login.username());
        println!(
            "password: {password}{}",
            if show_password {
                ""
            } else {
                " (--show-password prints it)"
            }
        );
        println!("server:   {}", login.server());
        println!(
            "expires:  {}{}",
            expires.as_deref().unwrap_or("never"),
            if expired {
                " (already expired: the registry's clock or the emulator says so)"
            } else {
                ""
            }
        );
    }
    ExitCode::SUCCESS
}

fn policy(
    region: Option<String>,
    account: Option<String>,
    repository: Option<String>,
    config: Option<PathBuf>,
    partition: Option<String>,
) -> ExitCode {
    use registry_auth::aws::policy::{ConfigPolicy, PullPolicy};
    if let Some(region) = region {
        let (account, repository) = (account.unwrap_or_default(), repository.unwrap_or_default());
        return match PullPolicy::for_repository(&region, &account, &repository) {
            Ok(p) => {
                println!("{}", p.to_json_pretty());
                ExitCode::SUCCESS
            }
            Err(e) => fail(false, &e.to_string()),
        };
    }
    let config = match load_config(config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail_with(false, &e),
    };
    let generated = ConfigPolicy::for_config(&config);
    for note in &generated.notes {
        eprintln!("registry-auth: note: {note}");
    }
    let mut policies: Vec<&PullPolicy> = generated.policies.iter().collect();
    if let Some(id) = &partition {
        policies.retain(|p| p.partition().as_str() == id);
    }
    match policies.as_slice() {
        [] => fail(
            false,
            &format!(
                "{}: no entry names a private ECR registry{}, so there is nothing to grant",
                config.origin(),
                partition
                    .map(|p| format!(" in partition {p}"))
                    .unwrap_or_default()
            ),
        ),
        [one] => {
            println!("{}", one.to_json_pretty());
            ExitCode::SUCCESS
        }
        many => {
            eprintln!("registry-auth: note: the entries span {} partitions and an IAM policy lives in one: printing one policy per partition id; --partition ID prints one", many.len());
            let all: serde_json::Map<String, Value> = many
                .iter()
                .map(|p| (p.partition().as_str().to_owned(), p.to_json()))
                .collect();
            println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
            ExitCode::SUCCESS
        }
    }
}

/// Exit codes: 0 every image served or public, 1 an unserved or invalid image, 2 bad input.
fn check(file: &Path, config: Option<&Path>, json: bool) -> ExitCode {
    use registry_auth::valohai::ValohaiFile;
    let patterns: Vec<MatchPattern> = match load_config(config) {
        Ok(c) => c.entries().iter().map(|e| e.pattern.clone()).collect(),
        Err(e) => return fail(json, &e.to_string()),
    };
    let report = match ValohaiFile::load(file) {
        Ok(f) => f.check(&patterns),
        Err(e) => return fail(json, &e.to_string()),
    };
    print_report(json, report.to_json(), &report, report.passed())
}

/// `check --live`: exit 0 when every image can be pulled, 1 when one cannot, 2 bad input.
fn check_live(
    file: &std::path::Path,
    config: Option<PathBuf>,
    scope: &ScopeArgs,
    json: bool,
) -> ExitCode {
    use std::io::IsTerminal;
    let file = match registry_auth::valohai::ValohaiFile::load(file) {
        Ok(f) => f,
        Err(e) => return fail(json, &e.to_string()),
    };
    let mut setup = Setup::discover(config);
    setup.disk = front::DiskChoice::Off;
    let given = scope.owner.is_some() || scope.personal;
    setup.context = if given {
        scope.context()
    } else {
        front::context_from_env()
    };
    let mut stderr = std::io::stderr();
    let terminal = stderr.is_terminal();
    let report = front::runtime()
        .and_then(|rt| rt.block_on(front::check::live(&setup, &file, &mut stderr, terminal)));
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(json, &e.to_string()),
    };
    print_report(json, report.to_json(), &report, report.passed())
}

/// `doctor`: exit 0 when every check passes (or does not apply), 1 otherwise.
fn doctor(config: Option<PathBuf>, json: bool) -> ExitCode {
    let options = front::doctor::Options::from_env(config);
    let report = match front::runtime() {
        Ok(rt) => rt.block_on(front::doctor::run(&options)),
        Err(e) => return fail(json, &e.to_string()),
    };
    print_report(json, report.to_json(), &report, report.passed())
}

/// Prints a check's report, as JSON with `--json`, and exits 0 when it passed, 1 otherwise.
fn print_report(
    json: bool,
    as_json: impl std::fmt::Display,
    as_text: impl std::fmt::Display,
    passed: bool,
) -> ExitCode {
    if json {
        println!("{as_json}");
    } else {
        println!("{as_text}");
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `kubelet`: one request on stdin, one response on stdout; exit 1 with the reason on stderr.
fn kubelet(setup: &Setup) -> ExitCode {
    let served = front::runtime().map_err(|e| e.to_string()).and_then(|rt| {
        rt.block_on(front::kubelet::serve(
            setup,
            std::io::stdin().lock(),
            std::io::stdout().lock(),
        ))
        .map_err(|e| e.to_string())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            front::report(&mut std::io::stderr(), "registry-auth kubelet", &e);
            ExitCode::from(1)
        }
    }
}

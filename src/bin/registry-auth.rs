//! `registry-auth`: parse image references, explain which entry serves an image, and get
//! credentials. A thin shell over the `registry_auth` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use registry_auth::config::RegistryConfig;
use registry_auth::ecr::EcrHost;
use registry_auth::pattern::{self, MatchPattern};
use registry_auth::provider::AwsOptions;
use registry_auth::reference::ImageReference;
use registry_auth::resolver::{DefaultResolver, RegistryResolver};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// Short-lived credentials for private container registries (AWS ECR first).
#[derive(Parser)]
#[command(name = "registry-auth", version, about)]
struct Cli {
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
        /// The image to look up.
        image: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Get a registry credential for an image.
    Get {
        /// A registry configuration file (.toml or .json).
        #[arg(long, value_name = "FILE", env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
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
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct EntriesArgs {
    /// A registry configuration file (.toml or .json).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A match pattern standing for an entry; repeat for more, in order.
    #[arg(long = "pattern", value_name = "PATTERN")]
    patterns: Vec<String>,
}

/// Exit codes: 0 success or match, 1 no match, 2 bad input.
fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Parse { image, json } => parse(&image, json),
        Command::Explain {
            entries,
            image,
            json,
        } => explain(&entries, &image, json),
        Command::Get {
            config,
            image,
            endpoint_url,
            show_password,
            json,
        } => get(&config, &image, endpoint_url, show_password, json),
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REGISTRY_AUTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

fn fail(json: bool, message: &str) -> ExitCode {
    if json {
        println!("{}", json!({ "error": message }));
    } else {
        eprintln!("registry-auth: {message}");
    }
    ExitCode::from(2)
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

fn load_patterns(args: &EntriesArgs) -> Result<Vec<MatchPattern>, String> {
    match &args.config {
        Some(path) => Ok(RegistryConfig::load_patterns(path)
            .map_err(|e| e.to_string())?
            .entries()
            .iter()
            .map(|e| e.pattern.clone())
            .collect()),
        None => args
            .patterns
            .iter()
            .enumerate()
            .map(|(i, p)| MatchPattern::parse(p).map_err(|e| format!("--pattern #{i}: {e}")))
            .collect(),
    }
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

fn explain(args: &EntriesArgs, image: &str, json: bool) -> ExitCode {
    let patterns = match load_patterns(args) {
        Ok(p) => p,
        Err(e) => return fail(json, &e),
    };
    let image = match ImageReference::parse(image) {
        Ok(r) => r,
        Err(e) => return fail(json, &e.to_string()),
    };
    let ex = pattern::explain(&patterns, &image);
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
            })
        );
    } else {
        println!("image: {image}");
        match ex.winner {
            Some(i) => println!("served by entry {i}: {}", patterns[i]),
            None => println!(
                "no entry serves it ({} pattern(s) tried); add an entry whose pattern covers {}",
                patterns.len(),
                image.name()
            ),
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

fn get(
    config: &std::path::Path,
    image: &str,
    endpoint_url: Option<String>,
    show_password: bool,
    json: bool,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(json, &format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let image = ImageReference::parse(image)?;
        let config = RegistryConfig::load(config)?;
        let mut aws = AwsOptions::default();
        if let Some(url) = endpoint_url {
            aws = aws.with_endpoint_url(url);
        }
        let resolver = DefaultResolver::builder()
            .aws_options(aws)
            .config(&config)?
            .build()?;
        let entry = resolver.select(&image).map(|(i, p)| (i, p.to_string()));
        let login = resolver.resolve(&image).await?;
        Ok::<_, registry_auth::Error>((image, entry, login))
    });
    let (image, entry, login) = match result {
        Ok(r) => r,
        Err(e) => {
            let code = if matches!(e, registry_auth::Error::NoMatch { .. }) {
                1
            } else {
                2
            };
            if json {
                println!("{}", json!({ "error": e.to_string() }));
            } else {
                eprintln!("registry-auth: {e}");
            }
            return ExitCode::from(code);
        }
    };
    let password = if show_password {
        login.password.expose_secret().to_owned()
    } else {
        "[REDACTED]".to_owned()
    };
    let expires = registry_auth::format_time(login.expires_at);
    let expired = login.expires_at <= std::time::SystemTime::now();
    if json {
        println!(
            "{}",
            json!({
                "image": image.as_str(),
                "entry": entry.as_ref().map(|(i, p)| json!({ "index": i, "pattern": p })),
                "username": login.username,
                "password": password,
                "server": login.server,
                "expires_at": expires,
                "expired": expired,
            })
        );
    } else {
        if let Some((i, p)) = &entry {
            println!("entry:    [{i}] {p}");
        }
        println!("username: {}", login.username);
        println!(
            "password: {password}{}",
            if show_password {
                ""
            } else {
                " (--show-password prints it)"
            }
        );
        println!("server:   {}", login.server);
        println!(
            "expires:  {expires}{}",
            if expired {
                " (already expired: the registry's clock or the emulator says so)"
            } else {
                ""
            }
        );
    }
    ExitCode::SUCCESS
}

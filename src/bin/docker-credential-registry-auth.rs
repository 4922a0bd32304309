//! `docker-credential-registry-auth`: the docker credential helper protocol over the
//! `registry_auth` library. All the logic is in [`registry_auth::front::docker`].
//!
//! Usage: `docker-credential-registry-auth get|list|store|erase|version`, input on stdin;
//! `--help` prints the usage and the environment variables it reads. Diagnostics go to stderr
//! (and to `REGISTRY_AUTH_LOG_FILE` when set); `REGISTRY_AUTH_LOG` sets their level (default
//! `warn`).

use std::io::IsTerminal;
use std::process::ExitCode;

use registry_auth::front::{self, docker::Helper};

fn main() -> ExitCode {
    front::init_tracing();
    let action = std::env::args().nth(1).unwrap_or_default();
    let runtime = match front::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("docker-credential-registry-auth: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let helper = Helper::from_env().with_slow_notice(std::io::stderr().is_terminal());
    let code = runtime.block_on(helper.run(
        &action,
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        std::io::stderr().lock(),
    ));
    ExitCode::from(code)
}

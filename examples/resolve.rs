//! Embed the resolver: load registry entries, resolve an image, use the credential.
//!
//! ```text
//! cargo run --example resolve -- examples/registries.toml 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0
//! ```
//! Point it at the emulator with `AWS_ENDPOINT_URL=http://127.0.0.1:PORT` (`scripts/demo` shows
//! the whole set-up).

use registry_auth::config::RegistryConfig;
use registry_auth::resolver::{DefaultResolver, RegistryResolver};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(config), Some(image)) = (args.next(), args.next()) else {
        return Err("usage: resolve CONFIG IMAGE".into());
    };

    let config = RegistryConfig::load(&config)?;
    let resolver = DefaultResolver::builder().config(&config)?.build()?;
    let login = resolver.resolve_str(&image).await?;

    // Hand `login.password.expose_secret()` to your registry client; never print it.
    println!(
        "{} can log in to {} as {} until {}",
        image,
        login.server,
        login.username,
        registry_auth::format_time(login.expires_at)
    );
    Ok(())
}

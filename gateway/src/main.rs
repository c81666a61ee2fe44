use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gateway::config::Config;

/// envoi: a self-hosted, Mailgun-compatible transactional email gateway.
#[derive(Parser)]
#[command(name = "envoi", version = gateway::logs::VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (HTTP API, SMTP submission, delivery).
    Serve {
        /// TOML config file; without it, the embedded defaults.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check a config file and print the effective settings.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Print every key with its default and what it does (the
        /// reference of docs/configuration.md), then exit.
        #[arg(long, conflicts_with = "config")]
        print_defaults: bool,
    },
    /// Create or update the database schema, then exit.
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print the DNS records to publish for a domain.
    DnsRecords {
        domain: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Ask the running node (at [http].listen) whether it is alive, or with
    /// --ready whether it is ready; exit 0 if so, 1 with the reason if not.
    Health {
        /// Ask /readyz (store, migrations, master key, listeners) instead
        /// of /healthz.
        #[arg(long)]
        ready: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Give the account (admin) key a new secret and print it once. The old
    /// one keeps working for --grace (running nodes see the change at once).
    RotateAdminKey {
        /// How long the old key keeps working: "24h", "10m", "0s" (at once).
        #[arg(long, default_value = "24h", value_parser = parse_grace)]
        grace: std::time::Duration,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn parse_grace(s: &str) -> Result<std::time::Duration, String> {
    gateway::config::parse_duration(s)
}

fn load(path: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("envoi: {e}");
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` logs as its config says; the one-shot tools as text.
    if !matches!(cli.command, Command::Serve { .. }) {
        gateway::logs::init(gateway::config::LogFormat::Text);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match cli.command {
        Command::Serve { config } => {
            let config = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            gateway::logs::init(config.log.format);
            tracing::info!(version = gateway::logs::VERSION, "envoi starting");
            match rt.block_on(gateway::serve::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("envoi: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CheckConfig {
            print_defaults: true,
            ..
        } => {
            print!("{}", gateway::config::reference::defaults_toml());
            ExitCode::SUCCESS
        }
        Command::CheckConfig { config, .. } => match load(config.as_deref()) {
            Ok(c) => {
                println!("config OK");
                println!("http.listen = {}", c.http.listen);
                println!("smtp.listen = {}", c.smtp.listen);
                println!("store.url = {}", gateway::serve::redact(&c.store.url));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Migrate { config } => {
            let config = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let result = rt.block_on(async {
                let store = gateway::store::Store::open_existing(
                    &config.store.url,
                    config.store.connect_timeout.0,
                )
                .await?;
                store.migrate().await?;
                store.close().await;
                Ok::<_, gateway::store::StoreError>(())
            });
            match result {
                Ok(()) => {
                    println!("migrations applied");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("envoi: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::RotateAdminKey { grace, config } => {
            let config = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match rt.block_on(gateway::api_keys::rotate_admin(&config, grace)) {
                Ok(secret) => {
                    println!("{secret}");
                    eprintln!(
                        "envoi: the account key was rotated; the old one works for {} more. \
                         Update ENVOI_ADMIN_KEY wherever it is set (a restart with the old value does not bring it back).",
                        humantime::format_duration(grace)
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("envoi: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Health { ready, config } => {
            let config = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let path = if ready { "/readyz" } else { "/healthz" };
            let timeout = std::time::Duration::from_secs(5);
            match gateway::health::check(config.http.listen, path, timeout) {
                Ok(body) => {
                    println!("{}", body.trim());
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    eprintln!(
                        "envoi: not {}: {why}",
                        if ready { "ready" } else { "healthy" }
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Command::DnsRecords { domain, config } => {
            let config = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match rt.block_on(gateway::dns_records::print(config, &domain)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("envoi: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

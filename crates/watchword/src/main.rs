use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use watchword::Config;

mod cli;

/// watchword: account security for multi-tenant SaaS.
#[derive(Parser)]
#[command(name = "watchword", version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("WW_BUILD_COMMIT"), ")"), about)]
struct Cli {
    /// Configuration file (default: ./watchword.toml when present).
    #[arg(long, global = true, env = "WATCHWORD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// Database URL: sqlite://FILE or postgres://USER@HOST:PORT/DB [env: WATCHWORD_DATABASE_URL]
    #[arg(long)]
    database_url: Option<String>,
    /// Directory for the SQLite file and local mail [env: WATCHWORD_DATA_DIR; default ./watchword-data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the console (creates the data directory and migrates on first start).
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on [env: WATCHWORD_LISTEN; default 127.0.0.1:8080]
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// A consistent copy of the SQLite database while the server runs and writes (a single
    /// file; PostgreSQL: use pg_dump or continuous archiving, see docs/operations.md).
    Backup {
        /// Where to write the copy (must not exist).
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Put a backup in place of the SQLite database. Stop the servers first; the database it
    /// replaces is kept beside it as `<file>.before-restore-<time>`.
    Restore {
        /// The backup to restore.
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Run background jobs by hand.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Find API keys in files and directories (prefix + checksum; no database needed). Prints
    /// FILE:LINE: KEY_ID for each; exits 1 when any is found, 0 when none, 2 on errors.
    Scan {
        /// Files or directories (searched recursively; symbolic links are not followed).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Key prefix to look for [default: api_key_prefix of the configuration, ww_]
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Rotate the key that seals authenticator secrets: with the key file (no `mfa_keys`), add a
    /// new key to it; then re-seal every secret under the newest key. Running servers need no
    /// restart: a server that meets a secret sealed under a key it lacks reads its key file again
    /// (nodes with their own copy of the file need the new line copied first). With `mfa_keys`,
    /// append the new key to every node's configuration and restart them first (keep the old
    /// ones until this has run).
    RotateMfaKey {
        #[command(flatten)]
        common: Common,
    },
    /// Grant or revoke the operator's staff access to a customer account.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Customer accounts as the operator's billing sees them.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// The operator's catalogue of OAuth apps (any account may install them).
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
    /// Security communications to the Security Contact of every account (or those chosen).
    Advisories {
        #[command(subcommand)]
        command: AdvisoriesCommand,
    },
}

#[derive(Subcommand)]
enum AdvisoriesCommand {
    /// Send an advisory (no prompt); prints its id.
    Send {
        #[arg(long)]
        subject: String,
        /// A file holding the body (plain text).
        #[arg(long = "body-file")]
        body_file: std::path::PathBuf,
        /// `all`, `paid`, `free`, or a file of account ids (one per line).
        #[arg(long, default_value = "all")]
        to: String,
        /// Ask each contact to acknowledge it (one reminder after `advisory_reminder_days`).
        #[arg(long = "require-ack")]
        require_ack: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Recipients, delivered, failed and acknowledged counts of an advisory.
    Status {
        id: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum AppsCommand {
    /// Register an app; prints its client_id (and a confidential app's secret, shown once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        developer: String,
        #[arg(long)]
        homepage: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// A redirect URI (repeat for several): https, or http on loopback.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A scope the app may ask for (repeat for several), e.g. members:read.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// A public client (PKCE only, no secret).
        #[arg(long)]
        public: bool,
        #[command(flatten)]
        common: Common,
    },
    /// List the catalogue (client_id, state, kind, name, scopes), one app per line.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Disable an app: no new token, and the ones it holds stop at once (`--enable` undoes).
    Disable {
        client_id: String,
        #[arg(long)]
        enable: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// List every account: id, plan, name, Owner, Security Contact, active members.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Show one account.
    Show {
        account_id: String,
        /// As a JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Set an account's plan (`free` or `paid`); audited in the account.
    SetPlan {
        account_id: String,
        plan: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Run one job once.
    Run {
        #[command(subcommand)]
        job: Job,
    },
}

#[derive(Subcommand)]
enum Job {
    /// Check every account's Security Contact: revert invalid ones to the Owner, warn those about to lapse.
    SecurityContactCheck {
        #[command(flatten)]
        common: Common,
        /// Evaluate the rules as of this instant (RFC 3339), e.g. to preview what will lapse.
        #[arg(long)]
        as_of: Option<String>,
        /// Report without changing or sending anything.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Email the reminders due: API keys and SCIM tokens 14 and 2 days before they expire, SAML
    /// certificates 30, 14, 7 and 2 days before, factor policies 2 days before they start.
    Reminders {
        #[command(flatten)]
        common: Common,
        /// Evaluate as of this instant (RFC 3339) instead of now.
        #[arg(long)]
        as_of: Option<String>,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Give an existing person the staff_access role in an account.
    Grant {
        account_id: String,
        email: String,
        /// When the access ends (RFC 3339).
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// End a staff member's access to an account.
    Revoke {
        account_id: String,
        email: String,
        #[command(flatten)]
        common: Common,
    },
}

fn init_tracing(config: &Config) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log_level));
    let json = match config.log_format.as_str() {
        "json" => true,
        "pretty" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn apply(config: &mut Config, common: Common) {
    if let Some(u) = common.database_url {
        config.database_url = Some(u);
    }
    if let Some(d) = common.data_dir {
        config.data_dir = d;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("watchword: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Scan { paths, prefix } => {
            let prefix = prefix.unwrap_or(config.api_key_prefix);
            return match cli::scan(&paths, &prefix, &mut std::io::stdout()) {
                Ok(0) => ExitCode::SUCCESS,
                Ok(_) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("watchword: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Serve { common, listen } => {
            apply(&mut config, common);
            if let Some(l) = listen {
                config.listen = l;
            }
            init_tracing(&config);
            serve(config).await
        }
        Command::Backup { file, common } => {
            apply(&mut config, common);
            init_tracing(&config);
            cli::backup(&config, &file).await
        }
        Command::Restore { file, common } => {
            apply(&mut config, common);
            init_tracing(&config);
            cli::restore(&config, &file).await
        }
        Command::Migrate { common } => {
            apply(&mut config, common);
            init_tracing(&config);
            watchword::open_store(&config).await.map(|_| {
                println!(
                    "migrations applied to {}",
                    watchword::redact(&config.database_url())
                )
            })
        }
        Command::Jobs {
            command:
                JobsCommand::Run {
                    job:
                        Job::SecurityContactCheck {
                            common,
                            as_of,
                            dry_run,
                            json,
                        },
                },
        } => {
            apply(&mut config, common);
            init_tracing(&config);
            cli::contact_check(&config, as_of.as_deref(), dry_run, json).await
        }
        Command::Jobs {
            command:
                JobsCommand::Run {
                    job: Job::Reminders { common, as_of },
                },
        } => {
            apply(&mut config, common);
            init_tracing(&config);
            cli::reminders(&config, as_of.as_deref()).await
        }
        Command::RotateMfaKey { common } => {
            apply(&mut config, common);
            init_tracing(&config);
            cli::rotate_mfa_key(&config).await
        }
        Command::Staff { command } => {
            let (common, result) = match command {
                StaffCommand::Grant {
                    account_id,
                    email,
                    expires,
                    common,
                } => (
                    common,
                    cli::Staff::Grant {
                        account_id,
                        email,
                        expires,
                    },
                ),
                StaffCommand::Revoke {
                    account_id,
                    email,
                    common,
                } => (common, cli::Staff::Revoke { account_id, email }),
            };
            apply(&mut config, common);
            init_tracing(&config);
            cli::staff(&config, result).await
        }
        Command::Accounts {
            command:
                AccountsCommand::SetPlan {
                    account_id,
                    plan,
                    common,
                },
        } => {
            apply(&mut config, common);
            init_tracing(&config);
            cli::set_plan(&config, &account_id, &plan).await
        }
        Command::Accounts {
            command: AccountsCommand::List { json, common },
        } => {
            apply(&mut config, common);
            init_tracing(&config);
            cli::accounts(&config, None, json).await
        }
        Command::Accounts {
            command:
                AccountsCommand::Show {
                    account_id,
                    json,
                    common,
                },
        } => {
            apply(&mut config, common);
            init_tracing(&config);
            cli::accounts(&config, Some(&account_id), json).await
        }
        Command::Apps { command } => {
            let (common, op) = match command {
                AppsCommand::Create {
                    name,
                    developer,
                    homepage,
                    description,
                    redirect_uris,
                    scopes,
                    public,
                    common,
                } => {
                    let new = watchword_app::oauth::NewApp {
                        name,
                        developer: Some(developer),
                        homepage,
                        description: Some(description),
                        redirect_uris,
                        scopes,
                        kind: Some(if public { "public" } else { "confidential" }.into()),
                    };
                    (common, cli::Apps::Create(new))
                }
                AppsCommand::List { json, common } => (common, cli::Apps::List { json }),
                AppsCommand::Disable {
                    client_id,
                    enable,
                    common,
                } => (
                    common,
                    cli::Apps::Disable {
                        client_id,
                        disabled: !enable,
                    },
                ),
            };
            apply(&mut config, common);
            init_tracing(&config);
            cli::apps(&config, op).await
        }
        Command::Advisories { command } => match command {
            AdvisoriesCommand::Send {
                subject,
                body_file,
                to,
                require_ack,
                common,
            } => {
                apply(&mut config, common);
                init_tracing(&config);
                cli::send_advisory(&config, &subject, &body_file, &to, require_ack).await
            }
            AdvisoriesCommand::Status { id, json, common } => {
                apply(&mut config, common);
                init_tracing(&config);
                cli::advisory_status(&config, &id, json).await
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("watchword: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let db = watchword::redact(&config.database_url());
    let starting = watchword::bind(config).await?;
    let (addr, url) = (starting.addr(), starting.public_url().to_owned());
    // While the database is away the node answers /healthz and a 503 elsewhere, and says so
    // once on stdout (with the address) and at every attempt in the log.
    let mut told = false;
    let ready = starting.ready(|why| {
        tracing::warn!(reason = %why, database = %db, "waiting for the database");
        if !told {
            println!("watchword is listening on {url}/ and waiting for its database: {why}");
            told = true;
        }
        true
    });
    let running = tokio::select! {
        running = ready => running?,
        _ = tokio::signal::ctrl_c() => return Ok(()),
    };
    tracing::info!(addr = %addr, database = %db, "watchword is listening");
    println!(
        "watchword is running: open {}/ in your browser",
        running.public_url
    );
    let shutdown = running.shutdown_handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        let _ = shutdown.send(true);
    });
    running.wait().await;
    Ok(())
}

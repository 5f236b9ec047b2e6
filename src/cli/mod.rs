//! The `circlet` command line.

mod backfill;
mod digest;
mod export;
mod forget;
mod token;
mod workspaces;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::{App, AppError};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::inbox::{InboxRow, InboxState};
use crate::store::{self, Requeue};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "circlet",
    version,
    about = "Turns a brand's Slack customer-feedback circles into tagged product insights.",
    after_help = "Settings come from the environment (see README); --config FILE may set the same keys, env wins."
)]
pub struct Cli {
    /// TOML file with the same keys as the environment variables (the environment wins).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP app with its inbox workers (needs SLACK_SIGNING_SECRET).
    Serve,
    /// Apply database migrations to DATABASE_URL and exit.
    Migrate,
    /// Run the whole app against a built-in fake Slack, replay a scripted circle through the
    /// real signed endpoints, and print what was stored. Needs no Slack workspace or settings.
    #[cfg_attr(
        not(feature = "demo"),
        command(about = "Not in this build: it was built without the `demo` cargo feature", long_about = None)
    )]
    Demo,
    /// Write insights as CSV or JSON Lines (stdout unless --output is given).
    Export(export::ExportArgs),
    /// Print the weekly digest and circle recaps that would be posted (--dry-run).
    Digest(digest::DigestArgs),
    /// API tokens for the export API (`GET /api/v1/insights`).
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// Print a new CIRCLET_ENCRYPTION_KEY (64 hex characters), which seals installations'
    /// tokens in multi-workspace mode. Keep it secret and keep it: tokens sealed with one key
    /// do not open with another.
    Keygen,
    /// Inspect and re-queue inbox work.
    Inbox {
        #[command(subcommand)]
        command: InboxCommand,
    },
    /// Read circles' history from Slack and apply what was missed (after an outage).
    Backfill(backfill::BackfillArgs),
    /// Remove everything held about members (their messages, replies, votes, tags given,
    /// activity and names); insights they wrote keep their counts under a pseudonym.
    Forget(forget::ForgetArgs),
    /// Installed workspaces and the links between them (multi-workspace mode).
    Workspaces {
        #[command(subcommand)]
        command: workspaces::WorkspacesCommand,
    },
}

/// A time for people: UTC, to the second; `-` for none.
fn utc(at: Option<i64>) -> String {
    at.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// List inbox rows, newest first.
    List {
        /// Only rows parked as dead after their last attempt.
        #[arg(long)]
        dead: bool,
        /// How many rows to show.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
    /// Put dead rows back in the queue with a fresh attempt budget.
    Retry(RetryArgs),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RetryArgs {
    /// The id of one dead row (see `circlet inbox list --dead`).
    pub id: Option<i64>,
    /// Every dead row.
    #[arg(long)]
    pub all: bool,
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), AppError> {
    if let Command::Demo = cli.command {
        telemetry::init(
            Default::default(),
            &std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        );
        return demo().await;
    }
    if let Command::Keygen = cli.command {
        // Only the key on stdout, so `$(circlet keygen)` captures it alone.
        println!("{}", crate::token_cipher::TokenCipher::generate_key_text());
        eprintln!(
            "Set it as CIRCLET_ENCRYPTION_KEY (with SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and CIRCLET_PUBLIC_URL) and keep it secret."
        );
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    telemetry::init(config.log_format, &config.log_filter);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let store = store::connect(&config.database_url).await?;
            store.migrate().await?;
            store.close().await;
            println!("migrations applied to {}", config.database_url_redacted());
            Ok(())
        }
        Command::Inbox { command } => inbox(config, command).await,
        Command::Export(args) => export::run(config, args).await,
        Command::Token { command } => token::run(config, command).await,
        Command::Digest(args) => digest::run(config, args).await,
        Command::Workspaces { command } => workspaces::run(config, command).await,
        Command::Backfill(args) => backfill::run(config, args).await,
        Command::Forget(args) => forget::run(config, args).await,
        Command::Demo | Command::Keygen => Ok(()),
    }
}

#[cfg(feature = "demo")]
async fn demo() -> Result<(), AppError> {
    crate::demo::run().await
}

/// Built without the test kit, this binary has no fake Slack to run against.
#[cfg(not(feature = "demo"))]
async fn demo() -> Result<(), AppError> {
    Err(AppError::Usage(
        "this build has no demo: it was built without the `demo` cargo feature \
         (on by default; `cargo run --release -- demo` in the source tree runs it)"
            .to_owned(),
    ))
}

async fn serve(config: Config) -> Result<(), AppError> {
    // Listening for SIGTERM before the listener opens: a stop that arrives the moment the
    // process says it listens must still end it cleanly.
    let stop = stop_signal();
    let (database, slack_api, bot_token) = (
        config.database_url_redacted(),
        config.slack_api_url.clone(),
        config.bot_token.is_some(),
    );
    let app = App::build(config).await?;
    tracing::info!(%database, %slack_api, bot_token, "database migrated; starting");
    let shutdown = app.shutdown_token();
    tokio::spawn(async move {
        stop.await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
    app.run_until_stopped().await
}

/// Resolves on SIGTERM or SIGINT; both are listened for from the moment this is called.
fn stop_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn inbox(config: Config, command: InboxCommand) -> Result<(), AppError> {
    let store = store::connect(&config.database_url).await?;
    store.migrate().await?;
    match command {
        InboxCommand::List { dead, limit } => {
            let rows = store.list_inbox(dead.then_some(InboxState::Dead), limit).await?;
            print!("{}", render_rows(&rows));
        }
        InboxCommand::Retry(RetryArgs { id, all }) => {
            let which = match (id, all) {
                (Some(id), _) => Requeue::One(id),
                (None, _) => Requeue::AllDead,
            };
            let requeued = store.requeue_dead(which, SystemClock.now_millis()).await?;
            match (which, requeued) {
                (Requeue::One(id), 0) => println!("inbox row {id} is not dead; nothing re-queued"),
                (_, n) => {
                    println!("re-queued {n} dead inbox row(s); a running `circlet serve` picks them up")
                }
            }
        }
    }
    store.close().await;
    Ok(())
}

/// A plain-text table of inbox rows.
pub fn render_rows(rows: &[InboxRow]) -> String {
    if rows.is_empty() {
        return "no inbox rows\n".to_owned();
    }
    let mut out = format!(
        "{:>6}  {:<8} {:>8}  {:<11} {:<22} {:<36} {:<20} {}\n",
        "ID", "STATE", "ATTEMPTS", "KIND", "TYPE", "EVENT ID", "RECEIVED (UTC)", "LAST ERROR"
    );
    for row in rows {
        let received = chrono::DateTime::from_timestamp_millis(row.received_at)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "{:>6}  {:<8} {:>8}  {:<11} {:<22} {:<36} {:<20} {}\n",
            row.id,
            row.state,
            row.attempts,
            row.kind,
            row.event_type,
            row.event_id,
            received,
            row.last_error.as_deref().unwrap_or("")
        ));
    }
    out
}

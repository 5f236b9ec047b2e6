//! `circlet export`: insights as CSV or JSON Lines, streamed to stdout or a file.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::AppError;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::export::{self, ExportFormat, FilterInput, WriteError};
use crate::store;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// csv or jsonl.
    #[arg(long, value_name = "FORMAT")]
    pub format: String,
    /// Insights captured on or after this date (2026-01-31) or time (RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Insights captured up to this date, inclusive (2026-01-31), or before this time (RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only insights with this tag.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Only insights from this circle (channel id, e.g. C0123ABCD).
    #[arg(long, value_name = "CHANNEL")]
    pub channel: Option<String>,
    /// Only insights with this status: new, reviewing, planned, shipped or declined.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(config: Config, args: ExportArgs) -> Result<(), AppError> {
    // Filters are checked before the database is touched: a typo costs nothing.
    let format: ExportFormat = args.format.parse()?;
    let filter = FilterInput {
        since: args.since.as_deref(),
        until: args.until.as_deref(),
        tag: args.tag.as_deref(),
        channel: args.channel.as_deref(),
        status: args.status.as_deref(),
        after_id: None,
    }
    .parse(None, SystemClock.now_millis())?;
    let store = store::connect(&config.database_url).await?;
    store.migrate().await?;

    let (mut out, progress): (Box<dyn Write + Send>, Option<ProgressBar>) = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|source| AppError::Output {
                path: path.display().to_string(),
                source,
            })?;
            let progress = std::io::stderr().is_terminal().then(progress_bar);
            (
                Box::new(std::io::BufWriter::with_capacity(1 << 16, file)),
                progress,
            )
        }
        None => (
            Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout())),
            None,
        ),
    };
    let output_name = args
        .output
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "stdout".into());
    let write_error = |source| AppError::Output {
        path: output_name.clone(),
        source,
    };
    let written = export::write_to(store.reads().as_ref(), filter, format, &mut out, |rows| {
        if let Some(progress) = &progress {
            progress.set_position(rows as u64);
        }
    })
    .await;
    let rows = match written {
        Ok(rows) => rows,
        // `circlet export … | head` closes the pipe early: that reader has what it wanted.
        Err(WriteError::Io(err)) if err.kind() == std::io::ErrorKind::BrokenPipe && args.output.is_none() => {
            0
        }
        Err(WriteError::Io(err)) => return Err(write_error(err)),
        Err(WriteError::Store(err)) => return Err(err.into()),
    };
    drop(out);
    if let Some(progress) = progress {
        progress.finish_and_clear();
    }
    if let Some(path) = &args.output {
        eprintln!("wrote {rows} insight(s) to {}", path.display());
    }
    store.close().await;
    Ok(())
}

fn progress_bar() -> ProgressBar {
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {pos} insights written ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.enable_steady_tick(std::time::Duration::from_millis(120));
    progress
}

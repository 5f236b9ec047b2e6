//! `/feedback export [csv|jsonl] [filters]`: the export as a file, sent to the requester in a
//! direct message through Slack's upload flow (`files.getUploadURLExternal` → upload →
//! `files.completeUploadExternal`).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::DateTime;

use super::ExportFormat;
use super::filter::{FilterError, FilterInput, parse_status, parse_tag};
use crate::clock::{Millis, SharedClock};
use crate::domain::access::ProductAccess;
use crate::domain::dm_file::{DmFile, send_by_dm};
use crate::domain::links;
use crate::domain::slash::{SlashCommand, channel};
use crate::domain::workspaces::Workspaces;
use crate::ids::{TeamId, UserId};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::slack::SlackApi;
use crate::store::{InsightFilter, SharedStore};

pub const EXPORT_USAGE: &str = "/feedback export [csv|jsonl] [7d|30d|90d|since YYYY-MM-DD] [until YYYY-MM-DD] [#channel] [tag:NAME] [status:STATUS]";

const DAY_MILLIS: i64 = 86_400_000;

/// What `/feedback export` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    pub format: ExportFormat,
    pub filter: InsightFilter,
}

/// Reads the words after `export`; an error is the message to show (with the usage).
pub fn parse_words(words: &[&str], team_id: &TeamId, now: Millis) -> Result<ExportRequest, String> {
    let mut format = ExportFormat::Csv;
    let mut since: Option<String> = None;
    let mut until: Option<String> = None;
    let mut filter = InsightFilter {
        team_id: Some(team_id.clone()),
        ..InsightFilter::default()
    };
    let mut words = words.iter();
    let explain = |err: FilterError| format!("{err}. Usage: `{EXPORT_USAGE}`");
    while let Some(word) = words.next() {
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "csv" | "jsonl" => format = lower.parse().map_err(explain)?,
            "since" | "until" => {
                let Some(value) = words.next() else {
                    return Err(format!(
                        "`{lower}` needs a date, e.g. `{lower} 2026-01-31`. Usage: `{EXPORT_USAGE}`"
                    ));
                };
                let slot = if lower == "since" { &mut since } else { &mut until };
                *slot = Some((*value).to_owned());
            }
            period if period.strip_suffix('d').is_some_and(|n| n.parse::<u16>().is_ok()) => {
                let days: i64 = period.trim_end_matches('d').parse().unwrap_or(0);
                if !(1..=3660).contains(&days) {
                    return Err(format!(
                        "`{word}` is not a period I can use. Usage: `{EXPORT_USAGE}`"
                    ));
                }
                filter.since = Some(now - days * DAY_MILLIS);
            }
            _ if lower.starts_with("tag:") => filter.tag = Some(parse_tag(&word[4..]).map_err(explain)?),
            _ if lower.starts_with("status:") => {
                filter.status = Some(parse_status(&word[7..]).map_err(explain)?)
            }
            _ if word.starts_with("<#") || word.starts_with('#') => {
                let id = channel(word).ok_or_else(|| explain(FilterError::BadChannel((*word).to_owned())))?;
                filter.channel_id = Some(id);
            }
            _ => return Err(format!("I don't understand `{word}`. Usage: `{EXPORT_USAGE}`")),
        }
    }
    let dates = FilterInput {
        since: since.as_deref(),
        until: until.as_deref(),
        ..FilterInput::default()
    }
    .parse(Some(team_id), now)
    .map_err(explain)?;
    if since.is_some() {
        filter.since = dates.since;
    }
    filter.until = dates.until;
    // A relative period and an explicit end can still cross.
    if let (Some(start), Some(end)) = (filter.since, filter.until)
        && start >= end
    {
        return Err(explain(FilterError::EmptyRange));
    }
    Ok(ExportRequest { format, filter })
}

pub struct ExportCommand {
    pub store: SharedStore,
    /// Answers to the command's `response_url`.
    pub slack: SlackApi,
    pub workspaces: Arc<Workspaces>,
    pub access: Arc<ProductAccess>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for ExportCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        let answer = if self
            .access
            .is_product_user(&command.team_id, &command.user_id)
            .await?
        {
            self.run(&command).await?
        } else {
            "Sorry, only the product team and workspace admins can export feedback.".to_owned()
        };
        // The file is in the requester's DMs by now: a failed answer is not worth sending it twice.
        if let Err(err) = command.reply(&self.slack, &answer).await {
            tracing::warn!(error = %err, "could not answer /feedback export; the file was sent");
        }
        Ok(())
    }
}

impl ExportCommand {
    async fn run(&self, command: &SlashCommand) -> Result<String, HandlerError> {
        let now = self.clock.now_millis();
        let mut request = match parse_words(&command.args(), &command.team_id, now) {
            Ok(request) => request,
            Err(message) => return Ok(message),
        };
        // The workspace's own circles and those of the workspaces linked to it.
        let covered = links::covered_by(self.store.workspaces().as_ref(), &command.team_id).await?;
        request.filter.linked_teams = covered[1..].to_vec();
        if let Some(channel) = &request.filter.channel_id {
            let mut circles = Vec::new();
            for team in &covered {
                circles.extend(self.store.circles(team).await?);
            }
            if !circles.iter().any(|c| &c.channel_id == channel) {
                return Ok(format!(
                    "<#{channel}> is not a circle, so there is nothing to export from it. Usage: `{EXPORT_USAGE}`"
                ));
            }
        }
        let (file, rows) = self.write(&request).await?;
        if rows == 0 {
            return Ok("No insights match that export, so I did not send a file.".to_owned());
        }
        let length = file
            .as_file()
            .metadata()
            .map_err(|err| HandlerError::transient(format!("export file unreadable: {err}")))?
            .len();
        let day = DateTime::from_timestamp_millis(now)
            .unwrap_or_default()
            .format("%Y-%m-%d");
        let filename = format!("circlet-insights-{day}.{}", request.format.extension());
        self.send(
            &command.team_id,
            &command.user_id,
            &filename,
            file.path(),
            length,
            rows,
        )
        .await?;
        Ok(format!(
            "I sent you {rows} insight{} as `{filename}` in a direct message.",
            if rows == 1 { "" } else { "s" }
        ))
    }

    /// Writes the export to a temporary file (Slack wants the length up front).
    async fn write(&self, request: &ExportRequest) -> Result<(tempfile::NamedTempFile, usize), HandlerError> {
        let io =
            |err: std::io::Error| HandlerError::transient(format!("cannot write the export file: {err}"));
        let mut file = tempfile::NamedTempFile::new().map_err(io)?;
        let mut out = std::io::BufWriter::new(file.as_file_mut());
        let written = super::write_to(
            self.store.reads().as_ref(),
            request.filter.clone(),
            request.format,
            &mut out,
            |_| {},
        )
        .await;
        drop(out);
        let rows = match written {
            Ok(rows) => rows,
            Err(super::WriteError::Store(err)) => return Err(err.into()),
            Err(super::WriteError::Io(err)) => return Err(io(err)),
        };
        Ok((file, rows))
    }

    async fn send(
        &self,
        team: &TeamId,
        user: &UserId,
        filename: &str,
        path: &std::path::Path,
        length: u64,
        rows: usize,
    ) -> Result<(), HandlerError> {
        let slack = self.workspaces.slack(team).await?;
        let file = DmFile {
            filename,
            path,
            length,
            comment: format!("Here is your Circlet export: {rows} insights."),
        };
        send_by_dm(&slack, user, file).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::InsightStatus;

    const NOW: Millis = 1_790_000_000_000;

    fn team() -> TeamId {
        TeamId::parse("T1").unwrap()
    }

    #[test]
    fn words_become_a_format_and_filter() {
        let request = parse_words(
            &["jsonl", "30d", "<#C0CIRCLE|vip>", "tag:Bug", "status:planned"],
            &team(),
            NOW,
        )
        .unwrap();
        assert_eq!(request.format, ExportFormat::Jsonl);
        assert_eq!(request.filter.since, Some(NOW - 30 * DAY_MILLIS));
        assert_eq!(
            request.filter.channel_id.as_ref().map(|c| c.as_str()),
            Some("C0CIRCLE")
        );
        assert_eq!(request.filter.tag.as_deref(), Some("bug"));
        assert_eq!(request.filter.status, Some(InsightStatus::Planned));
        assert_eq!(request.filter.team_id, Some(team()));
        let plain = parse_words(&[], &team(), NOW).unwrap();
        assert_eq!((plain.format, plain.filter.since), (ExportFormat::Csv, None));
    }

    #[test]
    fn dates_follow_the_export_rules() {
        let request = parse_words(&["since", "2026-01-01", "until", "2026-01-31"], &team(), NOW).unwrap();
        assert_eq!(request.filter.since, Some(1_767_225_600_000));
        assert_eq!(request.filter.until, Some(1_767_225_600_000 + 31 * DAY_MILLIS));
    }

    #[test]
    fn bad_words_are_explained_with_the_usage() {
        for (words, expected) in [
            (vec!["xml"], "I don't understand `xml`"),
            (vec!["since"], "`since` needs a date"),
            (vec!["since", "2999-01-01"], "in the future"),
            (vec!["status:done"], "status must be one of"),
            (vec!["0d"], "not a period"),
            (vec!["#general"], "channel must be"),
            (vec!["since", "-150000-01-01"], "from 0000-01-01 to 9999-12-31"),
            (vec!["until", "+275760-01-01"], "from 0000-01-01 to 9999-12-31"),
            (
                vec!["30d", "until", "+10000-01-01T00:00:00Z"],
                "from 0000-01-01 to 9999-12-31",
            ),
        ] {
            let message = parse_words(&words, &team(), NOW).unwrap_err();
            assert!(message.contains(expected), "{words:?}: {message}");
            assert!(message.contains(EXPORT_USAGE), "{words:?}");
        }
    }
}

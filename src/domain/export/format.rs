//! The export formats of ARCHITECTURE §7: CSV with a header row, and JSON Lines with the same
//! keys. Rows are encoded into a buffer the caller sends on, so a writer never holds more than
//! one batch.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use super::filter::FilterError;
use crate::store::InsightRow;

/// The columns, in order; JSON Lines uses them as keys. New columns go last, so consumers that
/// read columns by position keep working.
pub const COLUMNS: [&str; 16] = [
    "id",
    "created_at",
    "team_id",
    "channel_id",
    "channel_name",
    "message_ts",
    "author_id",
    "author_name",
    "text",
    "tags",
    "votes",
    "replies",
    "status",
    "source",
    "permalink",
    "author_team_id",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    #[default]
    Csv,
    Jsonl,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }
}

impl FromStr for ExportFormat {
    type Err = FilterError;

    fn from_str(value: &str) -> Result<Self, FilterError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(ExportFormat::Csv),
            "jsonl" | "ndjson" => Ok(ExportFormat::Jsonl),
            _ => Err(FilterError::UnknownFormat(value.to_owned())),
        }
    }
}

/// One exported row with the keys of [`COLUMNS`].
#[derive(Debug, Serialize)]
struct Record<'a> {
    id: i64,
    created_at: String,
    team_id: &'a str,
    channel_id: &'a str,
    channel_name: &'a str,
    message_ts: &'a str,
    author_id: &'a str,
    author_name: &'a str,
    text: &'a str,
    tags: Vec<&'a str>,
    votes: i64,
    replies: i64,
    status: &'a str,
    source: &'a str,
    permalink: String,
    /// The author's own workspace: a partner organization's for a Slack Connect member.
    author_team_id: &'a str,
}

impl<'a> Record<'a> {
    fn of(row: &'a InsightRow) -> Self {
        Record {
            id: row.number,
            created_at: rfc3339(row.created_at),
            team_id: row.team_id.as_str(),
            channel_id: row.channel_id.as_str(),
            channel_name: row.channel_name.as_deref().unwrap_or_default(),
            message_ts: &row.message_ts,
            author_id: row.author_id.as_ref().map_or("", |author| author.as_str()),
            author_name: row.author_name.as_deref().unwrap_or_default(),
            text: row.text.as_deref().unwrap_or_default(),
            tags: row.tag_list().collect(),
            votes: row.votes,
            replies: row.replies,
            status: &row.status,
            source: &row.source,
            permalink: row.permalink().unwrap_or_default(),
            author_team_id: row.author_team_id.as_str(),
        }
    }

    /// The CSV cells, in [`COLUMNS`] order, each made safe to open in a spreadsheet.
    fn cells(&self) -> [String; 16] {
        [
            self.id.to_string(),
            self.created_at.clone(),
            defuse(self.team_id),
            defuse(self.channel_id),
            defuse(self.channel_name),
            defuse(self.message_ts),
            defuse(self.author_id),
            defuse(self.author_name),
            defuse(self.text),
            defuse(&self.tags.join(crate::store::TAG_SEPARATOR)),
            self.votes.to_string(),
            self.replies.to_string(),
            defuse(self.status),
            defuse(self.source),
            defuse(&self.permalink),
            defuse(self.author_team_id),
        ]
    }
}

/// `created_at` as RFC 3339 in UTC, to the second.
pub fn rfc3339(millis: i64) -> String {
    DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a
/// leading apostrophe, so opening an export never runs what a customer typed.
pub fn defuse(cell: &str) -> String {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

/// Encodes rows of one format; `header` first, then any number of `rows` calls.
pub struct Encoder {
    format: ExportFormat,
    csv: Option<csv::WriterBuilder>,
}

impl Encoder {
    pub fn new(format: ExportFormat) -> Self {
        let csv = (format == ExportFormat::Csv).then(|| {
            let mut builder = csv::WriterBuilder::new();
            builder.terminator(csv::Terminator::CRLF);
            builder
        });
        Self { format, csv }
    }

    /// The CSV header row (JSON Lines has none).
    pub fn header(&mut self) -> Vec<u8> {
        match &self.csv {
            Some(builder) => csv_records(builder, 128, [COLUMNS.map(str::to_owned)]),
            None => Vec::new(),
        }
    }

    pub fn rows(&mut self, rows: &[InsightRow]) -> Vec<u8> {
        match &self.csv {
            Some(builder) => csv_records(
                builder,
                rows.len() * 256,
                rows.iter().map(|row| Record::of(row).cells()),
            ),
            None => {
                let mut out = Vec::with_capacity(rows.len() * 256);
                for row in rows {
                    // Serialising plain strings and numbers cannot fail.
                    let _ = serde_json::to_writer(&mut out, &Record::of(row));
                    out.push(b'\n');
                }
                out
            }
        }
    }

    pub fn format(&self) -> ExportFormat {
        self.format
    }
}

/// Records encoded as CSV lines.
fn csv_records(
    builder: &csv::WriterBuilder,
    capacity: usize,
    records: impl IntoIterator<Item = [String; COLUMNS.len()]>,
) -> Vec<u8> {
    let mut writer = builder.from_writer(Vec::with_capacity(capacity));
    for record in records {
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(&record);
    }
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ChannelId, TeamId, UserId};

    fn row(text: &str) -> InsightRow {
        InsightRow {
            number: 7,
            created_at: 1_767_225_600_000,
            team_id: TeamId::parse("T1").unwrap(),
            channel_id: ChannelId::parse("C1").unwrap(),
            channel_name: Some("vip-circle".into()),
            message_ts: "1767225600.000100".into(),
            thread_ts: None,
            author_id: Some(UserId::parse("U1").unwrap()),
            author_name: Some("Ada".into()),
            text: Some(text.into()),
            tags: "bug;idea".into(),
            votes: 3,
            replies: 1,
            status: "new".into(),
            source: "reaction".into(),
            workspace_url: Some("https://acme.slack.com/".into()),
            author_team_id: TeamId::parse("T2").unwrap(),
        }
    }

    #[test]
    fn csv_has_the_header_and_quotes_as_rfc_4180_says() {
        let mut encoder = Encoder::new(ExportFormat::Csv);
        let mut out = encoder.header();
        out.extend(encoder.rows(&[row("Says \"hi\",\nthen leaves")]));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(
            "id,created_at,team_id,channel_id,channel_name,message_ts,author_id,author_name,text,tags,votes,replies,status,source,permalink,author_team_id\r\n"
        ));
        assert!(text.contains(
            "7,2026-01-01T00:00:00Z,T1,C1,vip-circle,1767225600.000100,U1,Ada,\"Says \"\"hi\"\",\nthen leaves\",bug;idea,3,1,new,reaction,https://acme.slack.com/archives/C1/p1767225600000100,T2\r\n"
        ), "{text}");
    }

    #[test]
    fn formula_cells_are_defused() {
        for dangerous in ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(defuse(dangerous), format!("'{dangerous}"));
        }
        assert_eq!(defuse("plain"), "plain");
        assert_eq!(defuse(""), "");
    }

    #[test]
    fn jsonl_has_the_same_keys_and_tags_as_an_array() {
        let mut encoder = Encoder::new(ExportFormat::Jsonl);
        assert!(encoder.header().is_empty());
        let out = encoder.rows(&[row("=1+1")]);
        let line: serde_json::Value = serde_json::from_slice(out.strip_suffix(b"\n").unwrap()).unwrap();
        let keys: Vec<&str> = line.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = COLUMNS.to_vec();
        expected.sort_unstable();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        assert_eq!(keys_sorted, expected);
        let raw = String::from_utf8(out.clone()).unwrap();
        assert!(
            raw.ends_with(",\"author_team_id\":\"T2\"}\n"),
            "a new key goes last: {raw}"
        );
        assert_eq!(line["tags"], serde_json::json!(["bug", "idea"]));
        assert_eq!(
            line["text"], "=1+1",
            "JSON is not a spreadsheet: text stays as written"
        );
    }

    #[test]
    fn formats_parse_and_refuse_others() {
        assert_eq!("CSV".parse::<ExportFormat>().unwrap(), ExportFormat::Csv);
        assert_eq!("jsonl".parse::<ExportFormat>().unwrap(), ExportFormat::Jsonl);
        assert_eq!(
            "xml".parse::<ExportFormat>().unwrap_err(),
            FilterError::UnknownFormat("xml".into())
        );
    }

    mod round_trip {
        use proptest::prelude::*;

        use super::*;

        fn any_row() -> impl Strategy<Value = InsightRow> {
            (
                any::<String>(),
                proptest::option::of(any::<String>()),
                proptest::option::of(any::<String>()),
                proptest::collection::vec("[a-z][a-z0-9-]{0,10}", 0..4),
                0i64..1_000,
                0i64..4_102_444_800_000,
            )
                .prop_map(|(text, author_name, channel_name, mut tags, votes, created_at)| {
                    tags.sort();
                    tags.dedup();
                    InsightRow {
                        number: votes + 1,
                        created_at,
                        team_id: TeamId::parse("T1").unwrap(),
                        channel_id: ChannelId::parse("C1").unwrap(),
                        channel_name,
                        message_ts: "1700000000.000100".into(),
                        thread_ts: None,
                        author_id: Some(UserId::parse("U1").unwrap()),
                        author_name,
                        text: Some(text),
                        tags: tags.join(";"),
                        votes,
                        replies: votes / 2,
                        status: "new".into(),
                        source: "reaction".into(),
                        workspace_url: None,
                        author_team_id: TeamId::parse(if votes % 2 == 0 { "T1" } else { "T0PARTNER" })
                            .unwrap(),
                    }
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            /// What is exported parses back to the same rows: every cell as written, text and
            /// names exactly, except that a formula-looking cell carries its leading apostrophe.
            #[test]
            fn csv_exports_parse_back_to_the_same_rows(rows in proptest::collection::vec(any_row(), 0..8)) {
                let mut encoder = Encoder::new(ExportFormat::Csv);
                let mut out = encoder.header();
                out.extend(encoder.rows(&rows));
                let mut reader = csv::ReaderBuilder::new().from_reader(out.as_slice());
                let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
                prop_assert_eq!(header, COLUMNS.to_vec());
                let parsed: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
                prop_assert_eq!(parsed.len(), rows.len());
                for (row, record) in rows.iter().zip(&parsed) {
                    prop_assert_eq!(&record[0], row.number.to_string());
                    prop_assert_eq!(&record[1], rfc3339(row.created_at));
                    prop_assert_eq!(&record[4], defuse(row.channel_name.as_deref().unwrap_or_default()));
                    prop_assert_eq!(&record[7], defuse(row.author_name.as_deref().unwrap_or_default()));
                    prop_assert_eq!(&record[8], defuse(row.text.as_deref().unwrap_or_default()));
                    prop_assert_eq!(&record[9], &row.tags);
                    prop_assert_eq!(&record[10], row.votes.to_string());
                    prop_assert_eq!(&record[15], row.author_team_id.as_str());
                }
            }

            #[test]
            fn jsonl_exports_parse_back_to_the_same_rows(rows in proptest::collection::vec(any_row(), 0..8)) {
                let out = Encoder::new(ExportFormat::Jsonl).rows(&rows);
                let lines: Vec<serde_json::Value> =
                    out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
                prop_assert_eq!(lines.len(), rows.len());
                for (row, line) in rows.iter().zip(&lines) {
                    prop_assert_eq!(line["text"].as_str(), row.text.as_deref());
                    let tags: Vec<&str> = line["tags"].as_array().unwrap().iter().filter_map(|t| t.as_str()).collect();
                    prop_assert_eq!(tags, row.tag_list().collect::<Vec<_>>());
                }
            }
        }
    }
}

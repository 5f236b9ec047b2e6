//! Why a triage request cannot be done, worded for the person who asked.

use crate::ids::TeamId;
use crate::inbox::HandlerError;
use crate::store::{InsightStatus, StoreError};

use super::status::STATUS_USAGE;

#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("Usage: `{0}`")]
    Usage(&'static str),
    #[error("`{0}` is not an insight id: use its number, like `42` or `#42`.")]
    NotAnId(String),
    #[error(
        "`{0}` is not a status. Use one of new, reviewing, planned, shipped or declined: `{STATUS_USAGE}`"
    )]
    UnknownStatus(String),
    #[error("I can't find insight #{0} in this workspace.")]
    NotFound(i64),
    #[error("The message of #{0} was deleted in Slack, so it is no longer triaged.")]
    Deleted(i64),
    #[error("#{number} was merged into #{target}: change the status of #{target} instead.")]
    StatusOfMerged { number: i64, target: i64 },
    #[error("#{0} is already {1}.")]
    AlreadyInStatus(i64, InsightStatus),
    #[error("#{0} can't be merged into itself.")]
    MergeIntoItself(i64),
    #[error("#{number} is already merged into #{target}.")]
    AlreadyMerged { number: i64, target: i64 },
    #[error("#{number} was merged into #{target}: merge into #{target} instead.")]
    TargetMerged { number: i64, target: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TriageError {
    /// The answer for the person who asked, or, when the store failed, an error the inbox
    /// retries.
    pub fn into_answer(self) -> Result<String, HandlerError> {
        match self {
            TriageError::Store(err) => Err(err.into()),
            refused => Ok(refused.to_string()),
        }
    }
}

/// An insight's number as people type it: `42` or `#42`.
pub fn parse_number(word: &str) -> Result<i64, TriageError> {
    word.strip_prefix('#')
        .unwrap_or(word)
        .parse::<i64>()
        .ok()
        .filter(|number| *number > 0)
        .ok_or_else(|| TriageError::NotAnId(word.to_owned()))
}

/// An insight as a product team names it: its number in their own workspace (`42`, `#42`), or
/// `T…-42` for one of a workspace linked to theirs (reports show those so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsightRef {
    pub team: Option<TeamId>,
    pub number: i64,
}

impl std::fmt::Display for InsightRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.team {
            Some(team) => write!(f, "{}-{}", team.as_str(), self.number),
            None => write!(f, "#{}", self.number),
        }
    }
}

/// `42`, `#42` or `T0123-42`.
pub fn parse_reference(word: &str) -> Result<InsightRef, TriageError> {
    if let Some((team, number)) = word.rsplit_once('-')
        && let Ok(team) = TeamId::parse(team)
    {
        let number = parse_number(number).map_err(|_| TriageError::NotAnId(word.to_owned()))?;
        return Ok(InsightRef {
            team: Some(team),
            number,
        });
    }
    Ok(InsightRef {
        team: None,
        number: parse_number(word)?,
    })
}

/// A status by name, in any case.
pub fn parse_status(word: &str) -> Result<InsightStatus, TriageError> {
    word.to_ascii_lowercase()
        .parse()
        .map_err(|()| TriageError::UnknownStatus(word.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_with_or_without_a_hash() {
        assert_eq!(parse_number("42").unwrap(), 42);
        assert_eq!(parse_number("#42").unwrap(), 42);
        for bad in ["", "#", "0", "-3", "forty", "##4", "4.2"] {
            assert!(matches!(parse_number(bad), Err(TriageError::NotAnId(_))), "{bad}");
        }
    }

    #[test]
    fn statuses_are_read_in_any_case_and_unknown_ones_name_the_choices() {
        assert_eq!(parse_status("Shipped").unwrap(), InsightStatus::Shipped);
        let err = parse_status("done").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`done` is not a status. Use one of new, reviewing, planned, shipped or declined: \
             `/feedback status ID new|reviewing|planned|shipped|declined`"
        );
    }
}

//! How long data is kept (ARCHITECTURE §13): `CIRCLET_RETENTION_DAYS` and
//! `CIRCLET_UNINSTALL_RETENTION_DAYS`.

use super::{ConfigError, parse_number};
use crate::domain::settings::Retention;

/// A century: more is a typo, not a policy.
const MAX_DAYS: u64 = 36_500;

pub(super) fn parse_retention(get: &impl Fn(&str) -> Option<String>) -> Result<Retention, ConfigError> {
    let defaults = Retention::default();
    // Unset keeps insights; 0 would delete every insight the day it is captured, so it is
    // refused rather than guessed at.
    let insight_days = parse_number(get, "CIRCLET_RETENTION_DAYS", 1, MAX_DAYS)?.map(|days| days as u32);
    let uninstall_days = parse_number(get, "CIRCLET_UNINSTALL_RETENTION_DAYS", 0, MAX_DAYS)?
        .map_or(defaults.uninstall_days, |days| days as u32);
    Ok(Retention {
        insight_days,
        uninstall_days,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use crate::config::Config;
    use crate::domain::settings::Retention;

    fn load(file: Option<&std::path::Path>, pairs: &[(&str, &str)]) -> Result<Config, String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_sources(file, |key| {
            pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        })
        .map_err(|err| err.to_string())
    }

    #[test]
    fn insights_are_kept_and_uninstalled_workspaces_purged_after_thirty_days_by_default() {
        let config = load(None, &[]).unwrap();
        assert_eq!(
            config.retention,
            Retention {
                insight_days: None,
                uninstall_days: 30
            }
        );
    }

    #[test]
    fn days_come_from_the_environment_or_the_config_file() {
        let config = load(
            None,
            &[
                ("CIRCLET_RETENTION_DAYS", "90"),
                ("CIRCLET_UNINSTALL_RETENTION_DAYS", "0"),
            ],
        )
        .unwrap();
        assert_eq!(config.retention.insight_days, Some(90));
        assert_eq!(config.retention.uninstall_days, 0, "0: purge at once");

        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "circlet_retention_days = 365\nCIRCLET_UNINSTALL_RETENTION_DAYS = 7"
        )
        .unwrap();
        let config = load(Some(file.path()), &[]).unwrap();
        assert_eq!(config.retention.insight_days, Some(365));
        assert_eq!(config.retention.uninstall_days, 7);
    }

    #[test]
    fn zero_or_garbage_stops_start_up_naming_the_variable() {
        for (key, value) in [
            ("CIRCLET_RETENTION_DAYS", "0"),
            ("CIRCLET_RETENTION_DAYS", "a month"),
            ("CIRCLET_RETENTION_DAYS", "-5"),
            ("CIRCLET_UNINSTALL_RETENTION_DAYS", "soon"),
        ] {
            let err = load(None, &[(key, value)]).unwrap_err();
            assert!(err.starts_with(&format!("{key} is invalid")), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }
}

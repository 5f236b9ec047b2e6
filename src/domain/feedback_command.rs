//! The `/feedback` slash command: which subcommand was asked for, and the help text.

/// The first word of the command text, lower-cased; `help` when empty.
pub fn subcommand(text: &str) -> String {
    text.split_whitespace()
        .next()
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "help".to_owned())
}

/// Help listing the subcommands this installation can run, given the ones with handlers.
pub fn help_text(available: &[&str]) -> String {
    let mut lines = vec![
        "*Circlet* turns your customer circle's feedback into tagged product insights.".to_owned(),
        "React to a message with :bulb: :bug: :heart: :confused: or :memo: to capture it, or use the \
         *Capture feedback* message shortcut."
            .to_owned(),
        String::new(),
        "*Commands*".to_owned(),
        "• `/feedback help` — this message".to_owned(),
    ];
    for name in available {
        if let Some(usage) = usage(name) {
            lines.push(format!("• `{usage}`"));
        }
    }
    lines.join("\n")
}

/// The reply to a subcommand nobody handles: one of the product's subcommands that this
/// installation does not offer yet, or something unknown.
pub fn unknown_text(asked: &str, available: &[&str]) -> String {
    match usage(asked) {
        Some(usage) => format!(
            "`{usage}` is not available on this Circlet yet.\n\n{}",
            help_text(available)
        ),
        None => format!("I don't know `{asked}`.\n\n{}", help_text(available)),
    }
}

/// Usage lines for the subcommands of the product contract.
fn usage(name: &str) -> Option<&'static str> {
    Some(match name {
        "report" => "/feedback report [7d|30d|90d|since YYYY-MM-DD] [#channel] [tag:NAME]",
        "export" => "/feedback export [csv|jsonl] [filters]",
        "status" => "/feedback status ID new|reviewing|planned|shipped|declined",
        "merge" => "/feedback merge ID INTO ID",
        "circle" => "/feedback circle add|remove|list",
        "tags" => "/feedback tags [set :emoji: NAME | unset :emoji:]",
        "rules" => "/feedback rules [add \"phrase\" TAG [capture] | remove N]",
        "prompt" => crate::domain::digest::prompt_command::PROMPT_USAGE,
        "digest" => crate::domain::digest::command::DIGEST_USAGE,
        "settings" => crate::domain::settings_command::SETTINGS_USAGE,
        "backfill" => crate::domain::backfill::command::BACKFILL_USAGE,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subcommand_is_the_first_word_in_lower_case() {
        assert_eq!(subcommand("  Report 7d #ideas"), "report");
        assert_eq!(subcommand(""), "help");
        assert_eq!(subcommand("   "), "help");
    }

    #[test]
    fn help_lists_only_available_subcommands() {
        let help = help_text(&["report"]);
        assert!(help.contains("/feedback report"));
        assert!(!help.contains("/feedback merge"));
    }

    #[test]
    fn unknown_input_names_what_was_asked_and_shows_help() {
        let text = unknown_text("frobnicate", &[]);
        assert!(text.starts_with("I don't know `frobnicate`."));
        assert!(text.contains("/feedback help"));
    }

    #[test]
    fn a_product_subcommand_without_a_handler_says_it_is_not_available_yet() {
        let text = unknown_text("report", &[]);
        assert!(text.starts_with(
            "`/feedback report [7d|30d|90d|since YYYY-MM-DD] [#channel] [tag:NAME]` is not available"
        ));
        assert!(text.contains("/feedback help"));
    }
}

//! A submitted capture form: read from the view's state and checked, with a message per field
//! the user has to fix.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use super::view::{COMPANY_BLOCK, PRODUCT_AREA_BLOCK, SENTIMENT_BLOCK, TAGS_BLOCK, TEXT_BLOCK};
use crate::store::InsightDetails;

/// Longest feedback text, in characters.
pub const MAX_TEXT_CHARS: usize = 3000;
/// Longest product area or company name, in characters.
pub const MAX_DETAIL_CHARS: usize = 150;

/// How the customer feels, as the form offers it: (value, label).
pub const SENTIMENTS: &[(&str, &str)] = &[
    ("positive", "Positive"),
    ("neutral", "Neutral"),
    ("negative", "Negative"),
];

/// Messages per input `block_id`.
pub type FieldErrors = BTreeMap<String, String>;

/// What Slack sends of a submitted view: the form values by block and action.
#[derive(Debug, Default, Deserialize)]
pub struct ViewState {
    #[serde(default)]
    pub values: HashMap<String, HashMap<String, InputValue>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct InputValue {
    pub value: Option<String>,
    pub selected_option: Option<Choice>,
    pub selected_options: Option<Vec<Choice>>,
}

#[derive(Debug, Deserialize)]
pub struct Choice {
    pub value: String,
}

/// A valid form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackForm {
    pub text: String,
    pub tags: Vec<String>,
    /// The product-only fields; None on a member's form, whatever its state holds.
    pub details: Option<InsightDetails>,
}

impl FeedbackForm {
    /// Reads and checks the form; `known_tags` are the workspace's tags. The product-only
    /// fields are read only when the form was opened with them (`product_fields`).
    pub fn read(
        state: &ViewState,
        known_tags: &BTreeSet<String>,
        product_fields: bool,
    ) -> Result<FeedbackForm, FieldErrors> {
        let mut errors = FieldErrors::new();
        let text = text(state, TEXT_BLOCK).unwrap_or_default();
        let length = text.chars().count();
        if text.is_empty() {
            errors.insert(
                TEXT_BLOCK.into(),
                "Please enter the feedback text; it can't be empty.".into(),
            );
        } else if length > MAX_TEXT_CHARS {
            errors.insert(
                TEXT_BLOCK.into(),
                format!("Please shorten the text to 3,000 characters or fewer (it has {length})."),
            );
        }

        let tags: Vec<String> = input(state, TAGS_BLOCK)
            .and_then(|input| input.selected_options.as_ref())
            .map(|chosen| chosen.iter().map(|c| c.value.clone()).collect())
            .unwrap_or_default();
        let unknown: Vec<&str> = tags
            .iter()
            .filter(|tag| !known_tags.contains(*tag))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            errors.insert(
                TAGS_BLOCK.into(),
                format!(
                    "{} not one of this workspace's tags; please choose from the list.",
                    quoted_list(&unknown)
                ),
            );
        }

        let details = product_fields.then(|| details(state, &mut errors));
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(FeedbackForm { text, tags, details })
    }
}

/// The product-only fields: product area, sentiment, customer company.
fn details(state: &ViewState, errors: &mut FieldErrors) -> InsightDetails {
    let sentiment = input(state, SENTIMENT_BLOCK)
        .and_then(|input| input.selected_option.as_ref())
        .map(|choice| choice.value.clone());
    if sentiment
        .as_deref()
        .is_some_and(|s| !SENTIMENTS.iter().any(|(value, _)| *value == s))
    {
        errors.insert(
            SENTIMENT_BLOCK.into(),
            "Please choose positive, neutral or negative.".into(),
        );
    }
    InsightDetails {
        product_area: detail(state, PRODUCT_AREA_BLOCK, "product area", errors),
        sentiment,
        customer_company: detail(state, COMPANY_BLOCK, "company name", errors),
    }
}

fn input<'a>(state: &'a ViewState, block: &str) -> Option<&'a InputValue> {
    // One input per block; its action_id does not matter.
    state.values.get(block)?.values().next()
}

/// A text input's value, trimmed; None when empty.
fn text(state: &ViewState, block: &str) -> Option<String> {
    let value = input(state, block)?.value.as_deref()?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

fn detail(state: &ViewState, block: &str, what: &str, errors: &mut FieldErrors) -> Option<String> {
    let value = text(state, block)?;
    if value.chars().count() > MAX_DETAIL_CHARS {
        errors.insert(
            block.into(),
            format!("Please shorten the {what} to {MAX_DETAIL_CHARS} characters or fewer."),
        );
    }
    Some(value)
}

/// `“a”` is / `“a”, “b”` are
fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("“{item}”")).collect();
    let verb = if items.len() == 1 { "is" } else { "are" };
    format!("{} {verb}", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn state(values: serde_json::Value) -> ViewState {
        serde_json::from_value(json!({ "values": values })).unwrap()
    }

    fn known() -> BTreeSet<String> {
        ["bug", "idea"].into_iter().map(String::from).collect()
    }

    #[test]
    fn a_complete_form_is_read_trimmed() {
        let form = FeedbackForm::read(
            &state(json!({
                "text": {"input": {"type": "plain_text_input", "value": "  The pump jams \n"}},
                "tags": {"input": {"type": "multi_static_select", "selected_options": [{"value": "bug"}]}},
                "product_area": {"input": {"type": "plain_text_input", "value": " Packaging "}},
                "sentiment": {"input": {"type": "static_select", "selected_option": {"value": "negative"}}},
                "company": {"input": {"type": "plain_text_input", "value": null}},
            })),
            &known(),
            true,
        )
        .unwrap();
        assert_eq!(form.text, "The pump jams");
        assert_eq!(form.tags, ["bug"]);
        assert_eq!(
            form.details,
            Some(InsightDetails {
                product_area: Some("Packaging".into()),
                sentiment: Some("negative".into()),
                customer_company: None,
            })
        );
    }

    #[test]
    fn a_members_form_ignores_product_fields_its_state_holds() {
        let form = FeedbackForm::read(
            &state(json!({
                "text": {"input": {"value": "The pump jams"}},
                "product_area": {"input": {"value": "Packaging"}},
                "sentiment": {"input": {"selected_option": {"value": "furious"}}},
                "company": {"input": {"value": "x".repeat(MAX_DETAIL_CHARS + 1)}},
            })),
            &known(),
            false,
        )
        .unwrap();
        assert_eq!(form.details, None);
    }

    #[test]
    fn every_invalid_field_gets_its_own_message() {
        let errors = FeedbackForm::read(
            &state(json!({
                "text": {"input": {"value": "   "}},
                "tags": {"input": {"selected_options": [{"value": "bug"}, {"value": "rocket"}]}},
                "sentiment": {"input": {"selected_option": {"value": "furious"}}},
                "company": {"input": {"value": "x".repeat(MAX_DETAIL_CHARS + 1)}},
            })),
            &known(),
            true,
        )
        .unwrap_err();
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            ["company", "sentiment", "tags", "text"]
        );
        assert!(errors["tags"].contains("“rocket” is not"), "{}", errors["tags"]);
        assert!(!errors["tags"].contains("bug"));
    }

    #[test]
    fn text_may_have_up_to_3000_characters() {
        let at_limit = "é".repeat(MAX_TEXT_CHARS);
        let read =
            |text: &str| FeedbackForm::read(&state(json!({"text": {"i": {"value": text}}})), &known(), false);
        assert!(read(&at_limit).is_ok(), "characters are counted, not bytes");
        let errors = read(&format!("{at_limit}!")).unwrap_err();
        assert!(errors["text"].contains("3,000"), "{}", errors["text"]);
    }
}

//! The "Capture feedback" modal, built with slack-morphism's Block Kit types.

use std::collections::BTreeSet;

use slack_morphism::prelude::*;

use super::CALLBACK_ID;
use super::form::{MAX_DETAIL_CHARS, SENTIMENTS};
use crate::store::InsightDetails;

pub const TEXT_BLOCK: &str = "text";
pub const TAGS_BLOCK: &str = "tags";
pub const PRODUCT_AREA_BLOCK: &str = "product_area";
pub const SENTIMENT_BLOCK: &str = "sentiment";
pub const COMPANY_BLOCK: &str = "company";
/// Every input has one element; the block tells them apart.
const INPUT_ACTION: &str = "input";
/// Slack shows at most 100 options in a select.
const MAX_OPTIONS: usize = 100;

/// What the form starts with: the message, or the insight already capturing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefill {
    pub channel_id: String,
    pub author_id: Option<String>,
    /// The insight's number when the message is already captured.
    pub number: Option<i64>,
    pub text: String,
    pub tags: Vec<String>,
    pub details: InsightDetails,
}

/// The modal for `prefill`, offering `workspace_tags`, carrying `private_metadata`.
pub fn capture_form(
    prefill: &Prefill,
    workspace_tags: &BTreeSet<String>,
    private_metadata: String,
) -> SlackView {
    let mut blocks = vec![about(prefill), text_input(prefill)];
    if !workspace_tags.is_empty() {
        // Slack refuses a select without options; a workspace with no tags gets no tags field.
        blocks.push(tags_input(prefill, workspace_tags));
    }
    blocks.push(detail_input(
        PRODUCT_AREA_BLOCK,
        "Product area",
        "e.g. Checkout, Packaging",
        prefill.details.product_area.as_deref(),
    ));
    blocks.push(sentiment_input(prefill.details.sentiment.as_deref()));
    blocks.push(detail_input(
        COMPANY_BLOCK,
        "Customer company",
        "Who said it",
        prefill.details.customer_company.as_deref(),
    ));
    SlackView::Modal(
        SlackModalView::new("Capture feedback".into(), blocks)
            .with_submit("Save".into())
            .with_close("Cancel".into())
            .with_callback_id(CALLBACK_ID.into())
            .with_private_metadata(private_metadata),
    )
}

fn about(prefill: &Prefill) -> SlackBlock {
    let from = match &prefill.author_id {
        Some(author) => format!("Message from <@{author}> in <#{}>", prefill.channel_id),
        None => format!("Message in <#{}>", prefill.channel_id),
    };
    let line = match prefill.number {
        Some(number) => format!("{from} · editing insight #{number}"),
        None => from,
    };
    SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
        SlackBlockMarkDownText::new(line),
    )])
    .into()
}

fn text_input(prefill: &Prefill) -> SlackBlock {
    let element = SlackBlockPlainTextInputElement::new()
        .with_action_id(INPUT_ACTION.into())
        .with_multiline(true)
        .with_initial_value(prefill.text.clone());
    SlackInputBlock::new("Feedback".into(), element.into())
        .with_block_id(TEXT_BLOCK.into())
        .with_hint("Edit it to say what the customer means; the Slack message itself stays as it is.".into())
        .into()
}

fn tags_input(prefill: &Prefill, workspace_tags: &BTreeSet<String>) -> SlackBlock {
    let options: Vec<_> = workspace_tags
        .iter()
        .take(MAX_OPTIONS)
        .map(|tag| option(tag, tag))
        .collect();
    // Slack refuses initial options that are not among the options.
    let chosen: Vec<_> = prefill
        .tags
        .iter()
        .filter(|tag| workspace_tags.contains(*tag))
        .map(|tag| option(tag, tag))
        .collect();
    let mut element = SlackBlockMultiStaticSelectElement::new()
        .with_action_id(INPUT_ACTION.into())
        .with_placeholder("Choose tags".into())
        .with_options(options);
    if !chosen.is_empty() {
        element = element.with_initial_options(chosen);
    }
    SlackInputBlock::new("Tags".into(), element.into())
        .with_block_id(TAGS_BLOCK.into())
        .with_optional(true)
        .into()
}

fn sentiment_input(current: Option<&str>) -> SlackBlock {
    let options: Vec<_> = SENTIMENTS
        .iter()
        .map(|(value, label)| option(value, label))
        .collect();
    let mut element = SlackBlockStaticSelectElement::new()
        .with_action_id(INPUT_ACTION.into())
        .with_placeholder("How does the customer feel?".into())
        .with_options(options);
    if let Some((value, label)) = SENTIMENTS.iter().find(|(value, _)| Some(*value) == current) {
        element = element.with_initial_option(option(value, label));
    }
    SlackInputBlock::new("Sentiment".into(), element.into())
        .with_block_id(SENTIMENT_BLOCK.into())
        .with_optional(true)
        .into()
}

fn detail_input(block: &str, label: &str, placeholder: &str, current: Option<&str>) -> SlackBlock {
    let mut element = SlackBlockPlainTextInputElement::new()
        .with_action_id(INPUT_ACTION.into())
        .with_placeholder(placeholder.into())
        .with_max_length(MAX_DETAIL_CHARS as u64);
    if let Some(current) = current {
        element = element.with_initial_value(current.to_owned());
    }
    SlackInputBlock::new(label.into(), element.into())
        .with_block_id(block.into())
        .with_optional(true)
        .into()
}

fn option(value: &str, label: &str) -> SlackBlockChoiceItem<SlackBlockPlainTextOnly> {
    SlackBlockChoiceItem::new(label.into(), value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn the_form_is_prefilled_and_offers_only_workspace_tags() {
        let prefill = Prefill {
            channel_id: "C1".into(),
            author_id: Some("U1".into()),
            number: Some(7),
            text: "It jams".into(),
            tags: vec!["bug".into(), "retired".into()],
            details: InsightDetails {
                product_area: Some("Packaging".into()),
                sentiment: Some("negative".into()),
                customer_company: None,
            },
        };
        let view =
            serde_json::to_value(capture_form(&prefill, &tags(&["bug", "idea"]), "meta".into())).unwrap();
        assert_eq!(view["type"], "modal");
        assert_eq!(view["callback_id"], CALLBACK_ID);
        assert_eq!(view["private_metadata"], "meta");
        assert!(view["title"]["text"].as_str().unwrap().len() <= 24);
        let block = |id: &str| {
            view["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["block_id"] == id)
                .cloned()
                .unwrap()
        };
        assert_eq!(block(TEXT_BLOCK)["element"]["initial_value"], "It jams");
        assert_eq!(block(TEXT_BLOCK)["element"]["multiline"], true);
        let tag_select = block(TAGS_BLOCK)["element"].clone();
        assert_eq!(tag_select["type"], "multi_static_select");
        assert_eq!(tag_select["options"].as_array().unwrap().len(), 2);
        assert_eq!(tag_select["initial_options"][0]["value"], "bug");
        assert_eq!(tag_select["initial_options"].as_array().unwrap().len(), 1);
        assert_eq!(
            block(SENTIMENT_BLOCK)["element"]["initial_option"]["value"],
            "negative"
        );
        assert_eq!(block(PRODUCT_AREA_BLOCK)["element"]["initial_value"], "Packaging");
        assert!(block(COMPANY_BLOCK)["element"].get("initial_value").is_none());
    }

    #[test]
    fn a_workspace_without_tags_gets_no_tags_field() {
        let view =
            serde_json::to_value(capture_form(&Prefill::default(), &BTreeSet::new(), String::new())).unwrap();
        let has_tags = view["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["block_id"] == TAGS_BLOCK);
        assert!(!has_tags);
    }
}

//! The "Capture feedback" modal, built with slack-morphism's Block Kit types.

use std::collections::BTreeSet;

use slack_morphism::prelude::*;

use super::CALLBACK_ID;
use super::form::{MAX_DETAIL_CHARS, SENTIMENTS};
use crate::ids::{ChannelId, UserId};
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefill {
    pub channel_id: ChannelId,
    pub author_id: Option<UserId>,
    /// The insight's number when the message is already captured.
    pub number: Option<i64>,
    pub text: String,
    pub tags: Vec<String>,
    pub details: InsightDetails,
}

impl Prefill {
    /// What the shortcut's message says, before any insight capturing it is looked up.
    pub fn message(channel_id: ChannelId, author_id: Option<UserId>, text: String) -> Self {
        Self {
            channel_id,
            author_id,
            number: None,
            text,
            tags: Vec::new(),
            details: InsightDetails::default(),
        }
    }
}

/// Who a form is for: members see the text and tags; product users also the product-only
/// fields (product area, sentiment, customer company).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Member,
    Product,
}

/// The modal for `prefill`, offering `workspace_tags`, carrying `private_metadata`.
pub fn capture_form(
    prefill: &Prefill,
    workspace_tags: &BTreeSet<String>,
    audience: Audience,
    private_metadata: String,
) -> SlackView {
    let mut blocks = vec![about(prefill), text_input(prefill)];
    if !workspace_tags.is_empty() {
        // Slack refuses a select without options; a workspace with no tags gets no tags field.
        blocks.push(tags_input(prefill, workspace_tags));
    }
    if audience == Audience::Product {
        blocks.extend(product_inputs(prefill));
    }
    SlackView::Modal(
        SlackModalView::new("Capture feedback".into(), blocks)
            .with_submit("Save".into())
            .with_close("Cancel".into())
            .with_callback_id(CALLBACK_ID.into())
            .with_private_metadata(private_metadata),
    )
}

fn product_inputs(prefill: &Prefill) -> [SlackBlock; 3] {
    [
        detail_input(
            PRODUCT_AREA_BLOCK,
            "Product area",
            "e.g. Checkout, Packaging",
            prefill.details.product_area.as_deref(),
        ),
        sentiment_input(prefill.details.sentiment.as_deref()),
        detail_input(
            COMPANY_BLOCK,
            "Customer company",
            "Who said it",
            prefill.details.customer_company.as_deref(),
        ),
    ]
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

/// The tags the select offers (alphabetical) and those it starts with: the insight's tags
/// that are still the workspace's, all of them offered, then the workspace's others up to
/// Slack's 100 options. Slack refuses a form whose initial options are not among its options.
fn offered_tags<'a>(
    prefill: &'a Prefill,
    workspace_tags: &'a BTreeSet<String>,
) -> (BTreeSet<&'a str>, BTreeSet<&'a str>) {
    let chosen: BTreeSet<&str> = prefill
        .tags
        .iter()
        .map(String::as_str)
        .filter(|tag| workspace_tags.contains(*tag))
        .take(MAX_OPTIONS)
        .collect();
    let room = MAX_OPTIONS - chosen.len();
    let mut offered = chosen.clone();
    offered.extend(
        workspace_tags
            .iter()
            .map(String::as_str)
            .filter(|tag| !chosen.contains(tag))
            .take(room),
    );
    (offered, chosen)
}

fn tags_input(prefill: &Prefill, workspace_tags: &BTreeSet<String>) -> SlackBlock {
    let (offered, chosen) = offered_tags(prefill, workspace_tags);
    let chosen: Vec<_> = chosen.iter().map(|tag| option(tag, tag)).collect();
    let options: Vec<_> = offered.iter().map(|tag| option(tag, tag)).collect();
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

    fn blank() -> Prefill {
        Prefill::message(ChannelId::parse("C1").unwrap(), None, String::new())
    }

    fn tags(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn the_form_is_prefilled_and_offers_only_workspace_tags() {
        let prefill = Prefill {
            channel_id: ChannelId::parse("C1").unwrap(),
            author_id: Some(UserId::parse("U1").unwrap()),
            number: Some(7),
            text: "It jams".into(),
            tags: vec!["bug".into(), "retired".into()],
            details: InsightDetails {
                product_area: Some("Packaging".into()),
                sentiment: Some("negative".into()),
                customer_company: None,
            },
        };
        let view = serde_json::to_value(capture_form(
            &prefill,
            &tags(&["bug", "idea"]),
            Audience::Product,
            "meta".into(),
        ))
        .unwrap();
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
        let view = serde_json::to_value(capture_form(
            &blank(),
            &BTreeSet::new(),
            Audience::Product,
            String::new(),
        ))
        .unwrap();
        let has_tags = view["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["block_id"] == TAGS_BLOCK);
        assert!(!has_tags);
    }

    fn block_ids(view: &serde_json::Value) -> Vec<String> {
        view["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["block_id"].as_str().map(str::to_owned))
            .collect()
    }

    #[test]
    fn members_get_text_and_tags_only_and_product_users_the_product_fields_too() {
        let prefill = Prefill {
            details: InsightDetails {
                product_area: Some("Packaging".into()),
                sentiment: Some("negative".into()),
                customer_company: Some("Glow & Co".into()),
            },
            ..blank()
        };
        let member = serde_json::to_value(capture_form(
            &prefill,
            &tags(&["bug"]),
            Audience::Member,
            String::new(),
        ))
        .unwrap();
        assert_eq!(block_ids(&member), [TEXT_BLOCK, TAGS_BLOCK]);
        assert!(!member.to_string().contains("Glow & Co"), "{member}");
        let product = serde_json::to_value(capture_form(
            &prefill,
            &tags(&["bug"]),
            Audience::Product,
            String::new(),
        ))
        .unwrap();
        assert_eq!(
            block_ids(&product),
            [
                TEXT_BLOCK,
                TAGS_BLOCK,
                PRODUCT_AREA_BLOCK,
                SENTIMENT_BLOCK,
                COMPANY_BLOCK
            ]
        );
    }

    #[test]
    fn an_insights_tags_are_offered_even_beyond_the_first_hundred_of_the_workspace() {
        let many: BTreeSet<String> = (0..150).map(|n| format!("tag{n:03}")).collect();
        let prefill = Prefill {
            tags: vec!["tag149".into(), "tag120".into(), "gone".into()],
            ..blank()
        };
        let view =
            serde_json::to_value(capture_form(&prefill, &many, Audience::Member, String::new())).unwrap();
        let select = &view["blocks"][2]["element"];
        let values = |list: &serde_json::Value| -> Vec<String> {
            list.as_array()
                .unwrap()
                .iter()
                .map(|o| o["value"].as_str().unwrap().to_owned())
                .collect()
        };
        let offered = values(&select["options"]);
        assert_eq!(offered.len(), MAX_OPTIONS);
        let chosen = values(&select["initial_options"]);
        assert_eq!(
            chosen,
            ["tag120", "tag149"],
            "a tag the workspace dropped is not kept"
        );
        for tag in &chosen {
            assert!(offered.contains(tag), "{tag} is chosen but not offered");
        }
    }
}

//! "Download my data": all and only the clicking member's data, by DM.

use circlet::clock::ManualClock;
use serde_json::{Value, json};

use super::app_at;
use crate::helpers::TestApp;
use crate::helpers::circle::{self, CIRCLE, TEAM, edit, make_circle, message, reaction};
use crate::on_both_backends;

const MAYA: &str = "U0MAYA";
const OMAR: &str = "U0OMAR";

/// Clicks "Download my data" as `user` of `team`, the button carrying `value`.
async fn click(app: &TestApp, team: &str, user: &str, value: &str) {
    let payload = json!({
        "type": "block_actions",
        "team": {"id": team, "domain": "circle"},
        "user": {"id": user, "username": "someone", "team_id": team},
        "api_app_id": "A0CIRCLET",
        "trigger_id": uuid::Uuid::new_v4().to_string(),
        "container": {"type": "view", "view_id": "V0HOME"},
        "actions": [{
            "action_id": "download_my_data", "block_id": "download_my_data", "value": value, "type": "button",
            "text": {"type": "plain_text", "text": "Download my data"}, "action_ts": "1700009999.123456",
        }],
    });
    let answer = app.sender.interaction(&payload).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    app.worker.drain().await.unwrap();
}

/// The files sent so far: to whom (the DM channel) and what.
fn sent(app: &TestApp) -> Vec<(String, String)> {
    app.fake
        .calls_to("files.completeUploadExternal")
        .iter()
        .map(|call| {
            let files: Value = match &call.params["files"] {
                Value::String(text) => serde_json::from_str(text).unwrap(),
                other => other.clone(),
            };
            let bytes = app.fake.uploaded(files[0]["id"].as_str().unwrap()).unwrap();
            (
                call.params["channel_id"].as_str().unwrap().to_owned(),
                String::from_utf8(bytes).unwrap(),
            )
        })
        .collect()
}

on_both_backends! {
    async fn the_file_holds_all_of_the_members_data_and_nothing_of_anyone_else(db: TestDb) {
        let clock = ManualClock::at_secs(1_700_000_000);
        let app = app_at(db, &clock, &[]).await;
        make_circle(&app, CIRCLE).await;
        circle::deliver(&app, &[
            message(MAYA, CIRCLE, "1700000001.000100", "Maya wants dark mode", None),
            reaction(true, MAYA, "bulb", CIRCLE, "1700000001.000100", MAYA, 1),
            message(OMAR, CIRCLE, "1700000002.000100", "Omar secret roadmap wish", None),
            reaction(true, OMAR, "bulb", CIRCLE, "1700000002.000100", OMAR, 2),
            reaction(true, MAYA, "+1", CIRCLE, "1700000002.000100", OMAR, 3),
            message(MAYA, CIRCLE, "1700000003.000100", "Maya agrees here", Some("1700000002.000100")),
            message(OMAR, CIRCLE, "1700000004.000100", "Omar chimes in", Some("1700000001.000100")),
            edit(CIRCLE, "1700000001.000100", "Maya wants dark mode everywhere", 5),
        ]).await;

        // The button's value names Omar: it is ignored, the signed payload's user counts.
        click(&app, TEAM, MAYA, OMAR).await;
        let files = sent(&app);
        assert_eq!(files.len(), 1);
        let (channel, text) = &files[0];
        assert_eq!(channel, &format!("D{MAYA}"), "to the member's own DM");
        let file: Value = serde_json::from_str(text).unwrap();
        assert_eq!((file["workspace"].as_str(), file["member"].as_str()), (Some(TEAM), Some(MAYA)));
        assert_eq!(file["insights"][0]["number"], 1);
        assert_eq!(file["insights"][0]["text"], "Maya wants dark mode everywhere");
        assert_eq!(file["insights"][0]["revisions"][0]["text"], "Maya wants dark mode");
        assert_eq!(file["replies"][0]["text"], "Maya agrees here");
        assert_eq!(file["replies"][0]["insight_number"], 2);
        assert_eq!(file["votes"][0]["insight_number"], 2, "a vote names the insight by number only");
        assert_eq!(file["reactions"].as_array().unwrap().len(), 2);
        assert!(!file["activity"].as_array().unwrap().is_empty());
        assert!(!file["cached_messages"].as_array().unwrap().is_empty());
        assert!(!text.contains("Omar") && !text.contains(OMAR), "another member's words or id: {text}");

        click(&app, TEAM, OMAR, MAYA).await;
        let files = sent(&app);
        let (channel, text) = &files[1];
        assert_eq!(channel, &format!("D{OMAR}"));
        assert!(text.contains("Omar secret roadmap wish") && text.contains("Omar chimes in"), "{text}");
        assert!(!text.contains("Maya") && !text.contains(MAYA), "another member's words or id: {text}");

        // A click signed for a workspace this Circlet does not serve gets nothing.
        click(&app, "T0OTHER", MAYA, MAYA).await;
        assert_eq!(sent(&app).len(), 2);
    }
}

//! Circles: the bot joining, leaving or an archive switches capture on and off, and product
//! users manage circles with `/feedback circle`.

use serde_json::{Value, json};

use crate::helpers::circle::feedback;
use crate::helpers::{TestApp, TestDb, samples};

const BOT: &str = "UCIRCLET"; // the fake Slack's auth.test user

fn member_event(sample: &str, event_id: &str, user: &str, channel: &str) -> Value {
    let mut envelope = samples::json("events", sample);
    envelope["event_id"] = json!(event_id);
    envelope["team_id"] = json!("T0CIRCLE");
    envelope["event"]["user"] = json!(user);
    envelope["event"]["channel"] = json!(channel);
    envelope
}

async fn is_circle(app: &TestApp, channel: &str) -> bool {
    app.store
        .is_circle(
            crate::helpers::ids::team("T0CIRCLE"),
            crate::helpers::ids::channel(channel),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn the_bot_joining_makes_a_circle_and_leaving_or_archiving_ends_it() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    for sample in [
        "member_joined_channel__boltpy.json",
        "member_joined_channel_with_inviter__hubspot.json",
    ] {
        let channel = if sample.contains("hubspot") {
            "C0TWO"
        } else {
            "C0ONE"
        };
        app.sender
            .event(&member_event(sample, &format!("Ev{channel}"), BOT, channel))
            .await
            .unwrap();
    }
    app.sender
        .event(&member_event(
            "member_joined_channel__boltpy.json",
            "EvCustomer",
            "U0MAYA",
            "C0THREE",
        ))
        .await
        .unwrap();
    app.worker.drain().await.unwrap();
    assert!(is_circle(&app, "C0ONE").await && is_circle(&app, "C0TWO").await);
    assert!(
        !is_circle(&app, "C0THREE").await,
        "a customer joining makes no circle"
    );
    assert_eq!(
        app.fake.calls_to("auth.test").len(),
        1,
        "the bot's id is asked once"
    );

    app.sender
        .event(&member_event(
            "member_left_channel__boltpy.json",
            "EvLeft",
            BOT,
            "C0ONE",
        ))
        .await
        .unwrap();
    app.sender
        .event(&member_event(
            "channel_archive__hubspot.json",
            "EvArchived",
            "U0CM",
            "C0TWO",
        ))
        .await
        .unwrap();
    app.worker.drain().await.unwrap();
    assert!(!is_circle(&app, "C0ONE").await && !is_circle(&app, "C0TWO").await);
    let dead = app.store.inbox_counts().await.unwrap().dead;
    assert_eq!(dead, 0, "Slack's sample payloads all parse");
}

#[tokio::test]
async fn product_users_add_list_and_remove_circles() {
    let app = TestApp::builder(TestDb::sqlite())
        .env("CIRCLET_PRODUCT_USERS", "U0PM")
        .start()
        .await;
    assert!(
        feedback(&app, "U0PM", "circle list")
            .await
            .starts_with("No circles yet")
    );

    let added = feedback(&app, "U0PM", "circle add <#C0NEW|beauty-insiders>").await;
    assert!(added.starts_with("<#C0NEW> is now a circle"), "{added}");
    assert!(is_circle(&app, "C0NEW").await);
    assert_eq!(
        feedback(&app, "U0PM", "circle add C0NEW").await,
        "<#C0NEW> is already a circle."
    );

    let listed = feedback(&app, "U0PM", "circle list").await;
    assert_eq!(listed, "*Circles* (1)\n• <#C0NEW> — 0 insights");

    let removed = feedback(&app, "U0PM", "circle remove <#C0NEW>").await;
    assert!(
        removed.starts_with("Circlet no longer captures feedback in <#C0NEW>"),
        "{removed}"
    );
    assert!(!is_circle(&app, "C0NEW").await);
    assert_eq!(
        feedback(&app, "U0PM", "circle remove <#C0NEW>").await,
        "<#C0NEW> is not a circle."
    );
}

#[tokio::test]
async fn bad_circle_input_gets_the_right_form() {
    let app = TestApp::builder(TestDb::sqlite())
        .env("CIRCLET_PRODUCT_USERS", "U0PM")
        .start()
        .await;
    let vague = feedback(&app, "U0PM", "circle add #beauty").await;
    assert!(
        vague.starts_with("I can't tell which channel `#beauty` is"),
        "{vague}"
    );
    let odd = feedback(&app, "U0PM", "circle frobnicate").await;
    assert_eq!(
        odd,
        "Usage: `/feedback circle add #channel | remove #channel | list`"
    );
    assert!(
        app.store
            .circles(crate::helpers::ids::team("T0CIRCLE"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn customers_are_refused_politely_and_admins_and_group_members_are_let_in() {
    let app = TestApp::builder(TestDb::sqlite())
        .env("CIRCLET_PRODUCT_USERS", "S0PRODUCT")
        .start()
        .await;
    app.fake.set_usergroup("S0PRODUCT", &["U0PM"]);
    app.fake
        .set_user(json!({"id": "U0ADMIN", "name": "admin", "is_admin": true}));

    let refused = feedback(&app, "U0MAYA", "circle add <#C0NEW>").await;
    assert_eq!(
        refused,
        "Sorry, only the product team and workspace admins can manage circles."
    );
    assert!(!is_circle(&app, "C0NEW").await);

    assert!(
        feedback(&app, "U0PM", "circle add <#C0NEW>")
            .await
            .contains("is now a circle")
    );
    assert!(
        feedback(&app, "U0ADMIN", "circle add <#C0TWO>")
            .await
            .contains("is now a circle")
    );
    assert_eq!(
        app.fake.calls_to("usergroups.users.list").len(),
        1,
        "the group's members are cached"
    );
}

/// ARCHITECTURE §10: a Slack Connect member whose own organization makes them admin or owner
/// is never a product user here.
#[tokio::test]
async fn admins_of_another_organization_are_not_product_users() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    for id in ["U0PARTNERADMIN", "U0PARTNEROWNER"] {
        app.fake.set_user(json!({
            "id": id, "name": "partner", "team_id": "T0PARTNER",
            "is_admin": true, "is_owner": true, "is_primary_owner": true,
        }));
        let refused = feedback(&app, id, "circle add <#C0NEW>").await;
        assert_eq!(
            refused, "Sorry, only the product team and workspace admins can manage circles.",
            "{id}"
        );
    }
    assert!(!is_circle(&app, "C0NEW").await);

    app.fake
        .set_user(json!({"id": "U0ADMIN", "name": "admin", "team_id": "T0CIRCLE", "is_admin": true}));
    assert!(
        feedback(&app, "U0ADMIN", "circle add <#C0NEW>")
            .await
            .contains("is now a circle")
    );
}

#[tokio::test]
async fn help_lists_the_circle_command() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let answer = app
        .sender
        .command(&[
            ("team_id", "T0CIRCLE"),
            ("command", "/feedback"),
            ("text", "help"),
        ])
        .await
        .unwrap();
    assert!(
        answer.json()["text"]
            .as_str()
            .unwrap()
            .contains("/feedback circle add|remove|list")
    );
}

//! Slack Connect circles and attribution by installation (ARCHITECTURE §9, §10), through the
//! signed endpoints: an event belongs to the installation `authorizations[0]` names, whatever
//! workspace its envelope names.

use circlet::store::MessageRef;
use serde_json::{Value, json};

use crate::helpers::circle::{
    BOT, CIRCLE, TEAM, captured, deliver, feedback_form, make_circle, message, reaction, send,
};
use crate::helpers::ids::{channel, team};
use crate::helpers::metrics::sample;
use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;

/// The customer organization the circle is shared with.
const PARTNER: &str = "T0PARTNER";
const PARTNER_ORG: &str = "E0PARTNER";
const IDEA: &str = "1700000000.000100";

async fn connect_app(db: TestDb) -> TestApp {
    let app = TestApp::builder(db)
        .env("CIRCLET_PRODUCT_USERS", "U0PM")
        .start()
        .await;
    make_circle(&app, CIRCLE).await;
    // What serve does at start: learn the installation before requests arrive.
    app.services.bot.identity().await.expect("auth.test");
    app
}

on_both_backends! {
    async fn an_event_delivered_to_another_installation_is_dropped(db: TestDb) {
        let app = connect_app(db).await;
        // The envelope names the installed workspace, but Slack delivered it to another
        // installation (the app installed twice, one URL): it is not this one's to act on.
        let mut post = message("U0MAYA", CIRCLE, IDEA, "Travel size?", None);
        let mut bulb = reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1);
        for event in [&mut post, &mut bulb] {
            event["authorizations"] = json!([{"team_id": "T0OTHER", "user_id": "U0OTHERBOT", "is_bot": true,
                "is_enterprise_install": false}]);
        }
        send(&app, &[post, bulb]).await;

        assert!(app.store.list_inbox(None, 100).await.unwrap().is_empty(), "nothing stored");
        app.worker.drain().await.unwrap();
        assert!(captured(&app, CIRCLE, IDEA).await.is_none());
        assert!(app.fake.calls_to("reactions.add").is_empty());
        assert_eq!(
            sample(&app.metrics().await, "circlet_foreign_team_total{reason=\"events\"}"),
            Some(2)
        );
    }
}

on_both_backends! {
    async fn an_org_wide_install_is_keyed_by_its_organization_and_admits_only_its_own_admins(db: TestDb) {
        const ORG: &str = "E0ORG";
        let app = TestApp::builder(db).enterprise_install(ORG).start().await;
        let identity = app.services.bot.identity().await.expect("auth.test");
        assert_eq!(identity.installation(), ORG);
        let org_wide = [("team_id", TEAM), ("enterprise_id", ORG), ("is_enterprise_install", "true")];
        // An admin of one of the organization's workspaces, and a partner organization's admin.
        app.fake.set_user(json!({
            "id": "W0ORGADMIN", "name": "admin", "team_id": "T0STORES", "is_admin": true,
            "enterprise_user": {"id": "W0ORGADMIN", "enterprise_id": ORG, "teams": ["T0STORES"], "is_admin": true},
        }));
        app.fake.set_user(json!({
            "id": "W0PARTNERADMIN", "name": "partner", "team_id": PARTNER, "is_admin": true, "is_owner": true,
            "enterprise_user": {"id": "W0PARTNERADMIN", "enterprise_id": PARTNER_ORG, "teams": [PARTNER], "is_admin": true},
        }));

        let refused = feedback_form(&app, &org_wide, "W0PARTNERADMIN", "circle add <#C0ORG>").await;
        assert_eq!(refused, "Sorry, only the product team and workspace admins can manage circles.");
        let added = feedback_form(&app, &org_wide, "W0ORGADMIN", "circle add <#C0ORG>").await;
        assert!(added.contains("is now a circle"), "{added}");
        assert!(app.store.is_circle(team(ORG), channel("C0ORG")).await.unwrap(), "the organization's circle");
        assert!(!app.store.is_circle(team(TEAM), channel("C0ORG")).await.unwrap());

        // Another organization's org-wide install is not this one.
        let other = [("team_id", TEAM), ("enterprise_id", "E0OTHER"), ("is_enterprise_install", "true")];
        let foreign = app.sender.command(&[other[0], other[1], other[2], ("user_id", "W0ORGADMIN"),
            ("command", "/feedback"), ("text", "circle list")]).await.unwrap();
        assert!(foreign.json()["text"].as_str().unwrap().contains("installed in another workspace"), "{}", foreign.body);

        // Events delivered to the org-wide install are the organization's.
        let org = |mut event: Value| {
            event["authorizations"] = json!([{"enterprise_id": ORG, "team_id": null, "user_id": BOT, "is_bot": true,
                "is_enterprise_install": true}]);
            event
        };
        deliver(&app, &[
            org(message("W0MAYA", "C0ORG", IDEA, "Refill pouches?", None)),
            org(reaction(true, "W0LEA", "bulb", "C0ORG", IDEA, "W0MAYA", 1)),
        ]).await;
        let mut tx = app.store.begin().await.unwrap();
        let at = MessageRef { team_id: team(ORG), channel_id: channel("C0ORG"), ts: IDEA };
        let insight = tx.insight_by_message(at).await.unwrap().expect("captured for the organization");
        assert_eq!(insight.author_id.as_deref(), Some("W0MAYA"));
        drop(tx);
        // Not the workspace the envelope names.
        assert!(captured(&app, "C0ORG", IDEA).await.is_none());
    }
}

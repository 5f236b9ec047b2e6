//! The workspaces of the demo's week beyond the brand's own members: the brand (T0CIRCLE) and
//! its community workspace (T0COMMUNITY) both install Circlet through "Add to Slack", the
//! community is linked to the brand's so its circle counts in the brand's report, digest and
//! export, and Kai of a partner company (T0LUMEN) takes part in #beauty-insiders through
//! Slack Connect.

use serde_json::json;

use circlet_testkit::FakeSlack;
use circlet_testkit::fake_slack::Grant;

use crate::app::AppError;

use super::script::{self, BOT, CIRCLE, DIGEST_CHANNEL, MANAGER, PRODUCT_USER, Place, Step, TEAM, Week, at};

/// The Slack app's credentials and public URL (the fake checks them on every install).
pub const CLIENT_ID: &str = "1234.5678";
pub const CLIENT_SECRET: &str = "demo-client-secret";
/// Where Slack sends installers back; the demo's browser goes to the local address instead.
pub const PUBLIC_URL: &str = "https://circlet.example.com";

const BRAND_NAME: &str = "Glow & Co";
const BRAND_CODE: &str = "demo-code-brand";
/// Test-kit tokens, never printed: the fake records which one each call was made with.
const BRAND_TOKEN: &str = "xoxb-demo-brand";
const COMMUNITY_TOKEN: &str = "xoxb-demo-community";

/// The brand's community workspace, linked to the brand's.
pub const COMMUNITY: &str = "T0COMMUNITY";
const COMMUNITY_NAME: &str = "Glow Community";
const COMMUNITY_CODE: &str = "demo-code-community";
const COMMUNITY_BOT: &str = "U0COMMUNITYBOT";
pub const COMMUNITY_CIRCLE: &str = "C0GLOWCOMM";
pub const COMMUNITY_CIRCLE_NAME: &str = "glow-community";

/// A customer company that shares #beauty-insiders with the brand through Slack Connect.
pub const PARTNER: &str = "T0LUMEN";
pub const KAI: &str = "U0KAI";

/// Everyone outside the brand's own circle: Kai, then the community's members.
pub const OTHER_MEMBERS: [(&str, &str); 5] = [
    (KAI, "Kai (T0LUMEN)"),
    ("U0NORA", "Nora"),
    ("U0OMAR", "Omar"),
    ("U0PIA", "Pia"),
    ("U0QUINN", "Quinn"),
];

/// Kai in #beauty-insiders: the envelope names Lumen, `authorizations[0]` the brand.
pub const KAI_IN_CIRCLE: Place = Place {
    sender_team: PARTNER,
    installation: TEAM,
    bot: BOT,
    channel: CIRCLE,
};

/// The community's members in #glow-community, delivered to the community's installation.
const IN_COMMUNITY: Place = Place {
    sender_team: COMMUNITY,
    installation: COMMUNITY,
    bot: COMMUNITY_BOT,
    channel: COMMUNITY_CIRCLE,
};

/// Tells the fake Slack about both installations, the community's circle, Kai (a member of
/// another organization) and the brand's admin (who sets the product team from Slack).
pub fn set_up(fake: &FakeSlack) {
    fake.set_oauth_app(CLIENT_ID, CLIENT_SECRET, &redirect_uri());
    fake.grant_code(
        BRAND_CODE,
        Grant {
            team_name: BRAND_NAME.to_owned(),
            bot_user_id: BOT.to_owned(),
            installer: MANAGER.to_owned(),
            ..Grant::workspace(TEAM, BRAND_TOKEN)
        },
    );
    fake.grant_code(
        COMMUNITY_CODE,
        Grant {
            team_name: COMMUNITY_NAME.to_owned(),
            bot_user_id: COMMUNITY_BOT.to_owned(),
            installer: "U0NORA".to_owned(),
            ..Grant::workspace(COMMUNITY, COMMUNITY_TOKEN)
        },
    );
    fake.set_user(json!({
        "id": MANAGER, "name": "cm", "real_name": "Cam", "team_id": TEAM, "is_admin": true,
        "profile": {"display_name": "Cam", "real_name": "Cam"},
    }));
    let people = OTHER_MEMBERS.iter().map(|(id, name)| match *id {
        KAI => (*id, "Kai", PARTNER),
        _ => (*id, *name, COMMUNITY),
    });
    for (id, name, team) in people {
        fake.set_user(json!({
            "id": id, "name": name.to_lowercase(), "real_name": name, "team_id": team,
            "profile": {"display_name": name, "real_name": name},
        }));
    }
    let community: Vec<&str> = OTHER_MEMBERS[1..].iter().map(|(id, _)| *id).collect();
    fake.set_members(COMMUNITY_CIRCLE, &community);
    fake.set_channel_name(COMMUNITY_CIRCLE, COMMUNITY_CIRCLE_NAME);
}

pub fn redirect_uri() -> String {
    format!("{PUBLIC_URL}/slack/oauth_redirect")
}

/// Sunday: the brand installs Circlet, and its admin names the product team and the digest's
/// channel from Slack (multi-workspace mode reads neither from the environment).
pub fn brand_installs(w: &mut Week) {
    w.push(
        at(0, 18, 0),
        Step::Install {
            what: format!("{BRAND_NAME} ({TEAM}) adds Circlet to Slack"),
            code: BRAND_CODE,
        },
    );
}

/// Sunday, once Circlet is in the circle: the brand's admin sets the product team and the
/// digest channel.
pub fn admin_settings(w: &mut Week) {
    w.command(
        at(0, 18, 2),
        MANAGER,
        format!("settings product-users <@{PRODUCT_USER}|pm> <@{MANAGER}|cm>"),
    );
    w.command(
        at(0, 18, 3),
        MANAGER,
        format!("digest channel <#{DIGEST_CHANNEL}|product-team>"),
    );
}

/// Monday: the community workspace installs Circlet too, is linked to the brand's, and
/// invites Circlet to its circle.
pub fn community_joins(w: &mut Week) {
    w.push(
        at(1, 11, 30),
        Step::Install {
            what: format!("{COMMUNITY_NAME} ({COMMUNITY}) adds Circlet to Slack"),
            code: COMMUNITY_CODE,
        },
    );
    w.push(
        at(1, 11, 31),
        Step::Link {
            what: format!("circlet workspaces link {COMMUNITY} --to {TEAM}"),
            source: COMMUNITY,
            home: TEAM,
        },
    );
    w.event_in(
        &IN_COMMUNITY,
        at(1, 11, 32),
        format!("Circlet is invited to #{COMMUNITY_CIRCLE_NAME} ({COMMUNITY})"),
        json!({"type": "member_joined_channel", "user": COMMUNITY_BOT, "channel": COMMUNITY_CIRCLE,
               "channel_type": "C", "team": COMMUNITY, "inviter": "U0NORA"}),
    );
}

/// Tuesday: the community shares an idea and a pain point; returns the idea's number there.
pub fn community_shares(w: &mut Week) -> i64 {
    let mini = w.say_in(
        &IN_COMMUNITY,
        at(2, 14, 30),
        "U0NORA",
        "A mini size of the night cream, to try it before the big jar",
    );
    let number = w
        .react_in(&IN_COMMUNITY, at(2, 14, 35), "U0OMAR", "bulb", &mini)
        .unwrap_or(1);
    w.votes_in(&IN_COMMUNITY, at(2, 14, 40), &["U0PIA", "U0QUINN"], &mini);
    let sachets = w.say_in(
        &IN_COMMUNITY,
        at(2, 14, 50),
        "U0OMAR",
        "The sample sachets are hard to tear open",
    );
    w.react_in(&IN_COMMUNITY, at(2, 14, 55), "U0PIA", "confused", &sachets);
    number
}

/// Friday: Kai of Lumen shares an idea in #beauty-insiders through Slack Connect, Priya tags
/// it, and Kai votes for Gwen's travel kit.
pub fn partner_shares(w: &mut Week, travel: &str) {
    let salons = w.say_in(
        &KAI_IN_CIRCLE,
        at(5, 9, 45),
        KAI,
        "Our salons would stock the night cream in a 500ml pro size",
    );
    w.react_in(&script::HOME, at(5, 9, 47), "U0PRIYA", "bulb", &salons);
    w.react_in(&KAI_IN_CIRCLE, at(5, 9, 50), KAI, "+1", travel);
}

/// Friday: the brand's product team plans the community's idea, by the name it has there.
pub fn plan_community_idea(w: &mut Week, number: i64) {
    w.command(
        at(5, 10, 45),
        PRODUCT_USER,
        format!("status {COMMUNITY}-{number} planned"),
    );
}

/// What the demo's browser got back from an install: the status and where it was sent.
pub struct Installed {
    pub status: u16,
    pub location: String,
}

/// Installs through `code` as a browser does: `GET /slack/install` (a state and its cookie),
/// Slack's consent (the fake has granted `code`), then `GET /slack/oauth_redirect` with the
/// code, the state and the cookie.
pub async fn install(base_url: &str, code: &str) -> Result<Installed, AppError> {
    let failed = |err: reqwest::Error| AppError::Serve(std::io::Error::other(err));
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(failed)?;
    let begun = browser
        .get(format!("{base_url}/slack/install"))
        .send()
        .await
        .map_err(failed)?;
    let state = reqwest::Url::parse(&header(&begun, "location"))
        .ok()
        .and_then(|url| {
            url.query_pairs()
                .find(|(key, _)| key == "state")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_default();
    let query = serde_urlencoded::to_string([("code", code), ("state", state.as_str())])
        .map_err(|err| AppError::Serve(std::io::Error::other(err)))?;
    let back = browser
        .get(format!("{base_url}/slack/oauth_redirect?{query}"))
        .header("cookie", format!("circlet_oauth_state={state}"))
        .send()
        .await
        .map_err(failed)?;
    Ok(Installed {
        status: back.status().as_u16(),
        location: header(&back, "location"),
    })
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Checks that each installation's Web API calls were made with its own token: a call about
/// the community's circle or one of its members with the community's, one about any other
/// channel or member with the brand's (`auth.test` is about neither). Says nothing when they were.
pub fn check_tokens(fake: &FakeSlack) -> Result<(), AppError> {
    let community: Vec<&str> = OTHER_MEMBERS[1..]
        .iter()
        .map(|(id, _)| *id)
        .chain([COMMUNITY_CIRCLE])
        .collect();
    let own = ["oauth.v2.access", "response_url", "upload"];
    for call in fake.calls().iter().filter(|c| !own.contains(&c.method.as_str())) {
        let about = ["channel", "user", "users"]
            .iter()
            .find_map(|key| call.params[*key].as_str());
        let expected: &[&str] = match about {
            Some(id) if community.contains(&id) => &[COMMUNITY_TOKEN],
            Some(_) => &[BRAND_TOKEN],
            None => &[BRAND_TOKEN, COMMUNITY_TOKEN],
        };
        if !expected.contains(&call.token.as_deref().unwrap_or_default()) {
            return Err(AppError::Serve(std::io::Error::other(format!(
                "{} about {} was called with another installation's token",
                call.method,
                about.unwrap_or("nothing")
            ))));
        }
    }
    Ok(())
}

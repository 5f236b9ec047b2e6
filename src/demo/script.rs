//! The scripted week the demo replays: a dozen members of #beauty-insiders share, react, vote,
//! reply and edit; the product team tags, merges, triages and ships; Circlet posts a discussion
//! prompt, closes the loop, and on Monday morning posts the digest and the member recap.
//!
//! Long on purpose: it is one job, the week's events in the order they happen, read top to
//! bottom like the story the demo prints; split by day it would only scatter that story.

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use circlet_testkit::{Answer, FakeSlack, JSON, SignedSender};

use super::workspaces;

pub const TEAM: &str = "T0CIRCLE";
pub const CIRCLE: &str = "C0BEAUTY";
pub const CIRCLE_NAME: &str = "beauty-insiders";
/// Where the product team's digest goes (`/feedback digest channel`).
pub const DIGEST_CHANNEL: &str = "C0PRODUCT";
pub const BOT: &str = "UCIRCLET";
/// Who runs the product team's commands in the demo.
pub const PRODUCT_USER: &str = "U0PM";
/// The community manager, a workspace admin, who triages too.
pub const MANAGER: &str = "U0CM";
/// The Slack app's id, which every installation shares.
pub const APP_ID: &str = "A0CIRCLET";

/// The circle's members: Slack id and name.
pub const MEMBERS: [(&str, &str); 12] = [
    ("U0MAYA", "Maya"),
    ("U0PRIYA", "Priya"),
    ("U0LEO", "Leo"),
    ("U0SAM", "Sam"),
    ("U0JO", "Jo"),
    ("U0ANA", "Ana"),
    ("U0BEN", "Ben"),
    ("U0CHLOE", "Chloe"),
    ("U0DEV", "Dev"),
    ("U0EMMA", "Emma"),
    ("U0FINN", "Finn"),
    ("U0GWEN", "Gwen"),
];

/// Sunday 2026-11-15, 00:00 UTC: the day Circlet is invited.
pub fn sunday() -> i64 {
    Utc.with_ymd_and_hms(2026, 11, 15, 0, 0, 0)
        .single()
        .map_or(1_763_164_800, |t| t.timestamp())
}

/// Seconds since the epoch of `day` days after Sunday at `hour:minute` UTC.
pub fn at(day: i64, hour: i64, minute: i64) -> i64 {
    sunday() + day * 86_400 + hour * 3600 + minute * 60
}

/// Monday 2026-11-23 09:00 UTC: the digest and recaps of the week go out.
pub fn digest_time() -> i64 {
    at(8, 9, 0)
}

pub enum Step {
    Event {
        what: String,
        envelope: Value,
    },
    Retry {
        what: String,
        envelope: Value,
    },
    Forged {
        what: String,
        envelope: Value,
    },
    Command {
        what: String,
        text: String,
        user: &'static str,
    },
    Interaction {
        what: String,
        payload: Value,
    },
    /// Fills in and submits the capture modal Circlet last opened.
    SubmitModal {
        what: String,
        user: &'static str,
        state: Value,
    },
    /// The scheduler looks at the clock (as `circlet serve` does every half minute).
    Schedule {
        what: String,
    },
    /// A workspace installs Circlet through "Add to Slack" (run by the demo itself, as a
    /// browser would: `/slack/install`, Slack's consent, `/slack/oauth_redirect`).
    Install {
        what: String,
        /// The code Slack hands the browser back with; the fake grants it.
        code: &'static str,
    },
    /// `circlet workspaces link SOURCE --to HOME` (run by the demo itself).
    Link {
        what: String,
        source: &'static str,
        home: &'static str,
    },
    /// Something happens in Slack while Circlet is down: it is in the channel's history, but
    /// no event reaches Circlet.
    Undelivered {
        what: String,
        channel: &'static str,
        message: Value,
    },
    /// Circlet is back: its start-up sweep reads the circles' history (run by the demo itself).
    Backfill {
        what: String,
    },
    /// A member answers the discussion prompt Circlet posted, in its thread.
    AnswerPrompt {
        what: String,
        event_id: String,
        user: &'static str,
        ts: String,
        text: &'static str,
    },
}

/// A step and when (by the demo's clock) it happens.
pub struct Timed {
    pub at: i64,
    pub step: Step,
}

impl Step {
    pub fn describe(&self) -> String {
        let (route, what) = match self {
            Step::Event { what, .. }
            | Step::Retry { what, .. }
            | Step::Forged { what, .. }
            | Step::AnswerPrompt { what, .. } => ("events", what),
            Step::Command { what, .. } => ("commands", what),
            Step::Interaction { what, .. } | Step::SubmitModal { what, .. } => ("interactions", what),
            Step::Schedule { what } => ("scheduler", what),
            Step::Install { what, .. } => ("install", what),
            Step::Link { what, .. } => ("cli", what),
            Step::Undelivered { what, .. } => ("(outage)", what),
            Step::Backfill { what } => ("backfill", what),
        };
        format!("{route:<13}{what}")
    }

    /// Sends the step; slash commands get the fake's `response_url` for their answers.
    /// [`Step::Schedule`], [`Step::Install`] and [`Step::Link`] are run by the demo itself, not sent.
    pub async fn send(&self, sender: &SignedSender, fake: &FakeSlack) -> reqwest::Result<Option<Answer>> {
        let response_url = fake.response_url("demo");
        let response_url = response_url.as_str();
        let answer = match self {
            Step::Event { envelope, .. } => sender.event(envelope).await?,
            Step::Retry { envelope, .. } => sender.event_retry(envelope, 1).await?,
            Step::Forged { envelope, .. } => {
                let body = envelope.to_string().into_bytes();
                let mut headers = sender.signed_headers(sender.now_secs(), b"something else");
                headers.remove("content-type");
                sender
                    .post_with("/slack/events", JSON, body, headers, &[])
                    .await?
            }
            Step::Command { text, user, .. } => {
                // Slack gives every invocation its own trigger; the inbox keys commands by it.
                let trigger = format!("demo.{}", uuid::Uuid::new_v4().simple());
                sender
                    .command(&[
                        ("team_id", TEAM),
                        ("channel_id", CIRCLE),
                        ("user_id", user),
                        ("command", "/feedback"),
                        ("text", text),
                        ("trigger_id", trigger.as_str()),
                        ("response_url", response_url),
                    ])
                    .await?
            }
            Step::Interaction { payload, .. } => sender.interaction(payload).await?,
            Step::SubmitModal { user, state, .. } => {
                let opened = fake.calls_to("views.open");
                let view = opened
                    .last()
                    .map(|call| call.params["view"].clone())
                    .unwrap_or_default();
                let submission = json!({
                    "type": "view_submission", "trigger_id": "demo.trigger.3",
                    "team": {"id": TEAM, "domain": "circle"}, "user": {"id": user, "team_id": TEAM},
                    "view": {
                        "id": "V0DEMO", "team_id": TEAM, "type": "modal",
                        "callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                        "blocks": view["blocks"], "state": state,
                    },
                    "response_urls": [],
                });
                sender.interaction(&submission).await?
            }
            Step::AnswerPrompt {
                event_id,
                user,
                ts,
                text,
                ..
            } => {
                let Some(prompt) = prompt_ts(fake) else {
                    return Ok(None);
                };
                let mut event = message(user, ts, text);
                event["thread_ts"] = json!(prompt);
                event["parent_user_id"] = json!(BOT);
                sender.event(&envelope_in(&HOME, event_id, event)).await?
            }
            Step::Undelivered { channel, message, .. } => {
                fake.seed_message(channel, message.clone());
                return Ok(None);
            }
            Step::Schedule { .. } | Step::Install { .. } | Step::Link { .. } | Step::Backfill { .. } => {
                return Ok(None);
            }
        };
        Ok(Some(answer))
    }
}

/// The ts of the discussion prompt Circlet posted in the circle.
fn prompt_ts(fake: &FakeSlack) -> Option<String> {
    fake.messages(CIRCLE)
        .iter()
        .find(|m| {
            m["metadata"]["event_payload"]["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("prompt:"))
        })
        .and_then(|m| m["ts"].as_str().map(str::to_owned))
}

/// Where an event happens and who it is delivered to.
#[derive(Clone, Copy)]
pub struct Place {
    /// The envelope's `team_id`: the workspace of whoever acted (a Slack Connect partner's
    /// own, in a shared channel).
    pub sender_team: &'static str,
    /// The installation the event is delivered to (`authorizations[0]`) and its bot user.
    pub installation: &'static str,
    pub bot: &'static str,
    pub channel: &'static str,
}

/// The brand's own members in #beauty-insiders.
pub const HOME: Place = Place {
    sender_team: TEAM,
    installation: TEAM,
    bot: BOT,
    channel: CIRCLE,
};

/// The envelope Slack sends the installation of `place`.
pub fn envelope_in(place: &Place, event_id: &str, event: Value) -> Value {
    json!({
        "token": "unused",
        "team_id": place.sender_team,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_763_900_000,
        "authorizations": [{"team_id": place.installation, "user_id": place.bot, "is_bot": true}],
    })
}

fn envelope(event_id: &str, event: Value) -> Value {
    envelope_in(&HOME, event_id, event)
}

/// A message of `place`; one by a Slack Connect partner names its own workspace, as Slack does.
fn message_in(place: &Place, user: &str, ts: &str, text: &str) -> Value {
    let mut message = json!({"type": "message", "channel": place.channel, "channel_type": "channel", "user": user, "text": text, "ts": ts, "event_ts": ts});
    if place.sender_team != place.installation {
        message["user_team"] = json!(place.sender_team);
        message["team"] = json!(place.sender_team);
    }
    message
}

fn message(user: &str, ts: &str, text: &str) -> Value {
    message_in(&HOME, user, ts, text)
}

fn name(user: &str) -> &'static str {
    MEMBERS
        .iter()
        .chain(workspaces::OTHER_MEMBERS.iter())
        .find(|(id, _)| *id == user)
        .map_or("someone", |(_, name)| name)
}

/// Builds the week step by step, keeping Slack timestamps unique and insight numbers known.
pub struct Week {
    days: Vec<(String, Vec<Timed>)>,
    events: u32,
    /// Events from beyond the brand's own members count apart, so the brand's timestamps and
    /// permalinks stay as they were before other workspaces joined the week.
    others: u32,
    /// Messages by ts: author, and the insight number once captured.
    messages: Vec<(String, &'static str, Option<i64>)>,
    /// Insights captured so far in the brand's installation, and in the community's.
    captured: i64,
    captured_elsewhere: i64,
}

fn is_home(place: &Place) -> bool {
    place.sender_team == TEAM && place.installation == TEAM
}

impl Week {
    pub fn day(&mut self, label: &str) {
        self.days.push((label.to_owned(), Vec::new()));
    }

    pub fn push(&mut self, at: i64, step: Step) {
        if let Some((_, steps)) = self.days.last_mut() {
            steps.push(Timed { at, step });
        }
    }

    fn event_id(&mut self) -> String {
        self.events += 1;
        format!("Ev0DEMO{:03}", self.events)
    }

    fn ts(&self, at: i64) -> String {
        self.ts_in(&HOME, at)
    }

    fn ts_in(&self, place: &Place, at: i64) -> String {
        if is_home(place) {
            format!("{at}.{:06}", 100 + self.events)
        } else {
            format!("{at}.{:06}", 900 + self.others)
        }
    }

    fn event(&mut self, at: i64, what: impl Into<String>, event: Value) -> Value {
        self.event_in(&HOME, at, what, event)
    }

    pub fn event_in(&mut self, place: &Place, at: i64, what: impl Into<String>, event: Value) -> Value {
        let id = if is_home(place) {
            self.event_id()
        } else {
            self.others += 1;
            format!("Ev0OTHER{:03}", self.others)
        };
        let envelope = envelope_in(place, &id, event);
        self.push(
            at,
            Step::Event {
                what: what.into(),
                envelope: envelope.clone(),
            },
        );
        envelope
    }

    /// A member posts; returns the message's ts.
    fn say(&mut self, at: i64, user: &'static str, text: &str) -> String {
        self.say_in(&HOME, at, user, text)
    }

    /// A member posts in `place`; returns the message's ts.
    pub fn say_in(&mut self, place: &Place, at: i64, user: &'static str, text: &str) -> String {
        let ts = self.ts_in(place, at);
        let what = format!("{}: {}", name(user), crate::domain::reports::words::cut(text, 44));
        self.event_in(place, at, what, message_in(place, user, &ts, text));
        self.messages.push((ts.clone(), user, None));
        ts
    }

    /// A member replies in a thread.
    fn reply(&mut self, at: i64, user: &'static str, parent: &str, text: &str) {
        let ts = self.ts(at);
        let mut event = message(user, &ts, text);
        event["thread_ts"] = json!(parent);
        event["parent_user_id"] = json!(self.author(parent));
        let what = format!(
            "{} replies: {}",
            name(user),
            crate::domain::reports::words::cut(text, 36)
        );
        self.event(at, what, event);
    }

    fn author(&self, ts: &str) -> &'static str {
        self.messages
            .iter()
            .find(|(t, _, _)| t == ts)
            .map_or("U0NOBODY", |(_, author, _)| author)
    }

    /// A reaction; a tag emoji on a message not captured yet captures it (returns its number).
    fn react(&mut self, at: i64, user: &'static str, emoji: &str, ts: &str) -> Option<i64> {
        self.react_in(&HOME, at, user, emoji, ts)
    }

    /// A reaction in `place`; see [`Week::react`].
    pub fn react_in(
        &mut self,
        place: &Place,
        at: i64,
        user: &'static str,
        emoji: &str,
        ts: &str,
    ) -> Option<i64> {
        let author = self.author(ts);
        let event_ts = self.ts_in(place, at);
        let event = json!({
            "type": "reaction_added", "user": user, "reaction": emoji, "item_user": author,
            "item": {"type": "message", "channel": place.channel, "ts": ts}, "event_ts": event_ts,
        });
        let tags = ["bulb", "bug", "heart", "confused", "memo"];
        let captures = tags.contains(&emoji);
        let home_installation = place.installation == TEAM;
        let next = 1 + if home_installation {
            self.captured
        } else {
            self.captured_elsewhere
        };
        let number = if captures {
            let entry = self.messages.iter_mut().find(|(t, _, _)| t == ts);
            match entry {
                Some((_, _, Some(number))) => Some(*number),
                Some((_, _, slot)) => {
                    *slot = Some(next);
                    if home_installation {
                        self.captured = next;
                    } else {
                        self.captured_elsewhere = next;
                    }
                    Some(next)
                }
                None => None,
            }
        } else {
            None
        };
        // The brand's product team names a linked workspace's insights `T…-N`.
        let reference = |n: i64| {
            if home_installation {
                format!("#{n}")
            } else {
                format!("{}-{n}", place.installation)
            }
        };
        let what = match (captures, number) {
            (true, Some(n)) => format!(
                "{} reacts :{emoji}: to {} ({})",
                name(user),
                name(author),
                reference(n)
            ),
            _ => format!("{} votes :{emoji}: for {}", name(user), name(author)),
        };
        self.event_in(place, at, what, event);
        number
    }

    /// Votes by several members, a minute apart.
    fn votes(&mut self, at: i64, voters: &[&'static str], ts: &str) {
        self.votes_in(&HOME, at, voters, ts);
    }

    /// Votes in `place`; see [`Week::votes`].
    pub fn votes_in(&mut self, place: &Place, at: i64, voters: &[&'static str], ts: &str) {
        for (i, voter) in voters.iter().enumerate() {
            self.react_in(place, at + 60 * i as i64, voter, "+1", ts);
        }
    }

    pub fn command(&mut self, at: i64, user: &'static str, text: impl Into<String>) {
        let text = text.into();
        self.push(
            at,
            Step::Command {
                what: format!("/feedback {text}"),
                text,
                user,
            },
        );
    }

    fn edit(&mut self, at: i64, ts: &str, text: &str) {
        let user = self.author(ts);
        let at_ts = self.ts(at);
        let event = json!({
            "type": "message", "subtype": "message_changed", "channel": CIRCLE, "hidden": true,
            "message": {"type": "message", "user": user, "text": text, "ts": ts, "edited": {"user": user, "ts": at_ts}},
            "previous_message": {"type": "message", "user": user, "ts": ts},
            "ts": at_ts, "event_ts": at_ts,
        });
        self.event(at, format!("{} edits her message", name(user)), event);
    }

    fn answer_prompt(&mut self, at: i64, user: &'static str, text: &'static str) {
        // Captured as an insight of its own.
        self.captured += 1;
        let event_id = self.event_id();
        let ts = self.ts(at);
        self.push(
            at,
            Step::AnswerPrompt {
                what: format!(
                    "{} answers the prompt: {}",
                    name(user),
                    crate::domain::reports::words::cut(text, 30)
                ),
                event_id,
                user,
                ts,
                text,
            },
        );
    }
}

/// The week, day by day.
/// Wednesday evening Circlet's host is down for an hour, longer than Slack retries: an idea, its
/// :bulb: and two votes reach only Slack's history. Circlet is back the next morning and its
/// start-up sweep recovers them.
fn outage(w: &mut Week) {
    // The sweep captures it: it takes the next insight number.
    w.captured += 1;
    let ts = format!("{}.000700", at(3, 20, 10));
    w.push(
        at(3, 20, 10),
        Step::Undelivered {
            what: "20:00-21:00 Circlet is down: Ana's idea gets a :bulb: and 2 votes".into(),
            channel: CIRCLE,
            message: json!({
                "type": "message", "user": "U0ANA", "team": TEAM, "ts": ts,
                "text": "A travel-size version of the serum would be great",
                "reactions": [
                    {"name": "bulb", "users": ["U0LEO"], "count": 1},
                    {"name": "+1", "users": ["U0JO", "U0SAM"], "count": 2},
                ],
            }),
        },
    );
    w.push(
        at(3, 21, 30),
        Step::Backfill {
            what: "Circlet is back; its start-up sweep reads Slack's history".into(),
        },
    );
}

pub fn week() -> Vec<(String, Vec<Timed>)> {
    let mut w = Week {
        days: Vec::new(),
        events: 0,
        others: 0,
        messages: Vec::new(),
        captured: 0,
        captured_elsewhere: 0,
    };

    w.day("Sunday 2026-11-15");
    w.push(
        at(0, 18, 0),
        Step::Event {
            what: "url_verification (Slack checks the URL)".into(),
            envelope: json!({"token": "unused", "challenge": "demo-challenge-3eZbrw", "type": "url_verification"}),
        },
    );
    workspaces::brand_installs(&mut w);
    w.event(
        at(0, 18, 1),
        "Circlet is invited to #beauty-insiders",
        json!({"type": "member_joined_channel", "user": BOT, "channel": CIRCLE, "channel_type": "C", "team": TEAM, "inviter": MANAGER}),
    );
    workspaces::admin_settings(&mut w);
    w.command(
        at(0, 18, 5),
        PRODUCT_USER,
        "prompt add \"What would make your evening routine easier?\"",
    );

    w.day("Monday 2026-11-16");
    w.push(
        at(1, 9, 0),
        Step::Schedule {
            what: "09:00, the weekly schedule: Circlet posts the queued prompt in the circle".into(),
        },
    );
    let maya_idea = w.say(
        at(1, 9, 15),
        "U0MAYA",
        "Would love a refillable version of the night cream",
    );
    let bulb_at = at(1, 9, 16);
    let refill = w.react(bulb_at, "U0LEO", "bulb", &maya_idea).unwrap_or(1);
    if let Some((_, steps)) = w.days.last_mut()
        && let Some(Timed {
            step: Step::Event { envelope, .. },
            ..
        }) = steps.last()
    {
        let envelope = envelope.clone();
        steps.push(Timed {
            at: bulb_at,
            step: Step::Retry {
                what: "Slack retries that delivery (Retry-Num 1)".into(),
                envelope,
            },
        });
    }
    w.answer_prompt(
        at(1, 9, 30),
        "U0EMMA",
        "A lighter night cream for the summer months",
    );
    let pump = w.say(
        at(1, 9, 40),
        "U0PRIYA",
        "The pump on the serum bottle jams half way",
    );
    w.react(at(1, 9, 45), "U0SAM", "bug", &pump);
    w.answer_prompt(
        at(1, 10, 0),
        "U0FINN",
        "Pump bottles instead of jars, my hands are always creamy",
    );
    w.say(at(1, 10, 5), "U0LEO", "Morning all! Just got my order");
    w.votes(
        at(1, 10, 10),
        &["U0PRIYA", "U0JO", "U0MAYA", "U0ANA", "U0BEN"],
        &maya_idea,
    );
    let spf = w.say(
        at(1, 10, 30),
        "U0SAM",
        "The new SPF stick leaves a white cast on darker skin",
    );
    w.react(at(1, 10, 40), "U0ANA", "confused", &spf);
    w.votes(at(1, 10, 45), &["U0CHLOE", "U0DEV"], &spf);
    let serum = w.say(
        at(1, 11, 0),
        "U0JO",
        "Honestly the vitamin C serum changed my skin, thank you!",
    );
    w.react(at(1, 11, 5), "U0EMMA", "heart", &serum);
    workspaces::community_joins(&mut w);
    let cleanser = w.say(
        at(1, 13, 20),
        "U0ANA",
        "Could the cleanser come in a bigger bottle? I go through it in 3 weeks",
    );
    w.react(at(1, 13, 30), "U0BEN", "bulb", &cleanser);
    w.votes(at(1, 13, 35), &["U0FINN"], &cleanser);
    let layering = w.say(
        at(1, 15, 0),
        "U0BEN",
        "Anyone tried layering the toner with the essence?",
    );
    w.reply(
        at(1, 15, 10),
        "U0CHLOE",
        &layering,
        "Yes! Toner first, works great",
    );
    let tin = w.say(
        at(1, 16, 45),
        "U0CHLOE",
        "The lip balm tin is hard to open with nails",
    );
    w.react(at(1, 16, 50), "U0GWEN", "confused", &tin);

    w.day("Tuesday 2026-11-17");
    let lotion = w.say(
        at(2, 8, 30),
        "U0DEV",
        "Please bring back the unscented body lotion",
    );
    let lotion_number = w.react(at(2, 8, 40), "U0MAYA", "bulb", &lotion).unwrap_or(1);
    w.votes(at(2, 8, 45), &["U0JO", "U0PRIYA", "U0SAM"], &lotion);
    let delivery = w.say(
        at(2, 9, 10),
        "U0EMMA",
        "Delivery took 9 days this time, usually 3",
    );
    w.react(at(2, 9, 20), "U0FINN", "confused", &delivery);
    let colours = w.say(at(2, 10, 0), "U0FINN", "Love the new packaging colours");
    w.react(at(2, 10, 5), "U0GWEN", "heart", &colours);
    let travel = w.say(
        at(2, 11, 30),
        "U0GWEN",
        "Would a travel-size kit be possible? 50ml bottles for flights",
    );
    w.react(at(2, 11, 40), "U0LEO", "bulb", &travel);
    w.votes(at(2, 11, 45), &["U0ANA", "U0EMMA"], &travel);
    let pouches = w.say(
        at(2, 12, 0),
        "U0LEO",
        "Refill pouches for the night cream would be amazing",
    );
    let duplicate = w.react(at(2, 12, 10), "U0SAM", "bulb", &pouches).unwrap_or(1);
    w.votes(at(2, 12, 15), &["U0CHLOE"], &pouches);
    w.reply(
        at(2, 13, 0),
        "U0SAM",
        &maya_idea,
        "Yes! The jar is too pretty to throw away",
    );
    w.event(
        at(2, 14, 0),
        "an event type Circlet does not handle",
        json!({"type": "link_shared", "channel": CIRCLE, "links": []}),
    );
    let forged_ts = w.ts(at(2, 14, 5));
    w.push(
        at(2, 14, 5),
        Step::Forged {
            what: "a forged request (bad signature)".into(),
            envelope: envelope("Ev0FORGED", message("U0EVIL", &forged_ts, "spam")),
        },
    );
    let community_idea = workspaces::community_shares(&mut w);
    let sting = w.say(
        at(2, 15, 30),
        "U0MAYA",
        "Has anyone had the eye cream sting a bit?",
    );
    w.reply(
        at(2, 15, 40),
        "U0PRIYA",
        &sting,
        "Same for me, only the first week",
    );
    w.reply(
        at(2, 15, 50),
        "U0JO",
        &sting,
        "Mine too, stopped after a few days",
    );
    w.react(at(2, 16, 0), "U0ANA", "bug", &sting);

    w.day("Wednesday 2026-11-18");
    w.edit(
        at(3, 9, 0),
        &maya_idea,
        "Would love a refillable version of the night cream, with refill pouches",
    );
    let logout = w.say(
        at(3, 9, 30),
        "U0PRIYA",
        "The app keeps logging me out before checkout",
    );
    let logout_number = w.react(at(3, 9, 35), "U0DEV", "bug", &logout).unwrap_or(1);
    w.votes(at(3, 9, 40), &["U0CHLOE", "U0BEN"], &logout);
    let shades = w.say(at(3, 10, 15), "U0SAM", "Shade finder quiz was spot on for me");
    w.react(at(3, 10, 20), "U0MAYA", "heart", &shades);
    let samples = w.say(at(3, 11, 0), "U0JO", "Can we get samples with orders again?");
    w.react(at(3, 11, 5), "U0PRIYA", "bulb", &samples);
    w.votes(at(3, 11, 10), &["U0GWEN", "U0LEO"], &samples);
    w.reply(
        at(3, 11, 20),
        "U0ANA",
        &samples,
        "Samples are how I found the serum!",
    );
    w.say(at(3, 13, 40), "U0ANA", "Good morning from Lisbon");
    let pilling = w.say(
        at(3, 14, 10),
        "U0BEN",
        "The sunscreen pilled under my makeup today",
    );
    w.react(at(3, 14, 20), "U0CHLOE", "confused", &pilling);
    let sensitive = w.say(at(3, 16, 0), "U0CHLOE", "A night cream for sensitive skin please");
    w.react(at(3, 16, 5), "U0EMMA", "bulb", &sensitive);
    let service = w.say(
        at(3, 17, 20),
        "U0DEV",
        "Customer service sorted my issue in 10 minutes, impressed",
    );
    w.react(at(3, 17, 30), "U0FINN", "heart", &service);
    outage(&mut w);

    w.day("Thursday 2026-11-19");
    w.command(at(4, 9, 0), "U0MAYA", "help");
    w.command(at(4, 9, 5), PRODUCT_USER, "rules add \"refill\" sustainability");
    w.edit(
        at(4, 9, 10),
        &maya_idea,
        "Would love a refillable version of the night cream, with refill pouches please",
    );
    w.command(at(4, 9, 15), PRODUCT_USER, "tags");
    let email = w.say(at(4, 9, 30), "U0EMMA", "Order confirmation email never arrived");
    w.react(at(4, 9, 35), "U0JO", "bug", &email);
    let hand = w.say(
        at(4, 10, 0),
        "U0FINN",
        "Would love a fragrance-free version of the hand cream",
    );
    w.react(at(4, 10, 5), "U0BEN", "bulb", &hand);
    w.votes(at(4, 10, 10), &["U0DEV"], &hand);
    w.push(
        at(4, 10, 30),
        Step::Interaction {
            what: "Capture feedback shortcut on Priya's pump message".into(),
            payload: json!({
                "type": "message_action", "callback_id": "capture_feedback", "trigger_id": "demo.trigger.2",
                "team": {"id": TEAM, "domain": "circle"}, "user": {"id": MANAGER, "team_id": TEAM},
                "channel": {"id": CIRCLE, "name": CIRCLE_NAME},
                "message": {"type": "message", "user": "U0PRIYA", "ts": pump, "text": "The pump on the serum bottle jams half way"},
                "response_url": "http://127.0.0.1:9/unused",
            }),
        },
    );
    w.push(
        at(4, 10, 32),
        Step::SubmitModal {
            what: "…tagged bug, packaging area, negative, Glow & Co".into(),
            user: MANAGER,
            state: json!({"values": {
                "text": {"input": {"type": "plain_text_input", "value": "The pump on the serum bottle jams half way"}},
                "tags": {"input": {"type": "multi_static_select", "selected_options": [
                    {"text": {"type": "plain_text", "text": "bug"}, "value": "bug"}]}},
                "product_area": {"input": {"type": "plain_text_input", "value": "packaging"}},
                "sentiment": {"input": {"type": "static_select", "selected_option":
                    {"text": {"type": "plain_text", "text": "negative"}, "value": "negative"}}},
                "company": {"input": {"type": "plain_text_input", "value": "Glow & Co"}},
            }}),
        },
    );
    let lids = w.say(at(4, 11, 0), "U0GWEN", "Bamboo lids feel much nicer than plastic");
    w.react(at(4, 11, 5), "U0ANA", "heart", &lids);
    w.reply(
        at(4, 11, 15),
        "U0LEO",
        &lids,
        "Agreed, and they look great on the shelf",
    );
    let retinol = w.say(
        at(4, 13, 0),
        "U0LEO",
        "Is the retinol safe to use with the vitamin C?",
    );
    w.reply(
        at(4, 13, 10),
        "U0MAYA",
        &retinol,
        "I alternate mornings and evenings",
    );
    w.reply(at(4, 13, 20), "U0SAM", &retinol, "Same, no problems so far");
    w.command(at(4, 15, 0), MANAGER, format!("merge {duplicate} into {refill}"));
    let subscription = w.say(
        at(4, 16, 0),
        "U0MAYA",
        "A subscription discount would keep me ordering monthly",
    );
    w.react(at(4, 16, 5), "U0GWEN", "bulb", &subscription);
    w.votes(at(4, 16, 10), &["U0PRIYA", "U0LEO", "U0CHLOE"], &subscription);

    w.day("Friday 2026-11-20");
    w.command(at(5, 9, 0), PRODUCT_USER, format!("status {refill} shipped"));
    let dropper = w.say(
        at(5, 9, 30),
        "U0PRIYA",
        "The dropper on the face oil drips everywhere",
    );
    w.react(at(5, 9, 35), "U0SAM", "bug", &dropper);
    workspaces::partner_shares(&mut w, &travel);
    w.command(
        at(5, 10, 0),
        PRODUCT_USER,
        format!("status {lotion_number} planned"),
    );
    w.command(
        at(5, 10, 30),
        PRODUCT_USER,
        format!("status {logout_number} reviewing"),
    );
    workspaces::plan_community_idea(&mut w, community_idea);
    w.say(at(5, 11, 0), "U0SAM", "Thank you for listening to us");
    let heard = w.say(
        at(5, 12, 0),
        "U0JO",
        "Loving this circle, it feels like being heard",
    );
    w.reply(at(5, 12, 10), "U0EMMA", &heard, "Same here!");
    w.say(at(5, 13, 0), "U0BEN", "Have a lovely weekend everyone");
    w.say(at(5, 13, 5), "U0GWEN", "You too Ben!");
    w.command(at(5, 14, 0), PRODUCT_USER, "circle list");
    w.command(at(5, 14, 5), PRODUCT_USER, "prompt list");

    w.day("Monday 2026-11-23");
    w.push(
        digest_time(),
        Step::Schedule {
            what: "09:00, the weekly schedule: the product digest and the member recap go out".into(),
        },
    );
    w.days
}

//! App Home (`app_home_opened` → `views.publish`): every member sees their own captured
//! feedback with its status and votes; the product team also sees this week's figures and the
//! newest insights. A member never sees anyone else's feedback here. Everyone gets the
//! "Download my data" button (`domain::privacy::download`).

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use slack_morphism::prelude::*;

use crate::clock::SharedClock;
use crate::domain::access::ProductAccess;
use crate::domain::digest::message::{Message, Section, escape};
use crate::domain::job_team;
use crate::domain::privacy::download::download_block;
use crate::domain::reports::words::{cut, plural};
use crate::domain::reports::{self, ReportRequest};
use crate::domain::workspaces::Workspaces;
use crate::ids::{TeamId, UserId};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::store::{HomeInsight, SharedStore};

pub const HOME_EVENT: &str = "app_home_opened";
/// A member's own insights listed.
const OWN: u32 = 20;
/// The newest insights the product team sees.
const NEWEST: u32 = 10;

/// The installation is the row's (ARCHITECTURE §9): the envelope's `team_id` may name a
/// Slack Connect member's own organization.
#[derive(Deserialize)]
struct Envelope {
    event: Opened,
}

#[derive(Deserialize)]
struct Opened {
    user: String,
    /// "home" or "messages"; older payloads had none (and meant home).
    #[serde(default)]
    tab: Option<String>,
}

pub struct HomeHandler {
    pub store: SharedStore,
    pub workspaces: Arc<Workspaces>,
    pub access: Arc<ProductAccess>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for HomeHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let opened: Envelope = serde_json::from_str(&job.row.payload)
            .map_err(|err| HandlerError::permanent(format!("unreadable app_home_opened: {err}")))?;
        if opened.event.tab.as_deref().is_some_and(|tab| tab != "home") {
            return Ok(());
        }
        let team_id = job_team(job)?;
        // Like capture, an event naming no member (a schema sample's blank) shows nobody anything.
        let Ok(user) = UserId::parse(opened.event.user.as_str()) else {
            tracing::debug!(user = %opened.event.user, "app_home_opened for no member id; ignored");
            return Ok(());
        };
        let digests = self.store.digests();
        let mut sections = vec![own_section(&digests.authored(&team_id, &user, OWN).await?)];
        if self.access.is_product_user(&team_id, &user).await? {
            let now = self.clock.now_millis();
            let report = reports::compute(
                self.store.reads().as_ref(),
                &ReportRequest::last_days(&team_id, 7),
                now,
            )
            .await?;
            let mut figures = vec![format!(
                "{} ({} on the week before)",
                plural(report.total.current, "new insight", "new insights"),
                report.total.change()
            )];
            figures.extend(
                report
                    .by_tag
                    .iter()
                    .filter(|c| c.current > 0)
                    .map(|c| format!("• `{}`: {} ({})", c.name, c.current, c.change())),
            );
            sections.push(Section::new("This week", figures, ""));
            let newest = digests.newest(&team_id, NEWEST).await?;
            sections.push(Section::new(
                "Newest insights",
                newest.iter().map(line).collect(),
                "No insights yet.",
            ));
            sections.push(Section::new(
                "More",
                vec![
                    "`/feedback report` for the full report · `/feedback digest preview` for this week's digest \
                     · `/feedback export csv` for a file"
                        .to_owned(),
                ],
                "",
            ));
        }
        let home = Message {
            title: "Circlet".to_owned(),
            context: "Your customer circle's feedback, heard and tracked.".to_owned(),
            sections,
            fallback: String::new(),
        };
        let mut blocks = home.blocks();
        blocks.push(download_block());
        self.publish(&team_id, &user, blocks).await?;
        Ok(())
    }
}

impl HomeHandler {
    async fn publish(
        &self,
        team: &TeamId,
        user: &UserId,
        blocks: Vec<SlackBlock>,
    ) -> Result<(), HandlerError> {
        let slack = self.workspaces.slack(team).await?;
        let request = &SlackApiViewsPublishRequest::new(
            user.as_str().to_owned().into(),
            SlackView::Home(SlackHomeView::new(blocks)),
        );
        // Only success matters; the echoed view is not decoded.
        slack
            .call("views.publish", |s| async move {
                s.http_session_api
                    .http_post::<_, serde::de::IgnoredAny>("views.publish", request, None)
                    .await
            })
            .await?;
        Ok(())
    }
}

fn own_section(insights: &[HomeInsight]) -> Section {
    Section::new(
        "Your feedback",
        insights.iter().map(line).collect(),
        "Nothing captured yet. In your circle, react to a message with :bulb: (idea), :bug: (bug), :heart: \
         (praise) or :confused: (pain point) to share it with the team.",
    )
}

fn line(insight: &HomeInsight) -> String {
    let text = insight.text.as_deref().unwrap_or("(no text)");
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "• *#{}* in <#{}> · *{}* · {} · {}\n   “{}”",
        insight.number,
        insight.channel_id,
        insight.status,
        plural(insight.votes, "vote", "votes"),
        plural(insight.replies, "reply", "replies"),
        escape(&cut(&one_line, 120))
    )
}

//! Installing through the fake: `oauth.v2.access` answers per code (the installation it grants,
//! or a refusal) and per refresh token, and `auth.test` answers per token, so each
//! installation's token names its own workspace and bot. Codes and refresh tokens work once,
//! as Slack's do.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::params::{param_str, required};
use super::{Answer, FakeSlack, Params, Slack};

/// An installation as `oauth.v2.access` grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// None for an org-wide install (Slack sends `team: null`).
    pub team_id: Option<String>,
    pub team_name: String,
    pub enterprise_id: Option<String>,
    pub is_enterprise_install: bool,
    pub app_id: String,
    pub bot_user_id: String,
    pub bot_token: String,
    /// Comma-separated, as Slack sends it.
    pub scope: String,
    pub installer: String,
    /// Set for an app with token rotation, with `expires_in`.
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
}

impl Grant {
    /// An install into workspace `team_id` whose bot token is `bot_token`; its bot user is
    /// `U` + the team id's tail + `BOT`.
    pub fn workspace(team_id: &str, bot_token: &str) -> Grant {
        Grant {
            team_id: Some(team_id.to_owned()),
            team_name: format!("Team {team_id}"),
            enterprise_id: None,
            is_enterprise_install: false,
            app_id: "A0CIRCLET".to_owned(),
            bot_user_id: format!("U{}BOT", team_id.trim_start_matches('T')),
            bot_token: bot_token.to_owned(),
            scope: "channels:history,chat:write,commands,reactions:read,reactions:write".to_owned(),
            installer: "U0ADMIN".to_owned(),
            refresh_token: None,
            expires_in: None,
        }
    }

    /// An org-wide install into enterprise `enterprise_id` (no team).
    pub fn org_wide(enterprise_id: &str, bot_token: &str) -> Grant {
        Grant {
            team_id: None,
            team_name: format!("Org {enterprise_id}"),
            enterprise_id: Some(enterprise_id.to_owned()),
            is_enterprise_install: true,
            bot_user_id: format!("U{}BOT", enterprise_id.trim_start_matches('E')),
            ..Grant::workspace("T0UNUSED", bot_token)
        }
    }

    /// The same install with token rotation: a refresh token, and a token that expires after
    /// `expires_in` seconds.
    pub fn rotating(mut self, refresh_token: &str, expires_in: u64) -> Grant {
        self.refresh_token = Some(refresh_token.to_owned());
        self.expires_in = Some(expires_in);
        self
    }

    pub fn scope(mut self, scope: &str) -> Grant {
        self.scope = scope.to_owned();
        self
    }

    /// The id `auth.test` names: the enterprise's for an org-wide install.
    fn key(&self) -> String {
        match (&self.team_id, &self.enterprise_id) {
            (Some(team), _) => team.clone(),
            (None, Some(enterprise)) => enterprise.clone(),
            (None, None) => String::new(),
        }
    }

    fn answer(&self) -> Value {
        let team = match &self.team_id {
            Some(id) => json!({"id": id, "name": self.team_name}),
            None => Value::Null,
        };
        let enterprise = match &self.enterprise_id {
            Some(id) => json!({"id": id, "name": self.team_name}),
            None => Value::Null,
        };
        let mut answer = json!({
            "access_token": self.bot_token, "token_type": "bot", "scope": self.scope,
            "bot_user_id": self.bot_user_id, "app_id": self.app_id, "team": team,
            "enterprise": enterprise, "is_enterprise_install": self.is_enterprise_install,
            "authed_user": {"id": self.installer},
        });
        if let (Some(refresh), Some(expires_in), Some(fields)) =
            (&self.refresh_token, self.expires_in, answer.as_object_mut())
        {
            fields.insert("refresh_token".into(), refresh.as_str().into());
            fields.insert("expires_in".into(), expires_in.into());
        }
        answer
    }
}

/// What a code is answered with.
#[derive(Debug, Clone)]
enum CodeAnswer {
    Grant(Box<Grant>),
    Refuse(&'static str),
}

/// The new pair a refresh token trades for.
#[derive(Debug, Clone)]
struct NewPair {
    bot_token: String,
    refresh_token: String,
    expires_in: u64,
}

/// The app's credentials, checked on every `oauth.v2.access` when set.
#[derive(Debug, Clone)]
struct OAuthApp {
    client_id: String,
    client_secret: String,
    redirect_uri: String,
}

/// Who a token belongs to, for `auth.test`.
#[derive(Debug, Clone)]
struct TokenOwner {
    team_id: String,
    user_id: String,
}

#[derive(Default)]
pub(super) struct OAuthState {
    app: Option<OAuthApp>,
    codes: HashMap<String, CodeAnswer>,
    /// Installations by their current refresh token.
    by_refresh: HashMap<String, Grant>,
    refreshes: HashMap<String, NewPair>,
    owners: HashMap<String, TokenOwner>,
}

impl OAuthState {
    fn own(&mut self, grant: &Grant) {
        self.owners.insert(
            grant.bot_token.clone(),
            TokenOwner {
                team_id: grant.key(),
                user_id: grant.bot_user_id.clone(),
            },
        );
    }
}

impl FakeSlack {
    /// `oauth.v2.access` checks the app's credentials and redirect URI from now on
    /// (`invalid_client_id`, `bad_client_secret`, `bad_redirect_uri`).
    pub fn set_oauth_app(&self, client_id: &str, client_secret: &str, redirect_uri: &str) {
        self.shared.lock().oauth.app = Some(OAuthApp {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
        });
    }

    /// Exchanging `code` grants `grant` (once); `auth.test` with its token then names its
    /// workspace and bot.
    pub fn grant_code(&self, code: &str, grant: Grant) {
        let mut slack = self.shared.lock();
        slack
            .oauth
            .codes
            .insert(code.to_owned(), CodeAnswer::Grant(Box::new(grant)));
    }

    /// Exchanging `code` fails with `error` (`invalid_code`, `bad_redirect_uri`…).
    pub fn refuse_code(&self, code: &str, error: &str) {
        // Error codes are `&'static str` throughout the fake; a refusal lives for the test run.
        let answer = CodeAnswer::Refuse(Box::leak(error.to_owned().into_boxed_str()));
        self.shared.lock().oauth.codes.insert(code.to_owned(), answer);
    }

    /// Refreshing with `refresh_token` (once) gives this new pair for the same installation.
    pub fn grant_refresh(
        &self,
        refresh_token: &str,
        bot_token: &str,
        new_refresh_token: &str,
        expires_in: u64,
    ) {
        let pair = NewPair {
            bot_token: bot_token.to_owned(),
            refresh_token: new_refresh_token.to_owned(),
            expires_in,
        };
        self.shared
            .lock()
            .oauth
            .refreshes
            .insert(refresh_token.to_owned(), pair);
    }

    /// `auth.test` with `token` names workspace `team_id` and bot user `user_id`.
    pub fn set_token_owner(&self, token: &str, team_id: &str, user_id: &str) {
        let owner = TokenOwner {
            team_id: team_id.to_owned(),
            user_id: user_id.to_owned(),
        };
        self.shared.lock().oauth.owners.insert(token.to_owned(), owner);
    }
}

impl Slack {
    pub(super) fn oauth_access(&mut self, params: &Params) -> Answer {
        if let Some(app) = &self.oauth.app {
            if param_str(params, "client_id").as_deref() != Some(app.client_id.as_str()) {
                return Err("invalid_client_id");
            }
            if param_str(params, "client_secret").as_deref() != Some(app.client_secret.as_str()) {
                return Err("bad_client_secret");
            }
        }
        if param_str(params, "grant_type").as_deref() == Some("refresh_token") {
            return self.refresh(params);
        }
        let code = required(params, "code").ok_or("invalid_code")?;
        if let Some(app) = &self.oauth.app
            && param_str(params, "redirect_uri").as_deref() != Some(app.redirect_uri.as_str())
        {
            return Err("bad_redirect_uri");
        }
        let answer = self.oauth.codes.get(&code).cloned().ok_or("invalid_code")?;
        let grant = match answer {
            CodeAnswer::Refuse(error) => return Err(error),
            CodeAnswer::Grant(grant) => *grant,
        };
        self.oauth
            .codes
            .insert(code, CodeAnswer::Refuse("code_already_used"));
        self.oauth.own(&grant);
        if let Some(refresh) = &grant.refresh_token {
            self.oauth.by_refresh.insert(refresh.clone(), grant.clone());
        }
        Ok(grant.answer())
    }

    fn refresh(&mut self, params: &Params) -> Answer {
        let used = required(params, "refresh_token").ok_or("invalid_refresh_token")?;
        let installation = self.oauth.by_refresh.get(&used).ok_or("invalid_refresh_token")?;
        let pair = self.oauth.refreshes.get(&used).ok_or("invalid_refresh_token")?;
        let renewed = Grant {
            bot_token: pair.bot_token.clone(),
            refresh_token: Some(pair.refresh_token.clone()),
            expires_in: Some(pair.expires_in),
            ..installation.clone()
        };
        // The old refresh token is revoked by its use.
        self.oauth.by_refresh.remove(&used);
        self.oauth.refreshes.remove(&used);
        self.oauth.own(&renewed);
        self.oauth
            .by_refresh
            .insert(pair_refresh(&renewed), renewed.clone());
        Ok(renewed.answer())
    }

    /// The workspace and bot user `token` belongs to, when an install or a test said so.
    pub(super) fn token_owner(&self, token: Option<&str>) -> Option<(&str, &str)> {
        let owner = self.oauth.owners.get(token?)?;
        Some((owner.team_id.as_str(), owner.user_id.as_str()))
    }
}

fn pair_refresh(grant: &Grant) -> String {
    grant.refresh_token.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    async fn call(slack: &FakeSlack, method: &str, token: Option<&str>, form: &[(&str, &str)]) -> Value {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut request = reqwest::Client::new()
            .post(format!("{}/{method}", slack.api_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    const APP: [(&str, &str); 2] = [("client_id", "C1"), ("client_secret", "S1")];

    async fn exchange(slack: &FakeSlack, code: &str, redirect_uri: &str) -> Value {
        let mut form = APP.to_vec();
        form.extend([("code", code), ("redirect_uri", redirect_uri)]);
        call(slack, "oauth.v2.access", None, &form).await
    }

    #[tokio::test]
    async fn a_code_grants_its_installation_once_and_auth_test_names_its_owner() {
        let slack = FakeSlack::start().await.unwrap();
        slack.set_oauth_app("C1", "S1", "https://x/cb");
        slack.grant_code("c-1", Grant::workspace("T0A", "xoxb-a"));
        slack.grant_code("c-org", Grant::org_wide("E0ORG", "xoxb-org"));
        slack.refuse_code("c-bad", "invalid_code");

        let granted = exchange(&slack, "c-1", "https://x/cb").await;
        assert_eq!(granted["ok"], true);
        assert_eq!(
            (granted["access_token"].as_str(), granted["team"]["id"].as_str()),
            (Some("xoxb-a"), Some("T0A"))
        );
        assert_eq!(granted["bot_user_id"], "U0ABOT");
        assert_eq!(granted["enterprise"], Value::Null);
        assert_eq!(
            exchange(&slack, "c-1", "https://x/cb").await["error"],
            "code_already_used"
        );
        assert_eq!(
            exchange(&slack, "c-bad", "https://x/cb").await["error"],
            "invalid_code"
        );
        assert_eq!(
            exchange(&slack, "c-org", "https://x/other").await["error"],
            "bad_redirect_uri"
        );
        let org = exchange(&slack, "c-org", "https://x/cb").await;
        assert_eq!(
            (org["team"].clone(), org["is_enterprise_install"].clone()),
            (Value::Null, true.into())
        );
        let wrong = [("client_id", "C1"), ("client_secret", "nope"), ("code", "c-x")];
        assert_eq!(
            call(&slack, "oauth.v2.access", None, &wrong).await["error"],
            "bad_client_secret"
        );

        let a = call(&slack, "auth.test", Some("xoxb-a"), &[]).await;
        assert_eq!(
            (a["team_id"].as_str(), a["user_id"].as_str()),
            (Some("T0A"), Some("U0ABOT"))
        );
        assert_eq!(
            call(&slack, "auth.test", Some("xoxb-org"), &[]).await["team_id"],
            "E0ORG"
        );
        let unknown = call(&slack, "auth.test", Some("xoxb-other"), &[]).await;
        assert_eq!(unknown["team_id"], super::super::DEFAULT_TEAM_ID);
        let tokens: Vec<_> = slack.calls_to("auth.test").into_iter().map(|c| c.token).collect();
        assert_eq!(
            tokens,
            [
                Some("xoxb-a".to_owned()),
                Some("xoxb-org".to_owned()),
                Some("xoxb-other".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn a_refresh_token_trades_for_a_new_pair_once() {
        let slack = FakeSlack::start().await.unwrap();
        slack.grant_code(
            "c-1",
            Grant::workspace("T0A", "xoxe.xoxb-1").rotating("xoxe-1-r1", 43_200),
        );
        slack.grant_refresh("xoxe-1-r1", "xoxe.xoxb-2", "xoxe-1-r2", 43_200);
        let granted = exchange(&slack, "c-1", "").await;
        assert_eq!(
            (granted["refresh_token"].as_str(), granted["expires_in"].as_u64()),
            (Some("xoxe-1-r1"), Some(43_200))
        );

        let refresh = |token| [("grant_type", "refresh_token"), ("refresh_token", token)];
        let renewed = call(&slack, "oauth.v2.access", None, &refresh("xoxe-1-r1")).await;
        assert_eq!(renewed["access_token"], "xoxe.xoxb-2");
        assert_eq!(renewed["refresh_token"], "xoxe-1-r2");
        assert_eq!(renewed["team"]["id"], "T0A");
        let again = call(&slack, "oauth.v2.access", None, &refresh("xoxe-1-r1")).await;
        assert_eq!(again["error"], "invalid_refresh_token");
        assert_eq!(
            call(&slack, "auth.test", Some("xoxe.xoxb-2"), &[]).await["team_id"],
            "T0A"
        );
    }
}

//! The browser's side of "Add to Slack" (ARCHITECTURE §9), served in multi-workspace mode only
//! (without it these paths answer 404):
//!
//! - `GET /slack/install` sends the browser to Slack's consent screen with a fresh state, and
//!   keeps the same state in a cookie of its own.
//! - `GET /slack/oauth_redirect` is where Slack sends it back. The state must come back in both
//!   the query and the cookie (so a link someone else started cannot finish an install in
//!   this browser), be one Circlet issued, unexpired and unused; then the code is exchanged and
//!   the installation stored. Anything else is a `400` page saying what happened, with a link
//!   to start again, and nothing stored.

mod page;

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;

use crate::domain::install::{InstallError, Installs, STATE_LIFETIME};
use crate::slack::SlackError;

pub const INSTALL_PATH: &str = "/slack/install";
pub const OAUTH_REDIRECT_PATH: &str = "/slack/oauth_redirect";
pub const STATE_COOKIE: &str = "circlet_oauth_state";

#[derive(Clone)]
pub struct InstallState {
    installs: Arc<Installs>,
    /// Whether the cookie is `Secure`: when Circlet's public URL is https.
    secure_cookie: bool,
}

impl InstallState {
    pub fn new(installs: Arc<Installs>, public_url: &str) -> Self {
        Self {
            installs,
            secure_cookie: public_url.starts_with("https://"),
        }
    }
}

pub fn router(state: InstallState) -> Router {
    Router::new()
        .route(INSTALL_PATH, get(start))
        .route(OAUTH_REDIRECT_PATH, get(finish))
        .with_state(state)
}

async fn start(State(state): State<InstallState>) -> Response {
    match state.installs.start().await {
        Ok(started) => redirect(
            &started.authorize_url,
            state_cookie(&started.state, STATE_LIFETIME.as_secs(), state.secure_cookie),
        ),
        Err(err) => {
            tracing::error!(error = %err, "cannot start an install: the database did not take the state");
            page::failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "Circlet could not start the installation just now. Please try again in a moment.",
            )
        }
    }
}

/// What Slack sends back.
#[derive(Default)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

impl Callback {
    fn parse(query: Option<&str>) -> Self {
        let mut callback = Callback::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let value = Some(value.into_owned()).filter(|v| !v.is_empty());
            match key.as_ref() {
                "code" => callback.code = value,
                "state" => callback.state = value,
                "error" => callback.error = value,
                _ => {}
            }
        }
        callback
    }
}

async fn finish(
    State(state): State<InstallState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let callback = Callback::parse(query.as_deref());
    let cookie = cookie_value(&headers, STATE_COOKIE);
    let mut response = answer(&state, callback, cookie.as_deref()).await;
    // The state is spent either way; a new install sets a new cookie.
    if let Ok(clear) = HeaderValue::from_str(&state_cookie("", 0, state.secure_cookie)) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

async fn answer(state: &InstallState, callback: Callback, cookie: Option<&str>) -> Response {
    let bad = |what: &str| page::failure(StatusCode::BAD_REQUEST, what);
    if let Some(error) = callback.error {
        if let Some(issued) = &callback.state
            && let Err(err) = state.installs.abandon(issued).await
        {
            tracing::warn!(error = %err, "cannot use up the state of a declined install");
        }
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        tracing::info!(%error, "Slack sent the installer back without installing");
        return bad(&format!(
            "Slack did not install Circlet ({error}). If you cancelled, nothing was changed."
        ));
    }
    let Some(issued) = callback.state else {
        return bad("The link from Slack has no state, so Circlet cannot tell it started this installation.");
    };
    let matches_cookie = cookie.is_some_and(|cookie| bool::from(cookie.as_bytes().ct_eq(issued.as_bytes())));
    if !matches_cookie {
        tracing::info!(
            cookie = cookie.is_some(),
            "install redirect refused: its state is not this browser's"
        );
        return bad(
            "This installation was not started in this browser (or its cookies are blocked). Start it again from here.",
        );
    }
    let Some(code) = callback.code else {
        return bad("The link from Slack has no code to finish the installation with.");
    };
    match state.installs.finish(&issued, &code).await {
        Ok(installed) => redirect(&installed.app_redirect_url(), String::new()),
        Err(InstallError::UnknownState) => {
            tracing::info!("install redirect refused: its state is unknown, expired or used");
            bad("This installation link has expired or was already used. Start the installation again.")
        }
        Err(InstallError::Exchange(SlackError::Api { code, .. })) => {
            bad(&format!("Slack refused to complete the installation ({code})."))
        }
        Err(InstallError::Exchange(err)) => {
            tracing::warn!(error = %err, "cannot reach Slack to finish an install");
            bad("Circlet could not reach Slack to finish the installation.")
        }
        Err(InstallError::Incomplete(what)) => {
            tracing::warn!(
                missing = what,
                "Slack's oauth.v2.access answer is incomplete; nothing installed"
            );
            bad("Slack's answer was incomplete, so nothing was installed.")
        }
        Err(InstallError::Store(err)) => {
            tracing::error!(error = %err, "cannot store an installation");
            page::failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "Circlet could not save the installation just now. Please try again in a moment.",
            )
        }
    }
}

/// A `302` to `location`, setting `cookie` when given, never cached.
fn redirect(location: &str, cookie: String) -> Response {
    let mut response = (StatusCode::FOUND, [(header::CACHE_CONTROL, "no-store")]).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    if !cookie.is_empty()
        && let Ok(cookie) = HeaderValue::from_str(&cookie)
    {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// The state cookie; `max_age` 0 clears it. `SameSite=Lax` still sends it on Slack's top-level
/// redirect back, and only to the `/slack` paths.
fn state_cookie(value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{STATE_COOKIE}={value}; Path=/slack; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// The value of cookie `name` from the request's `Cookie` headers.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_secure_only_behind_https() {
        assert_eq!(
            state_cookie("abc", 600, true),
            "circlet_oauth_state=abc; Path=/slack; Max-Age=600; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(!state_cookie("abc", 600, false).contains("Secure"));
        assert!(state_cookie("", 0, false).contains("Max-Age=0"));
    }

    #[test]
    fn the_state_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; circlet_oauth_state=s-1"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie_value(&headers, STATE_COOKIE).as_deref(), Some("s-1"));
        assert_eq!(cookie_value(&headers, "circlet"), None);
        assert_eq!(cookie_value(&HeaderMap::new(), STATE_COOKIE), None);
    }

    #[test]
    fn the_callback_keeps_only_what_slack_sends() {
        let callback = Callback::parse(Some("code=c%2B1&state=s&error=&other=x"));
        assert_eq!(
            (
                callback.code.as_deref(),
                callback.state.as_deref(),
                callback.error
            ),
            (Some("c+1"), Some("s"), None)
        );
    }
}

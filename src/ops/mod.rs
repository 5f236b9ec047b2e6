//! Operational endpoints: liveness, readiness, metrics; and the request-counting middleware.

mod figures;

use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use figures::{Figures, OpsFigures, REFRESH_EVERY};

use crate::domain::install::Installs;
use crate::ingress::{COMMANDS_PATH, EVENTS_PATH, INTERACTIONS_PATH};
use crate::install::{INSTALL_PATH, OAUTH_REDIRECT_PATH};
use crate::metrics::Metrics;
use crate::socket::SocketStatus;

#[derive(Clone)]
pub struct OpsState {
    pub figures: Arc<OpsFigures>,
    pub metrics: Metrics,
    /// Multi-workspace mode: whose token refreshes are failing.
    pub installs: Option<Arc<Installs>>,
    /// Socket Mode: how many connections are open.
    pub sockets: Option<Arc<SocketStatus>>,
}

pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Ready while the database answers and, in Socket Mode, a connection is open (without one,
/// Slack has nowhere to deliver to). Scheduled posts Slack refused (the bot is not in the
/// digest channel, say) and installations whose token refresh keeps failing are listed for
/// operators but do not make the app unready: it still serves everything else, and taking it
/// out of the load balancer would fix neither (every replica would fail the same way).
async fn ready(State(state): State<OpsState>) -> Response {
    let figures = state.figures.current().await;
    if !figures.database_reachable || figures.taken.elapsed() > state.figures.max_age() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "unavailable", "database": "unreachable" })),
        )
            .into_response();
    }
    let open_sockets = state.sockets.as_ref().map(|sockets| sockets.open_connections());
    if open_sockets == Some(0) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "unavailable",
                "database": "ok",
                "socket_mode": "no connection open",
            })),
        )
            .into_response();
    }
    let refused: Vec<serde_json::Value> = figures
        .refused_posts
        .iter()
        .map(|post| {
            serde_json::json!({
                "kind": post.kind,
                "channel": post.channel_id,
                "week": post.period,
                "error": post.error,
                "fix": "invite @circlet to the channel or correct CIRCLET_DIGEST_CHANNEL; it is tried again next week",
            })
        })
        .collect();
    let mut body = serde_json::json!({ "status": "ready", "database": "ok" });
    if let Some(open) = open_sockets {
        body["socket_connections"] = open.into();
    }
    if !refused.is_empty() {
        body["scheduled_posts_refused"] = serde_json::Value::Array(refused);
    }
    if !figures.sweeps.is_empty() {
        let time = |millis: i64| chrono::DateTime::from_timestamp_millis(millis).map(|t| t.to_rfc3339());
        let sweeps: Vec<serde_json::Value> = figures
            .sweeps
            .iter()
            .map(|sweep| {
                serde_json::json!({
                    "team": sweep.team_id,
                    "last_sweep": time(sweep.last_sweep),
                    "lag_seconds": sweep.lag / 1000,
                })
            })
            .collect();
        body["backfill"] = serde_json::Value::Array(sweeps);
    }
    if let Some(run) = &figures.privacy_run {
        let time = |millis: i64| chrono::DateTime::from_timestamp_millis(millis).map(|t| t.to_rfc3339());
        body["privacy"] = serde_json::json!({
            "last_run": time(run.finished_at),
            "insights_deleted": run.insights_deleted,
            "workspaces_purged": run.workspaces_purged,
        });
    }
    let failing = refresh_failures(state.installs.as_deref());
    if !failing.is_empty() {
        body["token_refresh_failing"] = serde_json::Value::Array(failing);
    }
    axum::Json(body).into_response()
}

fn refresh_failures(installs: Option<&Installs>) -> Vec<serde_json::Value> {
    let time = |millis: i64| chrono::DateTime::from_timestamp_millis(millis).map(|t| t.to_rfc3339());
    installs
        .map(Installs::failing_refreshes)
        .unwrap_or_default()
        .into_iter()
        .map(|failure| {
            serde_json::json!({
                "team": failure.team_id.as_str(),
                "error": failure.error,
                "attempts": failure.attempts,
                "failing_since": time(failure.failing_since),
                "token_expires_at": failure.expires_at.and_then(time),
                "fix": "tried again every few minutes; if Slack keeps refusing the refresh token, reinstall Circlet in that workspace (Add to Slack)",
            })
        })
        .collect()
}

async fn metrics(State(state): State<OpsState>) -> Response {
    // Brings the inbox depth up to date (at most once per refresh interval); a scrape during
    // an outage still answers, with the last depth read.
    state.figures.current().await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
/// Counts every request by route and status for `/metrics`.
pub async fn count_requests(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = route_label(request.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let response = next.run(request).await;
    metrics.count_request(route, response.status().as_u16());
    response
}

fn route_label(path: Option<&str>) -> &'static str {
    match path {
        Some(EVENTS_PATH) => EVENTS_PATH,
        Some(INTERACTIONS_PATH) => INTERACTIONS_PATH,
        Some(COMMANDS_PATH) => COMMANDS_PATH,
        Some("/healthz") => "/healthz",
        Some("/readyz") => "/readyz",
        Some("/metrics") => "/metrics",
        Some(INSTALL_PATH) => INSTALL_PATH,
        Some(OAUTH_REDIRECT_PATH) => OAUTH_REDIRECT_PATH,
        _ => "other",
    }
}

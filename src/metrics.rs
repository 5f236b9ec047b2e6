//! Prometheus metrics. One registry per app instance (no globals), so tests stay isolated.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Label = Cow<'static, str>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: Label,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Listener {
    listener: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerReason {
    listener: Label,
    reason: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    event_type: String,
    outcome: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventType {
    event_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PostResult {
    kind: Label,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnvelopeOutcome {
    envelope_type: Label,
    outcome: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlackCall {
    method: Label,
    result: String,
}

struct Inner {
    registry: Registry,
    http_requests: Family<RouteStatus, Counter>,
    signature_failures: Family<Reason, Counter>,
    foreign_team: Family<Reason, Counter>,
    inbox_writes: Family<Reason, Counter>,
    inbox_depth: Family<State, Gauge>,
    inbox_processed: Family<Outcome, Counter>,
    processing_seconds: Family<EventType, Histogram>,
    ingest_batch_rows: Histogram,
    ingest_write_turns: Counter,
    slack_calls: Family<SlackCall, Counter>,
    scheduled_posts: Family<PostResult, Counter>,
    scheduled_post_failing: Gauge,
    ops_refreshes: Counter,
    token_refreshes: Family<ResultLabel, Counter>,
    token_refresh_failing: Gauge,
    open_connections: Family<Listener, Gauge>,
    connections_cut: Family<ListenerReason, Counter>,
    socket_connections: Gauge,
    socket_envelopes: Family<EnvelopeOutcome, Counter>,
    socket_reconnects: Family<Reason, Counter>,
    backfill_recovered: Family<Kind, Counter>,
}

/// Handle to the app's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("circlet");
        let http_requests = Family::<RouteStatus, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        let signature_failures = Family::<Reason, Counter>::default();
        registry.register(
            "signature_failures",
            "Slack requests refused by signature verification",
            signature_failures.clone(),
        );
        let foreign_team = Family::<Reason, Counter>::default();
        registry.register(
            "foreign_team",
            "Signed requests and inbox rows for a workspace other than the installed one, ignored (by where they were stopped)",
            foreign_team.clone(),
        );
        let inbox_writes = Family::<Reason, Counter>::default();
        registry.register(
            "inbox_writes",
            "Inbox writes by result (stored, duplicate, error)",
            inbox_writes.clone(),
        );
        let inbox_depth = Family::<State, Gauge>::default();
        registry.register("inbox_depth", "Inbox rows by state", inbox_depth.clone());
        let inbox_processed = Family::<Outcome, Counter>::default();
        registry.register(
            "inbox_processed",
            "Inbox jobs by type and outcome (done, retry, dead, skipped)",
            inbox_processed.clone(),
        );
        let processing_seconds = Family::<EventType, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "inbox_processing_seconds",
            "Time a handler took per inbox job",
            processing_seconds.clone(),
        );
        let ingest_batch_rows = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "ingest_batch_rows",
            "Rows per group commit of the inbox writer",
            ingest_batch_rows.clone(),
        );
        let ingest_write_turns = Counter::default();
        registry.register(
            "ingest_write_turns",
            "Times the inbox writer took the write connection (it keeps it while batches follow each other closely)",
            ingest_write_turns.clone(),
        );
        let slack_calls = Family::<SlackCall, Counter>::default();
        registry.register(
            "slack_api_calls",
            "Slack Web API calls by method and result (ok, an error code, rate_limited, http_5xx, timeout, connection)",
            slack_calls.clone(),
        );
        let scheduled_posts = Family::<PostResult, Counter>::default();
        registry.register(
            "scheduled_posts",
            "Digests, recaps and prompts by kind and result (posted, skipped, or the Slack error that refused them)",
            scheduled_posts.clone(),
        );
        let scheduled_post_failing = Gauge::default();
        registry.register(
            "scheduled_post_failing",
            "Scheduled posts of the last week that Slack refused (e.g. not_in_channel); they are tried again next period",
            scheduled_post_failing.clone(),
        );
        let ops_refreshes = Counter::default();
        registry.register(
            "ops_refreshes",
            "Reads of the database for /readyz and /metrics (at most one per refresh interval, however many probes)",
            ops_refreshes.clone(),
        );
        let token_refreshes = Family::<ResultLabel, Counter>::default();
        registry.register(
            "token_refreshes",
            "Refreshes of rotating installation tokens by result (refreshed, superseded by another replica, or Slack's error: invalid_refresh_token, timeout, connection…)",
            token_refreshes.clone(),
        );
        let token_refresh_failing = Gauge::default();
        registry.register(
            "token_refresh_failing",
            "Installations whose token refresh failed at its last attempt (listed in /readyz); tried again every round",
            token_refresh_failing.clone(),
        );
        let open_connections = Family::<Listener, Gauge>::default();
        registry.register(
            "http_connections",
            "Open HTTP connections by listener (public, ops)",
            open_connections.clone(),
        );
        let connections_cut = Family::<ListenerReason, Counter>::default();
        registry.register(
            "http_connections_cut",
            "HTTP connections closed by a deadline (header_timeout, idle, write_stall) or at the end of the shutdown grace (shutdown)",
            connections_cut.clone(),
        );
        let socket_connections = Gauge::default();
        registry.register(
            "socket_connections",
            "Open Socket Mode connections (SLACK_APP_TOKEN); /readyz is 503 while none is open",
            socket_connections.clone(),
        );
        let socket_envelopes = Family::<EnvelopeOutcome, Counter>::default();
        registry.register(
            "socket_envelopes",
            "Socket Mode envelopes by type and outcome (acked: stored and acknowledged; malformed: acknowledged unread; unstored: not acknowledged, Slack redelivers)",
            socket_envelopes.clone(),
        );
        let socket_reconnects = Family::<Reason, Counter>::default();
        registry.register(
            "socket_reconnects",
            "Socket Mode reconnections by reason (refresh_requested, warning, closed, missed_pong, open_failed, connect_failed, no_hello…)",
            socket_reconnects.clone(),
        );
        let backfill_recovered = Family::<Kind, Counter>::default();
        registry.register(
            "backfill_recovered",
            "What backfill found in Slack's history that Circlet had missed, by kind (message, reply, edit, reaction, vote)",
            backfill_recovered.clone(),
        );
        Self(Arc::new(Inner {
            registry,
            http_requests,
            signature_failures,
            foreign_team,
            inbox_writes,
            inbox_depth,
            inbox_processed,
            processing_seconds,
            ingest_batch_rows,
            ingest_write_turns,
            slack_calls,
            scheduled_posts,
            scheduled_post_failing,
            ops_refreshes,
            token_refreshes,
            token_refresh_failing,
            open_connections,
            connections_cut,
            socket_connections,
            socket_envelopes,
            socket_reconnects,
            backfill_recovered,
        }))
    }

    pub fn count_request(&self, route: &'static str, status: u16) {
        self.0
            .http_requests
            .get_or_create(&RouteStatus {
                route: Cow::Borrowed(route),
                status,
            })
            .inc();
    }

    pub fn count_signature_failure(&self, reason: &'static str) {
        self.0
            .signature_failures
            .get_or_create(&Reason {
                reason: Cow::Borrowed(reason),
            })
            .inc();
    }

    /// A request (`events`, `commands`, `interactions`) or inbox row (`inbox`) for another
    /// workspace than the installed one.
    pub fn count_foreign_team(&self, stopped_at: &'static str) {
        self.0
            .foreign_team
            .get_or_create(&Reason {
                reason: Cow::Borrowed(stopped_at),
            })
            .inc();
    }

    pub fn count_inbox_writes(&self, result: &'static str, rows: u64) {
        if rows > 0 {
            self.0
                .inbox_writes
                .get_or_create(&Reason {
                    reason: Cow::Borrowed(result),
                })
                .inc_by(rows);
        }
    }

    /// Inbox rows in `state`, by the state's name: the inbox reports into metrics, so metrics
    /// takes no inbox types.
    pub fn set_inbox_depth(&self, state: &'static str, rows: u64) {
        self.0
            .inbox_depth
            .get_or_create(&State {
                state: Cow::Borrowed(state),
            })
            .set(rows as i64);
    }

    pub fn count_inbox_processed(&self, event_type: &str, outcome: &'static str) {
        self.0
            .inbox_processed
            .get_or_create(&Outcome {
                event_type: event_type.to_owned(),
                outcome: Cow::Borrowed(outcome),
            })
            .inc();
    }

    pub fn observe_processing(&self, event_type: &str, took: Duration) {
        self.0
            .processing_seconds
            .get_or_create(&EventType {
                event_type: event_type.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn observe_ingest_batch(&self, rows: usize) {
        self.0.ingest_batch_rows.observe(rows as f64);
    }

    pub fn count_ingest_write_turn(&self) {
        self.0.ingest_write_turns.inc();
    }

    pub fn count_slack_call(&self, method: &'static str, result: &str) {
        self.0
            .slack_calls
            .get_or_create(&SlackCall {
                method: Cow::Borrowed(method),
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn count_scheduled_post(&self, kind: &'static str, result: &str) {
        self.0
            .scheduled_posts
            .get_or_create(&PostResult {
                kind: Cow::Borrowed(kind),
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn set_scheduled_post_failing(&self, count: usize) {
        self.0.scheduled_post_failing.set(count as i64);
    }

    pub fn count_ops_refresh(&self) {
        self.0.ops_refreshes.inc();
    }

    /// A token refresh's result: `refreshed`, `superseded`, or what failed it.
    pub fn count_token_refresh(&self, result: &str) {
        self.0
            .token_refreshes
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn set_token_refresh_failing(&self, installations: usize) {
        self.0.token_refresh_failing.set(installations as i64);
    }

    pub fn add_open_connection(&self, listener: &'static str, change: i64) {
        self.0
            .open_connections
            .get_or_create(&Listener {
                listener: Cow::Borrowed(listener),
            })
            .inc_by(change);
    }

    pub fn count_connection_cut(&self, listener: &'static str, reason: &'static str) {
        self.0
            .connections_cut
            .get_or_create(&ListenerReason {
                listener: Cow::Borrowed(listener),
                reason: Cow::Borrowed(reason),
            })
            .inc();
    }

    pub fn add_socket_connection(&self, change: i64) {
        self.0.socket_connections.inc_by(change);
    }

    pub fn count_socket_envelope(&self, envelope_type: &'static str, outcome: &'static str) {
        self.0
            .socket_envelopes
            .get_or_create(&EnvelopeOutcome {
                envelope_type: Cow::Borrowed(envelope_type),
                outcome: Cow::Borrowed(outcome),
            })
            .inc();
    }

    pub fn count_socket_reconnect(&self, reason: &'static str) {
        self.0
            .socket_reconnects
            .get_or_create(&Reason {
                reason: Cow::Borrowed(reason),
            })
            .inc();
    }

    pub fn count_backfill_recovered(&self, kind: &'static str, n: u64) {
        self.0
            .backfill_recovered
            .get_or_create(&Kind {
                kind: Cow::Borrowed(kind),
            })
            .inc_by(n);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }
}

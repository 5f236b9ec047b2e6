//! Inbox workers: claim a batch of due rows in one short statement, run their handlers with no
//! transaction open (handlers call Slack), then record every outcome in one transaction.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt, stream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{AnyTeam, Backoff, HandlerError, HandlerRegistry, InboxHandler, InboxRow, Job, TeamGate};
use super::{InboxStore, Settlement};
use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::store_error::StoreResult;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Rows claimed at once (capture handles a claim in one transaction: bigger claims mean
    /// fewer commits per event, but a longer hold on SQLite's single writer).
    pub batch_size: u32,
    /// Handlers running at once within a batch.
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the row (its worker died).
    pub lease: Duration,
    /// Attempts before a row is parked as dead.
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// How often an idle worker looks for due rows it was not woken for (retries, other replicas).
    pub idle_poll: Duration,
    /// How long after shutdown starts a batch in progress may keep running before its
    /// unfinished rows are released.
    pub shutdown_grace: Duration,
    /// How long finished rows are kept.
    pub retention: Duration,
    pub prune_every: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            batch_size: 128,
            concurrency: 16,
            lease: Duration::from_secs(120),
            max_attempts: 8,
            backoff: Backoff::new(Duration::from_secs(2), Duration::from_secs(600)),
            idle_poll: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            prune_every: Duration::from_secs(600),
        }
    }
}

/// Rows that run together: one row, or all of a batch-taking handler's rows in a claim.
struct Unit {
    handler: Option<Arc<dyn InboxHandler>>,
    batched: bool,
    jobs: Vec<Job>,
}

/// What one step of a worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainStep {
    /// Rows were claimed and settled (or released).
    Worked(usize),
    /// Nothing was due.
    Empty,
}

#[derive(Clone)]
pub struct Worker {
    store: Arc<dyn InboxStore>,
    registry: Arc<HandlerRegistry>,
    clock: SharedClock,
    settings: WorkerSettings,
    metrics: Metrics,
    gate: Arc<dyn TeamGate>,
    /// Names this process in its claims (see [`InboxStore::release_claims_of`]).
    owner: Arc<str>,
}

impl Worker {
    pub fn new(
        store: Arc<dyn InboxStore>,
        registry: Arc<HandlerRegistry>,
        clock: SharedClock,
        settings: WorkerSettings,
        metrics: Metrics,
    ) -> Self {
        Self {
            store,
            registry,
            clock,
            settings,
            metrics,
            gate: Arc::new(AnyTeam),
            owner: Arc::from(""),
        }
    }

    /// Claims made by this worker name `owner`, so that this process, restarted, finds the
    /// rows it was running when it died (see [`InboxStore::release_claims_of`]).
    pub fn with_owner(mut self, owner: &str) -> Self {
        self.owner = Arc::from(owner);
        self
    }

    /// Rows whose workspace `gate` does not admit are finished without running a handler.
    pub fn with_gate(mut self, gate: Arc<dyn TeamGate>) -> Self {
        self.gate = gate;
        self
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// Claims one batch and runs it to completion. Tests and the demo drain the inbox with
    /// this, deterministically.
    pub async fn try_run_next(&self) -> StoreResult<DrainStep> {
        self.run_batch(&CancellationToken::new()).await
    }

    /// Runs batches until nothing is due; returns how many rows were handled.
    pub async fn drain(&self) -> StoreResult<usize> {
        let mut total = 0;
        while let DrainStep::Worked(n) = self.try_run_next().await? {
            total += n;
        }
        Ok(total)
    }

    /// The worker loop: runs until `shutdown`, waking on `wake` (new rows stored) or every
    /// `idle_poll`. A store error is logged and retried after a pause, never fatal.
    pub async fn run(self, wake: Arc<Notify>, shutdown: CancellationToken) {
        let mut last_prune: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            let mut woken = pin!(wake.notified());
            woken.as_mut().enable();
            if last_prune.is_none_or(|at| at.elapsed() >= self.settings.prune_every) {
                last_prune = Some(Instant::now());
                self.prune().await;
            }
            match self.run_batch(&shutdown).await {
                Ok(DrainStep::Worked(_)) => continue,
                Ok(DrainStep::Empty) => {}
                Err(err) => tracing::warn!(error = %err, "inbox worker could not reach the database"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = woken => {}
                _ = tokio::time::sleep(self.settings.idle_poll) => {}
            }
        }
    }

    async fn prune(&self) {
        let before = self.clock.now_millis() - self.settings.retention.as_millis() as i64;
        match self.store.prune_inbox(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "pruned finished inbox rows"),
            Err(err) => tracing::warn!(error = %err, "pruning the inbox failed"),
        }
    }

    async fn run_batch(&self, shutdown: &CancellationToken) -> StoreResult<DrainStep> {
        let now = self.clock.now_millis();
        let claim = self
            .store
            .claim_inbox_as(&self.owner, now, self.settings.lease, self.settings.batch_size)
            .await?;
        if claim.rows.is_empty() {
            return Ok(DrainStep::Empty);
        }
        let claimed = claim.rows.len();
        let mut settlements = Vec::with_capacity(claimed);
        let rows = self.screen(claim.rows, &mut settlements).await;
        let mut unfinished: HashSet<i64> = rows.iter().map(|row| row.id).collect();

        let mut results = stream::iter(self.units(rows))
            .map(|unit| self.run_unit(unit))
            .buffer_unordered(self.settings.concurrency)
            .flat_map(stream::iter);
        let grace = self.settings.shutdown_grace;
        let mut grace_over = pin!(async move {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        });
        // A batch may outlive its lease (Slack slow, each call retried): the claim is renewed
        // while it runs, so no other worker takes its rows and runs them a second time.
        let mut renew = tokio::time::interval_at(
            tokio::time::Instant::now() + self.renew_every(),
            self.renew_every(),
        );
        loop {
            tokio::select! {
                next = results.next() => match next {
                    Some(settlement) => {
                        unfinished.remove(&settlement.id());
                        settlements.push(settlement);
                    }
                    None => break,
                },
                _ = renew.tick() => self.renew(&claim.token).await,
                _ = &mut grace_over => {
                    tracing::warn!(rows = unfinished.len(), "shutdown grace over; releasing unfinished inbox rows");
                    break;
                }
            }
        }
        drop(results);

        let now = self.clock.now_millis();
        self.store.settle_inbox(&claim.token, &settlements, now).await?;
        if !unfinished.is_empty() {
            let ids: Vec<i64> = unfinished.into_iter().collect();
            self.store.release_inbox(&claim.token, &ids, now).await?;
        }
        Ok(DrainStep::Worked(claimed))
    }

    /// A third of the lease: two renewals may fail before the claim lapses.
    fn renew_every(&self) -> Duration {
        (self.settings.lease / 3).max(Duration::from_millis(10))
    }

    async fn renew(&self, token: &str) {
        let until = self.clock.now_millis() + self.settings.lease.as_millis() as i64;
        if let Err(err) = self.store.extend_claim(token, until).await {
            tracing::warn!(error = %err, "could not renew the inbox claim; its rows may run twice if it lapses");
        }
    }

    /// Keeps the rows of admitted workspaces; the others are settled here without a handler
    /// reading them: finished when foreign, and waiting without spending an attempt when the
    /// gate cannot tell yet (Slack unreachable at start must not park every row as dead).
    async fn screen(&self, rows: Vec<InboxRow>, settled: &mut Vec<Settlement>) -> Vec<InboxRow> {
        let mut verdicts: HashMap<String, Result<bool, HandlerError>> = HashMap::new();
        let mut admitted = Vec::with_capacity(rows.len());
        for row in rows {
            if super::gate::is_deployment_task(&row) {
                admitted.push(row);
                continue;
            }
            if !verdicts.contains_key(&row.team_id) {
                let verdict = self.gate.admits(&row.team_id).await;
                verdicts.insert(row.team_id.clone(), verdict);
            }
            match &verdicts[&row.team_id] {
                Ok(true) => admitted.push(row),
                Ok(false) => {
                    tracing::info!(team_id = %row.team_id, event_id = %row.event_id, kind = %row.kind,
                        "dropped an inbox row for a workspace Circlet is not installed in");
                    self.metrics.count_foreign_team("inbox");
                    self.metrics
                        .count_inbox_processed(&row.event_type, "foreign_team");
                    settled.push(Settlement::Done { id: row.id });
                }
                Err(err) => {
                    // The first retry's delay, every time: the attempt is given back.
                    let first_delay = self.settings.backoff.delay(1);
                    let wait = match err {
                        HandlerError::Transient {
                            retry_after: Some(after),
                            ..
                        } => (*after).max(first_delay),
                        _ => first_delay,
                    };
                    tracing::info!(team_id = %row.team_id, event_id = %row.event_id, error = %err,
                        wait_ms = wait.as_millis() as u64, "cannot tell the row's workspace yet; it waits without spending an attempt");
                    self.metrics.count_inbox_processed(&row.event_type, "waiting");
                    settled.push(Settlement::Postpone {
                        id: row.id,
                        run_after: self.clock.now_millis() + wait.as_millis() as i64,
                    });
                }
            }
        }
        admitted
    }

    /// Splits claimed rows into units of work: all rows of a batch-taking handler together (in
    /// inbox order), every other row on its own.
    fn units(&self, rows: Vec<InboxRow>) -> Vec<Unit> {
        let mut units: Vec<Unit> = Vec::with_capacity(rows.len());
        for row in rows {
            let handler = self.registry.get(row.kind, &row.event_type).cloned();
            let job = Job { row };
            match handler {
                Some(handler) if handler.takes_batches() => {
                    let same = units.iter_mut().find(|unit| {
                        unit.batched && unit.handler.as_ref().is_some_and(|h| Arc::ptr_eq(h, &handler))
                    });
                    match same {
                        Some(unit) => unit.jobs.push(job),
                        None => units.push(Unit {
                            handler: Some(handler),
                            batched: true,
                            jobs: vec![job],
                        }),
                    }
                }
                handler => units.push(Unit {
                    handler,
                    batched: false,
                    jobs: vec![job],
                }),
            }
        }
        units
    }

    async fn run_unit(&self, unit: Unit) -> Vec<Settlement> {
        let Some(handler) = unit.handler else {
            return unit
                .jobs
                .into_iter()
                .map(|job| {
                    let row = job.row;
                    tracing::debug!(kind = %row.kind, event_type = %row.event_type, event_id = %row.event_id, "no handler; nothing to do");
                    self.metrics.count_inbox_processed(&row.event_type, "skipped");
                    Settlement::Done { id: row.id }
                })
                .collect();
        };
        let started = Instant::now();
        let outcomes: Vec<Result<(), HandlerError>> = if unit.batched {
            match AssertUnwindSafe(handler.handle_batch(&unit.jobs))
                .catch_unwind()
                .await
            {
                Ok(outcomes) if outcomes.len() == unit.jobs.len() => outcomes,
                Ok(_) => vec![
                    Err(HandlerError::permanent(
                        "handler answered for the wrong number of rows"
                    ));
                    unit.jobs.len()
                ],
                Err(_) => vec![Err(HandlerError::permanent("handler panicked")); unit.jobs.len()],
            }
        } else {
            let job = &unit.jobs[0];
            vec![
                AssertUnwindSafe(handler.handle(job))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err(HandlerError::permanent("handler panicked"))),
            ]
        };
        let per_row = started.elapsed() / unit.jobs.len().max(1) as u32;
        unit.jobs
            .into_iter()
            .zip(outcomes)
            .map(|(job, outcome)| {
                self.metrics.observe_processing(&job.row.event_type, per_row);
                self.settle(job.row, outcome)
            })
            .collect()
    }

    fn settle(&self, row: InboxRow, outcome: Result<(), HandlerError>) -> Settlement {
        let id = row.id;
        let error = match outcome {
            Ok(()) => {
                self.metrics.count_inbox_processed(&row.event_type, "done");
                return Settlement::Done { id };
            }
            Err(err) => err,
        };
        match error {
            HandlerError::Transient { message, retry_after } if row.attempts < self.settings.max_attempts => {
                let delay = retry_after
                    .unwrap_or_default()
                    .max(self.settings.backoff.delay(row.attempts));
                tracing::info!(
                    event_id = %row.event_id, event_type = %row.event_type, attempt = row.attempts,
                    retry_in_ms = delay.as_millis() as u64, error = %message, "inbox job failed; will retry"
                );
                self.metrics.count_inbox_processed(&row.event_type, "retry");
                Settlement::Retry {
                    id,
                    run_after: self.clock.now_millis() + delay.as_millis() as i64,
                    error: message,
                }
            }
            HandlerError::Transient { message, .. } | HandlerError::Permanent(message) => {
                tracing::error!(
                    event_id = %row.event_id, event_type = %row.event_type, attempts = row.attempts,
                    error = %message, "inbox job is dead; `circlet inbox retry {id}` re-queues it"
                );
                self.metrics.count_inbox_processed(&row.event_type, "dead");
                Settlement::Dead { id, error: message }
            }
        }
    }
}

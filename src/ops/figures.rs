//! The figures `/readyz` and `/metrics` report from the database (is it reachable, the inbox's
//! depth, scheduled posts Slack refused), read at most once per refresh interval however many
//! probes arrive: these endpoints need no authentication, and each read takes a connection
//! from the pools the inbox writer and the workers use.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::{Millis, SharedClock};
use crate::inbox::InboxState;
use crate::metrics::Metrics;
use crate::store::{FailedPost, PrivacyRun, SharedStore, SweepMark};

/// How often the figures are read at most, by default.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// A read of the database must answer within this, or the database counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How far back refused scheduled posts are reported: the last week's.
const REFUSED_POSTS_SHOWN_FOR: Millis = 8 * 24 * 3600 * 1000;

/// One read of the figures.
#[derive(Debug)]
pub struct Figures {
    pub taken: Instant,
    pub database_reachable: bool,
    /// Scheduled posts of the last week Slack refused.
    pub refused_posts: Vec<FailedPost>,
    /// Each workspace's last history sweep (backfill).
    pub sweeps: Vec<WorkspaceSweep>,
    /// The last daily privacy run (retention and uninstall purges).
    pub privacy_run: Option<PrivacyRun>,
}

/// How current one workspace's backfill is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSweep {
    pub team_id: String,
    /// When its last sweep finished.
    pub last_sweep: Millis,
    /// How far behind now the least recently swept circle's history is read, in milliseconds.
    pub lag: Millis,
}

/// Each workspace's sweep, from its circles' marks.
fn workspace_sweeps(marks: &[SweepMark], now: Millis) -> Vec<WorkspaceSweep> {
    let mut sweeps: Vec<WorkspaceSweep> = Vec::new();
    for mark in marks {
        let lag = (now - mark.swept_to / 1000).max(0);
        match sweeps.iter_mut().find(|sweep| sweep.team_id == mark.team_id) {
            Some(sweep) => {
                sweep.last_sweep = sweep.last_sweep.max(mark.swept_at);
                sweep.lag = sweep.lag.max(lag);
            }
            None => sweeps.push(WorkspaceSweep {
                team_id: mark.team_id.clone(),
                last_sweep: mark.swept_at,
                lag,
            }),
        }
    }
    sweeps
}

/// The figures as last read, and the single refresh that may run at a time.
pub struct OpsFigures {
    store: SharedStore,
    clock: SharedClock,
    metrics: Metrics,
    every: Duration,
    latest: Mutex<Option<Arc<Figures>>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl OpsFigures {
    /// Figures of `store`, read at most every `every` (zero: on every probe that finds no read
    /// under way).
    pub fn new(store: SharedStore, clock: SharedClock, metrics: Metrics, every: Duration) -> Self {
        Self {
            store,
            clock,
            metrics,
            every,
            latest: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Older than this, figures no longer stand for the present: `/readyz` answers 503 rather
    /// than report them (a refresh that keeps hanging must not look healthy).
    pub fn max_age(&self) -> Duration {
        self.every + 2 * PROBE_TIMEOUT
    }

    /// The current figures. At most one probe reads the database at a time; the others answer
    /// from the last figures meanwhile, or wait for that read when they are too old.
    pub async fn current(&self) -> Arc<Figures> {
        let latest = self.latest();
        if let Some(figures) = &latest
            && figures.taken.elapsed() < self.every
        {
            return figures.clone();
        }
        let _refresh = match self.refreshing.try_lock() {
            Ok(turn) => turn,
            Err(_) => {
                if let Some(figures) = &latest
                    && figures.taken.elapsed() < self.max_age()
                {
                    return figures.clone();
                }
                self.refreshing.lock().await
            }
        };
        // Another probe may have refreshed while this one waited for its turn.
        if let Some(figures) = self.latest()
            && latest.as_ref().is_none_or(|seen| !Arc::ptr_eq(seen, &figures))
        {
            return figures;
        }
        let figures = Arc::new(self.read().await);
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(figures.clone());
        figures
    }

    fn latest(&self) -> Option<Arc<Figures>> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    async fn read(&self) -> Figures {
        self.metrics.count_ops_refresh();
        let store = &self.store;
        let database_reachable = matches!(
            tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await,
            Ok(Ok(()))
        );
        let mut refused_posts = Vec::new();
        let mut sweeps = Vec::new();
        let mut privacy_run = None;
        if database_reachable {
            if let Ok(Ok(run)) = tokio::time::timeout(PROBE_TIMEOUT, store.privacy().last_run()).await {
                privacy_run = run;
            }
            if let Ok(Ok(marks)) = tokio::time::timeout(PROBE_TIMEOUT, store.sweep_marks(None)).await {
                sweeps = workspace_sweeps(&marks, self.clock.now_millis());
            }
            // Depth goes straight to the gauges; a read that fails leaves the last values.
            if let Ok(Ok(counts)) = tokio::time::timeout(PROBE_TIMEOUT, store.inbox_counts()).await {
                for state in InboxState::ALL {
                    self.metrics.set_inbox_depth(state.as_str(), counts.get(state));
                }
            }
            let since = self.clock.now_millis() - REFUSED_POSTS_SHOWN_FOR;
            if let Ok(Ok(refused)) =
                tokio::time::timeout(PROBE_TIMEOUT, store.digests().failed_posts(since)).await
            {
                refused_posts = refused;
            }
        }
        Figures {
            taken: Instant::now(),
            database_reachable,
            refused_posts,
            sweeps,
            privacy_run,
        }
    }
}

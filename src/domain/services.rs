//! What domain handlers get to work with: one bundle that `app` builds and each service's
//! `register` takes its parts from.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::domain::access::ProductAccess;
use crate::domain::digest::DigestScheduler;
use crate::domain::install::Installs;
use crate::domain::settings::DomainSettings;
use crate::domain::workspaces::Workspaces;
use crate::metrics::Metrics;
use crate::slack::SlackApi;
use crate::store::SharedStore;

/// What domain handlers get to work with.
#[derive(Clone)]
pub struct Services {
    pub store: SharedStore,
    /// The shared client, for what needs no workspace's token (answers to a `response_url`);
    /// Web API calls go through [`Services::workspaces`], each with its workspace's token.
    pub slack: SlackApi,
    /// The served workspaces, their tokens and bots.
    pub workspaces: Arc<Workspaces>,
    pub metrics: Metrics,
    pub clock: SharedClock,
    pub access: Arc<ProductAccess>,
    pub settings: Arc<DomainSettings>,
    /// "Add to Slack" and token refreshes: multi-workspace mode only.
    pub installs: Option<Arc<Installs>>,
    /// Reading circles' history after outages; one per app, so its pace holds across callers.
    pub backfill: Arc<crate::domain::backfill::Backfill>,
}

impl Services {
    /// Retention and uninstall purges over these services.
    pub fn privacy(&self) -> crate::domain::privacy::Privacy {
        crate::domain::privacy::Privacy {
            store: self.store.clone(),
            workspaces: self.workspaces.clone(),
            clock: self.clock.clone(),
            retention: self.settings.retention,
        }
    }

    /// The weekly digest's scheduler over these services.
    pub fn digest_scheduler(&self) -> DigestScheduler {
        DigestScheduler {
            store: self.store.clone(),
            settings: self.settings.clone(),
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

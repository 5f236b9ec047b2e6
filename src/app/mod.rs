//! Wiring: builds the store, inbox writer, workers, Slack client and HTTP routes from a
//! [`Config`], binds the listener, and runs until shut down. Over 500 lines on purpose: the
//! build order (store, Slack, workspaces, services, intake, listeners, sockets) is one story.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

mod background;
mod handlers;

pub use background::MESSAGE_CACHE_RETENTION;
use background::{learn_identity, maintain_store};
pub use handlers::default_handlers;

use crate::api::{self, ApiState};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::domain::Services;
use crate::domain::access::ProductAccess;
use crate::domain::backfill::Backfill;
use crate::domain::backfill::task::keep_sweeping;
use crate::domain::install::rotation::REFRESH_EVERY;
use crate::domain::install::{Installs, OAuthApp};
use crate::domain::privacy::task::keep_private;
use crate::domain::settings::ProductUsers;
use crate::domain::workspaces::Workspaces;
use crate::inbox::{HandlerRegistry, InboxWriter, TeamGate, Worker, WorkerSettings};
use crate::ingress::signature::SignatureVerifier;
use crate::ingress::{self, IngressState, Intake};
use crate::install::{self, InstallState};
use crate::metrics::Metrics;
use crate::ops::{self, OpsFigures, OpsState};
use crate::server::{self, Listener, ServerSettings};
use crate::slack::{ConnectionsOpener, OAuthClient, SlackApi, SlackClientSettings, SlackError};
use crate::socket::{SocketMode, SocketSettings};
use crate::store::{self, SharedStore, StoreError};
use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source} (set {key} to a free host:port)")]
    Bind {
        key: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Filter(#[from] crate::domain::export::FilterError),
    #[error(transparent)]
    Token(#[from] crate::domain::tokens::TokenError),
    #[error("cannot write {path}: {source}")]
    Output {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error(
        "CIRCLET_ENCRYPTION_KEY does not open the stored tokens of {installations} installation(s): set the key they were sealed with (a changed key cannot read them)"
    )]
    KeyMismatch { installations: usize },
}

type HandlerFactory = Box<dyn FnOnce(&Services) -> HandlerRegistry + Send>;

pub struct AppBuilder {
    config: Config,
    clock: SharedClock,
    handlers: Option<HandlerFactory>,
    background_workers: bool,
    slack_settings: SlackClientSettings,
    worker_settings: WorkerSettings,
    ops_refresh: Duration,
    server_settings: ServerSettings,
    token_refresh_every: Duration,
    socket_settings: SocketSettings,
    backfill_pace: Duration,
}

impl AppBuilder {
    /// Replaces the clock (tests freeze time with it).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Registers the inbox handlers; the default is [`default_handlers`].
    pub fn handlers(mut self, factory: impl FnOnce(&Services) -> HandlerRegistry + Send + 'static) -> Self {
        self.handlers = Some(Box::new(factory));
        self
    }

    /// Without background workers the inbox only moves when drained through [`App::worker`],
    /// which makes tests deterministic.
    pub fn without_background_workers(mut self) -> Self {
        self.background_workers = false;
        self
    }

    pub fn slack_settings(mut self, settings: SlackClientSettings) -> Self {
        self.slack_settings = settings;
        self
    }

    pub fn worker_settings(mut self, settings: WorkerSettings) -> Self {
        self.worker_settings = settings;
        self
    }

    /// How often `/readyz` and `/metrics` read the database at most ([`ops::REFRESH_EVERY`]);
    /// zero reads it on every probe (tests that check a figure right after changing it).
    pub fn ops_refresh(mut self, every: Duration) -> Self {
        self.ops_refresh = every;
        self
    }

    /// How often rotating tokens due for a refresh are looked for ([`REFRESH_EVERY`]; tests
    /// shorten it).
    pub fn token_refresh_every(mut self, every: Duration) -> Self {
        self.token_refresh_every = every;
        self
    }

    /// Deadlines and limits of the HTTP listeners (tests shorten them).
    pub fn server_settings(mut self, settings: ServerSettings) -> Self {
        self.server_settings = settings;
        self
    }

    /// Pings, deadlines and backoff of the Socket Mode client (tests shorten them); the number
    /// of connections comes from `CIRCLET_SOCKET_CONNECTIONS`.
    pub fn socket_settings(mut self, settings: SocketSettings) -> Self {
        self.socket_settings = settings;
        self
    }

    /// How far apart backfill's history calls are per workspace (the demo's fake Slack needs
    /// no pacing).
    pub fn backfill_pace(mut self, pace: Duration) -> Self {
        self.backfill_pace = pace;
        self
    }

    pub async fn build(self) -> Result<App, AppError> {
        telemetry::install_crypto_provider();
        let config = self.config;
        let secret = config.require_signing_secret()?.cloned();
        let signing_key = config.signing_key()?;
        let store = store::connect(&config.database_url).await?;
        store.migrate().await?;

        let metrics = Metrics::new();
        let slack_timeout = self.slack_settings.timeout;
        let slack = SlackApi::new(
            &config.slack_api_url,
            config.bot_token.as_ref(),
            self.slack_settings,
            metrics.clone(),
            self.clock.clone(),
        )?;
        let workspaces = Arc::new(match &config.installs {
            Some(installs) => Workspaces::multi(slack.clone(), store.clone(), installs.cipher.clone()),
            None => Workspaces::single(slack.clone()),
        });
        let loaded = workspaces.load().await?;
        // Not one stored token opens: the key is not the one they were sealed with, and serving
        // on would silently drop every workspace's events.
        if loaded.unopened > 0 && loaded.served == 0 {
            return Err(AppError::KeyMismatch {
                installations: loaded.unopened,
            });
        }
        if workspaces.is_multi() {
            tracing::info!(
                workspaces = loaded.served,
                unopened = loaded.unopened,
                "multi-workspace mode: serving the installed workspaces"
            );
        }
        let services = Services {
            store: store.clone(),
            slack: slack.clone(),
            workspaces: workspaces.clone(),
            metrics: metrics.clone(),
            clock: self.clock.clone(),
            access: Arc::new(ProductAccess::new(
                // User ids are the workspace's own: in multi-workspace mode each sets its own.
                if workspaces.is_multi() {
                    ProductUsers::AdminsOnly
                } else {
                    config.product_users.clone()
                },
                workspaces.clone(),
                store.clone(),
            )),
            settings: Arc::new(config.domain_settings(signing_key)),
            backfill: Arc::new(
                Backfill::new(
                    store.clone(),
                    workspaces.clone(),
                    self.clock.clone(),
                    metrics.clone(),
                )
                .with_pace(self.backfill_pace),
            ),
            installs: match &config.installs {
                Some(settings) => Some(Arc::new(Installs::new(
                    OAuthApp {
                        oauth: OAuthClient::new(
                            &config.slack_api_url,
                            &settings.client_id,
                            settings.client_secret.clone(),
                            slack_timeout,
                            metrics.clone(),
                        )?,
                        client_id: settings.client_id.clone(),
                        redirect_uri: settings.redirect_uri(),
                        cipher: settings.cipher.clone(),
                    },
                    store.clone(),
                    workspaces.clone(),
                    self.clock.clone(),
                    metrics.clone(),
                ))),
                None => None,
            },
        };
        let registry = Arc::new(match self.handlers {
            Some(factory) => factory(&services),
            None => default_handlers(&services),
        });

        let gate: Arc<dyn TeamGate> = workspaces.clone();
        let wake = Arc::new(Notify::new());
        let (writer, writer_task) = InboxWriter::spawn(store.clone(), wake.clone(), metrics.clone());
        let worker = Worker::new(
            store.clone(),
            registry.clone(),
            self.clock.clone(),
            self.worker_settings,
            metrics.clone(),
        )
        .with_gate(gate.clone());
        let intake = Intake::new(writer, registry, metrics.clone(), self.clock.clone(), gate);
        let socket_mode = match &config.socket {
            Some(socket) => Some(SocketMode::new(
                ConnectionsOpener::new(
                    &config.slack_api_url,
                    socket.app_token.clone(),
                    slack_timeout,
                    metrics.clone(),
                )?,
                intake.clone(),
                metrics.clone(),
                SocketSettings {
                    connections: socket.connections,
                    ..self.socket_settings
                },
            )),
            None => None,
        };
        let mut public = Router::new().merge(api::router(ApiState::new(store.clone(), self.clock.clone())));
        match secret {
            Some(secret) => {
                let verifier = SignatureVerifier::new(secret, self.clock.clone());
                let state = IngressState::new(verifier, intake, self.server_settings.body_read);
                public = public.merge(ingress::router(state));
            }
            // Nothing could prove an HTTP request came from Slack: those routes are 404.
            None => tracing::info!(
                "SLACK_SIGNING_SECRET is not set: Slack's events, interactions and commands come over Socket Mode only, and /slack/events, /slack/interactions and /slack/commands are not served"
            ),
        }
        // Single-workspace mode has nothing to install: those paths are 404 there.
        if let (Some(installs), Some(settings)) = (&services.installs, &config.installs) {
            public = public.merge(install::router(InstallState::new(
                installs.clone(),
                &settings.public_url,
            )));
        }
        let ops = ops::router(OpsState {
            figures: Arc::new(OpsFigures::new(
                store.clone(),
                self.clock.clone(),
                metrics.clone(),
                self.ops_refresh,
            )),
            metrics: metrics.clone(),
            installs: services.installs.clone(),
            sockets: socket_mode.as_ref().map(SocketMode::status),
        });
        let counted = |router: Router| {
            router.layer(axum::middleware::from_fn_with_state(
                metrics.clone(),
                ops::count_requests,
            ))
        };
        let mut listeners = Vec::new();
        let (public, ops_addr) = match config.ops_bind {
            // Operators keep the probes and metrics off the public address: there they are 404.
            Some(addr) => {
                let socket = bind("CIRCLET_OPS_BIND", addr).await?;
                let ops_addr = socket.local_addr().map_err(AppError::Serve)?;
                listeners.push(Listener {
                    name: "ops",
                    socket,
                    router: counted(ops),
                });
                (public, Some(ops_addr))
            }
            None => (public.merge(ops), None),
        };
        let socket = bind("CIRCLET_BIND", config.bind).await?;
        let local_addr = socket.local_addr().map_err(AppError::Serve)?;
        listeners.push(Listener {
            name: "public",
            socket,
            router: counted(public),
        });
        // Restarted, this process takes back the rows its previous life was running instead of
        // sitting out their lease.
        let owner = claim_owner(local_addr.port());
        let worker = worker.with_owner(&owner);
        match store.release_claims_of(&owner, self.clock.now_millis()).await? {
            0 => {}
            rows => tracing::info!(rows, %owner, "took back inbox rows a previous run left running"),
        }
        Ok(App {
            socket_mode,
            listeners,
            local_addr,
            ops_addr,
            server_settings: self.server_settings,
            services,
            worker,
            workers: if self.background_workers {
                config.workers
            } else {
                0
            },
            scheduler: self.background_workers,
            token_refresh_every: self.token_refresh_every,
            sweep_every: config.sweep_every,
            writer_task,
            wake,
            shutdown: CancellationToken::new(),
        })
    }
}

/// This process's name in its inbox claims: the host and the port it serves on, which no other
/// live process on the host has, and which the same process has again after a restart.
pub fn claim_owner(port: u16) -> String {
    format!("{}:{port}", gethostname::gethostname().to_string_lossy())
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind { key, addr, source })
}

pub struct App {
    /// Receives Slack's deliveries over websockets when `SLACK_APP_TOKEN` is set.
    socket_mode: Option<SocketMode>,
    listeners: Vec<Listener>,
    local_addr: SocketAddr,
    ops_addr: Option<SocketAddr>,
    server_settings: ServerSettings,
    services: Services,
    worker: Worker,
    workers: usize,
    /// Whether the digest scheduler runs (off with the background workers, for tests).
    scheduler: bool,
    token_refresh_every: Duration,
    /// How often circles are swept for missed events (`None`: only at start).
    sweep_every: Option<Duration>,
    writer_task: JoinHandle<()>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
}

impl App {
    pub fn builder(config: Config) -> AppBuilder {
        let worker_settings = config.worker.clone();
        let slack_settings = SlackClientSettings {
            timeout: config.slack_timeout,
            ..SlackClientSettings::default()
        };
        AppBuilder {
            config,
            clock: Arc::new(SystemClock),
            handlers: None,
            background_workers: true,
            slack_settings,
            worker_settings,
            ops_refresh: ops::REFRESH_EVERY,
            server_settings: ServerSettings::default(),
            token_refresh_every: REFRESH_EVERY,
            socket_settings: SocketSettings::default(),
            backfill_pace: crate::domain::backfill::PACE,
        }
    }

    pub async fn build(config: Config) -> Result<App, AppError> {
        Self::builder(config).build().await
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of `/metrics`, `/healthz` and `/readyz` when `CIRCLET_OPS_BIND` gives them
    /// a listener of their own.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops_addr
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn store(&self) -> SharedStore {
        self.services.store.clone()
    }

    /// A worker on this app's inbox, for draining it step by step.
    pub fn worker(&self) -> Worker {
        self.worker.clone()
    }

    /// Notified after each commit of the inbox writer that stored rows: what `serve`'s workers
    /// wait on between batches ([`Worker::run`]).
    pub fn stored_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Cancel this to shut down gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then stops accepting, finishes requests in
    /// flight, commits what the writer holds, lets workers finish or release their rows, and
    /// closes the database.
    pub async fn run_until_stopped(self) -> Result<(), AppError> {
        let App {
            socket_mode,
            listeners,
            local_addr,
            ops_addr,
            server_settings,
            services,
            worker,
            workers,
            scheduler,
            token_refresh_every,
            sweep_every,
            writer_task,
            wake,
            shutdown,
        } = self;
        let mut worker_tasks = JoinSet::new();
        for _ in 0..workers {
            worker_tasks.spawn(worker.clone().run(wake.clone(), shutdown.clone()));
        }
        worker_tasks.spawn(learn_identity(services.workspaces.clone(), shutdown.clone()));
        worker_tasks.spawn(services.workspaces.clone().keep_loaded(shutdown.clone()));
        if let Some(installs) = &services.installs {
            worker_tasks.spawn(
                installs
                    .clone()
                    .keep_refreshed(token_refresh_every, shutdown.clone()),
            );
        }
        if scheduler {
            worker_tasks.spawn(services.digest_scheduler().run(shutdown.clone()));
            worker_tasks.spawn(keep_private(Arc::new(services.privacy()), shutdown.clone()));
            worker_tasks.spawn(keep_sweeping(
                services.backfill.clone(),
                sweep_every,
                shutdown.clone(),
            ));
        }
        worker_tasks.spawn(maintain_store(
            services.store.clone(),
            services.clock.clone(),
            shutdown.clone(),
        ));
        let sockets = socket_mode.map(|socket_mode| {
            tracing::info!("Socket Mode: receiving Slack's deliveries over websockets");
            tokio::spawn(socket_mode.run(shutdown.clone()))
        });
        if let Some(ops_addr) = ops_addr {
            tracing::info!(address = %ops_addr, "metrics, health and readiness listening apart");
        }
        tracing::info!(address = %local_addr, workers, "listening");
        futures_util::future::join_all(listeners.into_iter().map(|listener| {
            server::serve(
                listener,
                server_settings.clone(),
                shutdown.clone(),
                services.metrics.clone(),
            )
        }))
        .await;
        shutdown.cancel();
        // The sockets acknowledge what they stored, then drop their writer handles.
        if let Some(sockets) = sockets {
            let _ = sockets.await;
        }
        // The routers, and with them every writer handle, are gone: the writer drains and stops.
        let _ = writer_task.await;
        while worker_tasks.join_next().await.is_some() {}
        services.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

//! `TestApp`: Circlet on a random loopback port with a fresh database and a fake Slack.

use std::time::Duration;

use circlet::app::App;
use circlet::clock::SharedClock;
use circlet::config::Config;
use circlet::domain::Services;
use circlet::inbox::{HandlerRegistry, Worker, WorkerSettings};
use circlet::server::ServerSettings;
use circlet::slack::SlackClientSettings;
use circlet::socket::SocketSettings;
use circlet::store::SharedStore;
use circlet_testkit::fake_slack::FakeSlack;
use circlet_testkit::fake_socket_mode::FakeSocketMode;
use circlet_testkit::sender::SignedSender;
use tokio_util::sync::CancellationToken;

use super::db::TestDb;

pub const SECRET: &str = "test-signing-secret";
/// The app-level token of Socket Mode tests.
pub const APP_TOKEN: &str = "xapp-1-A0CIRCLE-1-test";

pub struct TestApp {
    pub base_url: String,
    /// The listener of `/metrics`, `/healthz` and `/readyz` when `CIRCLET_OPS_BIND` is set.
    pub ops_url: Option<String>,
    pub sender: SignedSender,
    pub store: SharedStore,
    pub fake: FakeSlack,
    pub worker: Worker,
    pub services: Services,
    pub db: TestDb,
    pub http: reqwest::Client,
    /// Slack's side of Socket Mode, when the app was built with [`TestAppBuilder::socket_mode`].
    pub socket: Option<FakeSocketMode>,
    shutdown: CancellationToken,
    served: Option<tokio::task::JoinHandle<Result<(), circlet::AppError>>>,
}

type Handlers = Box<dyn FnOnce(&Services) -> HandlerRegistry + Send>;

pub struct TestAppBuilder {
    db: TestDb,
    clock: Option<SharedClock>,
    handlers: Option<Handlers>,
    background_workers: bool,
    worker_settings: WorkerSettings,
    slack_settings: SlackClientSettings,
    env: Vec<(String, String)>,
    bot_token: bool,
    faults: Vec<(String, circlet_testkit::fake_slack::Fault, usize)>,
    ops_refresh: Duration,
    server_settings: ServerSettings,
    enterprise_install: Option<String>,
    token_refresh_every: Option<Duration>,
    socket_mode: bool,
    socket_settings: SocketSettings,
}

impl TestAppBuilder {
    /// Makes the bot token an org-wide install in organization `enterprise_id` (`auth.test`
    /// says so from the start).
    pub fn enterprise_install(mut self, enterprise_id: &str) -> Self {
        self.enterprise_install = Some(enterprise_id.to_owned());
        self
    }

    /// Injects a fault into the fake Slack before the app starts (the app asks `auth.test` as
    /// soon as it runs).
    pub fn fault_from_start(
        mut self,
        method: &str,
        fault: circlet_testkit::fake_slack::Fault,
        times: usize,
    ) -> Self {
        self.faults.push((method.to_owned(), fault, times));
        self
    }

    /// Runs without `SLACK_BOT_TOKEN`: Circlet cannot call Slack nor tell which workspace it is
    /// installed in, so it takes requests from any (for replaying Slack's sample payloads, whose
    /// team ids differ, verbatim).
    pub fn without_bot_token(mut self) -> Self {
        self.bot_token = false;
        self
    }

    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    pub fn handlers(mut self, factory: impl FnOnce(&Services) -> HandlerRegistry + Send + 'static) -> Self {
        self.handlers = Some(Box::new(factory));
        self
    }

    pub fn background_workers(mut self) -> Self {
        self.background_workers = true;
        self
    }

    pub fn worker_settings(mut self, settings: WorkerSettings) -> Self {
        self.worker_settings = settings;
        self
    }

    pub fn slack_settings(mut self, settings: SlackClientSettings) -> Self {
        self.slack_settings = settings;
        self
    }

    /// How often `/readyz` and `/metrics` read the database at most. Tests read them on every
    /// probe (zero) unless they set this, so a figure is current right after an action.
    pub fn ops_refresh(mut self, every: Duration) -> Self {
        self.ops_refresh = every;
        self
    }

    pub fn server_settings(mut self, settings: ServerSettings) -> Self {
        self.server_settings = settings;
        self
    }

    /// How often rotating tokens due for a refresh are looked for (multi-workspace mode).
    pub fn token_refresh_every(mut self, every: Duration) -> Self {
        self.token_refresh_every = Some(every);
        self
    }

    /// Receives Slack's deliveries over Socket Mode from a fake server (`TestApp::socket`), with
    /// an app-level token and no signing secret (add one with `.env` to serve HTTP too).
    pub fn socket_mode(mut self) -> Self {
        self.socket_mode = true;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub async fn start(self) -> TestApp {
        let fake = FakeSlack::start().await.expect("fake Slack");
        for (method, fault, times) in self.faults {
            fake.inject(&method, fault, times);
        }
        if let Some(enterprise) = &self.enterprise_install {
            fake.set_enterprise_install(enterprise);
        }
        let mut env = vec![
            ("SLACK_SIGNING_SECRET".to_owned(), SECRET.to_owned()),
            ("SLACK_API_URL".to_owned(), fake.api_url()),
            ("DATABASE_URL".to_owned(), self.db.url.clone()),
            ("CIRCLET_BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ];
        if self.bot_token {
            env.push(("SLACK_BOT_TOKEN".to_owned(), "xoxb-test-token".to_owned()));
        }
        let socket = if self.socket_mode {
            let socket = FakeSocketMode::start().await.expect("fake Socket Mode");
            fake.serve_socket_mode(&socket);
            env.push(("SLACK_APP_TOKEN".to_owned(), APP_TOKEN.to_owned()));
            // An empty value is no value: the app has no signing secret.
            env.push(("SLACK_SIGNING_SECRET".to_owned(), String::new()));
            Some(socket)
        } else {
            None
        };
        env.extend(self.env);
        let config = Config::from_sources(None, |key| {
            env.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        })
        .expect("test config");
        let mut builder = App::builder(config)
            .worker_settings(self.worker_settings)
            .slack_settings(self.slack_settings)
            .ops_refresh(self.ops_refresh)
            .server_settings(self.server_settings)
            .socket_settings(self.socket_settings);
        let mut sender_clock: SharedClock = std::sync::Arc::new(circlet::clock::SystemClock);
        if let Some(clock) = self.clock {
            sender_clock = clock.clone();
            builder = builder.clock(clock);
        }
        if let Some(handlers) = self.handlers {
            builder = builder.handlers(handlers);
        }
        if let Some(every) = self.token_refresh_every {
            builder = builder.token_refresh_every(every);
        }
        if !self.background_workers {
            builder = builder.without_background_workers();
        }
        let app = builder.build().await.expect("app builds");
        let base_url = format!("http://{}", app.local_addr());
        let ops_url = app.ops_addr().map(|addr| format!("http://{addr}"));
        let store = app.store();
        let worker = app.worker();
        let services = app.services().clone();
        let shutdown = app.shutdown_token();
        let served = tokio::spawn(app.run_until_stopped());
        TestApp {
            ops_url,
            served: Some(served),
            // Requests are signed by the app's clock, as Slack's would be by the same real time.
            sender: SignedSender::new(base_url.clone(), SECRET).with_clock(move || sender_clock.now_secs()),
            base_url,
            store,
            fake,
            worker,
            services,
            db: self.db,
            http: reqwest::Client::new(),
            socket,
            shutdown,
        }
    }
}

impl TestApp {
    /// Fast settings for tests: tiny backoff, short lease.
    pub fn quick_worker_settings() -> WorkerSettings {
        WorkerSettings {
            backoff: circlet::inbox::Backoff::new(Duration::from_millis(10), Duration::from_millis(50)),
            idle_poll: Duration::from_millis(20),
            shutdown_grace: Duration::from_millis(500),
            ..WorkerSettings::default()
        }
    }

    pub fn quick_slack_settings() -> SlackClientSettings {
        SlackClientSettings {
            timeout: Duration::from_millis(500),
            max_attempts: 3,
            backoff: circlet::inbox::Backoff::new(Duration::from_millis(10), Duration::from_millis(50)),
            max_retry_after: Duration::from_secs(5),
            post_interval: Duration::from_millis(100),
        }
    }

    /// Socket Mode with quick pings and reconnects.
    pub fn quick_socket_settings() -> SocketSettings {
        SocketSettings {
            ping_every: Duration::from_millis(200),
            pong_timeout: Duration::from_millis(300),
            hello_timeout: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(2),
            backoff: circlet::inbox::Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
            ..SocketSettings::default()
        }
    }

    pub fn builder(db: TestDb) -> TestAppBuilder {
        TestAppBuilder {
            db,
            clock: None,
            handlers: None,
            background_workers: false,
            worker_settings: Self::quick_worker_settings(),
            slack_settings: Self::quick_slack_settings(),
            env: Vec::new(),
            bot_token: true,
            faults: Vec::new(),
            ops_refresh: Duration::ZERO,
            server_settings: ServerSettings::default(),
            enterprise_install: None,
            token_refresh_every: None,
            socket_mode: false,
            socket_settings: Self::quick_socket_settings(),
        }
    }

    /// An app with no background workers on `db`.
    pub async fn spawn(db: TestDb) -> TestApp {
        Self::builder(db).start().await
    }

    /// Who the bot is in single-workspace mode, as `auth.test` told it (asking now if needed),
    /// as serve learns it at start.
    pub async fn bot_identity(&self) -> circlet::domain::bot::Identity {
        self.services
            .workspaces
            .single_bot()
            .expect("single-workspace mode")
            .identity()
            .await
            .expect("auth.test")
            .clone()
    }

    /// A new export API token named `name`, bound to `team` if given.
    pub async fn api_token(&self, name: &str, team: Option<&str>) -> String {
        let now = circlet::clock::Clock::now_millis(&circlet::clock::SystemClock);
        let team = team.map(|team| circlet::ids::TeamId::parse(team).expect("a team id"));
        circlet::domain::tokens::issue(self.store.tokens().as_ref(), name, team.as_ref(), now)
            .await
            .expect("issue a token")
            .token
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    pub async fn metrics(&self) -> String {
        let base = self.ops_url.as_ref().unwrap_or(&self.base_url);
        let response = self
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        response.text().await.unwrap_or_default()
    }

    /// Shuts the app down as SIGTERM does and waits until it has stopped.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(served) = self.served.take() {
            served
                .await
                .expect("the app's task")
                .expect("the app stops cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

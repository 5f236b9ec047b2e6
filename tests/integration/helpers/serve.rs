//! `circlet serve` as a child process (the real binary), with its log lines kept for the test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use circlet_testkit::sender::SignedSender;

use super::SECRET;

pub struct Serve {
    child: Child,
    pub base_url: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// Starts `circlet serve` on `database_url` with JSON logs at `info`, a 2 s inbox lease and no
    /// reachable Slack; `env` adds or replaces settings. Waits until it listens.
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> Serve {
        let mut settings: BTreeMap<&str, &str> = BTreeMap::from([
            ("SLACK_SIGNING_SECRET", SECRET),
            ("DATABASE_URL", database_url),
            ("CIRCLET_BIND", "127.0.0.1:0"),
            ("CIRCLET_LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
            ("CIRCLET_INBOX_LEASE_SECS", "2"),
            ("SLACK_API_URL", "http://127.0.0.1:9/api"),
        ]);
        settings.extend(env.iter().copied());
        let mut child = Command::new(env!("CARGO_BIN_EXE_circlet"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(settings)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn circlet serve");
        let logs = Arc::new(Mutex::new(Vec::new()));
        // stdout should stay empty; it is kept too, so a test can check nothing leaks there.
        let stdout = child.stdout.take().expect("stdout");
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let (found, address) = std::sync::mpsc::channel();
        let kept = logs.clone();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(record) = serde_json::from_str::<serde_json::Value>(&line)
                    && record["message"] == "listening"
                    && let Some(sender) = found.take()
                {
                    let _ = sender.send(record["address"].as_str().unwrap_or_default().to_owned());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let Ok(address) = address.recv_timeout(Duration::from_secs(30)) else {
            // Do not leave the process behind when the test fails here.
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "serve did not log its address: {}",
                logs.lock().unwrap().join("\n")
            );
        };
        Serve {
            child,
            base_url: format!("http://{address}"),
            logs,
        }
    }

    pub fn sender(&self) -> SignedSender {
        self.sender_signing_with(SECRET)
    }

    /// A sender signing with `secret` (for a serve started with another signing secret).
    pub fn sender_signing_with(&self, secret: &str) -> SignedSender {
        SignedSender::new(self.base_url.clone(), secret)
    }

    /// Everything the process wrote so far, one line each.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// SIGKILL: no drain, no goodbye.
    pub fn kill_hard(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits up to 20 s for the process to stop.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

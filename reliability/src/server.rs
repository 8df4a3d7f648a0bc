//! The server under test as a child process.

use std::{collections::HashMap, io, net::SocketAddr, time::Duration};

use sse_testkit::process::ServerProcess;
use tokio::{process::Command, time::Instant};

use sse_testkit::raw::request;

/// A snapshot of the server's `/stats`.
#[derive(Debug, Clone, Default)]
pub struct Stats(pub HashMap<String, u64>);

impl Stats {
    /// The value of `key` (0 if absent).
    pub fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }
}

/// A running `rel-server` process; killed when dropped.
#[derive(Debug)]
pub struct Server {
    process: ServerProcess,
    /// Where it listens.
    pub addr: SocketAddr,
}

const WAIT: Duration = Duration::from_secs(10);

impl Server {
    /// Starts the binary at `bin` (pass `env!("CARGO_BIN_EXE_rel-server")`) with these
    /// environment variables and waits for its `listening on` line.
    ///
    /// # Panics
    ///
    /// If it does not start listening within 30 s.
    pub async fn start(bin: &str, env: &[(&str, String)]) -> Server {
        let mut command = Command::new(bin);
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let process = ServerProcess::start(command).await;
        Server {
            addr: process.addr,
            process,
        }
    }

    /// The next line the server printed, within `wait`.
    pub async fn line(&mut self, wait: Duration) -> Option<String> {
        self.process.line(wait).await
    }

    /// `GET /stats`.
    ///
    /// # Panics
    ///
    /// If the server does not answer 200 within 10 s.
    pub async fn stats(&self) -> Stats {
        let r = request(self.addr, "GET", "/stats", &[], WAIT)
            .await
            .expect("GET /stats");
        assert_eq!(r.status, 200, "GET /stats: {r:?}");
        Stats(
            r.body
                .lines()
                .filter_map(|l| l.split_once('='))
                .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
                .collect(),
        )
    }

    /// `POST path` (e.g. `/pump?count=10&rate=5`), expecting 200; the body.
    ///
    /// # Panics
    ///
    /// If the server does not answer 200 within 10 s.
    pub async fn post(&self, path: &str) -> String {
        let r = request(self.addr, "POST", path, &[b"content-length: 0"], WAIT)
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert_eq!(r.status, 200, "POST {path}: {r:?}");
        r.body
    }

    /// Polls `/stats` until `done` holds, for at most `wait`; the last stats and
    /// whether `done` held.
    pub async fn wait_stats(&self, wait: Duration, done: impl Fn(&Stats) -> bool) -> (Stats, bool) {
        let end = Instant::now() + wait;
        loop {
            let stats = self.stats().await;
            if done(&stats) {
                return (stats, true);
            }
            if Instant::now() >= end {
                return (stats, false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `SIGTERM`.
    ///
    /// # Errors
    ///
    /// If `kill` could not be run or failed.
    pub fn terminate(&self) -> io::Result<()> {
        self.process.terminate()
    }

    /// Waits up to `wait` for the process to exit; its exit status if it did.
    pub async fn wait_exit(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        self.process.wait_exit(wait).await
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }
}

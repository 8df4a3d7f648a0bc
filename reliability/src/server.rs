//! The server under test as a child process.

use std::{collections::HashMap, io, net::SocketAddr, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
    time::{timeout, Instant},
};

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
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
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
    /// If it does not start listening within 10 s.
    pub async fn start(bin: &str, env: &[(&str, String)]) -> Server {
        let mut command = Command::new(bin);
        command
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn rel-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut stdout = BufReader::new(stdout).lines();
        let line = timeout(WAIT, stdout.next_line())
            .await
            .expect("rel-server starts within 10 s")
            .expect("read stdout")
            .expect("a first line");
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Server {
            child,
            stdout,
            addr,
        }
    }

    /// The next line the server printed, within `wait`.
    pub async fn line(&mut self, wait: Duration) -> Option<String> {
        timeout(wait, self.stdout.next_line())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
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

    /// Sends `SIGTERM` (with the `kill` command: no unsafe code).
    ///
    /// # Errors
    ///
    /// If `kill` could not be run or failed.
    pub fn terminate(&self) -> io::Result<()> {
        let pid = self.child.id().ok_or_else(|| io::Error::other("exited"))?;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other("kill failed"))
        }
    }

    /// Waits up to `wait` for the process to exit; its exit status if it did.
    pub async fn wait_exit(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        timeout(wait, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

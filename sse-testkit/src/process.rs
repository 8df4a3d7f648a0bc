//! A server under test in a process of its own (the demo, `rel-server`, the examples,
//! the benchmark servers), so that its memory, descriptors and signals are its own:
//! started with `PORT` and whatever else its command sets, found by the first line it
//! prints (`listening on ADDR`), killed when dropped.

use std::{io, net::SocketAddr, process::ExitStatus, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
    time::timeout,
};

/// How long a server may take to print its address.
const START: Duration = Duration::from_secs(30);

/// A running server process; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `command` with its standard output piped and waits for its first line,
    /// `listening on ADDR` (or `listening on http://ADDR`).
    ///
    /// # Panics
    ///
    /// If it does not start, or prints something else first, or nothing within 30 s.
    pub async fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server process starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let line = timeout(START, stdout.next_line())
            .await
            .expect("the server prints its address within 30 s")
            .expect("read its output")
            .expect("a first line");
        let addr = line
            .strip_prefix("listening on ")
            .map(|a| {
                a.trim_start_matches("http://")
                    .trim_start_matches("https://")
            })
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        ServerProcess {
            child,
            stdout,
            addr,
        }
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The next line it printed, within `wait`.
    pub async fn line(&mut self, wait: Duration) -> Option<String> {
        timeout(wait, self.stdout.next_line())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
    }

    /// Sends `SIGTERM`, as a deployment would (with the `kill` command: no unsafe
    /// code); returns at once.
    ///
    /// # Errors
    ///
    /// If it has exited, or `kill` could not be run or failed.
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

    /// Kills it, as a crash would, and waits for it to be gone.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits up to `wait` for it to exit; its exit status if it did.
    pub async fn wait_exit(&mut self, wait: Duration) -> Option<ExitStatus> {
        timeout(wait, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

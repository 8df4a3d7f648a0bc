//! Real `EventSource`s: the npm `eventsource` package under Node.js (`sse-testkit/node`,
//! pinned by its lock file; `scripts/test.sh` installs it with `npm ci`), many in one
//! process, each reporting what it sees as a JSON line that is tallied here.

use std::{path::PathBuf, process::Stdio, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
    time::Instant,
};

/// What one `EventSource` has seen so far.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// `open` events.
    pub opens: usize,
    /// `error` events (each stream end and each failed reconnect).
    pub errors: usize,
    /// The data of each `message` event.
    pub messages: Vec<String>,
    /// Whether it reached `CLOSED` (`readyState` 2): it gave up for good.
    pub closed: bool,
}

impl Seen {
    /// Whether it got a message with this data.
    pub fn got(&self, data: &str) -> bool {
        self.messages.iter().any(|m| m == data)
    }
}

/// `count` `EventSource`s on one URL, in one Node.js process; killed when dropped.
#[derive(Debug)]
pub struct EventSources {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<Seen>,
}

impl EventSources {
    /// Starts them.
    ///
    /// # Panics
    ///
    /// If the package is not installed or `node` does not run.
    pub fn start(url: &str, count: usize) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node");
        assert!(
            dir.join("node_modules/eventsource").is_dir(),
            "the npm eventsource package is not installed: npm ci --prefix {}",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg(dir.join("eventsource-client.mjs"))
            .arg(url)
            .arg(count.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (install Node.js)");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        EventSources {
            child,
            lines,
            seen: vec![Seen::default(); count],
        }
    }

    /// What each has seen so far.
    pub fn seen(&self) -> &[Seen] {
        &self.seen
    }

    /// Tallies reports until `done` holds for what they have seen, for at most `wait`.
    ///
    /// # Panics
    ///
    /// If `wait` passes first, or the process exits.
    pub async fn until(&mut self, what: &str, wait: Duration, done: impl Fn(&[Seen]) -> bool) {
        let deadline = Instant::now() + wait;
        while !done(&self.seen) {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("read")
                .unwrap_or_else(|| panic!("the client process exited waiting for {what}"));
            let report: Value = serde_json::from_str(&line).expect("a JSON line");
            let i = report["i"].as_u64().expect("which client") as usize;
            let seen = &mut self.seen[i];
            match report["kind"].as_str() {
                Some("open") => seen.opens += 1,
                Some("error") => seen.errors += 1,
                Some("message") => seen
                    .messages
                    .push(report["data"].as_str().unwrap_or_default().to_owned()),
                _ => panic!("unexpected report {line}"),
            }
            seen.closed |= report["state"].as_u64() == Some(2);
        }
    }
}

impl Drop for EventSources {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

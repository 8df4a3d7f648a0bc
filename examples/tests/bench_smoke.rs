//! A short run of the fan-out benchmark (issue 7, `examples/bench/run.sh`): every server
//! (and ours with `axum::serve`, and with a write delay) answers, and 200 clients get
//! every event for 2 seconds. Numbers are not checked
//! here (tests run in debug builds beside other work); delivery is.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    thread,
};

/// A benchmark server, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(bin: &str, adapter: &str, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(bin)
            .env("ADAPTER", adapter)
            .envs(env.iter().copied())
            .env("RATE", "20")
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let port = line
            .trim()
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the load generator against `server`; returns its JSON line.
fn load(server: &Server, label: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--port", &server.port.to_string()])
        .args(["--clients", "200", "--rate", "20", "--duration", "2"])
        .args(["--settle", "0.5", "--grace", "3", "--label", label])
        .args(["--pid", &server.child.id().to_string()])
        .output()
        .expect("run loadgen");
    assert!(out.status.success(), "loadgen failed: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The value of `"key":` in a one-line JSON object of numbers and strings.
fn field(json: &str, key: &str) -> String {
    let start = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} missing in {json}"))
        + key.len()
        + 3;
    json[start..]
        .split([',', '}'])
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn every_server_delivers_every_event_to_200_clients() {
    /// Server binary, run name, `ADAPTER`, more environment.
    type Run = (&'static str, &'static str, &'static str, Env);
    type Env = &'static [(&'static str, &'static str)];
    let ours = env!("CARGO_BIN_EXE_bench-server");
    let runs: [Run; 6] = [
        (ours, "axum", "axum", &[]),
        (ours, "warp", "warp", &[]),
        (ours, "hyper", "hyper", &[]),
        (ours, "axum-stock", "axum", &[("SERVE", "stock")]),
        (ours, "axum-delay", "axum", &[("WRITE_DELAY_MS", "100")]),
        (env!("CARGO_BIN_EXE_bench-baseline"), "baseline", "", &[]),
    ];
    let handles: Vec<_> = runs
        .into_iter()
        .map(|(bin, name, adapter, env)| {
            thread::spawn(move || {
                let server = Server::start(bin, adapter, env);
                (name, load(&server, name))
            })
        })
        .collect();
    for handle in handles {
        let (name, json) = handle.join().expect("run thread");
        if name == "axum-delay" {
            // A write waits 100 ms for the events behind its first: with one every
            // 50 ms, half of them wait 100 ms and half 50 ms (without: a few ms).
            let p50: f64 = field(&json, "p50_ms").parse().expect("number");
            assert!(p50 >= 40.0, "{name}: write delay not applied: {json}");
        }
        assert_eq!(field(&json, "connected"), "200", "{name}: {json}");
        assert_eq!(field(&json, "server_clients"), "200", "{name}: {json}");
        let broadcasts: f64 = field(&json, "broadcasts").parse().expect("number");
        assert!(broadcasts >= 30.0, "{name}: too few broadcasts: {json}");
        assert_eq!(field(&json, "delivery"), "1.0000", "{name}: {json}");
        assert!(
            field(&json, "cpu_s") != "null",
            "{name}: no CPU reading: {json}"
        );
    }
}

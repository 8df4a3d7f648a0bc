//! A short run of the fan-out benchmark (issue 7, `examples/bench/run.sh`): every server
//! (and ours with `axum::serve`, and with a write delay) answers, and 200 clients get
//! every event for 2 seconds. Numbers are not checked
//! here (tests run in debug builds beside other work); delivery is.

use sse_testkit::process::ServerProcess;
use tokio::process::Command;

/// Starts a benchmark server.
async fn start(bin: &str, adapter: &str, env: &[(&str, &str)]) -> ServerProcess {
    let mut command = Command::new(bin);
    command
        .env("ADAPTER", adapter)
        .envs(env.iter().copied())
        .env("RATE", "20")
        .env("PORT", "0");
    ServerProcess::start(command).await
}

/// Runs the load generator against `server`; returns its JSON line.
async fn load(server: &ServerProcess, label: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--port", &server.addr.port().to_string()])
        .args(["--clients", "200", "--rate", "20", "--duration", "2"])
        .args(["--settle", "0.5", "--grace", "3", "--label", label])
        .args(["--pid", &server.pid().expect("running").to_string()])
        .output()
        .await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_delivers_every_event_to_200_clients() {
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
            tokio::spawn(async move {
                let server = start(bin, adapter, env).await;
                (name, load(&server, name).await)
            })
        })
        .collect();
    for handle in handles {
        let (name, json) = handle.await.expect("run task");
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

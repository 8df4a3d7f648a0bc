//! Each example server (the library's server, which writes event streams itself)
//! behind nginx as a reverse proxy, and read by curl: events arrive one by one as they
//! are sent, not held in a buffer, and the stream ends when the server goes.

use std::{net::SocketAddr, path::Path, process::Stdio, time::Duration};

use sse_testkit::{process::ServerProcess, Client, WAIT};
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
    time::{timeout, Instant},
};

/// nginx in the foreground on a free loopback port, proxying everything to
/// `upstream` with the settings its documentation gives for streamed responses
/// (HTTP/1.1 to the upstream, no `Connection` header passed on), and its default
/// response buffering (which the stream's `X-Accel-Buffering: no` asks it to skip).
struct Nginx {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// SIGTERM: the master stops its workers, then itself (SIGKILL would leave the
/// workers running).
impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

impl Nginx {
    async fn start(upstream: SocketAddr) -> Nginx {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("sse-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("nginx dir");
        let d = dir.display();
        let conf = format!(
            "worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }}
    }}
}}
"
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
        let child = Command::new(nginx_binary())
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(&dir)
            .args(["-c", "nginx.conf", "-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (Debian's nginx-light; ./scripts/test.sh installs it)");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {addr}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Nginx {
            child,
            addr,
            _dir: TempDir(dir),
        }
    }
}

async fn example(binary: &str) -> ServerProcess {
    let mut command = Command::new(binary);
    command.env("PORT", "0");
    ServerProcess::start(command).await
}

/// The example broadcasts the time once a second: two events in a row, each
/// within a second and a half of the last, show nothing holds them back.
async fn through_nginx(binary: &str) {
    let mut server = example(binary).await;
    let nginx = Nginx::start(server.addr).await;

    let mut stream = Client::h1(nginx.addr).stream("/events", &[]).await;
    let first: u64 = stream.next_event().await.data().parse().expect("a time");
    let since = Instant::now();
    let second: u64 = stream.next_event().await.data().parse().expect("a time");
    assert_eq!(second, first + 1);
    assert!(
        since.elapsed() < Duration::from_millis(1500),
        "{:?}",
        since.elapsed()
    );

    // The server goes: nginx ends the client's response.
    server.kill().await;
    let ended = timeout(WAIT, stream.events_until_end()).await;
    assert!(ended.is_ok(), "the stream did not end through nginx");
    drop(nginx);
}

#[tokio::test]
async fn nginx_in_front_of_the_axum_example_passes_events_as_they_come() {
    through_nginx(env!("CARGO_BIN_EXE_axum")).await;
}

#[tokio::test]
async fn nginx_in_front_of_the_warp_example_passes_events_as_they_come() {
    through_nginx(env!("CARGO_BIN_EXE_warp")).await;
}

#[tokio::test]
async fn nginx_in_front_of_the_hyper_example_passes_events_as_they_come() {
    through_nginx(env!("CARGO_BIN_EXE_hyper")).await;
}

/// `curl --silent --no-buffer` with `flags` on `url`, for at most 10 s; its output's
/// lines.
fn curl(flags: &[&str], url: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut curl = Command::new("curl")
        .args(flags)
        .args(["--silent", "--no-buffer", "--max-time", "10"])
        .arg(url)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("curl");
    let lines = BufReader::new(curl.stdout.take().expect("stdout")).lines();
    (curl, lines)
}

#[tokio::test]
async fn curl_reads_the_stream_as_it_comes() {
    let mut server = example(env!("CARGO_BIN_EXE_axum")).await;
    let (mut curl, mut lines) = curl(&[], &server.url("/events"));
    let mut times = Vec::new();
    while times.len() < 2 {
        let line = timeout(WAIT, lines.next_line())
            .await
            .expect("a line within WAIT")
            .expect("read")
            .expect("curl's output went on");
        // The first event is the client's id; then the times.
        if let Some(Ok(time)) = line.strip_prefix("data: ").map(str::parse::<u64>) {
            times.push(time);
        }
    }
    assert_eq!(times[1], times[0] + 1);
    server.kill().await;
    let status = timeout(WAIT, curl.wait())
        .await
        .expect("curl ends")
        .expect("status");
    // 18: "partial file"; curl ends once the server is gone, either way.
    assert!(status.code().is_some(), "{status:?}");
}

/// HTTP/2 without TLS, with prior knowledge, on the same port as HTTP/1.1: curl reads
/// each example's stream over it.
#[tokio::test]
async fn curl_reads_the_stream_over_http2_with_prior_knowledge() {
    for binary in [
        env!("CARGO_BIN_EXE_axum"),
        env!("CARGO_BIN_EXE_warp"),
        env!("CARGO_BIN_EXE_hyper"),
    ] {
        let mut server = example(binary).await;
        let flags = ["--http2-prior-knowledge", "--include"];
        let (_curl, mut lines) = curl(&flags, &server.url("/events"));
        let mut next = async || {
            timeout(WAIT, lines.next_line())
                .await
                .expect("a line within WAIT")
                .expect("read")
                .expect("curl's output went on")
        };
        let status = next().await;
        assert!(status.starts_with("HTTP/2 200"), "{binary}: {status}");
        loop {
            let line = next().await;
            if line
                .strip_prefix("data: ")
                .is_some_and(|t| t.parse::<u64>().is_ok())
            {
                break;
            }
        }
        server.kill().await;
    }
}

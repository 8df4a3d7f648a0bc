//! The fan-out benchmark's load generator (issue 7): opens N concurrent SSE connections
//! to `127.0.0.1:PORT/events` (raw TCP, HTTP/1.1, the stream parsed with
//! [`sse_codec::Parser`]), measures for a while and prints one line of JSON.
//!
//! ```text
//! loadgen --port 8080 --clients 1000 --duration 10 --rate 100 --pid 1234
//! loadgen --port 8080 --clients 10000 --idle --pid 1234     # idle memory only
//! ```
//!
//! `--h2-streams M`: HTTP/2 with prior knowledge instead, `M` streams on each
//! connection (`--clients` counts streams; 10,000 streams with `--h2-streams 100`
//! are 100 connections).
//!
//! `--page-first`: each client first asks for `GET /stats` on its connection and reads
//! the answer, then asks for the stream on the same connection, as a browser that
//! opens an `EventSource` on the connection that loaded its page.
//!
//! Each event's data starts with its send time in unix nanoseconds (see `bench-server`).
//! The measurement window is `--duration` seconds after every client is connected and
//! `--settle` seconds have passed; only events *sent* in the window count, and they
//! are waited for `--grace` seconds after it ends. Reported:
//!
//! - `broadcasts`: distinct send times seen in the window by any client (compare with
//!   `rate x duration`);
//! - `delivery`: events received / (broadcasts x clients), where broadcasts is the
//!   larger of those seen and `rate x duration - 1`;
//! - `events_per_s`: events received / duration;
//! - `p50_ms`, `p99_ms`, `max_ms`: receive time minus send time (an HDR histogram);
//! - `cpu_s`: the server's utime + stime over the window (`/proc/PID/stat`; also
//!   `cpu_user_s` and `cpu_sys_s` apart), and `cpu_s_per_million` deliveries;
//! - `user_share`: with `--perf`, the share of the server's CPU spent in user space,
//!   from `perf record -e cpu-clock` samples over the window (kernel addresses have
//!   the top bit set). The kernel's utime/stime split is tick samples rescaled so
//!   that neither ever decreases, so its difference over a window mixes in the ratio
//!   of everything before (the connection ramp): it varied from 7% to 16% between
//!   identical runs, where the samples vary by about a point;
//! - `writev_per_delivery`: the server's `write`/`writev` system calls over the
//!   window (`syscw` in `/proc/PID/io`, which does not count `send`) per event
//!   received;
//! - `rss_kb_before` (before connecting) and `rss_kb` (end of window), from
//!   `/proc/PID/status`.
//!
//! Bounded: at most 10,000 clients, loopback only, and every phase has a deadline.

use std::{
    cell::RefCell,
    collections::HashSet,
    env,
    net::{Ipv4Addr, SocketAddr},
    rc::Rc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use hdrhistogram::Histogram;
use sse_codec::{Item, Parser};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::LocalSet,
};

const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Clone)]
struct Args {
    port: u16,
    clients: usize,
    duration: f64,
    rate: f64,
    settle: f64,
    grace: f64,
    pid: Option<u32>,
    idle: bool,
    perf: bool,
    page_first: bool,
    h2_streams: usize,
    label: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        port: 0,
        clients: 100,
        duration: 10.0,
        rate: 10.0,
        settle: 1.0,
        grace: 2.0,
        pid: None,
        idle: false,
        perf: false,
        page_first: false,
        h2_streams: 0,
        label: String::new(),
    };
    let mut it = env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--idle" || flag == "--perf" || flag == "--page-first" {
            a.idle |= flag == "--idle";
            a.perf |= flag == "--perf";
            a.page_first |= flag == "--page-first";
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--port" => a.port = value.parse().map_err(|_| bad.clone())?,
            "--clients" => a.clients = value.parse().map_err(|_| bad.clone())?,
            "--duration" => a.duration = value.parse().map_err(|_| bad.clone())?,
            "--rate" => a.rate = value.parse().map_err(|_| bad.clone())?,
            "--settle" => a.settle = value.parse().map_err(|_| bad.clone())?,
            "--grace" => a.grace = value.parse().map_err(|_| bad.clone())?,
            "--pid" => a.pid = Some(value.parse().map_err(|_| bad.clone())?),
            "--label" => a.label = value,
            "--h2-streams" => a.h2_streams = value.parse().map_err(|_| bad.clone())?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.port == 0 {
        return Err("--port is required".into());
    }
    if a.clients == 0 || a.clients > MAX_CLIENTS {
        return Err(format!("--clients must be 1..={MAX_CLIENTS}"));
    }
    if !(0.0..=600.0).contains(&a.duration) || !(0.0..=60.0).contains(&a.grace) {
        return Err("--duration must be at most 600 s and --grace at most 60 s".into());
    }
    Ok(a)
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The server's CPU seconds in user and kernel mode (utime, stime) from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14, 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // USER_HZ is 100 on Linux.
    Some((ticks(11)? / 100.0, ticks(12)? / 100.0))
}

/// The server's count of `write`/`writev` system calls (not `send`) from
/// `/proc/PID/io`.
fn write_calls(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let line = io.lines().find(|l| l.starts_with("syscw:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `GET /stats` on `tcp`, read to the end of its answer (a `content-length` body).
async fn read_page(tcp: &mut TcpStream) -> Option<()> {
    tcp.write_all(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .ok()?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tcp.read(&mut buf).await.ok()?;
        if n == 0 || seen.len() > 16 * 1024 {
            return None;
        }
        seen.extend_from_slice(&buf[..n]);
        let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))?
            .trim()
            .parse()
            .ok()?;
        if seen.len() >= end + 4 + length {
            return Some(());
        }
    }
}

/// `perf record` of the server's CPU over the window, sampled by the clock.
struct CpuSampler {
    child: std::process::Child,
    data: std::path::PathBuf,
}

impl CpuSampler {
    fn start(pid: u32, seconds: f64) -> CpuSampler {
        let data = env::temp_dir().join(format!("loadgen-{}.perf", std::process::id()));
        let child = std::process::Command::new("perf")
            .args(["record", "-q", "-e", "cpu-clock", "-F", "1999", "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(&data)
            .args(["--", "sleep"])
            .arg(format!("{seconds}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("--perf needs `perf` on PATH");
        CpuSampler { child, data }
    }

    /// User-space samples over all samples; `None` without any.
    fn user_share(mut self) -> Option<f64> {
        self.child.wait().ok()?;
        let script = std::process::Command::new("perf")
            .args(["script", "-F", "ip", "-i"])
            .arg(&self.data)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let _ = std::fs::remove_file(&self.data);
        let (mut user, mut all) = (0u64, 0u64);
        for line in String::from_utf8_lossy(&script.stdout).lines() {
            let Ok(ip) = u64::from_str_radix(line.trim(), 16) else {
                continue;
            };
            all += 1;
            user += u64::from(ip >> 63 == 0);
        }
        (all > 0).then(|| user as f64 / all as f64)
    }
}

/// The server's resident set in KiB from `/proc/PID/status`.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `GET /stats`: the server's connected client count.
async fn server_clients(port: u16) -> Option<usize> {
    let mut tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.ok()?;
    tcp.write_all(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.ok()?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    body.trim().parse().ok()
}

/// Decodes an HTTP/1.1 chunked body incrementally.
#[derive(Debug, Default)]
struct Chunked {
    state: ChunkState,
    size: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    SizeLine,
    Data,
    DataEnd,
    Done,
}

impl Chunked {
    /// Feeds wire bytes, handing each piece of body to `out`.
    fn feed(&mut self, mut input: &[u8], out: &mut impl FnMut(&[u8])) {
        while !input.is_empty() {
            match self.state {
                ChunkState::Size => {
                    let b = input[0];
                    input = &input[1..];
                    match (b as char).to_digit(16) {
                        Some(d) => self.size = self.size * 16 + d as usize,
                        None if b == b'\n' => self.end_size_line(),
                        None => self.state = ChunkState::SizeLine,
                    }
                }
                ChunkState::SizeLine => {
                    let b = input[0];
                    input = &input[1..];
                    if b == b'\n' {
                        self.end_size_line();
                    }
                }
                ChunkState::Data => {
                    let n = self.size.min(input.len());
                    out(&input[..n]);
                    input = &input[n..];
                    self.size -= n;
                    if self.size == 0 {
                        self.state = ChunkState::DataEnd;
                    }
                }
                ChunkState::DataEnd => {
                    let b = input[0];
                    input = &input[1..];
                    if b == b'\n' {
                        self.state = ChunkState::Size;
                    }
                }
                ChunkState::Done => return,
            }
        }
    }

    fn end_size_line(&mut self) {
        self.state = if self.size == 0 {
            ChunkState::Done
        } else {
            ChunkState::Data
        };
    }
}

#[derive(Debug)]
struct Shared {
    /// Measurement window, in unix nanoseconds of the send time; `None` before it.
    window: Option<(u64, u64)>,
    received: u64,
    sent_times: HashSet<u64>,
    latency_us: Histogram<u64>,
    connected: usize,
    failed: usize,
    ended: usize,
}

/// Reads one client's stream until it ends.
async fn client(port: u16, page_first: bool, shared: Rc<RefCell<Shared>>) {
    let ok = run_client(port, page_first, &shared).await;
    let mut s = shared.borrow_mut();
    match ok {
        Ok(()) | Err(true) => s.ended += 1,
        Err(false) => s.failed += 1,
    }
}

/// `Err(true)` once connected, `Err(false)` if it never was.
async fn run_client(port: u16, page_first: bool, shared: &Rc<RefCell<Shared>>) -> Result<(), bool> {
    let mut tcp = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|_| false)?;
    if page_first {
        read_page(&mut tcp).await.ok_or(false)?;
    }
    tcp.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .map_err(|_| false)?;
    let mut buf = vec![0u8; 4096];
    let mut head = Vec::new();
    let body_start = loop {
        let n = tcp.read(&mut buf).await.map_err(|_| false)?;
        if n == 0 {
            return Err(false);
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if head.len() > 16 * 1024 {
            return Err(false);
        }
    };
    let head_text = String::from_utf8_lossy(&head[..body_start]).to_ascii_lowercase();
    if !head_text.starts_with("http/1.1 200") {
        return Err(false);
    }
    let chunked = head_text.contains("transfer-encoding: chunked");
    shared.borrow_mut().connected += 1;

    let mut parser = Parser::new();
    let mut dechunk = Chunked::default();
    let mut body = head.split_off(body_start);
    drop(head);
    loop {
        if chunked {
            dechunk.feed(&body, &mut |piece| parser.feed(piece));
        } else {
            parser.feed(&body);
        }
        record(&mut parser, shared);
        if dechunk.state == ChunkState::Done {
            return Ok(());
        }
        let n = tcp.read(&mut buf).await.map_err(|_| true)?;
        if n == 0 {
            return Ok(());
        }
        body.clear();
        body.extend_from_slice(&buf[..n]);
    }
}

/// Counts the events `parser` has whole, sent within the window, and their latency.
fn record(parser: &mut Parser, shared: &Rc<RefCell<Shared>>) {
    let now = now_nanos();
    let mut s = shared.borrow_mut();
    while let Some(item) = parser.next_item() {
        let Ok(Item::Event(event)) = item else {
            continue;
        };
        let Some(sent) = event
            .data()
            .split(' ')
            .next()
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        if let Some((from, to)) = s.window {
            if (from..to).contains(&sent) {
                s.received += 1;
                s.sent_times.insert(sent);
                let us = now.saturating_sub(sent) / 1000;
                s.latency_us.saturating_record(us.max(1));
            }
        }
    }
}

/// One HTTP/2 connection (prior knowledge) carrying `streams` event streams.
async fn h2_connection(port: u16, streams: usize, shared: Rc<RefCell<Shared>>) {
    use hyper::client::conn::http2;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let connected = async {
        let tcp = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await
            .ok()?;
        let _ = tcp.set_nodelay(true);
        http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(1 << 20)
            .initial_connection_window_size(16 << 20)
            .handshake::<_, http_body_util::Empty<bytes::Bytes>>(TokioIo::new(tcp))
            .await
            .ok()
    };
    let Some((send, connection)) = connected.await else {
        shared.borrow_mut().failed += streams;
        return;
    };
    tokio::spawn(connection);
    for _ in 0..streams {
        let (send, shared) = (send.clone(), Rc::clone(&shared));
        tokio::task::spawn_local(async move {
            let ok = h2_stream(send, &shared).await;
            let mut s = shared.borrow_mut();
            match ok {
                Ok(()) | Err(true) => s.ended += 1,
                Err(false) => s.failed += 1,
            }
        });
    }
}

/// `Err(true)` once connected, `Err(false)` if it never was.
async fn h2_stream(
    mut send: hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    shared: &Rc<RefCell<Shared>>,
) -> Result<(), bool> {
    use http_body_util::BodyExt;

    let request = http::Request::get("http://127.0.0.1/events")
        .header("accept", "text/event-stream")
        .body(http_body_util::Empty::new())
        .map_err(|_| false)?;
    send.ready().await.map_err(|_| false)?;
    let response = send.send_request(request).await.map_err(|_| false)?;
    if response.status() != 200 {
        return Err(false);
    }
    shared.borrow_mut().connected += 1;
    let mut body = response.into_body();
    let mut parser = Parser::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(|_| true)?.into_data() {
            parser.feed(&data);
            record(&mut parser, shared);
        }
    }
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let json = LocalSet::new().block_on(&rt, run(args));
    println!("{json}");
}

async fn run(args: Args) -> String {
    let hist = Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds");
    let shared = Rc::new(RefCell::new(Shared {
        window: None,
        received: 0,
        sent_times: HashSet::new(),
        latency_us: hist,
        connected: 0,
        failed: 0,
        ended: 0,
    }));
    let rss_before = args.pid.and_then(rss_kb);

    // Ramp up: a few hundred connects in flight at a time.
    let ramp_started = Instant::now();
    let deadline = ramp_started + Duration::from_secs(120);
    for i in 0..args.clients {
        if args.h2_streams > 0 {
            if i % args.h2_streams == 0 {
                let streams = args.h2_streams.min(args.clients - i);
                tokio::task::spawn_local(h2_connection(args.port, streams, Rc::clone(&shared)));
            }
        } else {
            tokio::task::spawn_local(client(args.port, args.page_first, Rc::clone(&shared)));
        }
        if i % 200 == 199 {
            while {
                let s = shared.borrow();
                i + 1 - (s.connected + s.failed) > 200
            } && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    loop {
        let done = {
            let s = shared.borrow();
            s.connected + s.failed
        };
        if done >= args.clients || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The server must count them all too.
    let mut server_count = None;
    while Instant::now() < deadline {
        server_count = server_clients(args.port).await;
        if server_count.is_some_and(|n| n >= shared.borrow().connected) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ramp_s = ramp_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;

    let cpu0 = args.pid.and_then(cpu_seconds);
    let writes0 = args.pid.and_then(write_calls);
    let sampler = match args.pid {
        Some(pid) if args.perf => Some(CpuSampler::start(pid, args.duration)),
        _ => None,
    };
    let from = now_nanos();
    let to = from + (args.duration * 1e9) as u64;
    if !args.idle {
        shared.borrow_mut().window = Some((from, to));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    let cpu1 = args.pid.and_then(cpu_seconds);
    let writes1 = args.pid.and_then(write_calls);
    let rss = args.pid.and_then(rss_kb);
    let user_share = sampler.and_then(CpuSampler::user_share);
    if !args.idle {
        tokio::time::sleep(Duration::from_secs_f64(args.grace)).await;
    }

    let s = shared.borrow();
    let clients = s.connected as f64;
    // Distinct send times seen by any client. A server can lose a broadcast for every
    // client at once (a lagging broadcast channel does), so the expected count is at
    // least what the rate offers in the window, less one tick for its edges.
    let broadcasts = s.sent_times.len() as f64;
    let offered = (args.rate * args.duration).floor() - 1.0;
    let expected = broadcasts.max(offered) * clients;
    let delivery = if expected > 0.0 {
        s.received as f64 / expected
    } else {
        0.0
    };
    let (user, sys) = match (cpu0, cpu1) {
        (Some(a), Some(b)) => (b.0 - a.0, b.1 - a.1),
        _ => (f64::NAN, f64::NAN),
    };
    let cpu = user + sys;
    let per_million = if s.received > 0 {
        cpu / (s.received as f64 / 1e6)
    } else {
        f64::NAN
    };
    let writev_per_delivery = match (writes0, writes1) {
        (Some(a), Some(b)) if s.received > 0 => (b - a) as f64 / s.received as f64,
        _ => f64::NAN,
    };
    let ms = |q: f64| s.latency_us.value_at_quantile(q) as f64 / 1000.0;
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v:.4}")
        } else {
            "null".into()
        }
    };
    let opt = |v: Option<u64>| v.map_or("null".into(), |v| v.to_string());
    format!(
        concat!(
            "{{\"label\":\"{}\",\"clients\":{},\"connected\":{},\"failed\":{},\"ended\":{},",
            "\"server_clients\":{},\"ramp_s\":{:.2},\"rate\":{},\"duration_s\":{},",
            "\"broadcasts\":{},\"received\":{},\"delivery\":{},\"events_per_s\":{:.0},",
            "\"p50_ms\":{},\"p99_ms\":{},\"max_ms\":{},\"cpu_s\":{},\"cpu_user_s\":{},",
            "\"cpu_sys_s\":{},\"user_share\":{},\"cpu_s_per_million\":{},\"writev_per_delivery\":{},",
            "\"rss_kb_before\":{},\"rss_kb\":{}}}"
        ),
        args.label,
        args.clients,
        s.connected,
        s.failed,
        s.ended,
        server_count.map_or("null".into(), |n| n.to_string()),
        ramp_s,
        args.rate,
        args.duration,
        broadcasts,
        s.received,
        num(delivery),
        s.received as f64 / args.duration.max(1e-9),
        num(ms(0.5)),
        num(ms(0.99)),
        num(ms(1.0)),
        num(cpu),
        num(user),
        num(sys),
        num(user_share.unwrap_or(f64::NAN)),
        num(per_million),
        num(writev_per_delivery),
        opt(rss_before),
        opt(rss),
    )
}

//! The demo page in a real headless Chromium (Debian's `chromium`, driven over the
//! DevTools protocol by chromiumoxide): two tabs, the clock, a broadcast, a room
//! message and a direct message each in the right tabs only, resume with the missed
//! messages after a dropped connection, and the notice after a server restart (the
//! in-memory history is gone then); with Redis, the missed messages after a restart.
//! Saves a screenshot to
//! `$CARGO_TARGET_DIR/demo-screenshot.png` (default `target/`).
//!
//! The tabs reach the demo through a small TCP proxy in this test, so that the test
//! can cut their connections while the server stays up.

mod demo_support;

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use chromiumoxide::{
    browser::{Browser, BrowserConfig},
    page::ScreenshotParams,
    Page,
};
use demo_support::{http, DemoProcess, Redis};
use futures_util::StreamExt;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

/// Every wait in this test is bounded by this.
const WAIT: Duration = Duration::from_secs(15);

fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "chromium is not installed: this test drives a real headless Chromium; install \
             Debian's `chromium` package (scripts/test.sh does so when run as root)"
        )
    })
}

/// A TCP proxy whose connections the test can cut while the server stays up.
struct Proxy {
    addr: String,
    cut: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap().to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let (refuse, changes) = (Arc::clone(&cut), generation.subscribe());
        let task = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if refuse.load(Ordering::SeqCst) {
                    continue; // dropped: the browser sees a network error and retries
                }
                let (upstream, mut changes) = (upstream.clone(), changes.clone());
                changes.borrow_and_update(); // only cuts from now on end this one
                tokio::spawn(async move {
                    let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else {
                        return; // server down (restarting): the same as a cut
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        _ = changes.changed() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            cut,
            generation,
            task,
        }
    }

    /// Drops every open connection and refuses new ones until [`Proxy::restore`].
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    let result = tokio::time::timeout(WAIT, page.evaluate(js))
        .await
        .unwrap_or_else(|_| panic!("evaluating {js:?} took over {WAIT:?}"))
        .unwrap_or_else(|e| panic!("evaluating {js:?}: {e}"));
    result
        .into_value()
        .unwrap_or_else(|e| panic!("result of {js:?}: {e}"))
}

/// Polls `js` (a boolean expression) until it is true, failing after [`WAIT`].
async fn wait_until(page: &Page, js: &str, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if eval::<bool>(page, js).await {
            return;
        }
        if Instant::now() > deadline {
            let state: String = eval(page, "document.getElementById('state').textContent").await;
            let log = log(page).await;
            panic!("timed out after {WAIT:?} waiting for {what}; state {state:?}, log {log:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The message log, one `kind|text` line per entry.
async fn log(page: &Page) -> Vec<String> {
    eval(
        page,
        "[...document.querySelectorAll('#log li[data-kind]')]
           .map(li => li.dataset.kind + '|' + li.querySelector('.text').textContent)",
    )
    .await
}

async fn wait_logged(page: &Page, kind: &str, text: &str, what: &str) {
    let js = format!(
        "[...document.querySelectorAll('#log li[data-kind={kind}] .text')]
           .some(t => t.textContent.includes({text:?}))"
    );
    wait_until(page, &js, what).await;
}

async fn wait_connected(page: &Page, what: &str) {
    wait_until(
        page,
        "document.getElementById('state').dataset.state === 'connected'",
        what,
    )
    .await;
}

/// Input events go to the tab in front; a background tab does not render frames, so
/// a click there would wait for one in vain.
async fn front(page: &Page) {
    tokio::time::timeout(WAIT, page.bring_to_front())
        .await
        .expect("bring the tab to front within the wait")
        .expect("bring the tab to front");
}

/// Types into a field and clicks a button as a person would (real input events).
async fn type_into(page: &Page, selector: &str, text: &str) {
    front(page).await;
    let field = page.find_element(selector).await.expect(selector);
    field.click().await.expect("click field");
    eval::<bool>(
        page,
        &format!("document.querySelector({selector:?}).value = ''; true"),
    )
    .await;
    field.type_str(text).await.expect("type");
}

async fn click(page: &Page, selector: &str) {
    front(page).await;
    page.find_element(selector)
        .await
        .expect(selector)
        .click()
        .await
        .expect("click");
}

async fn post(demo: &DemoProcess, path: &str, body: &str) {
    let response = http()
        .post(demo.url(path))
        .body(body.to_owned())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    assert!(
        response.status().is_success(),
        "POST {path}: {}",
        response.status()
    );
}

fn screenshot_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("demo-screenshot.png")
}

/// Chromium with the flags the test needs, a fresh profile named after `name`, and the
/// task driving its DevTools connection.
async fn launch(chromium: PathBuf, name: &str) -> (Browser, JoinHandle<()>, PathBuf) {
    let profile =
        std::env::temp_dir().join(format!("sse-demo-chromium-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let config = BrowserConfig::builder()
        .chrome_executable(chromium)
        .no_sandbox() // headless by default: `--headless`
        .user_data_dir(&profile)
        .window_size(1200, 900)
        .viewport(None)
        .launch_timeout(Duration::from_secs(30))
        .request_timeout(WAIT)
        .args([
            "disable-gpu",
            "disable-quic",
            "no-first-run",
            "disable-background-networking",
            "disable-component-update",
            "disable-sync",
        ])
        .build()
        .expect("browser config");
    let (browser, mut handler) = Browser::launch(config).await.expect("chromium starts");
    let driver = tokio::spawn(async move { while handler.next().await.is_some() {} });
    (browser, driver, profile)
}

async fn open_tab(browser: &Browser, url: &str) -> Page {
    tokio::time::timeout(WAIT, browser.new_page(url))
        .await
        .expect("a new tab within the wait")
        .expect("a new tab")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_in_a_real_browser() {
    let chromium = chromium();
    let mut demo = DemoProcess::start("axum", &[]);
    let proxy = Proxy::start(demo.addr.clone()).await;
    let page_url = format!("http://{}/", proxy.addr);

    let (mut browser, driver, profile) = launch(chromium, "memory").await;
    let a = open_tab(&browser, &page_url).await;
    let b = open_tab(&browser, &page_url).await;
    wait_connected(&a, "tab A to connect").await;
    wait_connected(&b, "tab B to connect").await;
    let id_a: String = eval(&a, "document.getElementById('client-id').textContent").await;
    let id_b: String = eval(&b, "document.getElementById('client-id').textContent").await;
    assert!(id_a.starts_with("tab-") && id_a != id_b, "{id_a} {id_b}");

    // The clock ticks, and counts both tabs.
    let first: String = eval(&a, "document.getElementById('clock').textContent").await;
    wait_until(
        &a,
        &format!("document.getElementById('clock').textContent !== {first:?}"),
        "the clock to tick",
    )
    .await;
    wait_until(
        &a,
        "document.getElementById('active').textContent === '2'",
        "the clock to count 2 clients",
    )
    .await;

    // Tab A joins room "rust" through the page.
    type_into(&a, "#name", "Ann").await;
    type_into(&a, "#room", "rust").await;
    click(&a, "#join").await;
    wait_until(
        &a,
        "!!document.querySelector('#rooms [data-room=\"rust\"]')",
        "the rust room chip",
    )
    .await;
    wait_connected(&a, "tab A to reconnect with the room").await;

    // Tab B broadcasts through the page: both tabs show it.
    type_into(&b, "#name", "Bob").await;
    eval::<bool>(&b, "document.getElementById('target').value = ''; true").await;
    type_into(&b, "#message", "hello from B").await;
    click(&b, "#send").await;
    wait_logged(
        &a,
        "broadcast",
        "Bob: hello from B",
        "B's broadcast in tab A",
    )
    .await;
    wait_logged(
        &b,
        "broadcast",
        "Bob: hello from B",
        "B's broadcast in tab B",
    )
    .await;

    // Tab A posts in room "rust": only tab A is in it.
    eval::<bool>(&a, "document.getElementById('target').value = 'rust'; true").await;
    type_into(&a, "#message", "anyone into lifetimes?").await;
    click(&a, "#send").await;
    wait_logged(
        &a,
        "chat",
        "anyone into lifetimes?",
        "the room message in tab A",
    )
    .await;

    // Tab B sends tab A a direct message: only tab A shows it.
    type_into(&b, "#dm-to", &id_a).await;
    type_into(&b, "#dm-text", "psst, A").await;
    click(&b, "#dm-send").await;
    wait_logged(&a, "dm", "psst, A", "the direct message in tab A").await;

    // A marker broadcast: once tab B has it, it has had every earlier message too.
    post(&demo, "/broadcast", "marker 1").await;
    wait_logged(&b, "broadcast", "marker 1", "marker 1 in tab B").await;
    let b_log = log(&b).await;
    assert!(
        !b_log
            .iter()
            .any(|l| l.contains("lifetimes") || l.contains("psst")),
        "tab B shows a message that was not for it: {b_log:#?}"
    );

    // Dropped connections, server up: messages sent meanwhile are shown on resume.
    proxy.cut();
    wait_until(
        &a,
        "document.getElementById('state').dataset.state !== 'connected'",
        "tab A to notice the drop",
    )
    .await;
    post(&demo, "/broadcast", "sent while you were offline").await;
    post(
        &demo,
        "/topics/rust?from=Carol",
        "room message while offline",
    )
    .await;
    proxy.restore();
    for (tab, name) in [(&a, "A"), (&b, "B")] {
        wait_logged(tab, "broadcast", "sent while you were offline", name).await;
        wait_connected(tab, name).await;
    }
    wait_logged(
        &a,
        "chat",
        "room message while offline",
        "the missed room message",
    )
    .await;
    wait_logged(&a, "system", "reconnected", "the reconnected line").await;
    post(&demo, "/broadcast", "marker 2").await;
    wait_logged(&b, "broadcast", "marker 2", "marker 2 in tab B").await;
    let b_log = log(&b).await;
    assert!(
        !b_log
            .iter()
            .any(|l| l.contains("room message while offline")),
        "tab B shows a room message: {b_log:#?}"
    );
    for tab in [&a, &b] {
        assert!(eval::<bool>(tab, "document.getElementById('notice').hidden").await);
        let shown = log(tab).await;
        let missed = shown
            .iter()
            .filter(|l| l.contains("while you were offline"));
        assert_eq!(missed.count(), 1, "shown once: {shown:#?}");
    }

    // A server restart: the in-memory history is gone, and the page says so.
    demo.restart();
    for (tab, name) in [(&a, "A"), (&b, "B")] {
        wait_until(
            tab,
            "!document.getElementById('notice').hidden",
            &format!("the lost-messages notice in tab {name}"),
        )
        .await;
        wait_connected(tab, name).await;
    }
    let notice: String = eval(&a, "document.getElementById('notice').textContent").await;
    assert!(notice.contains("server restarted"), "{notice}");
    // And it is live again, rooms included.
    post(&demo, "/topics/rust?from=Carol", "welcome back").await;
    wait_logged(
        &a,
        "chat",
        "welcome back",
        "a room message after the restart",
    )
    .await;
    wait_until(
        &a,
        "document.getElementById('active').textContent === '2'",
        "the clock after the restart",
    )
    .await;

    let path = screenshot_path();
    let shot = tokio::time::timeout(
        WAIT,
        a.screenshot(ScreenshotParams::builder().full_page(true).build()),
    )
    .await
    .expect("screenshot within the wait")
    .expect("screenshot");
    std::fs::create_dir_all(path.parent().unwrap()).expect("target dir");
    std::fs::write(&path, shot).expect("write the screenshot");
    eprintln!("screenshot: {}", path.display());

    let _ = tokio::time::timeout(WAIT, browser.close()).await;
    let _ = tokio::time::timeout(WAIT, browser.wait()).await;
    driver.abort();
    let _ = std::fs::remove_dir_all(&profile);
}

/// With `REDIS_URL` the history outlives a demo process: the page resumes across a
/// restart and shows what it missed, with no notice. A second demo process on the same
/// Redis takes the messages while the first is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_redis_shows_missed_messages() {
    let chromium = chromium();
    let redis = Redis::start();
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_PREFIX", "demo-browser"),
    ];
    let mut one = DemoProcess::start("warp", &env);
    let two = DemoProcess::start("hyper", &env);
    let (mut browser, driver, profile) = launch(chromium, "redis").await;

    let tab = open_tab(&browser, &one.url("/")).await;
    wait_connected(&tab, "the tab to connect").await;
    post(&two, "/broadcast", "before the restart").await;
    wait_logged(
        &tab,
        "broadcast",
        "before the restart",
        "a message via the other process",
    )
    .await;

    one.kill();
    wait_until(
        &tab,
        "document.getElementById('state').dataset.state !== 'connected'",
        "the tab to notice the server is gone",
    )
    .await;
    post(&two, "/broadcast", "missed during the restart").await;
    post(
        &two,
        "/topics/lobby?from=Dee",
        "lobby message during the restart",
    )
    .await;
    one.restart();
    wait_logged(
        &tab,
        "broadcast",
        "missed during the restart",
        "the missed broadcast",
    )
    .await;
    wait_logged(
        &tab,
        "chat",
        "lobby message during the restart",
        "the missed room message",
    )
    .await;
    wait_connected(&tab, "the tab to reconnect").await;
    assert!(
        eval::<bool>(&tab, "document.getElementById('notice').hidden").await,
        "no lost-messages notice: nothing was lost"
    );

    let _ = tokio::time::timeout(WAIT, browser.close()).await;
    let _ = tokio::time::timeout(WAIT, browser.wait()).await;
    driver.abort();
    let _ = std::fs::remove_dir_all(&profile);
}

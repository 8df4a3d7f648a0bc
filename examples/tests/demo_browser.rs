//! The demo page in a real headless Chromium (Debian's `chromium`, driven over the
//! DevTools protocol by chromiumoxide): guest tabs with generated ids, the clock, a
//! broadcast, a room message and a direct message each in the right tabs only, rooms
//! joined and left on the live stream (no reconnect), resume with the missed messages
//! after a dropped connection; a sign-in that makes this tab and tabs opened later one
//! user, with direct and inbox messages in that user's tabs only; a server restart
//! without `DEMO_SECRET`, after which the history and the session are gone and every
//! tab says so and carries on as a guest; a sign-out, after which the user's other
//! tabs carry on as guests. With Redis and a shared `DEMO_SECRET`, the missed messages
//! after a restart, the inbox included, and a session that survives it. Saves a
//! screenshot to `$CARGO_TARGET_DIR/demo-screenshot.png` (default `target/`).
//!
//! The tabs reach the demo through a small TCP proxy in this test, so that the test
//! can cut their connections while the server stays up.

mod browser_support;
mod demo_support;

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use browser_support::{eval, launch, open as open_tab, WAIT};
use chromiumoxide::{page::ScreenshotParams, Page};
use demo_support::{http, is_uuid, DemoProcess, Redis};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

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

/// Polls `js` (a boolean expression) until it is true, failing after [`WAIT`] with the
/// page's connection state and message log.
async fn wait_until(page: &Page, js: &str, what: &str) {
    let state = "JSON.stringify({state: document.getElementById('state').textContent, \
                 log: [...document.querySelectorAll('#log li[data-kind]')] \
                 .map(li => li.dataset.kind + '|' + li.querySelector('.text').textContent)})";
    browser_support::wait_until(page, js, what, state).await;
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

async fn text(page: &Page, id: &str) -> String {
    eval(
        page,
        &format!("document.getElementById({id:?}).textContent"),
    )
    .await
}

/// How many streams the page has opened (`onopen`), counted by the page for tests.
async fn opens(page: &Page) -> u64 {
    eval(page, "Number(document.body.dataset.opens || 0)").await
}

/// Waits until the page shows a generated id (a guest) in `#client-id`: that id.
async fn wait_guest(page: &Page, what: &str) -> String {
    wait_until(
        page,
        "/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/\
         .test(document.getElementById('client-id').textContent)",
        what,
    )
    .await;
    let id = text(page, "client-id").await;
    assert!(is_uuid(&id), "{id}");
    id
}

/// Waits until the page is signed in as `user`: its id, the "signed in" box.
async fn wait_user(page: &Page, user: &str, what: &str) {
    wait_until(
        page,
        &format!(
            "document.getElementById('client-id').textContent === {user:?} \
             && document.getElementById('user-name').textContent === {user:?} \
             && !document.getElementById('signed-in').hidden \
             && document.getElementById('signed-out').hidden"
        ),
        what,
    )
    .await;
}

/// Signs in through the page, as a person would.
async fn sign_in(page: &Page, user: &str) {
    type_into(page, "#user", user).await;
    click(page, "#login").await;
    wait_user(page, user, "the tab to be signed in").await;
    wait_connected(page, "the signed-in tab to connect").await;
}

/// Asserts `tab`'s log has none of `texts`.
async fn assert_not_logged(tab: &Page, name: &str, texts: &[&str]) {
    let shown = log(tab).await;
    for text in texts {
        assert!(
            !shown.iter().any(|l| l.contains(text)),
            "tab {name} shows {text:?}, which was not for it: {shown:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_in_a_real_browser() {
    // No DEMO_SECRET: the session key is random, so a restart ends every session.
    let mut demo = DemoProcess::start("axum", &[]).await;
    let proxy = Proxy::start(demo.addr.clone()).await;
    let page_url = format!("http://{}/", proxy.addr);

    let browser = launch("demo-memory").await;
    let a = open_tab(&browser, &page_url).await;
    let b = open_tab(&browser, &page_url).await;
    wait_connected(&a, "tab A to connect").await;
    wait_connected(&b, "tab B to connect").await;
    // Guests: the id is generated by the server and told in the first event.
    let id_a = wait_guest(&a, "tab A's generated id").await;
    let id_b = wait_guest(&b, "tab B's generated id").await;
    assert_ne!(id_a, id_b);
    assert_eq!((opens(&a).await, opens(&b).await), (1, 1));

    // The clock ticks, and counts both tabs.
    let first = text(&a, "clock").await;
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
    // The live panel: events/s from two ticks (the clock's own, at least), no drops.
    wait_until(
        &a,
        "Number(document.getElementById('rate').textContent) > 0",
        "the panel's events/s",
    )
    .await;
    assert_eq!(text(&a, "dropped").await, "0");

    // Tab A joins room "rust" through the page, on its live stream: no reconnect.
    type_into(&a, "#name", "Ann").await;
    type_into(&a, "#room", "rust").await;
    click(&a, "#join").await;
    wait_until(
        &a,
        "!!document.querySelector('#rooms [data-room=\"rust\"]')",
        "the rust room chip",
    )
    .await;
    assert_eq!(text(&a, "room-hint").await, "joined #rust");
    assert_eq!(opens(&a).await, 1, "joining a room must not reconnect");
    assert_eq!(text(&a, "client-id").await, id_a);

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

    // Tab B sends tab A a direct message by its generated id: only tab A shows it.
    type_into(&b, "#dm-to", &id_a).await;
    type_into(&b, "#dm-text", "psst, A").await;
    click(&b, "#dm-send").await;
    wait_logged(&a, "dm", "psst, A", "the direct message in tab A").await;

    // A marker broadcast: once tab B has it, it has had every earlier message too.
    post(&demo, "/broadcast", "marker 1").await;
    wait_logged(&b, "broadcast", "marker 1", "marker 1 in tab B").await;
    assert_not_logged(&b, "B", &["lifetimes", "psst"]).await;

    // A joins and leaves room "go", live: a message after leaving is not shown.
    type_into(&a, "#room", "go").await;
    click(&a, "#join").await;
    wait_until(
        &a,
        "!!document.querySelector('#rooms [data-room=\"go\"]')",
        "the go room chip",
    )
    .await;
    post(&demo, "/topics/room:go?from=Gopher", "in go").await;
    wait_logged(&a, "chat", "in go", "the go room message in tab A").await;
    click(&a, "#rooms [data-room=\"go\"] button").await;
    wait_until(
        &a,
        "!document.querySelector('#rooms [data-room=\"go\"]') \
         && document.getElementById('room-hint').textContent === 'left #go'",
        "tab A to leave room go",
    )
    .await;
    post(&demo, "/topics/room:go?from=Gopher", "after leaving go").await;
    post(&demo, "/broadcast", "marker 2").await;
    wait_logged(&a, "broadcast", "marker 2", "marker 2 in tab A").await;
    assert_not_logged(&a, "A", &["after leaving go"]).await;
    assert_not_logged(&b, "B", &["in go"]).await;
    assert_eq!(opens(&a).await, 1, "joining and leaving must not reconnect");

    // Dropped connections, server up: messages sent meanwhile are shown on resume,
    // rooms joined live included (tab A's stream URL predates them).
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
        "/topics/room:rust?from=Carol",
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
    post(&demo, "/broadcast", "marker 3").await;
    wait_logged(&b, "broadcast", "marker 3", "marker 3 in tab B").await;
    assert_not_logged(&b, "B", &["room message while offline"]).await;
    for tab in [&a, &b] {
        assert!(eval::<bool>(tab, "document.getElementById('notice').hidden").await);
        let shown = log(tab).await;
        let missed = shown
            .iter()
            .filter(|l| l.contains("while you were offline"));
        assert_eq!(missed.count(), 1, "shown once: {shown:#?}");
    }
    // A guest's id is per connection: new ones after the drop.
    let id_b = wait_guest(&b, "tab B's id after the drop").await;

    // Tab A signs in as alice; a tab opened afterwards shares the cookie: alice too.
    // Tab B keeps its stream, and its guest id.
    sign_in(&a, "alice").await;
    let c = open_tab(&browser, &page_url).await;
    wait_user(&c, "alice", "tab C to be alice").await;
    wait_connected(&c, "tab C to connect").await;
    assert_eq!(text(&b, "client-id").await, id_b);
    // A direct message to alice by name, and one left in her inbox: in both of her
    // tabs, not in the guest's.
    type_into(&b, "#dm-to", "alice").await;
    type_into(&b, "#dm-text", "hi alice, from B").await;
    click(&b, "#dm-send").await;
    post(&demo, "/topics/private:alice?from=Carol", "in your inbox").await;
    for (tab, name) in [(&a, "A"), (&c, "C")] {
        wait_logged(tab, "dm", "hi alice, from B", name).await;
        wait_logged(tab, "inbox", "in your inbox", name).await;
    }
    // What alice posts is marked as hers.
    eval::<bool>(&a, "document.getElementById('target').value = 'rust'; true").await;
    type_into(&a, "#message", "signed message").await;
    click(&a, "#send").await;
    wait_until(
        &a,
        "[...document.querySelectorAll('#log li[data-kind=chat] .text')].some(t => \
           t.textContent.includes('signed message') \
           && t.querySelector('.from').textContent === 'alice:' \
           && t.querySelector('.verified').textContent === '✓')",
        "alice's own message, verified",
    )
    .await;
    post(&demo, "/broadcast", "marker 4").await;
    wait_logged(&b, "broadcast", "marker 4", "marker 4 in tab B").await;
    assert_not_logged(&b, "B", &["hi alice", "in your inbox", "signed message"]).await;

    // A server restart: the in-memory history is gone, and the page says so. The
    // session key was random, so alice's session is refused (401): the page asks
    // `HEAD /events` why, signs out and carries on as a guest. Every tab shares the
    // cookie, so tab B is refused too and recovers the same way.
    demo.restart().await;
    for (tab, name) in [(&a, "A"), (&b, "B"), (&c, "C")] {
        wait_until(
            tab,
            "!document.getElementById('notice').hidden",
            &format!("the lost-messages notice in tab {name}"),
        )
        .await;
        wait_connected(tab, name).await;
        wait_guest(tab, &format!("tab {name} to carry on as a guest")).await;
        assert!(eval::<bool>(tab, "document.getElementById('signed-in').hidden").await);
    }
    let notice = text(&a, "notice").await;
    assert!(notice.contains("server restarted"), "{notice}");
    let mut hints = Vec::new();
    for tab in [&a, &b, &c] {
        hints.push(text(tab, "login-hint").await);
    }
    assert!(
        hints.iter().any(|h| h.contains("no longer valid")),
        "a tab that was refused says why: {hints:?}"
    );
    // And it is live again, rooms included.
    post(&demo, "/topics/room:rust?from=Carol", "welcome back").await;
    wait_logged(
        &a,
        "chat",
        "welcome back",
        "a room message after the restart",
    )
    .await;
    wait_until(
        &a,
        "document.getElementById('active').textContent === '3'",
        "the clock after the restart",
    )
    .await;

    // Signing out in one tab: the user's other tabs carry on as guests after their
    // next reconnect (their stream asked for the inbox, which a guest may not read).
    sign_in(&a, "alice").await;
    let d = open_tab(&browser, &page_url).await;
    wait_user(&d, "alice", "tab D to be alice").await;
    wait_connected(&d, "tab D to connect").await;
    click(&a, "#logout").await;
    wait_guest(&a, "tab A to be a guest after signing out").await;
    wait_connected(&a, "tab A to connect as a guest").await;
    proxy.cut();
    wait_until(
        &d,
        "document.getElementById('state').dataset.state !== 'connected'",
        "tab D to notice the drop",
    )
    .await;
    proxy.restore();
    wait_guest(&d, "tab D to carry on as a guest").await;
    wait_connected(&d, "tab D to reconnect as a guest").await;
    post(&demo, "/topics/private:alice", "inbox while signed out").await;
    post(&demo, "/broadcast", "marker 5").await;
    for (tab, name) in [(&a, "A"), (&b, "B"), (&c, "C"), (&d, "D")] {
        wait_logged(tab, "broadcast", "marker 5", name).await;
        assert_not_logged(tab, name, &["inbox while signed out"]).await;
    }

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

    browser.close().await;
}

/// With `REDIS_URL` the history outlives a demo process: the page resumes across a
/// restart and shows what it missed, with no notice. A second demo process on the same
/// Redis takes the messages while the first is down. Both share `DEMO_SECRET`, so the
/// tab's session outlives the restart: it is still alice, and gets her inbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_redis_shows_missed_messages() {
    let redis = Redis::start();
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_PREFIX", "demo-browser"),
        ("DEMO_SECRET", "the browser test's session key, 32+ bytes"),
    ];
    let mut one = DemoProcess::start("warp", &env).await;
    let two = DemoProcess::start("hyper", &env).await;
    let browser = launch("demo-redis").await;

    let tab = open_tab(&browser, &one.url("/")).await;
    wait_connected(&tab, "the tab to connect").await;
    sign_in(&tab, "alice").await;
    post(&two, "/broadcast", "before the restart").await;
    wait_logged(
        &tab,
        "broadcast",
        "before the restart",
        "a message via the other process",
    )
    .await;
    post(&two, "/clients/alice?from=Dee", "a direct message via two").await;
    wait_logged(&tab, "dm", "a direct message via two", "the direct message").await;

    one.kill().await;
    wait_until(
        &tab,
        "document.getElementById('state').dataset.state !== 'connected'",
        "the tab to notice the server is gone",
    )
    .await;
    post(&two, "/broadcast", "missed during the restart").await;
    post(
        &two,
        "/topics/room:lobby?from=Dee",
        "lobby message during the restart",
    )
    .await;
    post(
        &two,
        "/topics/private:alice?from=Dee",
        "inbox message during the restart",
    )
    .await;
    one.restart().await;
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
    wait_logged(
        &tab,
        "inbox",
        "inbox message during the restart",
        "the missed inbox message",
    )
    .await;
    wait_connected(&tab, "the tab to reconnect").await;
    wait_user(&tab, "alice", "the session to survive the restart").await;
    assert!(
        eval::<bool>(&tab, "document.getElementById('notice').hidden").await,
        "no lost-messages notice: nothing was lost"
    );
    assert_eq!(
        text(&tab, "login-hint").await,
        "",
        "the session was not refused"
    );

    browser.close().await;
}

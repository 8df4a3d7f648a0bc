//! A real headless Chromium for the browser tests (Debian's `chromium`, driven over the
//! DevTools protocol by chromiumoxide), and bounded waits on a page's state.

#![allow(dead_code, unreachable_pub)] // each test file uses a different part

use std::{
    ops::Deref,
    path::PathBuf,
    time::{Duration, Instant},
};

use chromiumoxide::{
    browser::{Browser, BrowserConfig},
    Page,
};
use futures_util::StreamExt;
use tokio::task::JoinHandle;

/// Every wait on the browser is bounded by this.
pub const WAIT: Duration = Duration::from_secs(15);

/// The `chromium` on `PATH`; panics with how to install it.
pub fn chromium() -> PathBuf {
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

/// A running browser with a fresh profile; close it with [`Chromium::close`].
pub struct Chromium {
    browser: Browser,
    driver: JoinHandle<()>,
    profile: PathBuf,
}

impl Deref for Chromium {
    type Target = Browser;

    fn deref(&self) -> &Browser {
        &self.browser
    }
}

impl Chromium {
    /// Closes the browser and removes its profile.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(WAIT, self.browser.close()).await;
        let _ = tokio::time::timeout(WAIT, self.browser.wait()).await;
        self.driver.abort();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Chromium with the flags this machine needs (no background networking: its
/// connections would be refused), a fresh profile named after `name`.
pub async fn launch(name: &str) -> Chromium {
    launch_with(name, &[]).await
}

/// [`launch`] with more command-line flags (without their leading `--`).
pub async fn launch_with(name: &str, flags: &[&str]) -> Chromium {
    let profile = std::env::temp_dir().join(format!("sse-chromium-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let config = BrowserConfig::builder()
        .chrome_executable(chromium())
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
        .args(flags.iter().copied())
        .build()
        .expect("browser config");
    let (browser, mut handler) = Browser::launch(config).await.expect("chromium starts");
    let driver = tokio::spawn(async move { while handler.next().await.is_some() {} });
    Chromium {
        browser,
        driver,
        profile,
    }
}

/// A new tab at `url`.
pub async fn open(browser: &Browser, url: &str) -> Page {
    tokio::time::timeout(WAIT, browser.new_page(url))
        .await
        .expect("a new tab within the wait")
        .expect("a new tab")
}

/// The value of `js` in `page`.
pub async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    tokio::time::timeout(WAIT, page.evaluate(js))
        .await
        .unwrap_or_else(|_| panic!("evaluating {js:?} took over {WAIT:?}"))
        .unwrap_or_else(|e| panic!("evaluating {js:?}: {e}"))
        .into_value()
        .unwrap_or_else(|e| panic!("result of {js:?}: {e}"))
}

/// Polls `js` (a boolean expression) until it is true; after [`WAIT`], panics with
/// `what` and the page's `state` expression (a string).
pub async fn wait_until(page: &Page, js: &str, what: &str, state: &str) {
    let deadline = Instant::now() + WAIT;
    while !eval::<bool>(page, js).await {
        if Instant::now() > deadline {
            let state: String = eval(page, state).await;
            panic!("timed out after {WAIT:?} waiting for {what}; page state {state}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! The demo over HTTPS (`TLS_CERT`, `TLS_KEY`) in a real Chromium: HTTP/2, so one page
//! opens 20 `EventSource`s and eight tabs are open at once, past HTTP/1.1's six
//! connections per origin, and all of them receive a broadcast that a page POSTs
//! meanwhile. The certificate is the test's own (Chromium is told to ignore that it
//! does not know its issuer).

mod browser_support;
mod demo_support;

use browser_support::{eval, launch_with, open, WAIT};
use chromiumoxide::Page;
use demo_support::DemoProcess;
use tokio::time::{sleep, Duration, Instant};

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for 127.0.0.1 and its key, as PEM files.
fn certificate() -> (TempDir, String, String) {
    let dir = std::env::temp_dir().join(format!("sse-demo-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let path = |p: std::path::PathBuf| p.to_str().unwrap().to_owned();
    (TempDir(dir), path(cert_path), path(key_path))
}

/// Opens `count` `EventSource`s on `/events` in `page`, counting their opens and the
/// messages whose data is `over h2`.
async fn open_streams(page: &Page, count: u32) {
    let js = format!(
        "window.opened = 0; window.got = 0; window.streams = [];
         for (let i = 0; i < {count}; i++) {{
             const source = new EventSource('/events');
             source.onopen = () => window.opened++;
             source.onmessage = (e) => {{ if (e.data === 'over h2') window.got++; }};
             window.streams.push(source);
         }}
         true"
    );
    let _: bool = eval(page, &js).await;
}

async fn wait_until(page: &Page, js: &str, what: &str) {
    let deadline = Instant::now() + WAIT;
    while !eval::<bool>(page, js).await {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn twenty_streams_and_eight_tabs_over_http2_in_chromium() {
    let (_dir, cert, key) = certificate();
    for adapter in ["axum", "warp", "hyper"] {
        let demo = DemoProcess::start(
            adapter,
            &[("TLS_CERT", cert.as_str()), ("TLS_KEY", key.as_str())],
        )
        .await;
        let url = format!("https://{}/", demo.addr);
        let browser = launch_with(&format!("tls-{adapter}"), &["ignore-certificate-errors"]).await;
        let mut tabs = Vec::new();
        for tab in 0..8 {
            let page = open(&browser, &url).await;
            let protocol: String = eval(
                &page,
                "performance.getEntriesByType('navigation')[0].nextHopProtocol",
            )
            .await;
            assert_eq!(protocol, "h2", "{adapter}: tab {tab}");
            open_streams(&page, if tab == 0 { 20 } else { 2 }).await;
            tabs.push(page);
        }
        // The page's own stream, plus 20 in the first tab and 2 in each other one.
        for (tab, page) in tabs.iter().enumerate() {
            let want = if tab == 0 { 20 } else { 2 };
            wait_until(
                page,
                &format!("window.opened === {want}"),
                &format!("{adapter}: tab {tab}'s streams open"),
            )
            .await;
        }
        let status: u16 = eval(
            &tabs[3],
            "fetch('/broadcast', { method: 'POST', body: 'over h2' }).then(r => r.status)",
        )
        .await;
        assert_eq!(status, 200, "{adapter}: the page's POST");
        for (tab, page) in tabs.iter().enumerate() {
            let want = if tab == 0 { 20 } else { 2 };
            wait_until(
                page,
                &format!("window.got === {want}"),
                &format!("{adapter}: tab {tab}'s streams got the broadcast"),
            )
            .await;
        }
        browser.close().await;
        drop(demo);
    }
}

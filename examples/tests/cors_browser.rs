//! Cross-origin `EventSource` with credentials, in a real headless Chromium, for each
//! adapter with the CORS setup its docs give: tower-http's `CorsLayer` for axum,
//! `warp::cors` for warp, and a few headers written by hand for hyper.
//!
//! A page on one origin (`http://127.0.0.1:PAGE`) opens
//! `new EventSource("http://127.0.0.1:SSE/events", { withCredentials: true })`; the
//! session cookie the page's origin set is sent (same site: cookies do not depend on the
//! port), so the stream is alice's. The stream is then ended by the server: the
//! browser's reconnect carries `Last-Event-ID`, a header that needs a preflight, and
//! must get through too. A page on an origin the server does not allow gets nothing:
//! the browser keeps the response from it (the server still streams: CORS protects
//! what a page can read, and `SameSite` cookies what other sites can send).

mod browser_support;

use std::{convert::Infallible, net::SocketAddr};

use axum::{
    http::{header, HeaderValue, Method},
    response::{Html, IntoResponse},
    routing::get,
    Router,
};
use browser_support::{eval, launch, open, wait_until};
use chromiumoxide::browser::Browser;
use sse_codec::Event;
use sse_core::{ClientId, Service};
use sse_http::{jwt::JwtAuth, RequestOptions};
use sse_testkit::bind_loopback;

const SECRET: &[u8] = b"the cross-origin test's key, 32 bytes";

fn options() -> RequestOptions {
    RequestOptions::new().jwt(JwtAuth::hs256(SECRET).expect("key").cookie("session"))
}

fn session_cookie() -> String {
    let claims = serde_json::json!({
        "sub": "alice",
        "exp": jsonwebtoken::get_current_timestamp() + 600,
    });
    let token = sse_testkit::routes::sign(&claims, jsonwebtoken::Algorithm::HS256, SECRET);
    format!("session={token}; Path=/; HttpOnly; SameSite=Lax")
}

/// axum, with tower-http's `CorsLayer`.
async fn serve_axum(service: Service, allowed: &str) -> SocketAddr {
    use tower_http::cors::CorsLayer;

    let cors = CorsLayer::new()
        .allow_origin(HeaderValue::from_str(allowed).expect("origin"))
        .allow_credentials(true)
        .allow_methods([Method::GET])
        .allow_headers([header::HeaderName::from_static("last-event-id")]);
    let app = Router::new()
        .route(
            "/events",
            get(sse_axum::SseEndpoint::with_options(service, options())),
        )
        .layer(cors);
    let (listener, addr) = bind_loopback().await;
    tokio::spawn(sse_axum::serve(listener, app));
    addr
}

/// warp, with `warp::cors`.
async fn serve_warp(service: Service, allowed: &str) -> SocketAddr {
    use warp::Filter;

    let cors = warp::cors()
        .allow_origin(allowed)
        .allow_credentials(true)
        .allow_methods(["GET"])
        .allow_headers(["last-event-id"]);
    let events = warp::path("events")
        .and(sse_warp::SseEndpoint::with_options(service, options()).filter())
        .with(cors);
    let (listener, addr) = bind_loopback().await;
    tokio::spawn(sse_warp::serve(listener, warp::service(events)));
    addr
}

/// hyper: the CORS headers by hand, as its docs describe.
async fn serve_hyper(service: Service, allowed: &str) -> SocketAddr {
    use hyper::{service::service_fn, Request, Response, StatusCode};
    use sse_hyper::{RequestBody, SseBody, SseEndpoint};

    let sse = SseEndpoint::with_options(service, options());
    let allowed = HeaderValue::from_str(allowed).expect("origin");
    let app = service_fn(move |request: Request<RequestBody>| {
        let origin_ok = request.headers().get(header::ORIGIN) == Some(&allowed);
        let mut response = if request.method() == Method::OPTIONS {
            let mut preflight = Response::new(SseBody::full(""));
            *preflight.status_mut() = StatusCode::NO_CONTENT;
            if origin_ok {
                let h = preflight.headers_mut();
                h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, "GET".parse().unwrap());
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "last-event-id".parse().unwrap(),
                );
            }
            preflight
        } else {
            sse.respond(&request)
        };
        if origin_ok {
            let h = response.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed.clone());
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                "true".parse().unwrap(),
            );
            h.insert(header::VARY, "origin".parse().unwrap());
        }
        async move { Ok::<_, Infallible>(response) }
    });
    let (listener, addr) = bind_loopback().await;
    tokio::spawn(sse_http::serve(listener, app));
    addr
}

/// Serves, on `listener`, the page that opens the cross-origin stream to
/// `events_url`, and sets the session cookie for its host.
fn serve_page(listener: tokio::net::TcpListener, events_url: &str) {
    let page = format!(
        r#"<!doctype html><meta charset="utf-8"><title>cross-origin</title><script>
window.got = []; window.errors = 0; window.opens = 0;
const es = new EventSource({events_url:?}, {{ withCredentials: true }});
es.addEventListener("sse-client", (e) => {{ window.clientId = e.data; }});
es.onopen = () => {{ window.opens += 1; }};
es.onmessage = (e) => {{ window.got.push(e.data); }};
es.onerror = () => {{ window.errors += 1; }};
</script>"#
    );
    let cookie = session_cookie();
    let app = Router::new().route(
        "/",
        get(move || {
            let (page, cookie) = (page.clone(), cookie.clone());
            async move { ([(header::SET_COOKIE, cookie)], Html(page)).into_response() }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
}

/// The test page's state, for a timeout's message.
const STATE: &str = "JSON.stringify({got: window.got, errors: window.errors, \
                     opens: window.opens, id: window.clientId})";

/// One adapter: the allowed page gets alice's stream, keeps it across a reconnect
/// with `Last-Event-ID`, and the other page gets nothing.
async fn cross_origin(browser: &Browser, name: &str) {
    let service = Service::new();
    // The allowed page's origin is named by the server's CORS settings: bind it first.
    let (page, page_addr) = bind_loopback().await;
    let (other_page, other) = bind_loopback().await;
    let allowed = format!("http://{page_addr}");
    let sse = match name {
        "axum" => serve_axum(service.clone(), &allowed).await,
        "warp" => serve_warp(service.clone(), &allowed).await,
        _ => serve_hyper(service.clone(), &allowed).await,
    };
    let events_url = format!("http://{sse}/events");
    serve_page(page, &events_url);
    serve_page(other_page, &events_url);

    let tab = open(browser, &format!("http://{page_addr}/")).await;
    wait_until(
        &tab,
        "window.clientId === 'alice'",
        &format!("{name}: alice's stream"),
        STATE,
    )
    .await;
    let alice = ClientId::new("alice").expect("id");
    service
        .send_to(&alice, Event::message("hello across origins"))
        .expect("alice connected");
    service.broadcast(Event::message("with an id")).unwrap();
    wait_until(
        &tab,
        "window.got.join('|') === 'hello across origins|with an id'",
        &format!("{name}: the direct message and a broadcast"),
        STATE,
    )
    .await;

    // The server ends the stream; the browser comes back with Last-Event-ID.
    for client in service.clients() {
        service.disconnect(&client);
    }
    service
        .broadcast(Event::message("missed while away"))
        .unwrap();
    wait_until(
        &tab,
        "window.got.includes('missed while away') && window.opens >= 2",
        &format!("{name}: the reconnect with Last-Event-ID (a preflighted request)"),
        STATE,
    )
    .await;

    // The browser keeps the response from a page of an origin the server does not
    // name: an error, never an open stream (Chromium then retries, in vain).
    let stranger = open(browser, &format!("http://{other}/")).await;
    wait_until(
        &stranger,
        "window.errors >= 1",
        &format!("{name}: the disallowed origin refused"),
        STATE,
    )
    .await;
    let opens: u32 = eval(&stranger, "window.opens").await;
    assert_eq!(opens, 0, "{name}: the other origin opened the stream");
    let got: Vec<String> = eval(&stranger, "window.got").await;
    assert!(got.is_empty(), "{name}: the other origin read {got:?}");
    let no_id: bool = eval(&stranger, "window.clientId === undefined").await;
    assert!(no_id, "{name}: the other origin learnt the client id");
    let _ = tab.close().await;
    let _ = stranger.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_event_source_with_credentials() {
    let browser = launch("cors").await;
    for adapter in ["axum", "warp", "hyper"] {
        cross_origin(&browser, adapter).await;
    }
    browser.close().await;
}

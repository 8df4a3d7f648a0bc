//! The demo's HTTP interface, without a browser: the real binary on a free port, once
//! per adapter (`ADAPTER=axum|warp|hyper`), read by a real HTTP client. Who is who
//! (sign-in, generated ids), what strangers cannot get (hijack attempts, topic
//! escalation), live subscriptions and `HEAD`; then resume after a dropped connection
//! and after a restart, in memory and with Redis, and sessions shared by demo
//! processes with one `DEMO_SECRET`.
//!
//! Absence is proved with a marker: a broadcast sent after everything else, which must
//! be the next event a stream gets.

mod demo_support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use demo_support::{cookie_of, http, is_uuid, DemoProcess, Redis, SseReader};
use jsonwebtoken::{get_current_timestamp, Algorithm};
use serde_json::{json, Value};
use sse_testkit::redis::RedisCluster;
use sse_testkit::routes::{sign, tampered_token, unsigned_token};

/// The session key the tests that mint tokens give the demo.
const SECRET: &str = "the demo tests' session key, 32+ bytes";
/// Another valid key.
const OTHER_SECRET: &str = "another session key of 32+ bytes, unrelated";

/// Runs `async fn NAME(adapter: &str)` once per adapter, as tests `NAME::axum`,
/// `NAME::warp` and `NAME::hyper`.
macro_rules! per_adapter {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn axum() {
                super::$name("axum").await;
            }

            #[tokio::test]
            async fn warp() {
                super::$name("warp").await;
            }

            #[tokio::test]
            async fn hyper() {
                super::$name("hyper").await;
            }
        }
    )*};
}

per_adapter!(
    shutdown_closes_the_listener_first,
    slow_body,
    interface,
    identity,
    hijack_attempts,
    topic_escalation,
    live_subscriptions,
    head_events,
);

/// A request with an optional `Cookie` header: the status and body.
async fn send(
    demo: &DemoProcess,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = http().request(method.clone(), demo.url(path)).body(body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn post(demo: &DemoProcess, path: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    send(demo, "POST", path, None, body).await
}

/// `POST`, asserting a 2xx answer: its JSON body.
async fn post_ok(demo: &DemoProcess, path: &str, cookie: Option<&str>, body: &str) -> Value {
    let (status, text) = send(demo, "POST", path, cookie, body.to_owned()).await;
    assert!((200..300).contains(&status), "POST {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path}: {e}: {text}"))
}

async fn get_json(demo: &DemoProcess, path: &str) -> Value {
    let response = http()
        .get(demo.url(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(response.status(), 200, "GET {path}");
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
}

/// Waits up to 5 s for `/stats` to report `active` connections.
async fn wait_active(demo: &DemoProcess, active: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = get_json(demo, "/stats").await;
        if stats["active"] == active {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {active} active clients, /stats says {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs in as `name`, checking the cookie's attributes: the `Cookie` header value
/// of the session.
async fn login(demo: &DemoProcess, name: &str) -> String {
    let response = http()
        .post(demo.url("/login"))
        .body(name.to_owned())
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), 200, "POST /login {name}");
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("an ASCII Set-Cookie")
        .to_owned();
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).skip(1).collect();
    for wanted in ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=86400"] {
        assert!(
            attributes.contains(&wanted),
            "Set-Cookie lacks {wanted}: {set_cookie}"
        );
    }
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body, json!({ "user": name.trim() }));
    cookie_of(&set_cookie)
}

/// A stream with the session `cookie`.
async fn signed_in(demo: &DemoProcess, query: &str, cookie: &str) -> SseReader {
    SseReader::connect_with(&demo.url(&format!("/events{query}")), &[("cookie", cookie)]).await
}

/// A stream without a session: a generated id.
async fn guest(demo: &DemoProcess, query: &str) -> SseReader {
    let reader = SseReader::connect(&demo.url(&format!("/events{query}")), None).await;
    assert!(is_uuid(&reader.id), "a generated id: {:?}", reader.id);
    reader
}

/// Broadcasts a marker and asserts it is the next event of each reader: nothing
/// else reached them since their last read.
async fn marker(demo: &DemoProcess, text: &str, readers: &mut [&mut SseReader]) {
    let (status, body) = post(demo, "/broadcast", text.to_owned()).await;
    assert_eq!(status, 200, "{body}");
    for reader in readers {
        let event = reader.next().await;
        assert_eq!(
            (event.event_type(), event.data()),
            ("message", text),
            "client {}: an event before the marker",
            reader.id
        );
    }
}

fn chat(event: &sse_codec::MessageEvent) -> Value {
    assert_eq!(event.event_type(), "chat", "{event:?}");
    serde_json::from_str(event.data()).expect("chat JSON")
}

fn dm(event: &sse_codec::MessageEvent) -> Value {
    assert_eq!(event.event_type(), "dm", "{event:?}");
    serde_json::from_str(event.data()).expect("dm JSON")
}

// Tokens, made as an attacker would.

/// A demo user's claims, as the demo signs them, expiring `exp` seconds from now.
fn user_claims(name: &str, exp: i64) -> Value {
    json!({
        "sub": name,
        "exp": get_current_timestamp() as i64 + exp,
        "subscribe": ["room:*", format!("private:{name}")],
    })
}

/// Everything a page or script uses, on one adapter; then resume after a dropped
/// connection and the reset after a restart.
async fn interface(adapter: &str) {
    let demo = DemoProcess::start(adapter, &[]).await;

    let page = http().get(demo.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("new EventSource("));

    let stats = get_json(&demo, "/stats").await;
    assert_eq!(stats["active"], 0, "{stats}");
    assert_eq!(stats["adapter"], adapter, "{stats}");
    assert_eq!(stats["backplane"], "memory", "{stats}");

    // alice signed in, in room "rust" and her inbox; bob a guest in the lobby.
    let alice_cookie = login(&demo, "alice").await;
    let mut alice = signed_in(&demo, "?topics=room:rust,private:alice", &alice_cookie).await;
    assert_eq!(alice.id, "alice");
    let mut bob = guest(&demo, "?topics=room:lobby").await;
    wait_active(&demo, 2).await;

    // The clock: once a second, with the number of clients.
    let tick: Value = serde_json::from_str(alice.next_clock().await.data()).expect("clock JSON");
    assert_eq!(tick["active"], 2, "{tick}");
    assert!(tick["time"].as_str().unwrap().ends_with('Z'), "{tick}");
    assert!(
        tick["unix_ms"].as_u64().unwrap() > 1_600_000_000_000,
        "{tick}"
    );

    // A broadcast reaches both, with an id.
    let (status, body) = post(&demo, "/broadcast", "hello everyone").await;
    assert_eq!(status, 200, "{body}");
    let sent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sent["queued"], 2, "{body}");
    for reader in [&mut alice, &mut bob] {
        let event = reader.next().await;
        assert_eq!(
            (event.event_type(), event.data()),
            ("message", "hello everyone")
        );
        assert_eq!(event.last_event_id(), sent["id"].as_str().unwrap());
    }

    // A named broadcast, multi-line.
    let (status, body) = post(&demo, "/broadcast?event=news", "line 1\nline 2").await;
    assert_eq!(status, 200, "{body}");
    for reader in [&mut alice, &mut bob] {
        let event = reader.next().await;
        assert_eq!(
            (event.event_type(), event.data()),
            ("news", "line 1\nline 2")
        );
    }

    // A room message reaches only the room: from a guest, the name it gives,
    // unverified; from a signed-in user, their name, verified, whatever `from` says.
    post_ok(&demo, "/topics/room:rust?from=Ann%20B", None, "borrowck <3").await;
    assert_eq!(
        chat(&alice.next().await),
        json!({"room": "room:rust", "from": "Ann B", "verified": false, "text": "borrowck <3"})
    );
    let cookie = Some(alice_cookie.as_str());
    post_ok(&demo, "/topics/room:rust?from=mallory", cookie, "signed").await;
    assert_eq!(
        chat(&alice.next().await),
        json!({"room": "room:rust", "from": "alice", "verified": true, "text": "signed"})
    );
    // Anyone may leave a message in alice's inbox; only she reads it.
    post_ok(&demo, "/topics/private:alice?from=bob", None, "for you").await;
    assert_eq!(
        chat(&alice.next().await),
        json!({"room": "private:alice", "from": "bob", "verified": false, "text": "for you"})
    );

    // A direct message reaches only its client, by user name or generated id, and is
    // refused for an absent one.
    let sent = post_ok(&demo, "/clients/alice?from=bob", None, "psst").await;
    assert_eq!(sent["queued"], 1, "{sent}");
    assert_eq!(
        dm(&alice.next().await),
        json!({"from": "bob", "verified": false, "text": "psst"})
    );
    let path = format!("/clients/{}", bob.id);
    post_ok(&demo, &path, cookie, "hi guest").await;
    assert_eq!(
        dm(&bob.next().await),
        json!({"from": "alice", "verified": true, "text": "hi guest"})
    );
    let (status, body) = post(&demo, "/clients/nobody", "hello?").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("not connected"), "{body}");

    // Bad input: a clear 4xx, and nothing reaches any client.
    let too_big = "x".repeat(64 * 1024 + 1);
    let long_name = "a".repeat(33);
    let cases: Vec<(&str, reqwest::Body, u16, &str)> = vec![
        ("/broadcast", too_big.clone().into(), 413, "too large"),
        ("/topics/room:rust", too_big.into(), 413, "too large"),
        ("/broadcast", vec![0xff, 0xfe, b'a'].into(), 400, "UTF-8"),
        ("/broadcast", "".into(), 400, "empty"),
        ("/broadcast?event=a%0Ab", "forged".into(), 400, "line break"),
        ("/broadcast?event=a%0Db", "forged".into(), 400, "line break"),
        ("/broadcast?event=sse-reset", "forged".into(), 400, "reserved"),
        ("/broadcast?event=sse-client", "forged".into(), 400, "reserved"),
        ("/broadcast?event=dm", "forged".into(), 400, "reserved"),
        ("/topics/a,b", "x".into(), 400, "invalid topic"),
        ("/topics/two%20words", "x".into(), 400, "invalid topic"),
        ("/topics/", "x".into(), 400, "invalid topic"),
        ("/clients/two%20words", "x".into(), 400, "invalid client id"),
        (
            "/topics/room:rust?from=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "x".into(),
            400,
            "sender name",
        ),
        ("/login", "two words".into(), 400, "invalid user name"),
        ("/login", long_name.into(), 400, "invalid user name"),
        ("/login", "".into(), 400, "empty"),
        ("/subscriptions/room:x", "".into(), 400, "sign in"),
        ("/subscriptions/a,b?client=x", "".into(), 400, "invalid topic"),
        (
            "/subscriptions/room:x?client=two%20words",
            "".into(),
            400,
            "invalid client id",
        ),
        ("/nowhere", "x".into(), 404, "not found"),
    ];
    for (path, body, status, reason) in cases {
        let (got, text) = post(&demo, path, body).await;
        assert_eq!(got, status, "POST {path}: {text}");
        assert!(
            text.contains(reason),
            "POST {path}: {text:?} lacks {reason:?}"
        );
    }
    for (method, path, allow) in [
        ("GET", "/broadcast", "POST"),
        ("GET", "/login", "POST"),
        ("GET", "/subscriptions/room:x", "POST, DELETE"),
        ("PUT", "/subscriptions/room:x", "POST, DELETE"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = http()
            .request(method.clone(), demo.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
    }
    // Each client's next event is the marker: none of the above got through, nor did
    // the room message, inbox message and direct message reach bob, or bob's reach
    // alice.
    marker(&demo, "marker", &mut [&mut alice, &mut bob]).await;

    // Resume after a dropped connection: bob gets what he missed, once, under a new
    // generated id (a guest's id is per connection).
    let last = bob.last_event_id();
    let old_id = bob.id.clone();
    drop(bob);
    wait_active(&demo, 1).await;
    post(&demo, "/broadcast", "while bob was away").await;
    post(&demo, "/topics/room:lobby?from=carol", "lobby news").await;
    post(&demo, "/topics/room:rust", "not for bob").await;
    post(&demo, "/topics/private:alice", "not for bob either").await;
    let url = demo.url("/events?topics=room:lobby");
    let mut bob = SseReader::connect(&url, Some(&last)).await;
    assert!(is_uuid(&bob.id) && bob.id != old_id, "{} {old_id}", bob.id);
    assert_eq!(bob.next().await.data(), "while bob was away");
    assert_eq!(chat(&bob.next().await)["text"], "lobby news");
    marker(&demo, "live again", &mut [&mut bob]).await;
    // The query parameter works as the header does (EventSource cannot set headers).
    let url = demo.url(&format!("/events?last_event_id={last}"));
    let mut dave = SseReader::connect(&url, None).await;
    assert_eq!(dave.next().await.data(), "while bob was away");
    assert_eq!(dave.next().await.data(), "live again");

    // A plain restart loses the in-memory history: the client is told so. Its session
    // key was random, so alice's session is refused now, on every route that reads it.
    drop((alice, bob, dave));
    let mut demo = demo;
    demo.restart().await;
    let mut bob = SseReader::connect(&demo.url("/events"), Some(&last)).await;
    let event = bob.next().await;
    assert_eq!((event.event_type(), event.data()), ("sse-reset", "unknown"));
    let refused = SseReader::open(&demo.url("/events"), &[("cookie", &alice_cookie)]).await;
    let (status, reason) = refused.err().expect("the old session is refused");
    assert_eq!(status, 401, "{reason}");
    let (status, reason) = send(&demo, "POST", "/topics/room:rust", cookie, "x").await;
    assert_eq!(status, 401, "{reason}");
    assert!(reason.contains("session refused"), "{reason}");
    // Signing in again replaces it.
    let response = http()
        .post(demo.url("/login"))
        .header("cookie", &alice_cookie)
        .body("alice")
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), 200, "signing in with a stale session");
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    let alice = signed_in(&demo, "", &cookie_of(set_cookie)).await;
    assert_eq!(alice.id, "alice");
}

/// Sign-in: one user in several tabs is one id, reached by one direct message; a
/// client without a session gets a generated id; sign-out clears the cookie.
async fn identity(adapter: &str) {
    let demo = DemoProcess::start(adapter, &[]).await;
    let cookie = login(&demo, "alice").await;
    let mut tab1 = signed_in(&demo, "", &cookie).await;
    let mut tab2 = signed_in(&demo, "?topics=private:alice", &cookie).await;
    assert_eq!((tab1.id.as_str(), tab2.id.as_str()), ("alice", "alice"));
    let mut guest1 = guest(&demo, "").await;
    let mut guest2 = guest(&demo, "").await;
    assert_ne!(guest1.id, guest2.id);
    wait_active(&demo, 4).await;

    let sent = post_ok(&demo, "/clients/alice", None, "to every tab").await;
    assert_eq!(sent["queued"], 2, "{sent}");
    for tab in [&mut tab1, &mut tab2] {
        assert_eq!(dm(&tab.next().await)["text"], "to every tab");
    }
    // An inbox message reaches the tabs that asked for the inbox.
    post_ok(&demo, "/topics/private:alice", None, "inbox").await;
    assert_eq!(chat(&tab2.next().await)["text"], "inbox");
    let path = format!("/clients/{}", guest1.id);
    post_ok(&demo, &path, None, "to guest 1").await;
    assert_eq!(dm(&guest1.next().await)["text"], "to guest 1");
    marker(
        &demo,
        "marker",
        &mut [&mut tab1, &mut tab2, &mut guest1, &mut guest2],
    )
    .await;

    // A user name is trimmed; sign-out ends the session.
    let renamed = login(&demo, "  bob\n").await;
    let bob = signed_in(&demo, "", &renamed).await;
    assert_eq!(bob.id, "bob");
    let response = http()
        .post(demo.url("/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("POST /logout");
    assert_eq!(response.status(), 200);
    let cleared = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cleared.starts_with("demo_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

/// A stranger tries to become alice, or to read what is addressed to her: by query,
/// header, plain cookie, tampered, expired, unsigned or foreign tokens, and with
/// their own valid session. None gets alice's direct message or inbox message; the
/// forged credentials are refused with 401; alice's streams stay up and get both.
async fn hijack_attempts(adapter: &str) {
    let demo = DemoProcess::start(adapter, &[("DEMO_SECRET", SECRET)]).await;
    let alice_cookie = login(&demo, "alice").await;
    let bob_cookie = login(&demo, "bob").await;
    let alice_token = alice_cookie.trim_start_matches("demo_session=");
    let bob_token = bob_cookie.trim_start_matches("demo_session=");
    let inbox = "?topics=private:alice";
    let mut alice = [
        signed_in(&demo, inbox, &alice_cookie).await,
        signed_in(&demo, inbox, &alice_cookie).await,
    ];
    for tab in &alice {
        assert_eq!(tab.id, "alice");
    }

    // Identity claims the demo ignores: these connect, as someone else.
    let ignored = [
        ("client_id in the query", "?client_id=alice", vec![], None),
        (
            "the sse-clientid header",
            "",
            vec![("sse-clientid", "alice")],
            None,
        ),
        (
            "both",
            "?client_id=alice",
            vec![("sse-clientid", "alice")],
            None,
        ),
        (
            "bob's own session",
            "",
            vec![("cookie", bob_cookie.as_str())],
            Some("bob"),
        ),
    ];
    let mut strangers = Vec::new();
    for (what, query, headers, id) in &ignored {
        let reader = SseReader::open(&demo.url(&format!("/events{query}")), headers)
            .await
            .unwrap_or_else(|(status, body)| panic!("{what}: {status} {body}"));
        match id {
            Some(id) => assert_eq!(reader.id, *id, "{what}"),
            None => assert!(is_uuid(&reader.id), "{what}: {}", reader.id),
        }
        strangers.push(reader);
    }

    // Forged credentials: refused, on the stream and on the routes that read them.
    let now = json!({"sub": "alice", "exp": get_current_timestamp() + 3600});
    let forged: Vec<(&str, String)> = vec![
        ("a plain cookie", "alice".into()),
        (
            "a cookie without a signature",
            alice_token.rsplit_once('.').unwrap().0.into(),
        ),
        (
            "bob's token claiming alice",
            tampered_token(bob_token, &user_claims("alice", 3600)),
        ),
        (
            "alice's token naming mallory",
            tampered_token(alice_token, &user_claims("mallory", 3600)),
        ),
        (
            "alice's token granting more",
            tampered_token(
                alice_token,
                &json!({"sub": "alice", "exp": 9_999_999_999u64,
                "subscribe": ["*"]}),
            ),
        ),
        (
            "an expired token",
            sign(
                &user_claims("alice", -3600),
                Algorithm::HS256,
                SECRET.as_bytes(),
            ),
        ),
        ("alg: none", unsigned_token(&user_claims("alice", 3600))),
        ("alg: none, minimal", unsigned_token(&now)),
        (
            "another key",
            sign(
                &user_claims("alice", 3600),
                Algorithm::HS256,
                OTHER_SECRET.as_bytes(),
            ),
        ),
        (
            "HS384 with the right key",
            sign(
                &user_claims("alice", 3600),
                Algorithm::HS384,
                SECRET.as_bytes(),
            ),
        ),
        ("not a token", "a.b.c".into()),
    ];
    for (what, token) in &forged {
        let cookie = format!("demo_session={token}");
        for headers in [
            vec![("cookie", cookie.as_str())],
            vec![("authorization", &*format!("Bearer {token}"))],
            // The identity claims do not help either.
            vec![("cookie", cookie.as_str()), ("sse-clientid", "alice")],
        ] {
            let opened = SseReader::open(&demo.url("/events?client_id=alice"), &headers).await;
            let (status, reason) = opened
                .err()
                .unwrap_or_else(|| panic!("{what} {headers:?} was let in"));
            assert_eq!(status, 401, "{what} {headers:?}: {reason}");
        }
        for path in [
            "/topics/room:x",
            "/clients/bob",
            "/subscriptions/private:alice",
        ] {
            let (status, reason) = send(&demo, "POST", path, Some(&cookie), "x").await;
            assert_eq!(status, 401, "{what}: POST {path}: {reason}");
            assert!(reason.contains("session refused"), "{reason}");
        }
    }
    wait_active(&demo, 2 + strangers.len() as u64).await;

    // What is addressed to alice reaches her tabs only.
    let sent = post_ok(&demo, "/clients/alice", Some(&bob_cookie), "dm for alice").await;
    assert_eq!(sent["queued"], 2, "{sent}");
    let sent = post_ok(&demo, "/topics/private:alice", None, "inbox for alice").await;
    assert_eq!(sent["queued"], 2, "{sent}");
    for tab in &mut alice {
        assert_eq!(
            dm(&tab.next().await),
            json!({"from": "bob", "verified": true, "text": "dm for alice"})
        );
        assert_eq!(chat(&tab.next().await)["text"], "inbox for alice");
    }
    let [tab1, tab2] = &mut alice;
    let mut readers: Vec<&mut SseReader> = vec![tab1, tab2];
    readers.extend(strangers.iter_mut());
    marker(&demo, "marker", &mut readers).await;
    wait_active(&demo, 2 + strangers.len() as u64).await;
}

/// Subscribing to a topic not granted, at connect (also to read its history) or
/// live, is refused with 403; what was refused never arrives.
async fn topic_escalation(adapter: &str) {
    let demo = DemoProcess::start(adapter, &[]).await;
    let alice_cookie = login(&demo, "alice").await;
    let bob_cookie = login(&demo, "bob").await;
    let mut alice = signed_in(&demo, "?topics=private:alice", &alice_cookie).await;
    let before = post_ok(&demo, "/broadcast", None, "before").await;
    let before = before["id"].as_str().expect("an id").to_owned();
    post_ok(&demo, "/topics/private:alice", None, "secret 1").await;
    post_ok(&demo, "/broadcast", None, "after").await;
    assert_eq!(alice.next().await.data(), "before");
    assert_eq!(chat(&alice.next().await)["text"], "secret 1");
    assert_eq!(alice.next().await.data(), "after");

    let history = format!("last_event_id={before}");
    let bob = ("cookie", bob_cookie.as_str());
    let guest_cases: [(String, Vec<(&str, &str)>); 9] = [
        ("topics=private:alice".into(), vec![]),
        ("topics=room:lobby,private:alice".into(), vec![]),
        (format!("topics=private:alice&{history}"), vec![]),
        (
            "topics=private:alice".into(),
            vec![("last-event-id", before.as_str())],
        ),
        ("topics=private:*".into(), vec![]),
        (
            "topics=private:alice&client_id=alice".into(),
            vec![("sse-clientid", "alice")],
        ),
        ("topics=private:alice".into(), vec![bob]),
        (format!("topics=private:alice&{history}"), vec![bob]),
        ("topics=room:lobby,private:alice".into(), vec![bob]),
    ];
    for (query, headers) in &guest_cases {
        let url = demo.url(&format!("/events?{query}"));
        let (status, reason) = SseReader::open(&url, headers)
            .await
            .err()
            .unwrap_or_else(|| panic!("?{query} {headers:?} was let in"));
        assert_eq!(status, 403, "?{query} {headers:?}: {reason}");
        assert!(reason.contains("private:"), "?{query}: {reason}");
    }

    // Resuming without the topic replays what the client may read: not the inbox.
    let mut guest_resumed = guest(&demo, &format!("?{history}")).await;
    assert_eq!(guest_resumed.next().await.data(), "after");
    let mut bob_resumed = signed_in(&demo, &format!("?{history}"), &bob_cookie).await;
    assert_eq!(bob_resumed.next().await.data(), "after");

    // Live: bob cannot add alice's inbox to his connections; a guest cannot add it to
    // its own, nor change alice's connections by naming her.
    let guest_path = format!("/subscriptions/private:alice?client={}", guest_resumed.id);
    for (method, path, cookie, status) in [
        (
            "POST",
            "/subscriptions/private:alice",
            Some(&*bob_cookie),
            403,
        ),
        ("POST", "/subscriptions/private:*", Some(&*bob_cookie), 403),
        ("POST", &*guest_path, None, 403),
        ("POST", "/subscriptions/room:x?client=alice", None, 403),
        (
            "POST",
            "/subscriptions/private:alice?client=alice",
            None,
            403,
        ),
        (
            "DELETE",
            "/subscriptions/private:alice?client=alice",
            None,
            403,
        ),
        ("POST", "/subscriptions/room:x?client=bob", None, 403),
    ] {
        let (got, reason) = send(&demo, method, path, cookie, "").await;
        assert_eq!(got, status, "{method} {path} {cookie:?}: {reason}");
    }

    // alice still has her inbox, and nobody else got it.
    post_ok(&demo, "/topics/private:alice", None, "secret 2").await;
    assert_eq!(chat(&alice.next().await)["text"], "secret 2");
    marker(
        &demo,
        "marker",
        &mut [&mut alice, &mut guest_resumed, &mut bob_resumed],
    )
    .await;
}

/// A connected client joins and leaves a room without reconnecting: by its
/// generated id without a session, every connection of the user with one.
async fn live_subscriptions(adapter: &str) {
    let demo = DemoProcess::start(adapter, &[]).await;
    let mut joiner = guest(&demo, "").await;
    let mut bystander = guest(&demo, "").await;

    let path = format!("/subscriptions/room:x?client={}", joiner.id);
    let joined = post_ok(&demo, &path, None, "").await;
    assert_eq!(joined, json!({"client": joiner.id, "connections": 1}));
    post_ok(&demo, "/topics/room:x?from=carol", None, "in x").await;
    assert_eq!(
        chat(&joiner.next().await),
        json!({"room": "room:x", "from": "carol", "verified": false, "text": "in x"})
    );
    let (status, body) = send(&demo, "DELETE", &path, None, "").await;
    assert_eq!(status, 200, "{body}");
    post_ok(&demo, "/topics/room:x", None, "after leaving").await;
    marker(&demo, "marker 1", &mut [&mut joiner, &mut bystander]).await;

    // Signed in: every connection of the user, whatever `?client=` says.
    let cookie = login(&demo, "alice").await;
    let mut tabs = [
        signed_in(&demo, "", &cookie).await,
        signed_in(&demo, "", &cookie).await,
    ];
    let other = format!("/subscriptions/room:y?client={}", bystander.id);
    let joined = post_ok(&demo, &other, Some(&cookie), "").await;
    assert_eq!(joined, json!({"client": "alice", "connections": 2}));
    post_ok(&demo, "/topics/room:y", None, "in y").await;
    for tab in &mut tabs {
        assert_eq!(chat(&tab.next().await)["text"], "in y");
    }
    let (status, body) = send(&demo, "DELETE", "/subscriptions/room:y", Some(&cookie), "").await;
    assert_eq!(status, 200, "{body}");
    post_ok(&demo, "/topics/room:y", None, "after leaving").await;
    let [tab1, tab2] = &mut tabs;
    marker(
        &demo,
        "marker 2",
        &mut [tab1, tab2, &mut joiner, &mut bystander],
    )
    .await;

    // Not connected: 404, for a generated id and for a user.
    let absent = "/subscriptions/room:x?client=00000000-0000-4000-8000-000000000000";
    let (status, body) = post(&demo, absent, "").await;
    assert_eq!(status, 404, "{body}");
    let bob = login(&demo, "bob").await;
    let (status, body) = send(&demo, "POST", "/subscriptions/room:x", Some(&bob), "").await;
    assert_eq!(status, 404, "{body}");
    wait_active(&demo, 4).await;
}

/// `HEAD /events` answers as `GET` would, without a body, and registers nothing.
async fn head_events(adapter: &str) {
    let demo = DemoProcess::start(adapter, &[]).await;
    let cookie = login(&demo, "alice").await;
    for headers in [vec![], vec![("cookie", cookie.as_str())]] {
        let mut request = http().head(demo.url("/events"));
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("HEAD /events");
        assert_eq!(response.status(), 200, "{headers:?}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert!(response.bytes().await.expect("no body").is_empty());
    }
    let response = http()
        .head(demo.url("/events"))
        .header("cookie", "demo_session=alice")
        .send()
        .await
        .expect("HEAD /events");
    assert_eq!(response.status(), 401, "a bad session");
    // Nothing registered, then or a moment later; a GET is counted.
    assert_eq!(get_json(&demo, "/stats").await["active"], 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get_json(&demo, "/stats").await["active"], 0);
    let _stream = guest(&demo, "").await;
    wait_active(&demo, 1).await;
}

/// `GET /metrics` is the service's counters in Prometheus's text format, as fresh as
/// the last report (every second).
#[tokio::test]
async fn metrics_are_served_for_prometheus() {
    let demo = DemoProcess::start("axum", &[]).await;
    let _reader = guest(&demo, "").await;
    post_ok(&demo, "/topics/room:rust?from=bob", None, "hi").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, text) = send(&demo, "GET", "/metrics", None, String::new()).await;
        assert_eq!(status, 200, "{text}");
        let value = |name: &str| -> Option<f64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        };
        // The clock publishes too: at least the chat message.
        let published = value("sse_events_published_total").unwrap_or(0.0);
        if value("sse_clients") == Some(1.0) && published >= 1.0 {
            assert!(
                text.contains("# TYPE sse_deliveries_total counter"),
                "{text}"
            );
            assert!(
                text.contains("sse_drops_total{reason=\"drop_oldest\"} 0"),
                "{text}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "not reported within 5 s: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn bad_configuration_is_refused_clearly() {
    for (key, value, says) in [
        ("ADAPTER", "rocket", "use axum, warp or hyper"),
        ("PORT", "eighty", "not a port number"),
        ("DEMO_SECRET", "too short", "at least 32 bytes"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_demo"))
            .env_remove("REDIS_URL")
            .env_remove("REDIS_CLUSTER")
            .env(key, value)
            .output()
            .expect("the demo runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{key}={value}: {stderr}");
    }
}

/// A session made by one demo process is valid on another with the same
/// `DEMO_SECRET`, and refused by one with another key or a random one.
#[tokio::test]
async fn sessions_are_shared_by_processes_with_one_key() {
    let one = DemoProcess::start("axum", &[("DEMO_SECRET", SECRET)]).await;
    let two = DemoProcess::start("hyper", &[("DEMO_SECRET", SECRET)]).await;
    let other = DemoProcess::start("warp", &[("DEMO_SECRET", OTHER_SECRET)]).await;
    let random = DemoProcess::start("axum", &[]).await;

    let cookie = login(&one, "alice").await;
    let mut on_two = signed_in(&two, "?topics=private:alice", &cookie).await;
    assert_eq!(on_two.id, "alice");
    post_ok(&two, "/topics/private:alice", Some(&cookie), "note to self").await;
    assert_eq!(
        chat(&on_two.next().await),
        json!({"room": "private:alice", "from": "alice", "verified": true, "text": "note to self"})
    );
    for demo in [&other, &random] {
        let opened = SseReader::open(&demo.url("/events"), &[("cookie", &cookie)]).await;
        let (status, reason) = opened.err().expect("a session of another key is refused");
        assert_eq!(status, 401, "{reason}");
        let (status, reason) = send(demo, "POST", "/topics/room:x", Some(&cookie), "x").await;
        assert_eq!(status, 401, "{reason}");
    }
    // And the other way round.
    let theirs = login(&other, "alice").await;
    let opened = SseReader::open(&one.url("/events"), &[("cookie", &theirs)]).await;
    assert_eq!(opened.err().map(|(status, _)| status), Some(401));
}

/// With `REDIS_URL`, two demo processes are one service, and a restarted demo still
/// has the history: a client resumes with exactly what it missed. They share
/// `DEMO_SECRET`, so the session made on one is valid on the other and survives the
/// restart.
#[tokio::test]
async fn redis_two_processes_and_resume_across_restart() {
    let redis = Redis::start();
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_PREFIX", "demo-test"),
        ("DEMO_SECRET", SECRET),
    ];
    let mut one = DemoProcess::start("axum", &env).await;
    let two = DemoProcess::start("hyper", &env).await;
    assert_eq!(get_json(&one, "/stats").await["backplane"], "redis");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, metrics) = send(&one, "GET", "/metrics", None, String::new()).await;
        if metrics.lines().any(|l| l == "sse_redis_up 1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backplane's metrics: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let cookie = login(&two, "alice").await;
    let query = "?topics=room:rust,private:alice";
    let mut alice = signed_in(&one, query, &cookie).await;
    assert_eq!(alice.id, "alice");
    let mut bob = guest(&two, "").await;
    wait_active(&one, 1).await;
    wait_active(&two, 1).await;

    // Published on one process, received on both.
    let (status, body) = post(&two, "/broadcast", "from two").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(alice.next().await.data(), "from two");
    assert_eq!(bob.next().await.data(), "from two");
    post_ok(&two, "/topics/room:rust?from=bob", None, "hi rust").await;
    assert_eq!(chat(&alice.next().await)["text"], "hi rust");
    // A direct message to a client of the other process reaches only that process.
    let (status, body) = post(&two, "/clients/alice", "psst").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""processes":1"#), "{body}");
    assert_eq!(dm(&alice.next().await)["text"], "psst");
    let (status, body) = post(&two, "/clients/nobody", "psst").await;
    assert_eq!(status, 404, "connected nowhere: {body}");
    // alice in a second tab, served by the other process: a direct message reaches
    // both of her tabs, wherever it is posted, once each.
    let mut alice_on_two = signed_in(&two, "", &cookie).await;
    assert_eq!(alice_on_two.id, "alice");
    for (via, text) in [(&one, "via one"), (&two, "via two")] {
        let (status, body) = post(via, "/clients/alice", text).await;
        assert_eq!(status, 200, "connected here: {body}");
        for tab in [&mut alice, &mut alice_on_two] {
            assert_eq!(dm(&tab.next().await)["text"], text, "tab {}", tab.id);
        }
    }
    marker(
        &two,
        "both tabs",
        &mut [&mut alice, &mut alice_on_two, &mut bob],
    )
    .await;
    drop(alice_on_two);
    wait_active(&two, 1).await;

    // Restart process one while alice is away; she misses three messages.
    let last = alice.last_event_id();
    drop(alice);
    one.kill().await;
    post(&two, "/broadcast", "missed 1").await;
    post(&two, "/topics/room:rust", "missed 2").await;
    post(&two, "/topics/private:alice", "missed 3").await;
    one.restart().await;
    let url = one.url(&format!("/events{query}"));
    let mut alice = SseReader::connect_with(
        &url,
        &[
            ("cookie", cookie.as_str()),
            ("last-event-id", last.as_str()),
        ],
    )
    .await;
    assert_eq!(alice.id, "alice", "the session survives the restart");
    assert_eq!(alice.next().await.data(), "missed 1");
    assert_eq!(chat(&alice.next().await)["text"], "missed 2");
    assert_eq!(chat(&alice.next().await)["text"], "missed 3");
    marker(&one, "live", &mut [&mut alice]).await;
    assert_eq!(bob.next().await.data(), "missed 1");
    assert_eq!(bob.next().await.data(), "live");
}

/// With `REDIS_CLUSTER`, three demo processes (one per adapter) on a Redis Cluster
/// are one service: broadcast, topic and direct messages reach each client once,
/// wherever they are posted, and a client moving from process to process resumes
/// with exactly what it missed.
#[tokio::test]
async fn redis_cluster_three_processes_route_once_and_resume() {
    let cluster = RedisCluster::start(3, 0);
    let seeds = cluster.urls().join(",");
    let env = [
        ("REDIS_CLUSTER", seeds.as_str()),
        ("REDIS_PREFIX", "demo-cluster"),
        ("DEMO_SECRET", SECRET),
    ];
    let one = DemoProcess::start("axum", &env).await;
    let two = DemoProcess::start("warp", &env).await;
    let three = DemoProcess::start("hyper", &env).await;
    let demos = [&one, &two, &three];
    assert_eq!(get_json(&one, "/stats").await["backplane"], "redis");

    let cookie = login(&one, "alice").await;
    let query = "?topics=room:rust,private:alice";
    let mut alice = signed_in(&one, query, &cookie).await;
    let mut bob = guest(&two, "").await;
    let mut carol = guest(&three, "").await;
    for demo in demos {
        wait_active(demo, 1).await;
    }

    // Each kind of message, posted on each process: once to each of its readers.
    for (n, via) in demos.into_iter().enumerate() {
        let (status, body) = post(via, "/broadcast", format!("all {n}")).await;
        assert_eq!(status, 200, "{body}");
        for reader in [&mut alice, &mut bob, &mut carol] {
            assert_eq!(reader.next().await.data(), format!("all {n}"));
        }
        post_ok(
            via,
            "/topics/room:rust?from=bob",
            None,
            &format!("rust {n}"),
        )
        .await;
        assert_eq!(chat(&alice.next().await)["text"], format!("rust {n}"));
        let (status, body) = post(via, "/clients/alice", format!("psst {n}")).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(r#""processes":1"#), "{body}");
        assert_eq!(dm(&alice.next().await)["text"], format!("psst {n}"));
        marker(
            via,
            &format!("mark {n}"),
            &mut [&mut alice, &mut bob, &mut carol],
        )
        .await;
    }

    // alice moves from process to process, missing what is posted meanwhile.
    for (n, (to, via)) in [(&two, &three), (&three, &one), (&one, &two)]
        .into_iter()
        .enumerate()
    {
        let last = alice.last_event_id();
        drop(alice);
        post_ok(via, "/topics/room:rust", None, &format!("missed {n}")).await;
        post(via, "/broadcast", format!("away {n}")).await;
        let url = to.url(&format!("/events{query}"));
        let headers = [
            ("cookie", cookie.as_str()),
            ("last-event-id", last.as_str()),
        ];
        alice = SseReader::connect_with(&url, &headers).await;
        assert_eq!(chat(&alice.next().await)["text"], format!("missed {n}"));
        assert_eq!(alice.next().await.data(), format!("away {n}"));
        marker(via, &format!("back {n}"), &mut [&mut alice]).await;
        for reader in [&mut bob, &mut carol] {
            assert_eq!(reader.next().await.data(), format!("away {n}"));
            assert_eq!(reader.next().await.data(), format!("back {n}"));
        }
    }
}

/// A body that does not arrive in time is answered 408 and its connection closed, and
/// the demo goes on serving.
async fn slow_body(adapter: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let demo = DemoProcess::start(adapter, &[("BODY_TIMEOUT_MS", "300")]).await;
    let mut tcp = tokio::net::TcpStream::connect(&demo.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /broadcast HTTP/1.1\r\nhost: {}\r\ncontent-length: 65536\r\n\r\nonly this",
        demo.addr
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0; 1024];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("answered and closed within 5 s");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{adapter}: {answer}");
    assert!(started.elapsed() < Duration::from_secs(3), "{adapter}");
    let (status, _) = post(&demo, "/broadcast", "still serving").await;
    assert_eq!(status, 200, "{adapter}");
}

/// On SIGTERM the demo stops accepting at once, while a slow client keeps the drain
/// going: a reconnect meets a closed port (a network error, which `EventSource`
/// retries), never a 503 (on which it gives up for good).
async fn shutdown_closes_the_listener_first(adapter: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut demo = DemoProcess::start(adapter, &[]).await;
    let mut reader = SseReader::connect(&demo.url("/events"), None).await;
    // A client that does not read, with more queued for it than the kernel's buffers
    // take: the drain waits for it, up to the demo's 3 s deadline.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut stalled = socket
        .connect(demo.addr.parse().expect("addr"))
        .await
        .expect("connect");
    let request = format!("GET /events HTTP/1.1\r\nhost: {}\r\n\r\n", demo.addr);
    stalled.write_all(request.as_bytes()).await.expect("write");
    let mut first = [0; 64];
    let _ = stalled.read(&mut first).await;
    for _ in 0..120 {
        let (status, _) = post(&demo, "/broadcast", "y".repeat(60_000)).await;
        assert_eq!(status, 200);
    }

    demo.terminate();
    // The reading client gets what was sent, then its stream ends: shutdown began.
    let reading = Instant::now();
    while reader.next_within(Duration::from_secs(5)).await.is_some() {}
    assert!(
        reading.elapsed() < Duration::from_secs(4),
        "{adapter}: the reader's stream ended"
    );
    assert!(
        !demo.wait_exit(Duration::ZERO).await,
        "{adapter}: the drain is still going (the stalled client holds it)"
    );
    match tokio::net::TcpStream::connect(&demo.addr).await {
        Err(_) => {} // refused: what a browser retries
        Ok(mut tcp) => {
            let _ = tcp.write_all(request.as_bytes()).await;
            let mut head = [0; 12];
            let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut head))
                .await
                .map_or(0, |r| r.unwrap_or(0));
            panic!(
                "{adapter}: accepted during the drain, answered {:?}",
                String::from_utf8_lossy(&head[..n])
            );
        }
    }
    drop(stalled);
    assert!(
        demo.wait_exit(Duration::from_secs(10)).await,
        "{adapter}: exited"
    );
}

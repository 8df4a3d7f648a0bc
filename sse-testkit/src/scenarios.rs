//! The scenarios of the behaviour suite, each generic over the [`TestServer`].
//!
//! A scenario proves that a client did *not* get an event by sending a marker to
//! everyone afterwards: the marker must be the next event that client sees.

use std::{net::SocketAddr, time::Duration};

use jsonwebtoken::Algorithm;
use reqwest::{header, Version};
use sse_codec::Event;
use sse_core::{
    ClientId, DuplicatePolicy, Service, ServiceBuilder, Shutdown, Topic, CLIENT_EVENT,
    REPLACED_EVENT, REPLACED_RETRY,
};

use crate::{connect_raw_h1, routes, RecordingHooks, TestServer, WAIT};

/// A server for a service built with `configure` and [`RecordingHooks`].
async fn start<S: TestServer>(
    configure: impl FnOnce(&mut ServiceBuilder),
) -> (Service, RecordingHooks, SocketAddr) {
    let hooks = RecordingHooks::new();
    let mut builder = Service::builder();
    builder.hooks(hooks.clone());
    configure(&mut builder);
    let service = builder.build();
    let addr = S::start(service.clone()).await;
    (service, hooks, addr)
}

fn id(s: &str) -> ClientId {
    ClientId::new(s).expect("valid id")
}

fn header_str<'a>(headers: &'a header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("missing header {name}: {headers:?}"))
}

/// Stream headers, and the prelude comment sent with them before any event.
pub async fn headers_and_prelude_arrive_at_once<S: TestServer>() {
    let (_service, _, addr) = start::<S>(|_| {}).await;
    let mut stream = S::client(addr).stream(routes::DEFAULT, &[]).await;
    let headers = stream.headers();
    assert_eq!(header_str(headers, "content-type"), "text/event-stream");
    assert_eq!(header_str(headers, "cache-control"), "no-cache");
    assert_eq!(header_str(headers, "x-accel-buffering"), "no");
    // Nothing is published: the comment and the client's id must come from the
    // connect itself.
    let id = stream.client_id().await;
    let prelude = format!(": connected\n\nevent: {CLIENT_EVENT}\ndata: {id}\n\n");
    assert!(
        stream.raw().starts_with(prelude.as_bytes()),
        "{:?}",
        stream.raw()
    );
}

/// Every client gets every broadcast, in order, with increasing ids.
pub async fn broadcast_reaches_every_client_in_order<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let mut streams = Vec::new();
    for i in 0..3 {
        let name = format!("c{i}");
        streams.push(
            client
                .stream(routes::HEADER, &[("sse-clientid", &name)])
                .await,
        );
    }
    assert_eq!(service.active(), 3);
    let expected: Vec<String> = (0..10).map(|i| format!("event {i}")).collect();
    for data in &expected {
        service.broadcast(Event::message(data.clone())).unwrap();
    }
    for stream in &mut streams {
        let mut last = None;
        for data in &expected {
            let event = stream.next_event().await;
            assert_eq!(event.data(), data);
            let seq: sse_core::EventSeq = event.last_event_id().parse().expect("EPOCH-SEQ id");
            assert!(last < Some(seq), "ids increase");
            last = Some(seq);
        }
    }
}

/// `send_to` reaches its client only.
pub async fn send_to_reaches_only_its_client<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let mut a = client
        .stream(routes::HEADER, &[("sse-clientid", "a")])
        .await;
    let mut b = client
        .stream(routes::HEADER, &[("sse-clientid", "b")])
        .await;
    service
        .send_to(&id("a"), Event::message("for a"))
        .expect("a connected");
    service.broadcast(Event::message("marker")).unwrap();
    assert_eq!(a.next_data(2).await, ["for a", "marker"]);
    assert_eq!(b.next_data(1).await, ["marker"]);
}

/// `?topics=a,b` subscribes; other topics are not received.
pub async fn topics_from_query<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let mut both = client.stream("/events?topics=news,sport", &[]).await;
    let mut weather = client.stream("/events?topics=weather", &[]).await;
    let mut none = client.stream(routes::DEFAULT, &[]).await;
    let topic = |t| Topic::new(t).expect("topic");
    service
        .publish(&topic("sport"), Event::message("goal"))
        .unwrap();
    service
        .publish(&topic("weather"), Event::message("rain"))
        .unwrap();
    service.broadcast(Event::message("marker")).unwrap();
    assert_eq!(both.next_data(2).await, ["goal", "marker"]);
    assert_eq!(weather.next_data(2).await, ["rain", "marker"]);
    assert_eq!(none.next_data(1).await, ["marker"]);
}

/// The client id from a query parameter, a cookie, a path segment and a function.
pub async fn client_id_sources<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: [(String, Headers<'_>, &str); 4] = [
        (
            format!("{}?client=by-query", routes::QUERY),
            &[],
            "by-query",
        ),
        (
            routes::COOKIE.to_owned(),
            &[("cookie", "a=1; sid=by-cookie")],
            "by-cookie",
        ),
        (
            format!("{}by-path/events", routes::PATH_PREFIX),
            &[],
            "by-path",
        ),
        (
            routes::FUNCTION.to_owned(),
            &[("x-user", "fn"), ("x-topics", "t1 t2")],
            "user-fn",
        ),
    ];
    for (path, headers, expected) in cases {
        let mut stream = client.stream(&path, headers).await;
        service
            .send_to(&id(expected), Event::message(expected))
            .unwrap_or_else(|e| panic!("{path}: {expected} not connected: {e}"));
        assert_eq!(stream.next_data(1).await, [expected], "{path}");
    }
    // The function route also chose the topics.
    let mut stream = client
        .stream(routes::FUNCTION, &[("x-user", "t"), ("x-topics", "t2")])
        .await;
    service
        .publish(&Topic::new("t2").expect("topic"), Event::message("on t2"))
        .unwrap();
    assert_eq!(stream.next_data(1).await, ["on t2"]);
}

/// Without an id the service generates one, and tells the client in its first event.
pub async fn client_id_generated_when_absent<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let mut stream = S::client(addr).stream(routes::DEFAULT, &[]).await;
    let clients = service.clients();
    assert_eq!(clients.len(), 1);
    let generated = clients[0].id().clone();
    assert_eq!(generated.as_str().len(), 36, "a UUID: {generated}");
    assert_eq!(stream.client_id().await, generated.as_str());
    service
        .send_to(&generated, Event::message("yours"))
        .expect("connected");
    assert_eq!(stream.next_data(1).await, ["yours"]);
}

async fn resume<S: TestServer>(by_query: bool) {
    let (service, hooks, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let mut first = client
        .stream(routes::HEADER, &[("sse-clientid", "r")])
        .await;
    for i in 1..=3 {
        service.broadcast(Event::message(format!("e{i}"))).unwrap();
    }
    assert_eq!(first.next_data(2).await, ["e1", "e2"]);
    let seen = first.next_event().await;
    assert_eq!(seen.data(), "e3");
    drop(first);
    assert!(
        hooks.wait_removed("r", WAIT).await,
        "first connection removed"
    );

    service.broadcast(Event::message("e4")).unwrap();
    service.broadcast(Event::message("e5")).unwrap();
    let last = seen.last_event_id();
    let mut again = if by_query {
        let path = format!("{}?last_event_id={last}", routes::HEADER);
        client.stream(&path, &[("sse-clientid", "r")]).await
    } else {
        client
            .stream(
                routes::HEADER,
                &[("sse-clientid", "r"), ("last-event-id", last)],
            )
            .await
    };
    service.broadcast(Event::message("marker")).unwrap();
    assert_eq!(again.next_data(3).await, ["e4", "e5", "marker"]);
}

/// `Last-Event-ID` in the header replays exactly the missed events.
pub async fn resume_with_last_event_id_header<S: TestServer>() {
    resume::<S>(false).await;
}

/// `?last_event_id=` replays exactly the missed events.
pub async fn resume_with_last_event_id_query<S: TestServer>() {
    resume::<S>(true).await;
}

/// An oversized or non-UTF-8 `Last-Event-ID` is treated as absent: no replay, no
/// `sse-reset` event.
pub async fn malformed_last_event_id_is_absent<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    service.broadcast(Event::message("old")).unwrap();
    let long = "1".repeat(300);
    let mut oversized = client
        .stream(routes::DEFAULT, &[("last-event-id", &long)])
        .await;
    let mut non_utf8 = client.stream("/events?last_event_id=%FF%FE", &[]).await;
    service.broadcast(Event::message("marker")).unwrap();
    for stream in [&mut oversized, &mut non_utf8] {
        let event = stream.next_event().await;
        assert_eq!((event.event_type(), event.data()), ("message", "marker"));
    }
}

/// Keep-alive comments arrive on an idle stream.
pub async fn keep_alive_comments_arrive<S: TestServer>() {
    let (_service, _, addr) = start::<S>(|b| {
        b.keep_alive(Some(Duration::from_millis(100)));
    })
    .await;
    let mut stream = S::client(addr).stream(routes::DEFAULT, &[]).await;
    let keep_alives = |raw: &[u8]| raw.windows(4).filter(|w| w == b"\n:\n\n").count();
    stream.read_until(|raw| keep_alives(raw) >= 2).await;
}

/// Closing the TCP connection of an idle stream (no keep-alive, nothing sent) removes
/// the client, firing the remove hook once, within a second.
pub async fn disconnect_removes_idle_client_within_a_second<S: TestServer>() {
    if !S::PLAIN {
        // A raw HTTP/1.1 socket; over HTTP/2 `http2_disconnect_removes_client`.
        return;
    }
    let (service, hooks, addr) = start::<S>(|b| {
        b.keep_alive(None);
    })
    .await;
    let tcp = connect_raw_h1(addr, routes::HEADER, &[("sse-clientid", "idle")]).await;
    assert_eq!(service.active(), 1);
    drop(tcp);
    assert!(
        hooks.wait_removed("idle", Duration::from_secs(1)).await,
        "idle client not removed within 1 s of the TCP close"
    );
    assert_eq!(service.active(), 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(hooks.removed("idle"), 1, "remove hook fired once");
}

/// A rejection from the admission hook becomes its status with a short text body.
pub async fn rejection_401_and_403_from_hook<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    for (id, status, reason) in [
        ("deny-401", 401, "no token"),
        ("deny-403", 403, "not yours"),
    ] {
        let refused = client
            .get(routes::HEADER, &[("sse-clientid", id)])
            .await
            .expect_err("refused");
        assert_eq!(refused.status, status);
        assert_eq!(refused.body.trim(), reason);
        assert!(header_str(&refused.headers, "content-type").starts_with("text/plain"));
    }
    assert_eq!(service.active(), 0);
}

/// An invalid client id or topic is refused with 400.
pub async fn rejection_400_for_invalid_client_id<S: TestServer>() {
    let (_service, _, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let refused = client
        .get(routes::HEADER, &[("sse-clientid", "two words")])
        .await
        .expect_err("refused");
    assert_eq!(refused.status, 400);
    let refused = client
        .get("/events?topics=a%20b", &[])
        .await
        .expect_err("refused");
    assert_eq!(refused.status, 400);
}

/// Over `max_clients`: 429 with `Retry-After` in seconds.
pub async fn rejection_429_with_retry_after<S: TestServer>() {
    let (_service, _, addr) = start::<S>(|b| {
        b.max_clients(1);
    })
    .await;
    let client = S::client(addr);
    let _first = client.stream(routes::DEFAULT, &[]).await;
    let refused = client.get(routes::DEFAULT, &[]).await.expect_err("refused");
    assert_eq!(refused.status, 429);
    let secs: u64 = header_str(&refused.headers, "retry-after")
        .parse()
        .expect("seconds");
    assert!(secs >= 1);
}

/// A duplicate id under [`DuplicatePolicy::Reject`] is refused with 409.
pub async fn duplicate_reject_is_409<S: TestServer>() {
    let (_service, _, addr) = start::<S>(|b| {
        b.duplicate_policy(DuplicatePolicy::Reject);
    })
    .await;
    let client = S::client(addr);
    let _first = client
        .stream(routes::HEADER, &[("sse-clientid", "dup")])
        .await;
    let refused = client
        .get(routes::HEADER, &[("sse-clientid", "dup")])
        .await
        .expect_err("refused");
    assert_eq!(refused.status, 409);
}

/// Under [`DuplicatePolicy::Replace`] the old stream is told, with a day-long `retry`
/// so an `EventSource` does not come back and take turns, and ends; the new one is
/// live.
pub async fn duplicate_replace_ends_old_stream<S: TestServer>() {
    let (service, hooks, addr) = start::<S>(|b| {
        b.duplicate_policy(DuplicatePolicy::Replace);
    })
    .await;
    let client = S::client(addr);
    let mut old = client
        .stream(routes::HEADER, &[("sse-clientid", "dup")])
        .await;
    let mut new = client
        .stream(routes::HEADER, &[("sse-clientid", "dup")])
        .await;
    let events = old.events_until_end().await;
    let told: Vec<_> = events.iter().map(|e| (e.event_type(), e.data())).collect();
    assert_eq!(
        told,
        [(REPLACED_EVENT, "replaced")],
        "old stream told, then ends"
    );
    let retry = format!("retry: {}\n", REPLACED_RETRY.as_millis());
    assert!(
        String::from_utf8_lossy(old.raw()).contains(&retry),
        "{:?}",
        String::from_utf8_lossy(old.raw())
    );
    assert_eq!(hooks.removed("dup"), 1);
    service.broadcast(Event::message("x")).unwrap();
    assert_eq!(new.next_data(1).await, ["x"]);
    assert_eq!(service.active(), 1);
}

/// Graceful shutdown sends the final event, ends every stream, and refuses new
/// connections with 503.
pub async fn graceful_shutdown_ends_every_stream<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(client.stream(routes::DEFAULT, &[]).await);
    }
    let shutdown = tokio::spawn({
        let service = service.clone();
        async move {
            let options = Shutdown::new(Duration::from_secs(3)).final_event(Event::message("bye"));
            service.shutdown(options).await
        }
    });
    for stream in &mut streams {
        let events = stream.events_until_end().await;
        let data: Vec<_> = events.iter().map(|e| e.data()).collect();
        assert_eq!(data, ["bye"]);
    }
    let report = tokio::time::timeout(WAIT, shutdown)
        .await
        .expect("shutdown within WAIT")
        .expect("shutdown task");
    assert_eq!((report.clients, report.forced), (3, 0));
    let refused = client.get(routes::DEFAULT, &[]).await.expect_err("refused");
    assert_eq!(refused.status, 503);
}

/// HTTP/2 with prior knowledge: same headers (no `Connection`), streams multiplexed on
/// one connection. Skipped for servers without h2c.
pub async fn http2_prior_knowledge<S: TestServer>() {
    if !S::HTTP2 {
        return;
    }
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = S::h2_client(addr);
    let mut a = client
        .stream(routes::HEADER, &[("sse-clientid", "a")])
        .await;
    let mut b = client
        .stream("/header/events?topics=t", &[("sse-clientid", "b")])
        .await;
    for stream in [&a, &b] {
        assert_eq!(stream.version(), Version::HTTP_2);
        assert_eq!(
            header_str(stream.headers(), "content-type"),
            "text/event-stream"
        );
        assert!(stream.headers().get("connection").is_none());
    }
    service
        .publish(&Topic::new("t").expect("topic"), Event::message("t only"))
        .unwrap();
    service.broadcast(Event::message("all")).unwrap();
    assert_eq!(a.next_data(1).await, ["all"]);
    assert_eq!(b.next_data(2).await, ["t only", "all"]);
    let refused = client
        .get(routes::HEADER, &[("sse-clientid", "deny-401")])
        .await;
    assert_eq!(refused.expect_err("refused").status, 401);
}

/// Over HTTP/2, dropping the response (a stream reset) and the connection removes the
/// client within a second. Skipped for servers without h2c.
pub async fn http2_disconnect_removes_client<S: TestServer>() {
    if !S::HTTP2 {
        return;
    }
    let (service, hooks, addr) = start::<S>(|b| {
        b.keep_alive(None);
    })
    .await;
    let client = S::h2_client(addr);
    let mut stream = client
        .stream(routes::HEADER, &[("sse-clientid", "h2")])
        .await;
    stream.read_until(|raw| !raw.is_empty()).await;
    let _other = client
        .stream(routes::HEADER, &[("sse-clientid", "stays")])
        .await;
    drop(stream);
    assert!(
        hooks.wait_removed("h2", Duration::from_secs(1)).await,
        "reset stream removed"
    );
    assert_eq!(
        hooks.removed("stays"),
        0,
        "the connection's other stream lives on"
    );
    drop((_other, client));
    assert!(
        hooks.wait_removed("stays", Duration::from_secs(1)).await,
        "closed connection removed"
    );
    assert_eq!(service.active(), 0);
}

/// `HEAD` answers with the stream's headers and no body, and registers no client.
pub async fn head_is_headers_only<S: TestServer>() {
    let (service, hooks, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let head = client.head(routes::DEFAULT, &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        header_str(&head.headers, "content-type"),
        "text/event-stream"
    );
    assert_eq!(head.body, "");
    // A refused GET is refused for HEAD too: the same authentication and checks run.
    let refused = client.head(routes::JWT, &[]).await;
    assert_eq!(refused.status, 401);
    let auth = format!("Bearer {}", routes::token("mallory", &["room:*"]));
    let escalation = "/jwt/events?topics=private:alice";
    let refused = client.head(escalation, &[("authorization", &auth)]).await;
    assert_eq!(refused.status, 403);
    let allowed = client
        .head("/jwt/events?topics=room:a", &[("authorization", &auth)])
        .await;
    assert_eq!(allowed.status, 200);
    assert_eq!(service.active(), 0);
    assert_eq!(service.metrics().connected, 0);
    assert_eq!(hooks.removed_total(), 0);
}

/// By default nothing the client sends chooses its id: an `sse-clientid` header, a
/// `client_id` query parameter and a cookie all get a generated id, and nothing sent
/// to the id they name.
pub async fn claimed_ids_are_ignored_by_default<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let mut claims = [
        client
            .stream(routes::DEFAULT, &[("sse-clientid", "alice")])
            .await,
        client
            .stream("/events?client_id=alice&client=alice", &[])
            .await,
        client
            .stream(routes::DEFAULT, &[("cookie", "sid=alice; session=alice")])
            .await,
    ];
    for stream in &mut claims {
        let id = stream.client_id().await;
        assert_eq!(id.len(), 36, "a generated id, not {id:?}");
    }
    assert!(service.send_to(&id("alice"), Event::message("x")).is_err());
}

/// Every way to pass for alice without her token fails: claimed ids, a plain cookie,
/// tampered, expired, wrongly signed and unsigned tokens are refused or get an id of
/// their own, and mallory's own valid token cannot read alice's topic, live or
/// replayed. Alice's stream stays up and is the only one to get what is hers.
pub async fn hijack_attempts_fail<S: TestServer>() {
    let (service, hooks, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let alice_topics = ["room:*", "private:alice"];
    let alice_token = routes::token("alice", &alice_topics);
    let bearer = |token: &str| format!("Bearer {token}");
    let inbox = "/jwt/events?topics=private:alice";
    let mut alice = client
        .stream(inbox, &[("authorization", &bearer(&alice_token))])
        .await;
    assert_eq!(alice.client_id().await, "alice");
    service
        .publish(
            &Topic::new("private:alice").expect("topic"),
            Event::message("old secret"),
        )
        .unwrap();
    let history = service.latest_id().to_string();
    assert_eq!(alice.next_data(1).await, ["old secret"]);

    // Refused outright.
    let mut expired = routes::claims("alice", &alice_topics);
    expired["exp"] = serde_json::json!(0);
    let mallory_token = routes::token("mallory", &["room:*", "private:mallory"]);
    let refused: [(&str, String, &str); 7] = [
        ("plain cookie", "session=alice".into(), "cookie"),
        (
            "tampered token",
            routes::tampered_token(&mallory_token, &routes::claims("alice", &alice_topics)),
            "authorization",
        ),
        (
            "expired token",
            routes::sign(&expired, Algorithm::HS256, routes::JWT_SECRET),
            "authorization",
        ),
        (
            "another key",
            routes::sign(
                &routes::claims("alice", &alice_topics),
                Algorithm::HS256,
                b"not the suite's key, 32 bytes..",
            ),
            "authorization",
        ),
        (
            "another algorithm",
            routes::sign(
                &routes::claims("alice", &alice_topics),
                Algorithm::HS384,
                routes::JWT_SECRET,
            ),
            "authorization",
        ),
        (
            "alg none",
            routes::unsigned_token(&routes::claims("alice", &alice_topics)),
            "authorization",
        ),
        (
            "alg none in the cookie",
            routes::unsigned_token(&routes::claims("alice", &alice_topics)),
            "cookie",
        ),
    ];
    for (what, credential, place) in refused {
        let value = match place {
            "cookie" if credential.contains('=') => credential.clone(),
            "cookie" => format!("session={credential}"),
            _ => bearer(&credential),
        };
        let answer = client.get(inbox, &[(place, &value)]).await;
        let refused = answer.expect_err(what);
        assert_eq!(refused.status, 401, "{what}: {}", refused.body);
    }

    // Mallory's own token: his topic is fine, alice's is 403, live or replayed.
    let mallory_auth = bearer(&mallory_token);
    for path in [
        "/jwt/events?topics=private:alice".to_owned(),
        "/jwt/events?topics=room:a,private:alice".to_owned(),
        format!("/jwt/events?topics=private:alice&last_event_id={history}"),
    ] {
        let refused = client
            .get(&path, &[("authorization", &mallory_auth)])
            .await
            .expect_err("topic escalation refused");
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
        assert!(refused.body.contains("private:alice"), "{}", refused.body);
    }
    let mut strangers = vec![
        client
            .stream(
                "/jwt/events?topics=private:mallory",
                &[("authorization", &mallory_auth)],
            )
            .await,
        client
            .stream(routes::DEFAULT, &[("sse-clientid", "alice")])
            .await,
        client.stream("/events?client_id=alice", &[]).await,
        client
            .stream(
                routes::DEFAULT,
                &[("cookie", &format!("session={alice_token}"))],
            )
            .await,
    ];
    assert_eq!(strangers[0].client_id().await, "mallory");
    for stranger in &mut strangers[1..] {
        assert_ne!(stranger.client_id().await, "alice");
    }
    // Live subscriptions obey the same grants.
    let refused = service.subscribe(
        &id("mallory"),
        &[Topic::new("private:alice").expect("topic")],
    );
    assert_eq!(
        refused
            .expect_err("403")
            .rejection()
            .map(|r| sse_http::status(r.kind()).as_u16()),
        Some(403)
    );

    service
        .send_to(&id("alice"), Event::message("dm for alice"))
        .expect("alice connected");
    service
        .publish(
            &Topic::new("private:alice").expect("topic"),
            Event::message("new secret"),
        )
        .unwrap();
    service.broadcast(Event::message("marker")).unwrap();
    assert_eq!(
        alice.next_data(3).await,
        ["dm for alice", "new secret", "marker"]
    );
    for stranger in &mut strangers {
        assert_eq!(stranger.next_data(1).await, ["marker"]);
    }
    assert_eq!(hooks.removed("alice"), 0, "alice's stream stayed up");
    let alice_connections = service
        .clients()
        .iter()
        .filter(|c| c.id().as_str() == "alice")
        .count();
    assert_eq!(alice_connections, 1);
}

/// One user in several tabs: every connection of the id stays up and gets what is
/// sent to it (the default duplicate policy).
pub async fn several_tabs_of_one_user<S: TestServer>() {
    let (service, hooks, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let cookie = format!("session={}", routes::token("alice", &[]));
    let mut tabs = Vec::new();
    for _ in 0..3 {
        let mut tab = client.stream(routes::JWT, &[("cookie", &cookie)]).await;
        assert_eq!(tab.client_id().await, "alice");
        tabs.push(tab);
    }
    let sent = service
        .send_to(&id("alice"), Event::message("to every tab"))
        .expect("connected");
    assert_eq!(sent.queued, 3);
    for tab in &mut tabs {
        assert_eq!(tab.next_data(1).await, ["to every tab"]);
    }
    assert_eq!(hooks.removed("alice"), 0);
}

/// A live subscription reaches the connected client at once and ends with
/// unsubscribe; a topic outside its grants is refused with 403 and changes nothing.
pub async fn live_subscriptions_follow_grants<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let auth = format!("Bearer {}", routes::token("alice", &["room:*"]));
    let mut alice = client
        .stream(routes::JWT, &[("authorization", &auth)])
        .await;
    alice.client_id().await;
    let room = Topic::new("room:x").expect("topic");
    let secret = Topic::new("private:bob").expect("topic");
    assert_eq!(
        service.subscribe(&id("alice"), std::slice::from_ref(&room)),
        Ok(1)
    );
    let refused = service
        .subscribe(&id("alice"), std::slice::from_ref(&secret))
        .expect_err("403");
    assert_eq!(
        refused
            .rejection()
            .map(|r| sse_http::status(r.kind()).as_u16()),
        Some(403)
    );
    service
        .publish(&room, Event::message("in the room"))
        .unwrap();
    service
        .publish(&secret, Event::message("not for alice"))
        .unwrap();
    service.broadcast(Event::message("marker 1")).unwrap();
    assert_eq!(alice.next_data(2).await, ["in the room", "marker 1"]);
    assert_eq!(
        service.unsubscribe(&id("alice"), std::slice::from_ref(&room)),
        Ok(1)
    );
    service
        .publish(&room, Event::message("after leaving"))
        .unwrap();
    service.broadcast(Event::message("marker 2")).unwrap();
    assert_eq!(alice.next_data(1).await, ["marker 2"]);
}

/// A principal that the application's own middleware put in the request's
/// extensions is the connection's identity, without any client-claimed id. Skipped
/// for servers without such middleware.
pub async fn principal_from_middleware<S: TestServer>() {
    if !S::MIDDLEWARE {
        return;
    }
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = S::client(addr);
    let mut verified = client
        .stream(
            routes::MIDDLEWARE,
            &[("x-mw-user", "carol"), ("sse-clientid", "alice")],
        )
        .await;
    assert_eq!(verified.client_id().await, "mw-carol");
    let mut without = client.stream(routes::MIDDLEWARE, &[]).await;
    assert_eq!(without.client_id().await.len(), 36);
    service
        .send_to(&id("mw-carol"), Event::message("for carol"))
        .expect("connected");
    assert_eq!(verified.next_data(1).await, ["for carol"]);
}

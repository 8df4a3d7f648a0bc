//! The scenarios of the behaviour suite, each generic over the [`TestServer`].
//!
//! A scenario proves that a client did *not* get an event by sending a marker to
//! everyone afterwards: the marker must be the next event that client sees.

use std::{net::SocketAddr, time::Duration};

use reqwest::{header, Version};
use sse_codec::Event;
use sse_core::{ClientId, DuplicatePolicy, Service, ServiceBuilder, Shutdown, Topic};

use crate::{connect_raw_h1, routes, Client, RecordingHooks, TestServer, WAIT};

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
    let mut stream = Client::h1(addr).stream(routes::DEFAULT, &[]).await;
    let headers = stream.headers();
    assert_eq!(header_str(headers, "content-type"), "text/event-stream");
    assert_eq!(header_str(headers, "cache-control"), "no-cache");
    assert_eq!(header_str(headers, "x-accel-buffering"), "no");
    // Nothing is published: the comment must come from the connect itself.
    stream.read_until(|raw| raw.len() >= 13).await;
    assert!(
        stream.raw().starts_with(b": connected\n\n"),
        "{:?}",
        stream.raw()
    );
}

/// Every client gets every broadcast, in order, with increasing ids.
pub async fn broadcast_reaches_every_client_in_order<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = Client::h1(addr);
    let mut streams = Vec::new();
    for i in 0..3 {
        let name = format!("c{i}");
        streams.push(
            client
                .stream(routes::DEFAULT, &[("sse-clientid", &name)])
                .await,
        );
    }
    assert_eq!(service.active(), 3);
    let expected: Vec<String> = (0..10).map(|i| format!("event {i}")).collect();
    for data in &expected {
        service.broadcast(Event::message(data.clone()));
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
    let client = Client::h1(addr);
    let mut a = client
        .stream(routes::DEFAULT, &[("sse-clientid", "a")])
        .await;
    let mut b = client
        .stream(routes::DEFAULT, &[("sse-clientid", "b")])
        .await;
    service
        .send_to(&id("a"), Event::message("for a"))
        .expect("a connected");
    service.broadcast(Event::message("marker"));
    assert_eq!(a.next_data(2).await, ["for a", "marker"]);
    assert_eq!(b.next_data(1).await, ["marker"]);
}

/// `?topics=a,b` subscribes; other topics are not received.
pub async fn topics_from_query<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = Client::h1(addr);
    let mut both = client.stream("/events?topics=news,sport", &[]).await;
    let mut weather = client.stream("/events?topics=weather", &[]).await;
    let mut none = client.stream(routes::DEFAULT, &[]).await;
    let topic = |t| Topic::new(t).expect("topic");
    service.publish(&topic("sport"), Event::message("goal"));
    service.publish(&topic("weather"), Event::message("rain"));
    service.broadcast(Event::message("marker"));
    assert_eq!(both.next_data(2).await, ["goal", "marker"]);
    assert_eq!(weather.next_data(2).await, ["rain", "marker"]);
    assert_eq!(none.next_data(1).await, ["marker"]);
}

/// The client id from a query parameter, a cookie, a path segment and a function.
pub async fn client_id_sources<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = Client::h1(addr);
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
    service.publish(&Topic::new("t2").expect("topic"), Event::message("on t2"));
    assert_eq!(stream.next_data(1).await, ["on t2"]);
}

/// Without an id the service generates one.
pub async fn client_id_generated_when_absent<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let mut stream = Client::h1(addr).stream(routes::DEFAULT, &[]).await;
    let clients = service.clients();
    assert_eq!(clients.len(), 1);
    let generated = clients[0].id().clone();
    assert_eq!(generated.as_str().len(), 36, "a UUID: {generated}");
    service
        .send_to(&generated, Event::message("yours"))
        .expect("connected");
    assert_eq!(stream.next_data(1).await, ["yours"]);
}

async fn resume<S: TestServer>(by_query: bool) {
    let (service, hooks, addr) = start::<S>(|_| {}).await;
    let client = Client::h1(addr);
    let mut first = client
        .stream(routes::DEFAULT, &[("sse-clientid", "r")])
        .await;
    for i in 1..=3 {
        service.broadcast(Event::message(format!("e{i}")));
    }
    assert_eq!(first.next_data(2).await, ["e1", "e2"]);
    let seen = first.next_event().await;
    assert_eq!(seen.data(), "e3");
    drop(first);
    assert!(
        hooks.wait_removed("r", WAIT).await,
        "first connection removed"
    );

    service.broadcast(Event::message("e4"));
    service.broadcast(Event::message("e5"));
    let last = seen.last_event_id();
    let mut again = if by_query {
        let path = format!("/events?last_event_id={last}");
        client.stream(&path, &[("sse-clientid", "r")]).await
    } else {
        client
            .stream(
                routes::DEFAULT,
                &[("sse-clientid", "r"), ("last-event-id", last)],
            )
            .await
    };
    service.broadcast(Event::message("marker"));
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
    let client = Client::h1(addr);
    service.broadcast(Event::message("old"));
    let long = "1".repeat(300);
    let mut oversized = client
        .stream(routes::DEFAULT, &[("last-event-id", &long)])
        .await;
    let mut non_utf8 = client.stream("/events?last_event_id=%FF%FE", &[]).await;
    service.broadcast(Event::message("marker"));
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
    let mut stream = Client::h1(addr).stream(routes::DEFAULT, &[]).await;
    let keep_alives = |raw: &[u8]| raw.windows(4).filter(|w| w == b"\n:\n\n").count();
    stream.read_until(|raw| keep_alives(raw) >= 2).await;
}

/// Closing the TCP connection of an idle stream (no keep-alive, nothing sent) removes
/// the client, firing the remove hook once, within a second.
pub async fn disconnect_removes_idle_client_within_a_second<S: TestServer>() {
    let (service, hooks, addr) = start::<S>(|b| {
        b.keep_alive(None);
    })
    .await;
    let tcp = connect_raw_h1(addr, routes::DEFAULT, &[("sse-clientid", "idle")]).await;
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
    let client = Client::h1(addr);
    for (id, status, reason) in [
        ("deny-401", 401, "no token"),
        ("deny-403", 403, "not yours"),
    ] {
        let refused = client
            .get(routes::DEFAULT, &[("sse-clientid", id)])
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
    let client = Client::h1(addr);
    let refused = client
        .get(routes::DEFAULT, &[("sse-clientid", "two words")])
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
    let client = Client::h1(addr);
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
    let client = Client::h1(addr);
    let _first = client
        .stream(routes::DEFAULT, &[("sse-clientid", "dup")])
        .await;
    let refused = client
        .get(routes::DEFAULT, &[("sse-clientid", "dup")])
        .await
        .expect_err("refused");
    assert_eq!(refused.status, 409);
}

/// Under [`DuplicatePolicy::Replace`] the old stream ends and the new one is live.
pub async fn duplicate_replace_ends_old_stream<S: TestServer>() {
    let (service, hooks, addr) = start::<S>(|b| {
        b.duplicate_policy(DuplicatePolicy::Replace);
    })
    .await;
    let client = Client::h1(addr);
    let mut old = client
        .stream(routes::DEFAULT, &[("sse-clientid", "dup")])
        .await;
    let mut new = client
        .stream(routes::DEFAULT, &[("sse-clientid", "dup")])
        .await;
    assert!(old.events_until_end().await.is_empty(), "old stream ends");
    assert_eq!(hooks.removed("dup"), 1);
    service.broadcast(Event::message("x"));
    assert_eq!(new.next_data(1).await, ["x"]);
    assert_eq!(service.active(), 1);
}

/// Graceful shutdown sends the final event, ends every stream, and refuses new
/// connections with 503.
pub async fn graceful_shutdown_ends_every_stream<S: TestServer>() {
    let (service, _, addr) = start::<S>(|_| {}).await;
    let client = Client::h1(addr);
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
    let client = Client::h2(addr);
    let mut a = client
        .stream(routes::DEFAULT, &[("sse-clientid", "a")])
        .await;
    let mut b = client
        .stream("/events?topics=t", &[("sse-clientid", "b")])
        .await;
    for stream in [&a, &b] {
        assert_eq!(stream.version(), Version::HTTP_2);
        assert_eq!(
            header_str(stream.headers(), "content-type"),
            "text/event-stream"
        );
        assert!(stream.headers().get("connection").is_none());
    }
    service.publish(&Topic::new("t").expect("topic"), Event::message("t only"));
    service.broadcast(Event::message("all"));
    assert_eq!(a.next_data(1).await, ["all"]);
    assert_eq!(b.next_data(2).await, ["t only", "all"]);
    let refused = client
        .get(routes::DEFAULT, &[("sse-clientid", "deny-401")])
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
    let client = Client::h2(addr);
    let mut stream = client
        .stream(routes::DEFAULT, &[("sse-clientid", "h2")])
        .await;
    stream.read_until(|raw| !raw.is_empty()).await;
    let _other = client
        .stream(routes::DEFAULT, &[("sse-clientid", "stays")])
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

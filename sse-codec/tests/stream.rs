//! The `futures` feature: `ParseStream` over a stream of byte chunks.

use futures::executor::block_on;
use futures::{stream, StreamExt};
use sse_codec::{Item, MessageEvent, ParseStream, Parser};

fn msg(data: &str, id: &str) -> Item {
    Item::Event(MessageEvent::new("message", data, id))
}

#[test]
fn parses_chunks_and_drops_the_unfinished_event() {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"id: 1\ndata: a".to_vec()),
        Ok(b"\r".to_vec()),
        Ok(Vec::new()),
        Ok(b"\n\r\nretry: 10\ndata: lost\n".to_vec()),
    ];
    let items: Vec<_> = block_on(ParseStream::new(stream::iter(chunks)).collect());
    let items: Vec<_> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        items,
        [
            msg("a", "1"),
            Item::Retry(std::time::Duration::from_millis(10))
        ]
    );
}

#[test]
fn passes_transport_errors_through_and_maps_parser_errors() {
    let chunks = stream::iter([
        Ok(&b"data: 0123456789\n\n"[..]),
        Err(std::io::Error::other("reset")),
        Ok(b"data: ok\n\n"),
    ]);
    let parser = Parser::builder()
        .max_line_len(10)
        .last_event_id("7")
        .build();
    let items: Vec<_> = block_on(ParseStream::with_parser(chunks, parser).collect());
    assert_eq!(items.len(), 3);
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert!(error.to_string().contains("longer than 10"), "{error}");
    assert_eq!(items[1].as_ref().unwrap_err().to_string(), "reset");
    assert_eq!(
        items[2].as_ref().unwrap(),
        &Item::Event(MessageEvent::new("message", "ok", "7"))
    );
}

#[test]
fn works_with_boxed_errors_and_pending_streams() {
    // A `then` stream is not `Unpin`; boxed errors come from `From<Error>` for free.
    let chunks = stream::iter(["data: a\n", "\n"]).then(|chunk| async move {
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(bytes::Bytes::from(chunk))
    });
    let mut parsed = ParseStream::new(chunks);
    let first = block_on(parsed.next()).unwrap().unwrap();
    assert_eq!(first, msg("a", ""));
    assert!(block_on(parsed.next()).is_none());
    assert_eq!(parsed.parser().last_event_id(), "");
    assert!(format!("{parsed:?}").starts_with("ParseStream"));
}

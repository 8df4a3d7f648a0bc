//! Decoding a stream of byte chunks (the `futures` feature).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::{Item, ParseError, Parser};

/// A [`Stream`] of parsed [`Item`]s over a stream of byte chunks, such as an HTTP
/// response body.
///
/// Transport errors are passed through; parser errors become `E` through
/// `From<`[`ParseError`]`>` (implemented for [`std::io::Error`], and for boxed errors by the
/// standard library). When the chunks end, the parser is [finished](Parser::finish) and
/// an unfinished event is dropped.
///
/// # Examples
///
/// ```
/// use futures::{executor::block_on, stream, StreamExt};
/// use sse_codec::{Item, MessageEvent, ParseStream};
///
/// let chunks = stream::iter([Ok::<_, std::io::Error>(&b"data: a\n"[..]), Ok(b"\ndata: b")]);
/// let items: Vec<_> = block_on(ParseStream::new(chunks).collect());
/// assert_eq!(items.len(), 1);
/// assert_eq!(items[0].as_ref().unwrap(), &Item::Event(MessageEvent::new("message", "a", "")));
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct ParseStream<S> {
    // Boxed once so that any stream can be used, `Unpin` or not, with no `unsafe`.
    chunks: Pin<Box<S>>,
    parser: Parser,
    done: bool,
}

impl<S> ParseStream<S> {
    /// Parses `chunks` with a [`Parser::new`] parser.
    pub fn new(chunks: S) -> Self {
        Self::with_parser(chunks, Parser::new())
    }

    /// Parses `chunks` with `parser`, e.g. one built with other limits or a starting
    /// last event id.
    pub fn with_parser(chunks: S, parser: Parser) -> Self {
        ParseStream {
            chunks: Box::pin(chunks),
            parser,
            done: false,
        }
    }

    /// The parser, e.g. for its [`last_event_id`](Parser::last_event_id) when
    /// reconnecting.
    pub fn parser(&self) -> &Parser {
        &self.parser
    }
}

impl<S, T, E> Stream for ParseStream<S>
where
    S: Stream<Item = Result<T, E>>,
    T: AsRef<[u8]>,
    E: From<ParseError>,
{
    type Item = Result<Item, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is `Unpin` (the chunk stream is boxed).
        let this = self.get_mut();
        loop {
            if let Some(item) = this.parser.next_item() {
                return Poll::Ready(Some(item.map_err(E::from)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.chunks.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => this.parser.feed(chunk.as_ref()),
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => {
                    this.parser.finish();
                    this.done = true;
                }
            }
        }
    }
}

impl<S> fmt::Debug for ParseStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseStream")
            .field("parser", &self.parser)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

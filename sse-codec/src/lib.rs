//! Sans-I/O Server-Sent Events: an encoder that cannot be tricked into writing an extra
//! field or event, and an incremental parser exact to the WHATWG HTML standard's
//! "Server-sent events" section.
//!
//! ```
//! use sse_codec::{Event, EventId, Item, MessageEvent, Parser};
//!
//! // Encode once; the `Bytes` can be cloned cheaply for every client.
//! let frame = Event::message("line one\nline two").with_id(EventId::from(7)).encode();
//! assert_eq!(&frame[..], b"id: 7\ndata: line one\ndata: line two\n\n");
//!
//! // Parse incrementally, however the bytes are chunked.
//! let mut parser = Parser::new();
//! for chunk in frame.chunks(5) {
//!     parser.feed(chunk);
//! }
//! let event = MessageEvent::new("message", "line one\nline two", "7");
//! assert_eq!(parser.next_item(), Some(Ok(Item::Event(event))));
//! assert_eq!(parser.next_item(), None); // need more input
//! ```
//!
//! The crate does no I/O and depends only on `bytes` and `memchr`. Features, all off by
//! default:
//!
//! - `futures`: `ParseStream`, a `Stream` of parsed items over any stream of byte
//!   chunks.
//! - `proptest`: the `strategy` module, generators of events, event streams and chunkings.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod encode;
mod error;
mod event;
mod field;
mod parse;
#[cfg(feature = "proptest")]
pub mod strategy;
#[cfg(feature = "futures")]
mod stream;

pub use encode::{comment, KEEP_ALIVE};
pub use error::{FieldError, ParseError};
pub use event::Event;
pub use field::{EventId, EventType};
pub use parse::{Item, MessageEvent, Parser, ParserBuilder};
#[cfg(feature = "futures")]
pub use stream::ParseStream;

//! Sans-I/O Server-Sent Events: an encoder that cannot be tricked into writing an extra
//! field or event, and an incremental parser exact to the WHATWG HTML standard's
//! "Server-sent events" section.
//!
//! ```
//! use sse_codec::{Event, EventId};
//!
//! let frame = Event::message("line one\nline two").with_id(EventId::from(7)).encode();
//! assert_eq!(&frame[..], b"id: 7\ndata: line one\ndata: line two\n\n");
//! ```

mod encode;
mod error;
mod event;
mod field;

pub use encode::{comment, KEEP_ALIVE};
pub use error::Error;
pub use event::Event;
pub use field::{EventId, EventType};

//! One test per rule of the WHATWG HTML standard's "Parsing an event stream" and
//! "Interpreting an event stream", plus the parser's own limits. Every sample runs
//! whole, byte by byte and split at every position (see `common::check`).

#[macro_use]
mod common;

use common::{ev, msg, parse_chunks, retry};
use sse_codec::{Item, ParseError, Parser};

wire_tests! {
    /// "The UTF-8 decode algorithm strips one leading UTF-8 Byte Order Mark (BOM)".
    bom_at_start_is_stripped: b"\xEF\xBB\xBFdata: a\n\n" => [msg("a")];
    /// Only one, and only at the very start: a later BOM is part of the field name.
    bom_only_at_start: b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\ndata: c\n\n" => [msg("c")];
    /// Two bytes of a BOM then other bytes: no BOM, the bytes decode as U+FFFD.
    partial_bom_is_text: b"\xEF\xBBdata: a\n\ndata: b\n\n" => [msg("b")];
    line_end_lf: b"data: a\ndata: b\n\n" => [msg("a\nb")];
    line_end_cr: b"data: a\rdata: b\r\r" => [msg("a\nb")];
    line_end_crlf: b"data: a\r\ndata: b\r\n\r\n" => [msg("a\nb")];
    /// CR LF is one line end, LF CR is two.
    line_ends_mixed: b"data: a\n\rdata: b\r\n\n" => [msg("a"), msg("b")];
    /// A CR at the end of the input is a line end at once.
    cr_at_end_of_input: b"data: a\r\r" => [msg("a")];
    /// "If the line starts with a U+003A COLON character (:) Ignore the line."
    comments_are_ignored: b": hi\ndata: a\n:data: b\n:\n\n" => [msg("a")];
    /// A comment alone is not an event.
    comment_only_block: b": keep-alive\n\n:\n\n" => [];
    /// "using the whole line as the field name, and the empty string as the field value"
    no_colon_is_name_with_empty_value: b"data\ndata\n\n" => [msg("\n")];
    no_colon_event_resets_type: b"event: x\nevent\ndata: a\n\n" => [msg("a")];
    /// "If value starts with a U+0020 SPACE character, remove it from value." One only.
    one_leading_space_removed: b"data:a\n\ndata: a\n\ndata:  a\n\n" => [msg("a"), msg("a"), msg(" a")];
    /// Only a space: a tab stays.
    leading_tab_kept: b"data:\ta\n\n" => [msg("\ta")];
    /// The field name ends at the first colon; the value may hold more.
    value_after_first_colon: b"data: a: b:c\n\n" => [msg("a: b:c")];
    /// "Otherwise: The field is ignored."
    unknown_fields_ignored: b"foo: bar\ndata: a\nx\nretry-after: 5\n\n" => [msg("a")];
    /// "Field names must be compared literally, with no case folding performed."
    names_are_case_sensitive: b"Data: a\nDATA: b\ndata : c\n data: d\ndata: e\n\n" => [msg("e")];
    /// "Append the field value to the data buffer, then append a single U+000A LINE FEED"
    /// and at dispatch remove the last LF.
    data_lines_join_with_lf: b"data: a\ndata:\ndata: b\ndata:\n\n" => [msg("a\n\nb\n")];
    /// "If the field name is "event": Set the event type buffer to field value."
    event_type_is_set: b"event: add\ndata: 1\n\n" => [ev("add", "1", "")];
    /// The last `event` field wins.
    event_type_last_wins: b"event: a\nevent: b\ndata: 1\n\n" => [ev("b", "1", "")];
    /// "Initialize event's type attribute to "message"" unless the buffer is non-empty.
    event_type_defaults_to_message: b"data: 1\n\nevent:\ndata: 2\n\n" => [msg("1"), msg("2")];
    /// Step 7: "Set the data buffer and the event type buffer to the empty string."
    event_type_resets_after_dispatch: b"event: a\ndata: 1\n\ndata: 2\n\n" => [ev("a", "1", ""), msg("2")];
    /// Step 2: "If the data buffer is an empty string, set the data buffer and the event type
    /// buffer to the empty string and return."
    empty_data_buffer_dispatches_nothing: b"event: a\n\nid: 1\n\ndata: 2\n\n" => [ev("message", "2", "1")];
    /// `data:` with an empty value is not an empty buffer: it holds one LF.
    empty_data_value_dispatches: b"data:\n\n" => [msg("")];
    /// "set the last event ID buffer to the field value"; the buffer "does not get reset".
    last_event_id_persists: b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n" => [ev("message", "a", "1"), ev("message", "b", "1"), ev("message", "c", "2")];
    /// An empty `id` sets the buffer to the empty string.
    empty_id_resets: b"id: 1\ndata: a\n\nid\ndata: b\n\nid:\ndata: c\n\n" => [ev("message", "a", "1"), msg("b"), msg("c")];
    /// "If the field value does not contain U+0000 NULL [...] Otherwise, ignore the field."
    id_with_nul_ignored: b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n" => [ev("message", "a", "1"), ev("message", "b", "1")];
    /// The id counts from where it is set, even after the data lines.
    id_after_data_applies: b"data: a\nid: 9\n\n" => [ev("message", "a", "9")];
    /// "If the field value consists of only ASCII digits [...] set the event stream's
    /// reconnection time to that integer".
    retry_digits: b"retry: 1500\n\nretry:0\n\nretry: 007\n\n" => [retry(1500), retry(0), retry(7)];
    /// "Otherwise, ignore the field."
    retry_not_digits_ignored: b"retry: 1.5\nretry: -1\nretry: 10 \nretry:  10\nretry: 1e3\nretry: \xD9\xA1\ndata: a\n\n" => [msg("a")];
    /// No digits at all: nothing to set.
    retry_empty_ignored: b"retry\nretry:\nretry: \ndata: a\n\n" => [msg("a")];
    /// More digits than fit: the longest time there is.
    retry_saturates: b"retry: 99999999999999999999999999\n" => [retry(u64::MAX)];
    /// A retry field takes effect where it is, without a blank line, in an event that is
    /// never dispatched.
    retry_needs_no_dispatch: b"retry: 5\ndata: never ends" => [retry(5)];
    /// "Once the end of the file is reached, any pending data must be discarded."
    incomplete_event_discarded: b"data: a\n\ndata: b\n" => [msg("a")];
    /// The last line has no line end: it is not a line.
    unterminated_line_discarded: b"data: a\n\ndata: b\n\nretry: 5" => [msg("a"), msg("b")];
    /// "Streams must be decoded using the UTF-8 decode algorithm": bad bytes are U+FFFD.
    invalid_utf8_replaced: b"data: a\xFFb\xC3\n\n" => [msg("a\u{FFFD}b\u{FFFD}")];
    /// Split multi-byte characters (every split is tried) decode whole.
    multibyte_characters: "data: é€😀\n\n".as_bytes() => [msg("é€😀")];
    /// A truncated sequence before the colon is one U+FFFD, as decoding the whole stream
    /// first gives.
    truncated_sequence_before_colon: b"event:\xF0\x9F\ndata:x\xE2:y\ndata\xE2:z\n\n" => [ev("\u{FFFD}", "x\u{FFFD}:y", "")];
    /// An id that is not UTF-8 is decoded the same way.
    id_is_decoded: b"id: \xFF\ndata: a\n\n" => [ev("message", "a", "\u{FFFD}")];
    /// NUL is just a character in data.
    nul_in_data: b"data: \x00\n\n" => [msg("\0")];

    /// The starting last event id of a reconnecting client is used until an `id` field.
    starting_last_event_id: b"data: a\n\nid\ndata: b\n\n" => [ev("message", "a", "41"), msg("b")]
        with |b| { b.last_event_id("41"); };

    /// A line past the limit: one error, the rest of its event skipped, then on.
    line_too_long: b"data: ok\n\nevent: x\ndata: 0123456789\ndata: more\nid: 5\n\ndata: next\n\n"
        => [msg("ok"), Err(ParseError::LineTooLong { limit: 12 }), msg("next")]
        with |b| { b.max_line_len(12); };
    /// Exactly the limit is fine (the line end does not count).
    line_at_limit: b"data: 012345\n\n" => [msg("012345")] with |b| { b.max_line_len(12); };
    /// Long comments count too; a second long line in the same event gives no second
    /// error.
    line_too_long_once_per_event: b": 0123456789\ndata: 0123456789\n\ndata: a\n\n"
        => [Err(ParseError::LineTooLong { limit: 8 }), msg("a")]
        with |b| { b.max_line_len(8); };
    /// An over-long line at the end of the stream is reported, then dropped.
    line_too_long_at_end: b"data: 0123456789" => [Err(ParseError::LineTooLong { limit: 8 })]
        with |b| { b.max_line_len(8); };
    /// An event whose data passes the limit: one error, the event skipped, then on.
    event_too_large: b"data: 0123\ndata: 4567\ndata: 89\ndata: x\n\ndata: ok\n\n"
        => [Err(ParseError::EventTooLarge { limit: 10 }), msg("ok")]
        with |b| { b.max_event_len(10); };
    /// The limit counts the data buffer, one LF per line.
    event_at_limit: b"data: 0123\ndata: 4567\n\n" => [msg("0123\n4567")] with |b| { b.max_event_len(10); };
    /// Fields before the error keep their effect; the skipped event's blank line still
    /// sets the last event id, as a dispatch with an empty buffer does.
    event_too_large_keeps_earlier_fields: b"id: 3\nretry: 9\ndata: 0123456789\nid: 4\n\ndata: ok\n\n"
        => [retry(9), Err(ParseError::EventTooLarge { limit: 4 }), ev("message", "ok", "3")]
        with |b| { b.max_event_len(4); };
}

/// An empty chunk is not the end of the stream.
#[test]
fn empty_chunk_is_not_end_of_stream() {
    let mut parser = Parser::new();
    parser.feed(b"data: a\n");
    parser.feed(b"");
    assert_eq!(parser.next_item(), None);
    parser.feed(b"\n");
    assert_eq!(parser.next_item(), Some(msg("a")));
}

/// A CR ending one chunk and an LF starting the next are one line end, not two (which
/// would dispatch here).
#[test]
fn crlf_split_across_chunks() {
    let chunks: [&[u8]; 3] = [b"data: a\r", b"\ndata: b\r", b"\n\r\n"];
    assert_eq!(parse_chunks(&Parser::builder(), chunks), [msg("a\nb")]);
}

/// Step 1: "Set the last event ID string of the event source to the value of the last event
/// ID buffer" happens even when nothing is dispatched.
#[test]
fn last_event_id_updates_without_dispatch() {
    let mut parser = Parser::new();
    parser.feed(b"id: 5\n");
    assert_eq!(parser.next_item(), None);
    assert_eq!(parser.last_event_id(), "", "not before the blank line");
    parser.feed(b"\n");
    assert_eq!(parser.next_item(), None);
    assert_eq!(parser.last_event_id(), "5");
}

/// `finish` drops the incomplete event; the parser then takes a new stream (a
/// reconnection), keeping the last event id and allowing a new BOM.
#[test]
fn finish_then_reconnect() {
    let mut parser = Parser::new();
    parser.feed(b"id: 1\ndata: a\n\nid: 2\ndata: lost\n");
    parser.finish();
    assert_eq!(parser.next_item(), Some(ev("message", "a", "1")));
    assert_eq!(parser.next_item(), None);
    assert_eq!(parser.next_item(), None);
    parser.feed(b"\n\xEF\xBB\xBFdata: b\n\n");
    assert_eq!(
        parser.next_item(),
        None,
        "the blank line starts the new stream: nothing"
    );
    assert_eq!(parser.next_item(), None);
    let mut parser = Parser::new();
    parser.feed(b"id: 1\ndata: a\n\nid: 2\ndata: lost\n");
    parser.finish();
    let _ = std::iter::from_fn(|| parser.next_item()).count();
    parser.feed(b"\xEF\xBB\xBFdata: b\n\n");
    assert_eq!(parser.next_item(), Some(ev("message", "b", "1")));
    assert_eq!(parser.last_event_id(), "1");
}

/// Limits hold however the line arrives: a never-ending line is dropped as it comes.
#[test]
fn endless_line_is_not_buffered() {
    let mut parser = Parser::builder().max_line_len(1024).build();
    parser.feed(b"data: ");
    let mut errors = 0;
    for _ in 0..10_000 {
        parser.feed(&[b'x'; 1000]);
        while let Some(item) = parser.next_item() {
            assert_eq!(item, Err(ParseError::LineTooLong { limit: 1024 }));
            errors += 1;
        }
    }
    assert_eq!(errors, 1);
    parser.feed(b"\n\ndata: back\n\n");
    assert_eq!(parser.next_item(), Some(msg("back")));
}

/// An endless event of short lines is dropped, once.
#[test]
fn endless_event_is_not_buffered() {
    let mut parser = Parser::builder().max_event_len(4096).build();
    let mut items = Vec::new();
    for _ in 0..10_000 {
        parser.feed(b"data: 0123456789\n");
        items.extend(std::iter::from_fn(|| parser.next_item()));
    }
    assert_eq!(items, [Err(ParseError::EventTooLarge { limit: 4096 })]);
}

#[test]
fn defaults_are_documented_values() {
    assert_eq!(Parser::DEFAULT_MAX_LINE_LEN, 64 * 1024);
    assert_eq!(Parser::DEFAULT_MAX_EVENT_LEN, 1024 * 1024);
    let line = format!("data: {}\n\n", "x".repeat(64 * 1024 - 6));
    assert_eq!(common::parse(line.as_bytes()).len(), 1);
    let line = format!("data: {}\n\n", "x".repeat(64 * 1024 - 5));
    assert_eq!(
        common::parse(line.as_bytes()),
        [Err(ParseError::LineTooLong { limit: 64 * 1024 })]
    );
    let _ = Item::Retry(std::time::Duration::ZERO);
}

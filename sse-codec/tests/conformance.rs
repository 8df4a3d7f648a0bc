//! Conformance cases transcribed from the WHATWG HTML standard's own examples
//! (section "Server-sent events") and from web-platform-tests `eventsource/format-*`.
//!
//! WPT serves most cases through `eventsource/resources/message.php`, which writes the
//! `message` parameter, then `newline` (default "\n\n", "none" for nothing), then "\n";
//! the wire samples below are those bytes. Every sample runs whole, byte by byte and
//! split at every position.

#[macro_use]
mod common;

use common::{ev, msg, retry};

/// format-comments.js uses 2048 x's; 256 keeps the every-split check quick and tests
/// the same thing.
const LONG: &str = concat!(
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
);

fn comments_wire() -> Vec<u8> {
    let long = LONG;
    format!("data:1\r:\0\n:\r\ndata:2\n:{long}\rdata:3\n:data:fail\r:{long}\ndata:4\n\n")
        .into_bytes()
}

wire_tests! {
    // --- The standard's examples ---------------------------------------------------

    /// 9.2.1 Introduction: three messages, the second of two lines.
    spec_intro_messages: b"data: This is the first message.\n\ndata: This is the second message, it\ndata: has two lines.\n\ndata: This is the third message.\n\n"
        => [msg("This is the first message."), msg("This is the second message, it\nhas two lines."), msg("This is the third message.")];
    /// 9.2.1 Introduction: event types "add" and "remove".
    spec_intro_event_types: b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n"
        => [ev("add", "73857293", ""), ev("remove", "2153", ""), ev("add", "113411", "")];
    /// 9.2.6 example: "data: YHOO / data: +2 / data: 10" gives "YHOO\n+2\n10".
    spec_yhoo: b"data: YHOO\ndata: +2\ndata: 10\n\n" => [msg("YHOO\n+2\n10")];
    /// 9.2.6 example: a comment block fires nothing; `id: 1` sets the last event id;
    /// a bare `id` resets it; " third event" keeps one leading space.
    spec_test_stream: b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"
        => [ev("message", "first event", "1"), msg("second event"), msg(" third event")];
    /// 9.2.6 example: "data" alone gives "", two of them "\n"; the last block has no
    /// blank line and is discarded.
    spec_empty_data: b"data\n\ndata\ndata\n\ndata:" => [msg(""), msg("\n")];
    /// 9.2.6 example: "data:test" and "data: test" are identical events.
    spec_space_after_colon: b"data:test\n\ndata: test\n\n" => [msg("test"), msg("test")];

    // --- web-platform-tests eventsource/format-* -----------------------------------

    /// format-bom.js: a BOM is stripped at the start only, so "2" is never dispatched.
    wpt_format_bom: b"\xEF\xBB\xBFdata:1\n\n\xEF\xBB\xBFdata:2\n\ndata:3\n\n\n" => [msg("1"), msg("3")];
    /// format-bom-2.htm: of two leading BOMs only one is stripped, so "1" is lost.
    wpt_format_bom_2: b"\xEF\xBB\xBF\xEF\xBB\xBFdata:1\n\ndata:2\n\ndata:3\n\n\n" => [msg("2"), msg("3")];
    /// format-comments.js: comments in every line-end style, one holding NUL.
    wpt_format_comments: &comments_wire() => [msg("1\n2\n3\n4")];
    /// format-data-before-final-empty-line.js: "data:test2" never gets its blank line.
    wpt_format_data_before_final_empty_line: b"retry:1000\ndata:test1\n\nid:test\ndata:test2\n"
        => [retry(1000), msg("test1")];
    /// format-field-data.js.
    wpt_format_field_data: b"data:\n\ndata\ndata\n\ndata:test\n\n\n" => [msg(""), msg("\n"), msg("test")];
    /// format-field-event.htm: a custom type, then the default.
    wpt_format_field_event: b"event:test\ndata:x\n\ndata:x\n\n\n" => [ev("test", "x", ""), msg("x")];
    /// format-field-event-empty.htm: "event: " means the default type.
    wpt_format_field_event_empty: b"event: \ndata:data\n\n\n" => [msg("data")];
    /// format-field-id.htm (resources/last-event-id.php, first connection).
    wpt_format_field_id: "id: …\nretry: 200\ndata: hello\n\n".as_bytes() => [retry(200), ev("message", "hello", "…")];
    /// format-field-id.htm, reconnected with `Last-Event-ID: …`: the id carries over.
    wpt_format_field_id_reconnect: "data: …\n\n".as_bytes() => [ev("message", "…", "…")]
        with |b| { b.last_event_id("…"); };
    /// format-field-id-3.htm (resources/last-event-id2.py, type 1): the id persists.
    wpt_format_field_id_3_persists: b"id: 1\ndata: 1\n\ndata:2\n\n"
        => [ev("message", "1", "1"), ev("message", "2", "1")];
    /// format-field-id-3.htm (type 2): the id changes and persists.
    wpt_format_field_id_3_changes: b"id: 1\ndata: 1\n\nid: 2\ndata:2\n\ndata:3\n\n"
        => [ev("message", "1", "1"), ev("message", "2", "2"), ev("message", "3", "2")];
    /// format-field-id-3.htm (type 3): an empty id resets it.
    wpt_format_field_id_3_resets: b"id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\n"
        => [ev("message", "1", "1"), msg("2"), msg("3")];
    /// format-field-parsing.any.js: case, NUL, first colon, one space, CR/CRLF.
    wpt_format_field_parsing: b"data:\x00\ndata:  2\rData:1\ndata\x00:2\ndata:1\r\x00data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n"
        => [msg("\0\n 2\n1\n3\n\n4")];
    /// format-field-retry.htm: "02000" is decimal 2000, not octal.
    wpt_format_field_retry: b"retry:02000\ndata:x\n\n\n" => [retry(2000), msg("x")];
    /// format-field-retry-bogus.htm: "1000x" is ignored, 2000 stays.
    wpt_format_field_retry_bogus: b"retry:2000\nretry:1000x\ndata:x\n\n\n" => [retry(2000), msg("x")];
    /// format-field-unknown: unknown fields, a leading space in the name, a bare name.
    wpt_format_field_unknown: b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n\n"
        => [msg("test\n\ntest")];
    /// format-leading-space: a tab is not removed, and only one space is.
    wpt_format_leading_space: b"data:\ttest\rdata: \ndata:test\n\n\n" => [msg("\ttest\n\ntest")];
    /// format-newlines: CRLF, LF and CR line ends together.
    wpt_format_newlines: b"data:test\r\ndata\ndata:test\r\n\r\n" => [msg("test\n\ntest")];
    /// format-null-character.html: NUL in data is kept.
    wpt_format_null_character: b"data:\x00\n\n\n\n\n" => [msg("\0")];
    /// format-utf-8.js: always UTF-8, whatever the charset parameter says.
    wpt_format_utf_8: b"data:ok\xE2\x80\xA6\n\n\n" => [msg("ok…")];
}

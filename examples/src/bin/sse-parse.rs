//! `sse-parse`: reads a `text/event-stream` from stdin until EOF and prints one JSON
//! object per line, in stream order: `{"type": T, "data": D, "id": LAST_EVENT_ID}` for
//! every dispatched event and `{"retry": N}` (milliseconds) for every accepted `retry`
//! field. Output is flushed line by line, so `curl -N URL | sse-parse` is live.
//!
//! Limit errors (a line over 64 KiB, an event over 1 MiB) go to stderr; parsing goes on.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use sse_codec::{Item, Parser};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): not a failure.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sse-parse: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    let mut parser = Parser::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        // `read` returns as soon as some bytes are there, so events print as they come.
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        parser.feed(&buf[..n]);
        drain(&mut parser, &mut stdout)?;
    }
    parser.finish();
    drain(&mut parser, &mut stdout)
}

fn drain(parser: &mut Parser, out: &mut impl Write) -> io::Result<()> {
    while let Some(item) = parser.next_item() {
        match item {
            Ok(Item::Event(event)) => {
                // Written field by field to keep the documented key order.
                out.write_all(b"{\"type\":")?;
                serde_json::to_writer(&mut *out, event.event_type())?;
                out.write_all(b",\"data\":")?;
                serde_json::to_writer(&mut *out, event.data())?;
                out.write_all(b",\"id\":")?;
                serde_json::to_writer(&mut *out, event.last_event_id())?;
                out.write_all(b"}\n")?;
            }
            Ok(Item::Retry(retry)) => writeln!(out, "{{\"retry\":{}}}", retry.as_millis())?,
            // `Item` may grow; unknown items are skipped.
            Ok(_) => continue,
            Err(error) => {
                eprintln!("sse-parse: {error}; skipping that event");
                continue;
            }
        }
        out.flush()?;
    }
    Ok(())
}

//! Runs the `sse-parse` binary on real input through stdin.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_sse-parse");

#[test]
fn prints_one_json_object_per_event_and_retry_in_order() {
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input: &[u8] = b"\xEF\xBB\xBF: comment\r\nretry: 3000\nid: 1\nevent: add\ndata: \"quoted\"\ndata: line two\r\n\r\n\
        data: persists \xFF\r\rid\ndata: reset\n\nretry: x\ndata: unfinished\n";
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let expected = concat!(
        "{\"retry\":3000}\n",
        "{\"type\":\"add\",\"data\":\"\\\"quoted\\\"\\nline two\",\"id\":\"1\"}\n",
        "{\"type\":\"message\",\"data\":\"persists \u{FFFD}\",\"id\":\"1\"}\n",
        "{\"type\":\"message\",\"data\":\"reset\",\"id\":\"\"}\n",
    );
    assert_eq!(stdout, expected);
    for line in stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON");
    }
}

#[test]
fn empty_input_prints_nothing() {
    let output = Command::new(BIN).stdin(Stdio::null()).output().unwrap();
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
}

/// Events are printed as they arrive, before stdin ends (`curl -N URL | sse-parse`).
#[test]
fn output_is_live() {
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            lines.send(std::mem::take(&mut line)).unwrap();
        }
    });
    stdin.write_all(b"data: first\n\n").unwrap();
    stdin.flush().unwrap();
    let first = received
        .recv_timeout(Duration::from_secs(20))
        .expect("printed before EOF");
    assert_eq!(
        first,
        "{\"type\":\"message\",\"data\":\"first\",\"id\":\"\"}\n"
    );
    stdin.write_all(b"data: second\n\n").unwrap();
    drop(stdin);
    let second = received.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(
        second,
        "{\"type\":\"message\",\"data\":\"second\",\"id\":\"\"}\n"
    );
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
}

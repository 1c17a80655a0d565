//! The one raw JSON-RPC client, for tests that write lines themselves (bad input, floods,
//! stops): over a child's pipes, a socketpair, or in-process streams.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, Lines};

/// The protocol version the raw tests speak (with the initialize handshake).
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// The notification that completes the handshake.
pub const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// The initialize request line, with this id.
pub fn initialize(id: i64) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"initialize","params":{"protocolVersion":PROTOCOL_VERSION,"capabilities":{},"clientInfo":{"name":"raw-test","version":"1"}}}).to_string()
}

/// A tools/call request line.
pub fn tool_call(id: impl Into<Value>, tool: &str, arguments: Value) -> String {
    json!({"jsonrpc":"2.0","id":id.into(),"method":"tools/call","params":{"name":tool,"arguments":arguments}}).to_string()
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

pub struct Raw {
    write: Option<Writer>,
    lines: Lines<BufReader<Reader>>,
    next_id: i64,
}

impl Raw {
    pub fn new(
        read: impl AsyncRead + Send + Unpin + 'static,
        write: impl AsyncWrite + Send + Unpin + 'static,
    ) -> Self {
        Self {
            write: Some(Box::new(write)),
            lines: BufReader::new(Box::new(read) as Reader).lines(),
            next_id: 100,
        }
    }

    /// `initialize` (id 0), its answer, then `notifications/initialized`.
    pub async fn handshake(&mut self) -> Value {
        self.send_line(&initialize(0)).await;
        let answer = self.answer().await;
        assert_eq!(answer["id"], 0, "{answer}");
        assert!(answer.get("result").is_some(), "{answer}");
        self.send_line(INITIALIZED).await;
        answer
    }

    /// Writes `bytes` as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let write = self.write.as_mut().expect("not closed");
        write.write_all(bytes).await.unwrap();
        write.flush().await.unwrap();
    }

    /// Writes one line (a newline is added).
    pub async fn send_line(&mut self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.send_raw(&bytes).await;
    }

    /// Closes our end of the input: the server's end of input.
    pub fn close(&mut self) {
        self.write = None;
    }

    /// The next line the server writes, as JSON; None once it closed its output.
    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        let line = tokio::time::timeout(within, self.lines.next_line())
            .await
            .expect("a line in time")
            .expect("the output reads")?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}")))
    }

    /// The next line the server writes (within 20 s).
    pub async fn answer(&mut self) -> Value {
        self.next(Duration::from_secs(20))
            .await
            .expect("the server is still there")
    }

    /// The answer to `id`, skipping other lines (each of which must be JSON-RPC).
    pub async fn answer_to(&mut self, id: &Value) -> Value {
        loop {
            let answer = self.answer().await;
            assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
            if &answer["id"] == id {
                return answer;
            }
        }
    }

    /// Calls a tool and returns the JSON-RPC answer.
    pub async fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        self.send_line(&tool_call(id.clone(), tool, arguments))
            .await;
        self.answer_to(&id).await
    }

    /// Sends a request and returns its answer.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        self.send_line(
            &json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}).to_string(),
        )
        .await;
        self.answer_to(&id).await
    }
}

/// The text of a tool-error answer (`isError: true`).
pub fn tool_error_text(answer: &Value) -> String {
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

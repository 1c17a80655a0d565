//! stdio with a guard in front of rmcp: every line a client sends gets an answer or is
//! dropped as JSON-RPC says, and memory stays bounded whatever arrives.
//!
//! rmcp ignores lines that are not JSON (no reply) and buffers lines up to 16 MiB. Here,
//! a line that is not JSON gets JSON-RPC's `-32700 Parse error`, a line over the limit is
//! skipped as it streams (never held whole) and gets `-32600`, and only well-formed JSON
//! reaches rmcp. The guard's own answers (errors, and the [`super::fast`] path's answers
//! that are ready at once) are written by the reader, all the answers to one read
//! together; rmcp's answers, and fast answers that wait for the store, by a writer task.
//! Both write whole lines under one lock, so lines never interleave.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::{Mutex, mpsc};

use super::fast::{Fast, FastPath};

/// stdin and stdout as non-blocking async handles. MCP clients spawn servers with pipes
/// (rmcp's pipe transport takes those) or, when they run on Node (Claude Desktop, VS Code,
/// the Inspector), with a Unix socketpair: that becomes a tokio `UnixStream` here, since
/// rmcp would fall back to tokio's blocking stdin/stdout, which hand every read and write
/// to a thread of the blocking pool (about 70 µs more per call). Anything else (a file, a
/// terminal) gets those blocking handles.
pub fn stdio() -> (
    Box<dyn AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
) {
    // Made non-blocking, the socket would make log writes fail if stderr shared it.
    let stderr_shares_it = same_file(&std::io::stdin(), &std::io::stderr())
        || same_file(&std::io::stdout(), &std::io::stderr());
    if !stderr_shares_it
        && let (Some(input), Some(output)) = (
            unix_socket(&std::io::stdin()),
            unix_socket(&std::io::stdout()),
        )
        && let (Some(input), Some(output)) = (non_blocking(input), non_blocking(output))
    {
        tracing::debug!("stdin and stdout are a Unix socket: using it without blocking");
        return (Box::new(input), Box::new(output));
    }
    let (input, output) = rmcp::transport::stdio_pipes();
    (Box::new(input), Box::new(output))
}

/// Whether `a` and `b` are the same open file (device and inode).
fn same_file(a: &impl std::os::fd::AsFd, b: &impl std::os::fd::AsFd) -> bool {
    use std::os::unix::fs::MetadataExt;
    fn id(fd: std::os::fd::BorrowedFd<'_>) -> Option<(u64, u64)> {
        let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
        file.metadata().ok().map(|m| (m.dev(), m.ino()))
    }
    matches!((id(a.as_fd()), id(b.as_fd())), (Some(x), Some(y)) if x == y)
}

/// `fd` on a descriptor of its own, if it is a Unix socket (nothing is changed).
fn unix_socket(fd: &impl std::os::fd::AsFd) -> Option<std::os::unix::net::UnixStream> {
    let stream = std::os::unix::net::UnixStream::from(fd.as_fd().try_clone_to_owned().ok()?);
    // Fails for anything but a Unix socket (a pipe, a file, a TCP socket).
    stream.local_addr().ok()?;
    Some(stream)
}

fn non_blocking(stream: std::os::unix::net::UnixStream) -> Option<tokio::net::UnixStream> {
    stream.set_nonblocking(true).ok()?;
    tokio::net::UnixStream::from_std(stream).ok()
}

/// The longest line accepted: room for a 1 MB password, escaped, with headroom.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

const PARSE_ERROR: &[u8] =
    br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: the line is not JSON"}}"#;
const TOO_LARGE: &[u8] =
    br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid request: the line is too long"}}"#;

/// The transport handed to rmcp: what it reads has passed the guard; what it writes goes
/// to the writer task.
pub type GuardedTransport = (DuplexStream, LineSender);

/// The output, shared by the reader (the guard's answers) and the writer task (rmcp's).
type Output<W> = Arc<Mutex<W>>;

/// The guard's tasks, to be finished once rmcp has stopped.
pub struct Guard {
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
    /// Held by the reader while it writes: `finish` stops it between writes, never
    /// within a line.
    reading: Arc<Mutex<()>>,
}

impl Guard {
    /// Stops reading and waits (up to `within`) until every queued line is written, so no
    /// answer is lost when the process exits.
    pub async fn finish(self, within: std::time::Duration) {
        let between_writes = tokio::time::timeout(within, self.reading.lock()).await;
        self.reader.abort();
        drop(between_writes);
        if tokio::time::timeout(within, self.writer).await.is_err() {
            tracing::warn!("timed out writing the last answers");
        }
    }
}

/// Starts the guard between `input`/`output` (stdin/stdout) and rmcp; `fast` answers
/// what it can itself (see [`super::fast`]).
pub fn guarded<R, W>(
    input: R,
    output: W,
    max_line: usize,
    fast: Option<FastPath>,
) -> (GuardedTransport, Guard)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (to_rmcp, from_guard) = tokio::io::duplex(256 * 1024);
    let (lines_tx, lines_rx) = mpsc::channel::<Vec<u8>>(1024);
    let output: Output<W> = Arc::new(Mutex::new(output));
    let reading = Arc::new(Mutex::new(()));
    let writer = tokio::spawn(write_lines(output.clone(), lines_rx));
    let answers = Answers {
        output,
        batch: Vec::new(),
        reading: reading.clone(),
        later: lines_tx.clone(),
    };
    let reader = tokio::spawn(read_lines(input, to_rmcp, answers, max_line, fast));
    (
        (from_guard, LineSender::new(lines_tx)),
        Guard {
            reader,
            writer,
            reading,
        },
    )
}

/// The guard's own answers, gathered while one read is handled and written together.
struct Answers<W> {
    output: Output<W>,
    batch: Vec<u8>,
    reading: Arc<Mutex<()>>,
    /// The writer task's queue, for answers that come later.
    later: mpsc::Sender<Vec<u8>>,
}

impl<W: AsyncWrite + Unpin> Answers<W> {
    fn push(&mut self, line: &[u8]) {
        push_line(&mut self.batch, line);
    }

    /// Writes the gathered answers; Err once the output is gone.
    async fn flush(&mut self) -> Result<(), ()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let _not_stopping = self.reading.lock().await;
        let mut output = self.output.lock().await;
        let written = output.write_all(&self.batch).await.is_ok() && output.flush().await.is_ok();
        self.batch.clear();
        if written { Ok(()) } else { Err(()) }
    }
}

/// Reads `input` line by line; forwards JSON lines to rmcp and answers the rest itself.
async fn read_lines<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    mut input: R,
    mut to_rmcp: DuplexStream,
    mut answers: Answers<W>,
    max_line: usize,
    mut fast: Option<FastPath>,
) {
    let mut line: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    // True while skipping the rest of a line that went over the limit.
    let mut skipping = false;
    loop {
        let n = match input.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut rest = &chunk[..n];
        while !rest.is_empty() {
            let newline = rest.iter().position(|&b| b == b'\n');
            let (part, after) = match newline {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            if !skipping {
                if line.len() + part.len() > max_line {
                    tracing::warn!(limit = max_line, "dropping an oversized line");
                    line = Vec::new();
                    skipping = true;
                    answers.push(TOO_LARGE);
                } else {
                    line.extend_from_slice(part);
                }
            }
            match after {
                Some(after) => {
                    if !skipping
                        && forward(&line, &mut to_rmcp, &mut answers, &mut fast)
                            .await
                            .is_err()
                    {
                        return;
                    }
                    line.clear();
                    skipping = false;
                    rest = after;
                }
                None => rest = &[],
            }
        }
        if answers.flush().await.is_err() {
            return;
        }
    }
    // A last line without a newline still counts.
    if !skipping && !line.is_empty() {
        let _ = forward(&line, &mut to_rmcp, &mut answers, &mut fast).await;
    }
    let _ = answers.flush().await;
    // Dropping `to_rmcp` is rmcp's end of input: it finishes in-flight calls and stops.
}

async fn forward<W: AsyncWrite + Unpin>(
    line: &[u8],
    to_rmcp: &mut DuplexStream,
    answers: &mut Answers<W>,
    fast: &mut Option<FastPath>,
) -> Result<(), ()> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Ok(());
    }
    match fast.as_mut().and_then(|f| f.answer(trimmed)) {
        Some(Fast::Now(answer)) => {
            answers.push(&answer);
            return Ok(());
        }
        Some(Fast::Later(answer)) => {
            // Written by the writer task, as rmcp's answers are.
            let lines = answers.later.clone();
            tokio::spawn(async move {
                let _ = lines.send(answer.await).await;
            });
            return Ok(());
        }
        None => {}
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_err() {
        tracing::debug!("answering a line that is not JSON with a parse error");
        answers.push(PARSE_ERROR);
        return Ok(());
    }
    to_rmcp.write_all(trimmed).await.map_err(|_| ())?;
    to_rmcp.write_all(b"\n").await.map_err(|_| ())
}

/// Writes rmcp's lines to `output`, several per write when they queue up.
async fn write_lines<W: AsyncWrite + Unpin>(output: Output<W>, mut lines: mpsc::Receiver<Vec<u8>>) {
    let mut batch = Vec::with_capacity(64 * 1024);
    while let Some(first) = lines.recv().await {
        batch.clear();
        push_line(&mut batch, &first);
        while batch.len() < 1024 * 1024 {
            match lines.try_recv() {
                Ok(more) => push_line(&mut batch, &more),
                Err(_) => break,
            }
        }
        let mut output = output.lock().await;
        if output.write_all(&batch).await.is_err() || output.flush().await.is_err() {
            break;
        }
    }
}

fn push_line(batch: &mut Vec<u8>, line: &[u8]) {
    batch.extend_from_slice(line);
    if line.last() != Some(&b'\n') {
        batch.push(b'\n');
    }
}

/// rmcp's output: bytes are gathered into lines, and each whole line is queued for the
/// writer task.
pub struct LineSender {
    tx: tokio_util::sync::PollSender<Vec<u8>>,
    pending: Vec<u8>,
}

impl LineSender {
    fn new(tx: mpsc::Sender<Vec<u8>>) -> Self {
        Self {
            tx: tokio_util::sync::PollSender::new(tx),
            pending: Vec::new(),
        }
    }

    /// Queues every complete line in `pending`; Pending while the queue is full.
    fn poll_send_lines(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            match self.tx.poll_reserve(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                Poll::Pending => return Poll::Pending,
            }
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if self.tx.send_item(line).is_err() {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for LineSender {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // Back-pressure: take no more bytes while whole lines wait for room.
        if self.pending.contains(&b'\n') {
            match self.poll_send_lines(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map(|r| r.map(|()| 0)),
            }
        }
        self.pending.extend_from_slice(buf);
        let _ = self.poll_send_lines(cx)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_send_lines(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_send_lines(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader};

    /// Feeds `input` through the guard; returns what reached rmcp and what the guard answered.
    async fn run(input: Vec<u8>, max_line: usize) -> (Vec<String>, Vec<String>) {
        let (client_out, server_out) = tokio::io::duplex(1 << 20);
        let ((mut rmcp_in, _rmcp_out), _guard) =
            guarded(std::io::Cursor::new(input), server_out, max_line, None);
        let mut forwarded = String::new();
        rmcp_in.read_to_string(&mut forwarded).await.unwrap();
        drop(_rmcp_out);
        let mut answers = Vec::new();
        let mut lines = BufReader::new(client_out).lines();
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(std::time::Duration::from_millis(200), lines.next_line()).await
        {
            answers.push(line);
        }
        (forwarded.lines().map(String::from).collect(), answers)
    }

    #[tokio::test]
    async fn json_lines_pass_and_others_get_a_parse_error() {
        let input = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\nnot json\n\n  \n{\"a\":[1,2]}\n{broken\n[1]"
            .to_vec();
        let (forwarded, answers) = run(input, 1024).await;
        assert_eq!(
            forwarded,
            [
                r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
                r#"{"a":[1,2]}"#,
                "[1]"
            ]
        );
        assert_eq!(answers.len(), 2);
        assert!(answers.iter().all(|a| a.contains("-32700")));
    }

    #[tokio::test]
    async fn an_oversized_line_is_skipped_and_answered_and_the_next_line_passes() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\n{\"ok\":true}\n");
        let (forwarded, answers) = run(input, 1000).await;
        assert_eq!(forwarded, [r#"{"ok":true}"#]);
        assert_eq!(answers.len(), 1);
        assert!(answers[0].contains("-32600"));
    }

    #[tokio::test]
    async fn whole_lines_reach_the_output_in_order() {
        let (client_out, server_out) = tokio::io::duplex(1 << 16);
        let ((_rmcp_in, mut rmcp_out), _guard) =
            guarded(tokio::io::empty(), server_out, 1024, None);
        rmcp_out.write_all(b"{\"a\":").await.unwrap();
        rmcp_out.write_all(b"1}\n{\"b\":2}\n").await.unwrap();
        rmcp_out.flush().await.unwrap();
        let mut lines = BufReader::new(client_out).lines();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), r#"{"a":1}"#);
        assert_eq!(lines.next_line().await.unwrap().unwrap(), r#"{"b":2}"#);
    }
}

//! stdio through rmcp's own transport: newline-delimited JSON-RPC with lines capped at
//! [`MAX_LINE_BYTES`]. rmcp drops a longer line as it streams (never holding it whole) and
//! keeps the connection; it ignores unparsable lines, as the official SDKs do.
//!
//! What is ours is only how stdin and stdout are opened: pipes go to rmcp's non-blocking
//! pipe driver, and a Unix socketpair (how Node-based clients spawn servers) becomes a
//! non-blocking tokio `UnixStream`, where rmcp would fall back to tokio's blocking handles
//! (a thread of the blocking pool for every read and write).

use rmcp::RoleServer;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::{AsyncRead, AsyncWrite};

/// The longest line accepted: room for a 1 MB password, escaped, with headroom.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

type Input = Box<dyn AsyncRead + Send + Unpin>;
type Output = Box<dyn AsyncWrite + Send + Unpin>;

/// The transport the server is served on.
pub type StdioTransport = AsyncRwTransport<RoleServer, Input, Output>;

/// rmcp's transport on stdin and stdout, lines capped at [`MAX_LINE_BYTES`].
pub fn transport() -> StdioTransport {
    let (input, output) = streams();
    transport_on(input, output)
}

/// rmcp's transport on any pair of streams, with the same line cap as stdio.
pub fn transport_on(input: Input, output: Output) -> StdioTransport {
    AsyncRwTransport::new_server(input, output).with_max_line_length(MAX_LINE_BYTES)
}

fn streams() -> (Input, Output) {
    #[cfg(unix)]
    if let Some((input, output)) = socket::stdin_and_stdout() {
        tracing::debug!("stdin and stdout are a Unix socket: using it without blocking");
        return (Box::new(input), Box::new(output));
    }
    let (input, output) = rmcp::transport::stdio_pipes();
    (Box::new(input), Box::new(output))
}

#[cfg(unix)]
mod socket {
    use std::os::fd::{AsFd, BorrowedFd};
    use std::os::unix::net::UnixStream;

    /// stdin and stdout as non-blocking tokio streams, when both are Unix sockets that
    /// stderr does not share (made non-blocking, a shared socket would fail log writes).
    pub fn stdin_and_stdout() -> Option<(tokio::net::UnixStream, tokio::net::UnixStream)> {
        let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
        if same_file(stdin.as_fd(), stderr.as_fd()) || same_file(stdout.as_fd(), stderr.as_fd()) {
            return None;
        }
        let input = non_blocking(unix_socket(stdin.as_fd())?)?;
        let output = non_blocking(unix_socket(stdout.as_fd())?)?;
        Some((input, output))
    }

    /// Whether `a` and `b` are the same open file (device and inode).
    fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
        use std::os::unix::fs::MetadataExt;
        fn id(fd: BorrowedFd<'_>) -> Option<(u64, u64)> {
            let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
            file.metadata().ok().map(|m| (m.dev(), m.ino()))
        }
        matches!((id(a), id(b)), (Some(x), Some(y)) if x == y)
    }

    /// `fd` on a descriptor of its own, if it is a Unix socket (nothing is changed).
    fn unix_socket(fd: BorrowedFd<'_>) -> Option<UnixStream> {
        let stream = UnixStream::from(fd.try_clone_to_owned().ok()?);
        // Fails for anything but a Unix socket (a pipe, a file, a TCP socket).
        stream.local_addr().ok()?;
        Some(stream)
    }

    fn non_blocking(stream: UnixStream) -> Option<tokio::net::UnixStream> {
        stream.set_nonblocking(true).ok()?;
        tokio::net::UnixStream::from_std(stream).ok()
    }
}

//! kresd's control socket (`control/<N>` in the rundir): run Lua in a worker and read the JSON result.
//!
//! Protocol (kresd `daemon/io.c`): on connect kresd sends the prompt `> `; the pseudo-command `__json`
//! switches the connection to framed JSON mode (no reply); then every command line gets exactly one reply:
//! a 4-byte big-endian length and that many bytes of `tojson(result)`, or plain error text (not JSON).

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// The longest reply accepted (stats and cache answers are a few kB).
const MAX_REPLY: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot talk to kresd over '{path}': {source}")]
    Io { path: String, source: std::io::Error },
    #[error("kresd over '{path}' did not answer within {timeout:?}")]
    Timeout { path: String, timeout: Duration },
    #[error("kresd returned an error: {0}")]
    Lua(String),
}

/// Runs one Lua expression in the worker listening on `socket` and returns its JSON value.
pub async fn command(socket: &Path, lua: &str, timeout: Duration) -> Result<serde_json::Value, ControlError> {
    let path = socket.display().to_string();
    match tokio::time::timeout(timeout, exchange(socket, lua)).await {
        Ok(Ok(reply)) => parse_reply(&reply),
        Ok(Err(source)) => Err(ControlError::Io { path, source }),
        Err(_) => Err(ControlError::Timeout { path, timeout }),
    }
}

async fn exchange(socket: &Path, lua: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = UnixStream::connect(socket).await?;
    let mut prompt = [0u8; 2];
    stream.read_exact(&mut prompt).await?;
    // One command per line: a newline inside the Lua would split it into two commands.
    let line = lua.replace('\n', " ");
    stream.write_all(format!("__json\n{line}\n").as_bytes()).await?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_REPLY {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("reply of {len} bytes is too large")));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

fn parse_reply(body: &[u8]) -> Result<serde_json::Value, ControlError> {
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(_) => Err(ControlError::Lua(String::from_utf8_lossy(body).trim().to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_that_are_not_json_are_lua_errors() {
        assert_eq!(parse_reply(b"{\"count\":1}").unwrap(), serde_json::json!({"count": 1}));
        assert!(matches!(parse_reply(b"[string \"x\"]:1: boom"), Err(ControlError::Lua(m)) if m.contains("boom")));
    }
}

//! Error answers. Every 4xx and 5xx answer of the API (but a 304 or a 412 without a body) is `text/plain;
//! charset=utf-8` ([`CONTENT_TYPE`]): what failed and what to do, one or more lines (a validation error lists every
//! problem with its path, `[/workers] ...`), ending with a newline ([`ErrorBody`]). A client shows it with the
//! status ([`ErrorResponse`]), like the reference's client.

use std::fmt;

/// The content type of an error answer.
pub const CONTENT_TYPE: &str = super::http::content_type::TEXT;

/// The body of an error answer: the message, ending with a newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody(String);

impl ErrorBody {
    pub fn new(message: impl Into<String>) -> ErrorBody {
        let mut text = message.into();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        ErrorBody(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A failure answer as a client reports it: `status: N`, `body:` and the body (trailing whitespace trimmed), the
/// reference client's layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("status: {status}\nbody:\n{}", body.trim_end())]
pub struct ErrorResponse {
    pub status: u16,
    /// The answer's body as text.
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_end_with_one_newline() {
        assert_eq!(ErrorBody::new("boom").as_str(), "boom\n");
        assert_eq!(ErrorBody::new("a\nb\n").into_string(), "a\nb\n");
        let shown = ErrorResponse { status: 400, body: ErrorBody::new("[/workers] bad").into_string() };
        assert_eq!(shown.to_string(), "status: 400\nbody:\n[/workers] bad");
    }
}

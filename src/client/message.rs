//! A message as a subscriber receives it.

use crate::protocol::headers::Headers;

/// One MSG or HMSG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Subject it was published to.
    pub subject: String,
    /// The subscription it was delivered for.
    pub sid: u64,
    /// Reply subject, if any.
    pub reply: Option<String>,
    /// Headers (HMSG only).
    pub headers: Option<Headers>,
    /// The payload.
    pub payload: Vec<u8>,
}

/// The status a server puts in the header of a no-responders reply.
pub const NO_RESPONDERS_STATUS: u16 = 503;

impl Message {
    /// The status code of the header line (`NATS/1.0 503`), if any.
    pub fn status(&self) -> Option<u16> {
        self.headers.as_ref().and_then(|h| h.status)
    }

    /// A server's "no responders" answer to a request: status 503 and no body.
    pub fn is_no_responders(&self) -> bool {
        self.status() == Some(NO_RESPONDERS_STATUS) && self.payload.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_responders() {
        let m = Message {
            subject: "_INBOX.x".into(),
            sid: 1,
            reply: None,
            headers: Headers::parse(b"NATS/1.0 503\r\n\r\n"),
            payload: vec![],
        };
        assert!(m.is_no_responders());
        let plain = Message { headers: None, ..m };
        assert!(!plain.is_no_responders());
    }
}

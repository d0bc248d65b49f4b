//! What a connection needs to know before it starts: servers, credentials,
//! TLS, timeouts, reconnect policy, and whether it is a normal client or a
//! raw `cat` pipe.

use std::time::Duration;

use super::tls::TlsOptions;
use super::url::{ServerUrl, DEFAULT_URL};

/// Default for connecting and for the handshake to finish.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A write that blocks longer than this fails (a server that stopped reading).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// First wait between two rounds of reconnect attempts; doubled each round.
pub const RECONNECT_WAIT_MIN: Duration = Duration::from_millis(100);
/// Longest wait between two rounds of reconnect attempts.
pub const RECONNECT_WAIT_MAX: Duration = Duration::from_secs(2);
/// The largest payload we accept from any server, whatever its INFO says.
pub const MAX_PAYLOAD_CAP: usize = 64 * 1024 * 1024;
/// Longest control line we accept from a server (MSG lines carry subjects
/// and reply subjects, so this is larger than a server's 4 KiB limit).
pub const MAX_CONTROL_LINE: usize = 32 * 1024;

/// How the connection talks to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A normal client: CONNECT with headers and no_responders, a PING/PONG
    /// to confirm it, server PINGs answered, ops parsed into messages.
    Client,
    /// `cat`: bytes pass through unparsed for the user to see; CONNECT is
    /// sent only when asked (or when the server requires auth).
    Raw {
        /// Send CONNECT even without credentials (`--verbose` was given).
        force_connect: bool,
        /// The `verbose` key of that CONNECT, when given.
        verbose: Option<bool>,
        /// Answer the server's PINGs (`--pong`).
        answer_pings: bool,
    },
}

/// Everything a connection is made from.
#[derive(Debug, Clone)]
pub struct Options {
    /// Servers to try.
    pub servers: Vec<ServerUrl>,
    /// Try them in random order (the nats CLI's default).
    pub randomize: bool,
    /// User, when the URL carries none.
    pub user: Option<String>,
    /// Password, when the URL carries none.
    pub password: Option<String>,
    /// Token, when the URL carries none.
    pub token: Option<String>,
    /// The NKey seed that signs the server's nonce (`--nkey`, or the seed
    /// of `--creds`).
    pub nkey_seed: Option<String>,
    /// The user JWT of `--creds`, sent with the signed nonce.
    pub user_jwt: Option<String>,
    /// Prefix of request inboxes (`_INBOX` when `None`).
    pub inbox_prefix: Option<String>,
    /// TLS settings.
    pub tls: TlsOptions,
    /// Connection name shown by the server's monitoring.
    pub name: Option<String>,
    /// Bound on connecting and on the handshake.
    pub connect_timeout: Duration,
    /// Reconnect after the connection is lost (long-running commands).
    pub reconnect: bool,
    /// Client or raw pipe.
    pub mode: Mode,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            servers: vec![ServerUrl::parse(DEFAULT_URL).expect("default URL parses")],
            randomize: true,
            user: None,
            password: None,
            token: None,
            nkey_seed: None,
            user_jwt: None,
            inbox_prefix: None,
            tls: TlsOptions::default(),
            name: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            reconnect: false,
            mode: Mode::Client,
        }
    }
}

/// The credentials to send for `url`: those in the URL win over options,
/// as in nats.go (a user without a password in a URL is a token).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `user` of CONNECT.
    pub user: Option<String>,
    /// `pass` of CONNECT.
    pub pass: Option<String>,
    /// `auth_token` of CONNECT.
    pub token: Option<String>,
}

impl Options {
    /// The credentials to present to `url`.
    pub fn credentials_for(&self, url: &ServerUrl) -> Credentials {
        match (&url.user, &url.pass) {
            (Some(u), Some(p)) => Credentials {
                user: Some(u.clone()),
                pass: Some(p.clone()),
                token: None,
            },
            (Some(t), None) => Credentials {
                token: Some(t.clone()),
                ..Default::default()
            },
            _ => match (&self.user, &self.password, &self.token) {
                (_, _, Some(t)) => Credentials {
                    token: Some(t.clone()),
                    ..Default::default()
                },
                (Some(u), Some(p), None) => Credentials {
                    user: Some(u.clone()),
                    pass: Some(p.clone()),
                    token: None,
                },
                // natscli: "--user: Username or Token".
                (Some(u), None, None) => Credentials {
                    token: Some(u.clone()),
                    ..Default::default()
                },
                _ => Credentials::default(),
            },
        }
    }
}

impl Options {
    /// A new request inbox subject: the prefix, then a unique token.
    pub fn inbox(&self, unique: &str) -> String {
        format!(
            "{}.{unique}",
            self.inbox_prefix.as_deref().unwrap_or("_INBOX")
        )
    }
}

/// The NKey part of CONNECT: `jwt`, `nkey` and `sig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signed {
    /// The user JWT (with `--creds`).
    pub jwt: Option<String>,
    /// The public key (with `--nkey` alone).
    pub nkey: Option<String>,
    /// The nonce signed with the seed (when the server sent one).
    pub sig: Option<String>,
}

impl Options {
    /// The `jwt`, `nkey` and `sig` to send when INFO carried `nonce`.
    ///
    /// # Errors
    ///
    /// The seed is malformed.
    pub fn sign_nonce(&self, nonce: Option<&str>) -> Result<Signed, String> {
        let Some(seed) = &self.nkey_seed else {
            return Ok(Signed {
                jwt: self.user_jwt.clone(),
                ..Default::default()
            });
        };
        let nkey = match &self.user_jwt {
            Some(_) => None,
            None => Some(crate::nkey::public_of_seed(seed)?),
        };
        let sig = match nonce {
            Some(n) => Some(crate::nkey::sign(seed, n.as_bytes())?),
            None => None,
        };
        Ok(Signed {
            jwt: self.user_jwt.clone(),
            nkey,
            sig,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_win() {
        let o = Options {
            user: Some("opt".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let plain = ServerUrl::parse("h").unwrap();
        assert_eq!(o.credentials_for(&plain).user.as_deref(), Some("opt"));
        let with = ServerUrl::parse("nats://u:p@h").unwrap();
        assert_eq!(o.credentials_for(&with).user.as_deref(), Some("u"));
        let tok = ServerUrl::parse("nats://t@h").unwrap();
        assert_eq!(o.credentials_for(&tok).token.as_deref(), Some("t"));
        let user_only = Options {
            user: Some("tok".into()),
            ..Default::default()
        };
        assert_eq!(
            user_only.credentials_for(&plain).token.as_deref(),
            Some("tok")
        );
    }
}

//! Server URLs as the `nats` CLI accepts them: `nats://host:port`,
//! `tls://host:port`, `host:port`, `host`, `nats://user:pass@host`,
//! `nats://token@host`, `[::1]:4222`, and comma-separated lists of those;
//! `ws://host[:port]` and `wss://host[:port]` for a server's WebSocket
//! listener (ports 80 and 443 when none is given, as nats.go).
//!
//! Parsing only: which server to try when is the connection's business.

use std::fmt;

/// The port used when a URL names none.
pub const DEFAULT_PORT: u16 = 4222;
/// The server tried when none is given.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// One server address with the credentials its URL carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Client port.
    pub port: u16,
    /// `tls://`: the connection must be upgraded to TLS (`wss://`: TLS
    /// from the first byte).
    pub tls: bool,
    /// `ws://` or `wss://`: NATS over WebSocket.
    pub websocket: bool,
    /// User from `user:pass@`, or the token from `token@`.
    pub user: Option<String>,
    /// Password from `user:pass@` (absent for a token).
    pub pass: Option<String>,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(pub String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

impl ServerUrl {
    /// Parse one URL.
    ///
    /// # Errors
    ///
    /// An unknown scheme, an empty host, a bad port or bad `%` escapes.
    pub fn parse(text: &str) -> Result<ServerUrl, UrlError> {
        let bad = |why: &str| UrlError(format!("invalid server URL {text:?}: {why}"));
        let s = text.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let (tls, websocket, rest) = match s.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "nats" => (false, false, rest),
                "tls" => (true, false, rest),
                "ws" => (false, true, rest),
                "wss" => (true, true, rest),
                other => {
                    return Err(bad(&format!(
                        "unsupported scheme {other:?} (use nats://, tls://, ws:// or wss://)"
                    )))
                }
            },
            None => (false, false, s),
        };
        // Anything after the authority (a path, a query) is ignored, as Go's
        // url.Parse would keep it apart from host and port.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, pass) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (
                    Some(crate::urlenc::percent_decode(user).ok_or_else(|| bad("bad % escape"))?),
                    Some(crate::urlenc::percent_decode(pass).ok_or_else(|| bad("bad % escape"))?),
                ),
                None => (
                    Some(crate::urlenc::percent_decode(u).ok_or_else(|| bad("bad % escape"))?),
                    None,
                ),
            },
        };
        let default_port = match (websocket, tls) {
            (true, false) => 80,
            (true, true) => 443,
            _ => DEFAULT_PORT,
        };
        let (host, port) =
            split_host_port(hostport, default_port).ok_or_else(|| bad("bad host or port"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(ServerUrl {
            host,
            port,
            tls,
            websocket,
            user: user.filter(|u| !u.is_empty()),
            pass,
        })
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Same server (host and port), whatever the credentials.
    pub fn same_server(&self, other: &ServerUrl) -> bool {
        self.host.eq_ignore_ascii_case(&other.host) && self.port == other.port
    }
}

/// Shown without credentials, so that logs never carry a password.
impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (self.websocket, self.tls) {
            (true, true) => "wss",
            (true, false) => "ws",
            (false, true) => "tls",
            (false, false) => "nats",
        };
        write!(f, "{scheme}://{}", self.host_port())
    }
}

/// Parse a comma-separated list of URLs; blanks around commas are ignored.
///
/// # Errors
///
/// The first URL that does not parse, or an empty list.
pub fn parse_list(text: &str) -> Result<Vec<ServerUrl>, UrlError> {
    let urls = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(ServerUrl::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Err(UrlError(format!("no server URL in {text:?}")));
    }
    Ok(urls)
}

fn split_host_port(s: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':')?)),
        }
    } else if s.matches(':').count() > 1 {
        // A bare IPv6 address without a port.
        (s, None)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None | Some("") => default_port,
        Some(p) => p.parse().ok().filter(|&p| p != 0)?,
    };
    Some((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> ServerUrl {
        ServerUrl::parse(s).unwrap()
    }

    #[test]
    fn forms_the_nats_cli_accepts() {
        assert_eq!(
            u("nats://127.0.0.1:4333"),
            ServerUrl {
                host: "127.0.0.1".into(),
                port: 4333,
                tls: false,
                websocket: false,
                user: None,
                pass: None
            }
        );
        assert!(u("tls://demo.nats.io:4443").tls);
        assert_eq!(u("localhost").port, 4222);
        assert_eq!(u("localhost:5").host_port(), "localhost:5");
        let up = u("nats://us%40er:p%3Ass@h");
        assert_eq!(
            (up.user.as_deref(), up.pass.as_deref()),
            (Some("us@er"), Some("p:ss"))
        );
        let tok = u("nats://s3cr3t@h:1");
        assert_eq!((tok.user.as_deref(), tok.pass), (Some("s3cr3t"), None));
        assert_eq!(u("[::1]:7").host, "::1");
        assert_eq!(u("[::1]:7").host_port(), "[::1]:7");
        assert_eq!(u("::1").port, 4222);
        assert_eq!(u("NATS://h/").host, "h");
    }

    #[test]
    fn websocket_schemes() {
        let w = u("ws://127.0.0.1:8080");
        assert!(w.websocket && !w.tls);
        assert_eq!(w.port, 8080);
        assert_eq!(w.to_string(), "ws://127.0.0.1:8080");
        let w = u("wss://u:p@example.com");
        assert!(w.websocket && w.tls);
        assert_eq!((w.port, w.user.as_deref()), (443, Some("u")));
        assert_eq!(u("ws://h").port, 80);
    }

    #[test]
    fn display_hides_credentials() {
        assert_eq!(u("nats://a:b@h:1").to_string(), "nats://h:1");
        assert_eq!(u("tls://h").to_string(), "tls://h:4222");
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "http://h",
            "h:0",
            "h:99999",
            "h:x",
            "nats://:4222",
            "nats://%zz@h",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists() {
        let l = parse_list("a:1, nats://b:2 ,,tls://c").unwrap();
        assert_eq!(l.len(), 3);
        assert!(l[2].tls);
        assert!(parse_list(" , ").is_err());
    }
}

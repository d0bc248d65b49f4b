//! The `websocket { }` listener: WebSocket clients (browsers, nats.ws,
//! nats-py with `ws://`) speak the NATS client protocol inside binary
//! frames.
//!
//! The accept loop admits a connection as a client of the server before
//! any thread exists for it ([`super::connection::admit_websocket`]: over
//! `max_connections` it is refused right there with HTTP 503). A thread of
//! the listener's own pool of connection threads (parked ones reused
//! across connections, as on the client port: `thread_pool.rs`) then does
//! TLS (for `wss://`, the core's handshake) and the HTTP
//! upgrade within `handshake_timeout` (`handshake.rs`), and hands the
//! socket, the TLS session and what the upgrade agreed to the connection
//! core ([`super::connection::serve_websocket`]), which reads and writes
//! through WebSocket framing (`conn/transport.rs`) and serves the client
//! protocol as on the client port, with the WebSocket authorization passed
//! in [`Via`].

mod handshake;
mod socket;
mod varz;

pub use varz::{varz, WebsocketVarz};

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::auth::Authenticator;
use super::client::Client;
use super::connection::Admitted;
use super::net::{display_addr, widen_backlog};
use super::thread_pool::ThreadPool;
use super::{Options, Server};
use crate::protocol::info::ServerInfo;
use crate::{debug, log_error, notice};

/// Stack of a WebSocket connection's thread, as a client-port
/// connection's: the (de)compressor state of permessage-deflate is on the
/// heap (flate2's zlib-rs backend; miniz_oxide built it on the stack, a
/// few hundred KB in debug builds, which is why this was 2 MB).
const STACK: usize = 256 * 1024;

/// What a finished upgrade hands to the connection core.
pub struct Upgraded {
    /// The TLS session (`wss://`).
    pub tls: Option<rustls::Connection>,
    /// permessage-deflate was agreed.
    pub compression: bool,
    /// Bytes after the request head (the first frames).
    pub leftover: Vec<u8>,
}

/// The answer to a WebSocket connection over `max_connections`, written
/// before any thread exists for it (so before its request is read).
pub fn max_connections_refusal() -> Vec<u8> {
    handshake::refusal(503, "Service Unavailable", "maximum connections exceeded")
}

/// How a WebSocket client reaches the client connection code: who the peer
/// is and how it authenticates.
pub struct Via {
    /// The client's address.
    pub peer: SocketAddr,
    /// The WebSocket authorization (the server's when the block has none).
    pub auth: Arc<Authenticator>,
    /// Time to send CONNECT.
    pub auth_timeout: Duration,
}

impl Via {
    /// The INFO JSON a WebSocket client gets: the client port's, with TLS
    /// left to the WebSocket layer and `auth_required` from its authorization.
    pub fn info_json(&self, server: &Server, client: &Client) -> Vec<u8> {
        let json = server.client_info_json(client);
        let Ok(mut info) = serde_json::from_slice::<ServerInfo>(&json) else {
            return json;
        };
        info.tls_required = false;
        info.tls_available = false;
        info.tls_verify = false;
        // As nats-server: auth is required when configured, no_auth_user or not.
        info.auth_required = self.auth.required();
        serde_json::to_vec(&info).unwrap_or(json)
    }
}

/// The WebSocket side of the server: options, authorization, TLS.
pub struct Websocket {
    tls: Option<Arc<rustls::ServerConfig>>,
    /// The bound address.
    pub addr: SocketAddr,
}

/// Bind the WebSocket listener when configured and serve it on its own
/// thread; returns the bound address.
///
/// # Errors
///
/// Binding failed, the TLS files are unusable, or the authorization is invalid.
pub fn start(server: &Arc<Server>) -> io::Result<Option<SocketAddr>> {
    let opts = server.opts();
    let Some(wo) = opts.websocket.clone() else {
        return Ok(None);
    };
    let tls = wo.tls.as_ref().map(super::tls::server_config).transpose()?;
    let auth = authenticator(&opts, &server.accounts_snapshot())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let host = wo.host.trim_start_matches('[').trim_end_matches(']');
    let (listener, addr) = super::net::listen_tcp(host, wo.port).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot listen on {} for websocket: {e}",
                display_addr(host, wo.port)
            ),
        )
    })?;
    widen_backlog(&listener);
    server.set_websocket_auth(Some(Arc::new(auth)));
    let ws = Arc::new(Websocket { tls, addr });
    let scheme = if ws.tls.is_some() { "wss" } else { "ws" };
    notice!(
        "Listening for websocket clients on {scheme}://{}",
        display_addr(host, addr.port())
    );
    if ws.tls.is_none() {
        notice!("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
    }
    let srv = Arc::downgrade(server);
    std::thread::Builder::new()
        .name("ws-accept".into())
        .stack_size(STACK)
        .spawn(move || accept_loop(&srv, &listener, &ws))?;
    Ok(Some(addr))
}

/// The authenticator of WebSocket clients under `opts`.
///
/// # Errors
///
/// A user names an unknown account, or `no_auth_user` names no user.
pub fn authenticator(
    opts: &Options,
    accounts: &std::collections::HashMap<String, Arc<super::account::Account>>,
) -> Result<Authenticator, String> {
    Authenticator::new(&auth_options(opts), accounts).map_err(|e| format!("websocket: {e}"))
}

impl Websocket {
    /// The authorization in force (a reload replaces it) and the time to
    /// send CONNECT.
    fn auth(server: &Server) -> (Arc<Authenticator>, Duration) {
        let opts = server.opts();
        let timeout = auth_options(&opts).effective_auth_timeout();
        let auth = server.websocket_auth().unwrap_or_else(|| server.auth());
        (auth, timeout)
    }
}

/// The options WebSocket clients authenticate under: the block's own
/// authorization when it has one, else the server's; the block's
/// `no_auth_user` and `timeout` when set.
fn auth_options(opts: &Options) -> Options {
    let mut o = opts.clone();
    let Some(wo) = &opts.websocket else { return o };
    if wo.has_own_auth() {
        o.user = wo.user.clone();
        o.pass = wo.pass.clone();
        o.token = wo.token.clone();
        o.users = wo.users.clone().unwrap_or_default();
        // The block's users replace the server's NKey users too.
        o.nkeys = Vec::new();
        o.no_auth_user = None;
    }
    if wo.no_auth_user.is_some() {
        o.no_auth_user = wo.no_auth_user.clone();
    }
    if let Some(t) = wo.auth_timeout {
        o.auth_timeout = t;
    }
    o
}

fn accept_loop(server: &std::sync::Weak<Server>, listener: &TcpListener, ws: &Arc<Websocket>) {
    let mut backoff = Duration::from_millis(10);
    let threads = {
        let (server, ws) = (server.clone(), ws.clone());
        ThreadPool::new(
            "ws-client",
            STACK,
            super::listener::PARKING,
            move |(admitted, peer): (Admitted, SocketAddr)| match server.upgrade() {
                Some(srv) => serve(&srv, &ws, admitted, peer),
                None => super::connection::withdraw(admitted),
            },
        )
    };
    loop {
        let accepted = listener.accept();
        let Some(srv) = server.upgrade() else { return };
        if srv.is_shutting_down() || srv.in_lame_duck() {
            return;
        }
        let (stream, peer) = match accepted {
            Ok((stream, peer)) => (stream, super::net::unmapped(peer)),
            Err(e) => {
                log_error!("Temporary Websocket Accept Error ({e})");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        let (auth, auth_timeout) = Websocket::auth(&srv);
        let via = Via {
            peer,
            auth,
            auth_timeout,
        };
        // Admitted (or refused over max_connections) before any thread.
        let Some(admitted) = super::connection::admit_websocket(&srv, stream, via) else {
            continue;
        };
        if let Err(((admitted, _), e)) = threads.execute((admitted, peer)) {
            super::connection::abandon(admitted);
            log_error!("Cannot start a thread for a websocket connection ({e})");
        }
    }
}

/// One WebSocket connection on a thread of the pool: TLS and upgrade within the
/// handshake timeout, then the connection core serves the client.
fn serve(server: &Server, ws: &Websocket, admitted: Admitted, peer: SocketAddr) {
    let opts = server.opts();
    let Some(wo) = opts.websocket.as_ref() else {
        super::connection::withdraw(admitted);
        return;
    };
    let deadline = Instant::now() + wo.handshake_timeout;
    let upgraded = {
        let socket = match socket::WsSocket::open(admitted.stream(), ws.tls.as_ref(), deadline) {
            Ok(s) => s,
            Err(e) => {
                debug!("{peer} - websocket TLS handshake error: {e}");
                super::connection::withdraw(admitted);
                return;
            }
        };
        match handshake::upgrade(&socket, wo, deadline) {
            Ok(u) => Upgraded {
                tls: socket.into_tls(),
                compression: u.compression,
                leftover: u.leftover,
            },
            Err(e) => {
                debug!("{peer} - websocket handshake error: {e}");
                socket.shutdown();
                drop(socket);
                super::connection::withdraw(admitted);
                return;
            }
        }
    };
    drop(opts);
    super::connection::serve_websocket(admitted, upgraded);
}

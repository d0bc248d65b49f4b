//! Settling who a client connection is, once per CONNECT, in step with
//! reloads:
//!
//! - At a CONNECT, from its credentials: NKey and JWT ones first, signed
//!   over the nonce of the client's INFO (`nkey_auth.rs`, `jwt/`), then
//!   passwords, tokens and certificates. A client that starts with another
//!   op is settled at that first op as the `no_auth_user` (or as anonymous
//!   in the global account when no auth is configured), as nats-server
//!   registers its guest; from then on a reload re-checks it like any other
//!   client (`reload.rs`).
//! - A second CONNECT may change the user but not the account: the
//!   client's subscriptions live in its account's index, and moving them
//!   (with their route interest) under new permissions is not worth the
//!   risk. It is refused with `-ERR 'Authorization Violation'` and closed.
//! - A check never races a reload. The client is marked settled before the
//!   rules it was checked against are compared with the current ones: a
//!   reload that swapped them in the meantime either sees the client
//!   (and re-checks it) or is seen here (and the check is made again under
//!   the new rules). The two meet under the authenticator's lock, so one of
//!   them always sees the other.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::auth::{Authenticator, Identity};
use super::client::Client;
use super::nkey_auth::{UserLimits, Verdict};
use super::Server;
use crate::debug;
use crate::protocol::info::Connect;

/// Why a client was not settled (each closes the connection with
/// `-ERR 'Authorization Violation'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The credentials (or their absence) are not accepted.
    Unauthorized,
    /// A later CONNECT names a user of another account.
    AccountChange,
}

impl Refusal {
    /// What the debug log says about it.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Unauthorized => "authorization failed",
            Refusal::AccountChange => "a second CONNECT may not change the account",
        }
    }
}

/// Settle a client from its CONNECT; `cert_names` are the names its
/// verified TLS certificate maps to.
///
/// # Errors
///
/// The credentials are refused, or they name another account than the one
/// an earlier CONNECT settled.
pub fn settle_connect(
    server: &Server,
    client: &Client,
    connect: &Connect,
    nonce: Option<&str>,
    cert_names: &[String],
) -> Result<(Identity, UserLimits), Refusal> {
    if let Some(jwt) = connect.jwt.as_deref() {
        resolve_account(server, client, jwt);
    }
    let mut limits = UserLimits::default();
    let identity = settle(server, client, connect, |auth| {
        // NKey and JWT credentials first (nkey_auth.rs), then the others.
        match auth.signed.authenticate(connect, nonce, client.addr.ip()) {
            Verdict::NotSigned => auth.authenticate(connect, cert_names),
            Verdict::Accepted(identity, user_limits) => {
                limits = user_limits;
                Some(identity)
            }
            Verdict::Refused(why) => {
                debug!("{} - {why}", client.log_prefix());
                None
            }
        }
    })?;
    Ok((identity, limits))
}

/// With a URL resolver, fetch the account of a user JWT whose account the
/// server does not know yet (see `jwt/url_resolver.rs`); the user is then
/// checked as any other.
fn resolve_account(server: &Server, client: &Client, jwt: &str) {
    use super::jwt::claims::{decode, UserNats};
    let opts = server.opts();
    let Some(url) = opts.operator.as_ref().and_then(|t| t.url.as_deref()) else {
        return;
    };
    let Ok(user) = decode::<UserNats>(jwt, "user") else {
        return;
    };
    let account = user.nats.issuer_account.as_deref().unwrap_or(&user.iss);
    if server.account(account).is_some() {
        return;
    }
    match super::jwt::url_resolver::fetch(url, account) {
        Ok(token) => {
            // The accounts it imports from, so its imports can be set up.
            let claims = decode::<super::jwt::claims::AccountNats>(&token, "account");
            let imports = claims.map(|c| c.nats.imports.unwrap_or_default());
            for import in imports.unwrap_or_default() {
                let exporter = import.get("account").and_then(|a| a.as_str());
                if let Some(exporter) = exporter.filter(|e| server.account(e).is_none()) {
                    let _ = super::jwt::url_resolver::fetch(url, exporter);
                }
            }
            if let Err(e) = server.adopt_resolved_accounts() {
                crate::warn!("account {account} from {url}: {e}");
            }
        }
        Err(e) => debug!("{} - account {account}: {e}", client.log_prefix()),
    }
}

/// Settle a client whose first op is not CONNECT: the `no_auth_user`, or
/// anonymous without auth; `None` when the rules want a CONNECT first.
pub fn settle_first_op(server: &Server, client: &Client) -> Option<Identity> {
    settle(
        server,
        client,
        &Connect::default(),
        Authenticator::anonymous,
    )
    .ok()
}

fn settle(
    server: &Server,
    client: &Client,
    credentials: &Connect,
    mut check: impl FnMut(&Authenticator) -> Option<Identity>,
) -> Result<Identity, Refusal> {
    let mut held = client.credentials_lock();
    // Permissions a reload worked out for the credentials being replaced.
    let _ = client.take_identity_update();
    let first = !client.connected.load(Ordering::SeqCst);
    loop {
        let rules = server.auth_for(client);
        let identity = check(&rules)
            .filter(|id| id.allows(connection_kind(client)))
            .ok_or(Refusal::Unauthorized)?;
        if first {
            client.set_account(identity.account.clone());
        } else if !Arc::ptr_eq(&identity.account, &client.account()) {
            return Err(Refusal::AccountChange);
        }
        // No credentials at all re-check as the default CONNECT: nothing to keep.
        *held = has_credentials(credentials).then(|| Box::new(credentials_only(credentials)));
        client.connected.store(true, Ordering::SeqCst);
        if Arc::ptr_eq(&rules, &server.auth_for(client)) {
            return Ok(identity);
        }
        // A reload replaced the rules while they were being checked: the
        // identity must hold under the new ones too.
    }
}

/// The kind of connection a client came in by, as
/// `allowed_connection_types` names it.
fn connection_kind(client: &Client) -> &'static str {
    if client.meta().websocket {
        "WEBSOCKET"
    } else {
        "STANDARD"
    }
}

/// What a reload's re-check of one client found.
pub enum Recheck {
    /// Not settled yet (it will be, under the rules of then), or closed.
    NotSettled,
    /// Its credentials no longer hold, or they name another account now.
    Refused,
    /// Its account revoked its user JWT.
    Revoked,
    /// Who it is under the new rules (handed to its thread as well).
    Holds(Identity),
}

/// Who a client is under `rules`, from the credentials it settled with. A
/// reload calls this for every client.
pub fn recheck(rules: &Authenticator, client: &Client) -> Recheck {
    // Not settled: it will be under the new rules (see the module doc), so
    // there is no need to wait for the lock a check in flight holds.
    if !client.connected.load(Ordering::SeqCst) || client.is_closed() {
        return Recheck::NotSettled;
    }
    let held = client.credentials_lock();
    let credentials = held.as_deref().cloned().unwrap_or_default();
    // An NKey or JWT client's signature was checked when it connected: its
    // key (and JWT) must still be let in.
    let mut limits = UserLimits::default();
    let identity = match rules.signed.recheck(&credentials, client.addr.ip()) {
        Verdict::NotSigned => rules.authenticate(&credentials, &client.certificate_names()),
        Verdict::Accepted(identity, user_limits) => {
            limits = user_limits;
            Some(identity)
        }
        Verdict::Refused(why) if why == super::jwt::REVOKED => return Recheck::Revoked,
        Verdict::Refused(_) => None,
    }
    .filter(|id| Arc::ptr_eq(&id.account, &client.account()))
    .filter(|id| id.allows(connection_kind(client)));
    match identity {
        Some(identity) => {
            client.set_identity_update(identity.clone(), limits);
            Recheck::Holds(identity)
        }
        None => Recheck::Refused,
    }
}

/// The CONNECT carries credentials of some kind.
fn has_credentials(c: &Connect) -> bool {
    c.user.is_some()
        || c.pass.is_some()
        || c.auth_token.is_some()
        || c.nkey.is_some()
        || c.jwt.is_some()
}

/// The part of a CONNECT a re-check needs: no name, options or such.
fn credentials_only(c: &Connect) -> Connect {
    Connect {
        user: c.user.clone(),
        pass: c.pass.clone(),
        auth_token: c.auth_token.clone(),
        nkey: c.nkey.clone(),
        jwt: c.jwt.clone(),
        ..Default::default()
    }
}

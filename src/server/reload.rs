//! Configuration reload (SIGHUP, `--signal reload`): re-read the file and
//! the flags, swap the options, credentials, accounts and TLS settings, and
//! re-check every connected client, as nats-server does.
//!
//! - Every settled client is re-checked, including a `no_auth_user` guest
//!   that never sent CONNECT, and one whose CONNECT was being checked when
//!   the reload landed (`identity.rs`).
//! - Clients whose credentials no longer hold get `-ERR 'Authorization
//!   Violation'` and are closed (so are clients whose user moved account);
//!   a user JWT its account now revokes gets `-ERR 'User Authentication
//!   Revoked'`, as nats-server.
//! - Subscriptions the new permissions refuse are removed, each with
//!   `-ERR 'Permissions Violation for Subscription to "x" (sid "1")'`; the
//!   others are rebuilt under the new permissions. A removed
//!   subscription's interest is withdrawn from the routes (`RS-`).
//! - The client's own thread picks up its new permissions (and its user
//!   JWT's subscription and payload limits) before its next read batch.
//! - Options that cannot change while running (host, port) refuse the
//!   whole reload; the server keeps running with the old configuration.
//!
//! An account JWT pushed to the claim update service takes the same path
//! for the trust and the re-check (`Server::apply_account_jwt`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::auth::Authenticator;
use super::client::Client;
use super::close::CloseReason;
use super::identity::{self, Recheck};
use super::log::{self, LogConfig};
use super::permissions;
use super::route::Interest;
use super::subscription::Subscription;
use super::timers::send_err_and_close;
use super::{tls, Account, Options, Server};
use crate::protocol::encode;
use crate::{notice, warn};

/// Re-reads the configuration file and re-applies the command-line flags:
/// the options and the warning lines, or why they are not valid.
pub type Reloader = Box<dyn Fn() -> Result<(Options, Vec<String>), String> + Send + Sync>;

impl Server {
    /// Reload the configuration.
    ///
    /// # Errors
    ///
    /// No configuration file, an invalid one, or a change that cannot be
    /// made while running. Nothing has changed then.
    pub fn reload(&self) -> Result<(), String> {
        let reloader = self
            .reloader
            .as_ref()
            .ok_or("no configuration file to reload (start with -c)")?;
        let _one_at_a_time = SWAPS.lock().unwrap_or_else(|e| e.into_inner());
        let (new, warnings) = reloader()?;
        let old = self.opts();
        refuse_unsupported(&old, &new)?;

        let accounts = {
            let mut accounts = self.accounts.write().unwrap_or_else(|e| e.into_inner());
            for name in &new.accounts {
                accounts
                    .entry(name.clone())
                    .or_insert_with(|| Arc::new(Account::new(name)));
            }
            accounts.clone()
        };
        let auth = Authenticator::new(&new, &accounts)?;
        let ws_auth = match new.websocket {
            Some(_) => Some(super::websocket::authenticator(&new, &accounts)?),
            None => None,
        };
        let tls_config = new
            .tls
            .as_ref()
            .map(tls::server_config)
            .transpose()
            .map_err(|e| e.to_string())?;
        log::configure(&LogConfig::from_options(&new)).map_err(|e| format!("log file: {e}"))?;

        super::imports::install(&accounts, &new.imports);
        super::trace::install(&accounts, &new.msg_traces);
        *self.opts.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
        *self.auth.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(auth);
        self.set_websocket_auth(ws_auth.map(Arc::new));
        *self.tls_config.write().unwrap_or_else(|e| e.into_inner()) = tls_config;
        for w in &warnings {
            warn!("{w}");
        }
        self.recheck_clients();
        notice!("Reloaded server configuration");
        Ok(())
    }

    /// Re-check every connected client under the current credentials, as
    /// a reload does.
    fn recheck_clients(&self) {
        for client in self.client_list() {
            let rules = self.auth_for(&client);
            recheck(&rules, &client, &self.routes.interest);
        }
    }

    /// An account JWT pushed to the claim update service (`system/claims.rs`)
    /// replaces the one the resolver held, or adds the account; `None`
    /// deletes it. The trust, the imports and the traces are rebuilt from
    /// the accounts' JWTs and every connected client is re-checked, as a
    /// reload does: a user the account now revokes, or whose account is
    /// gone or refused, is closed; permissions are applied anew.
    ///
    /// # Errors
    ///
    /// Not in operator mode, or the new trust could not be built (nothing
    /// has changed then).
    pub fn apply_account_jwt(&self, key: &str, jwt: Option<&str>) -> Result<(), String> {
        let _one_at_a_time = SWAPS.lock().unwrap_or_else(|e| e.into_inner());
        let mut new = (*self.opts()).clone();
        let Some(trust) = new.operator.as_mut() else {
            return Err("not in operator mode".into());
        };
        trust.preload.retain(|(k, _)| k != key);
        if let Some(jwt) = jwt {
            trust.preload.push((key.to_string(), jwt.to_string()));
        }
        new.accounts.retain(|a| a != key);
        if jwt.is_some() {
            new.accounts.push(key.to_string());
        }
        let added: Vec<String> = jwt.map(|_| key.to_string()).into_iter().collect();
        self.swap_in(new, &added)?;
        if jwt.is_none() {
            // As nats-server's removal of a deleted account: its clients
            // are expired.
            for client in self.client_list() {
                if client.account().name == key {
                    send_err_and_close(
                        &client,
                        "Account Authentication Expired",
                        CloseReason::AuthenticationExpired,
                    );
                }
            }
        }
        self.recheck_clients();
        match jwt {
            Some(_) => notice!("Updated account {key} from a pushed JWT"),
            None => notice!("Deleted account {key}"),
        }
        Ok(())
    }
}

/// Reloads and accounts a URL resolver fetched swap the options one at a
/// time (each starts from the options the other left).
static SWAPS: Mutex<()> = Mutex::new(());

impl Server {
    /// Accounts a URL resolver fetched (`jwt/url_resolver.rs`) join the
    /// running server: their subject spaces, their users' trust, their
    /// imports, as a reload adds accounts. No client is re-checked: nothing
    /// was taken away.
    ///
    /// # Errors
    ///
    /// The new trust could not be built (nothing has changed then).
    pub fn adopt_resolved_accounts(&self) -> Result<(), String> {
        let _one_at_a_time = SWAPS.lock().unwrap_or_else(|e| e.into_inner());
        let mut new = (*self.opts()).clone();
        let Some(trust) = new.operator.as_mut() else {
            return Ok(());
        };
        let Some(url) = trust.url.clone() else {
            return Ok(());
        };
        let mut added = Vec::new();
        for (key, jwt) in super::jwt::url_resolver::cached(&url) {
            if !trust.preload.iter().any(|(k, _)| *k == key) {
                trust.preload.push((key.clone(), jwt));
                added.push(key);
            }
        }
        if added.is_empty() {
            return Ok(());
        }
        new.accounts.extend(added.iter().cloned());
        self.swap_in(new, &added)?;
        notice!("Resolved account {}", added.join(", "));
        Ok(())
    }

    /// Make `new`, whose operator trust holds the account JWTs, the
    /// running options: the accounts named in `added` get their subject
    /// spaces; the imports and message traces are derived from the JWTs,
    /// and with the trust (clients' and WebSocket's) swapped in together.
    /// The caller holds `SWAPS`.
    fn swap_in(&self, mut new: Options, added: &[String]) -> Result<(), String> {
        if let Some(trust) = &new.operator {
            new.imports = super::jwt::import_specs(&trust.preload);
            new.msg_traces = super::jwt::msg_traces(&trust.preload);
        }
        if let Some(system) = &new.system_account {
            new.imports
                .extend(super::system::imports(system, &new.accounts));
        }
        let accounts = {
            let mut accounts = self.accounts.write().unwrap_or_else(|e| e.into_inner());
            for name in added {
                accounts
                    .entry(name.clone())
                    .or_insert_with(|| Arc::new(Account::new(name)));
            }
            accounts.clone()
        };
        let auth = Authenticator::new(&new, &accounts)?;
        let ws_auth = match new.websocket {
            Some(_) => Some(super::websocket::authenticator(&new, &accounts)?),
            None => None,
        };
        super::imports::install(&accounts, &new.imports);
        super::trace::install(&accounts, &new.msg_traces);
        *self.opts.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
        *self.auth.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(auth);
        self.set_websocket_auth(ws_auth.map(Arc::new));
        Ok(())
    }
}

/// Changes nats-server also refuses to make while running.
fn refuse_unsupported(old: &Options, new: &Options) -> Result<(), String> {
    if old.host != new.host {
        return Err(format!(
            "config reload not supported for host: old={}, new={}",
            old.host, new.host
        ));
    }
    if old.port != new.port {
        return Err(format!(
            "config reload not supported for port: old={}, new={}",
            old.port, new.port
        ));
    }
    if old.websocket.as_ref().map(|w| (&w.host, w.port))
        != new.websocket.as_ref().map(|w| (&w.host, w.port))
        || old.websocket.as_ref().map(|w| &w.tls) != new.websocket.as_ref().map(|w| &w.tls)
    {
        return Err(
            "config reload not supported for the websocket listener or its TLS in nats-lite: \
             restart the server"
                .into(),
        );
    }
    let leaf_fixed = |o: &Options| {
        o.leafnodes
            .as_ref()
            .map(|l| (l.host.clone(), l.port, l.tls.clone(), l.remotes.clone()))
    };
    if leaf_fixed(old) != leaf_fixed(new) {
        return Err(
            "config reload not supported for the leafnode listener, its TLS or the remotes in \
             nats-lite: restart the server"
                .into(),
        );
    }
    if old.system_account != new.system_account {
        return Err(format!(
            "config reload not supported for SystemAccount: old={}, new={}",
            old.system_account.as_deref().unwrap_or_default(),
            new.system_account.as_deref().unwrap_or_default()
        ));
    }
    if old.cluster != new.cluster || old.client_advertise != new.client_advertise {
        return Err(
            "config reload not supported for cluster options in nats-lite: restart the server"
                .into(),
        );
    }
    Ok(())
}

/// Re-check one connected client under the new credentials and
/// permissions; a subscription they refuse is removed, and its interest
/// withdrawn from the routes.
fn recheck(auth: &Authenticator, client: &Arc<Client>, interest: &Interest) {
    let identity = match identity::recheck(auth, client) {
        Recheck::NotSettled => return,
        Recheck::Refused => {
            send_err_and_close(
                client,
                "Authorization Violation",
                CloseReason::AuthenticationViolation,
            );
            return;
        }
        Recheck::Revoked => {
            send_err_and_close(
                client,
                "User Authentication Revoked",
                CloseReason::Revocation,
            );
            return;
        }
        Recheck::Holds(identity) => identity,
    };
    let perms = identity.permissions.clone();
    let subs: Vec<Arc<Subscription>> = client.subs().values().cloned().collect();
    let account = client.account();
    let mut errors = Vec::new();
    for old in subs {
        let allowed = perms
            .as_ref()
            .is_none_or(|p| p.can_subscribe(&old.subject, old.queue.as_deref()));
        let mut map = client.subs();
        match map.get(&old.sid) {
            Some(current) if Arc::ptr_eq(current, &old) => {}
            _ => continue,
        }
        if !allowed {
            map.remove(&old.sid);
            drop(map);
            if account.sublist.remove(&old) {
                interest.removed(&account, &old);
            }
            errors.push(format!(
                "{} (sid {})",
                permissions::subscribe_violation(&old.subject, old.queue.as_deref()),
                permissions::go_quote(&old.sid)
            ));
            continue;
        }
        let Some(owner) = old.client.clone() else {
            continue;
        };
        let mut sub = Subscription::new(owner, &old.subject, old.queue.as_deref(), &old.sid);
        sub.counts.delivered.store(
            old.counts.delivered.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        sub.counts
            .max
            .store(old.counts.max.load(Ordering::Relaxed), Ordering::Relaxed);
        if let Some(p) = &perms {
            if p.subscribe.as_ref().is_some_and(|r| r.has_deny()) {
                sub.deny_filter = Some(p.clone());
            }
            sub.responses = p.allow_responses;
        }
        let sub = Arc::new(sub);
        map.insert(old.sid.clone(), sub.clone());
        drop(map);
        account.sublist.remove(&old);
        account.sublist.insert(sub);
    }
    client.meta().user = identity.user.clone();
    for text in errors {
        let mut line = Vec::new();
        encode::err(&mut line, &text);
        let _ = client.queue_and_flush(&mut line, 0, 0);
    }
}

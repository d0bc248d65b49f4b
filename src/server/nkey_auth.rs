//! Signed CONNECTs: NKey users (`nkey: U...` in `users`) and, in operator
//! mode, user JWTs (see [`super::jwt`]).
//!
//! When either is configured every client gets a fresh `nonce` in its INFO
//! ([`new_nonce`]); a client proves it holds its key by sending the nonce
//! signed (`sig`) with its `nkey` or `jwt`. The order is nats-server's
//! (`processClientOrLeafAuthentication`): in operator mode a JWT is
//! required; otherwise a CONNECT with an `nkey` is checked against the NKey
//! users and anything else goes on to the password and token checks.

use std::collections::HashMap;
use std::sync::Arc;

use super::account::{Account, GLOBAL_ACCOUNT};
use super::auth::Identity;
use super::jwt::Trust;
use super::permissions::Permissions;
use super::Options;
use crate::debug;
use crate::protocol::info::Connect;

/// Random bytes in a nonce (nats-server's `nonceRawLen`).
const NONCE_RAW_LEN: usize = 11;

/// What the signed-auth check made of a CONNECT.
#[derive(Debug)]
pub enum Verdict {
    /// Not for this check: go on with passwords and tokens.
    NotSigned,
    /// A valid signature from a known key, and the limits of this user.
    Accepted(Identity, UserLimits),
    /// Refused; the reason is for the debug log only (the client gets
    /// `Authorization Violation`).
    Refused(String),
}

/// Limits a user JWT sets on one connection (none for NKey users).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserLimits {
    /// Subscriptions of the connection.
    pub max_subs: Option<usize>,
    /// Largest payload it may publish.
    pub max_payload: Option<usize>,
    /// When its JWT expires (Unix seconds): the connection is closed then
    /// with `User Authentication Expired`.
    pub expires_at: Option<i64>,
}

struct NkeyEntry {
    permissions: Option<Arc<Permissions>>,
    account: Arc<Account>,
    connection_types: Option<Arc<[String]>>,
}

/// The NKey users and the operator trust, built from the options.
#[derive(Default)]
pub struct SignedAuth {
    nkeys: HashMap<String, NkeyEntry>,
    trust: Option<Trust>,
}

impl SignedAuth {
    /// Build from the options and the server's accounts.
    ///
    /// # Errors
    ///
    /// An NKey user names an account that does not exist.
    pub fn new(opts: &Options, accounts: &HashMap<String, Arc<Account>>) -> Result<Self, String> {
        let mut nkeys = HashMap::new();
        for u in &opts.nkeys {
            let name = u.account.as_deref().unwrap_or(GLOBAL_ACCOUNT);
            let account = accounts.get(name).cloned().ok_or_else(|| {
                format!(
                    "nkey user {:?} names unknown account {name:?}",
                    u.public_key
                )
            })?;
            let permissions = u
                .permissions
                .clone()
                .or_else(|| opts.default_permissions.clone())
                .map(Arc::new);
            nkeys.insert(
                u.public_key.clone(),
                NkeyEntry {
                    permissions,
                    account,
                    connection_types: super::auth::connection_types(
                        u.allowed_connection_types.as_ref(),
                    ),
                },
            );
        }
        let trust = match &opts.operator {
            Some(op) => Some(Trust::new(op, accounts)?),
            None => None,
        };
        Ok(SignedAuth { nkeys, trust })
    }

    /// True when INFO must carry a nonce (nats-server's `nonceRequired`).
    pub fn nonce_required(&self) -> bool {
        !self.nkeys.is_empty() || self.trust.is_some()
    }

    /// True in operator mode: only user JWTs authenticate.
    pub fn operator_mode(&self) -> bool {
        self.trust.is_some()
    }

    /// Check a CONNECT against the nonce this connection was sent.
    /// `client_ip` is checked against a user JWT's allowed networks.
    pub fn authenticate(
        &self,
        c: &Connect,
        nonce: Option<&str>,
        client_ip: std::net::IpAddr,
    ) -> Verdict {
        if let Some(trust) = &self.trust {
            return trust.authenticate(c, nonce, false, client_ip);
        }
        let Some(key) = c.nkey.as_deref().filter(|_| !self.nkeys.is_empty()) else {
            return Verdict::NotSigned;
        };
        let Some(identity) = self.identity_of(key) else {
            return Verdict::Refused(format!("unknown nkey {key}"));
        };
        let (Some(sig), Some(nonce)) = (c.sig.as_deref(), nonce) else {
            return Verdict::Refused("Signature missing".into());
        };
        if !crate::nkey::verify(key, nonce.as_bytes(), sig) {
            return Verdict::Refused("Signature not verified".into());
        }
        Verdict::Accepted(identity, UserLimits::default())
    }

    /// Re-check a connected client's credentials after a reload (without
    /// its nonce signature, checked when it connected): `NotSigned` when
    /// they are not NKey or JWT credentials of these rules.
    pub fn recheck(&self, c: &Connect, client_ip: std::net::IpAddr) -> Verdict {
        if let Some(trust) = &self.trust {
            return trust.authenticate(c, None, true, client_ip);
        }
        let Some(key) = c.nkey.as_deref().filter(|_| !self.nkeys.is_empty()) else {
            return Verdict::NotSigned;
        };
        match self.identity_of(key) {
            Some(identity) => Verdict::Accepted(identity, UserLimits::default()),
            None => Verdict::Refused(format!("unknown nkey {key}")),
        }
    }

    /// The identity of a known NKey user.
    fn identity_of(&self, public_key: &str) -> Option<Identity> {
        let e = self.nkeys.get(public_key)?;
        Some(Identity {
            user: Some(public_key.to_string()),
            permissions: e.permissions.clone(),
            account: e.account.clone(),
            connection_types: e.connection_types.clone(),
        })
    }
}

/// An INFO's JSON with `nonce` added (when there is one).
pub fn info_with_nonce(json: Vec<u8>, nonce: Option<&str>) -> Vec<u8> {
    let Some(nonce) = nonce else {
        return json;
    };
    match serde_json::from_slice::<crate::protocol::info::ServerInfo>(&json) {
        Ok(mut info) => {
            info.nonce = Some(nonce.to_string());
            serde_json::to_vec(&info).unwrap_or(json)
        }
        Err(_) => json,
    }
}

/// A fresh nonce: random bytes as unpadded base64url.
pub fn new_nonce() -> String {
    let mut raw = [0u8; NONCE_RAW_LEN];
    if getrandom::fill(&mut raw).is_err() {
        debug!("no system randomness for a nonce; using the clock");
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_le_bytes();
        raw.copy_from_slice(&t[..NONCE_RAW_LEN]);
    }
    data_encoding::BASE64URL_NOPAD.encode(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nkey::{self, Kind};
    use crate::server::NkeyUser;

    fn accounts() -> HashMap<String, Arc<Account>> {
        [GLOBAL_ACCOUNT, "A"]
            .iter()
            .map(|n| (n.to_string(), Arc::new(Account::new(n))))
            .collect()
    }

    fn connect(key: &str, sig: Option<String>) -> Connect {
        Connect {
            nkey: Some(key.into()),
            sig,
            ..Default::default()
        }
    }

    const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn nkey_users_sign_the_nonce() {
        let (seed, public) = nkey::generate(Kind::User);
        let (other_seed, other) = nkey::generate(Kind::User);
        let opts = Options {
            nkeys: vec![NkeyUser {
                public_key: public.clone(),
                account: Some("A".into()),
                ..Default::default()
            }],
            ..Options::default()
        };
        let auth = SignedAuth::new(&opts, &accounts()).unwrap();
        assert!(auth.nonce_required());
        let nonce = new_nonce();
        assert_eq!(nonce.len(), 15);
        assert_ne!(nonce, new_nonce());
        let good = connect(&public, Some(nkey::sign(&seed, nonce.as_bytes()).unwrap()));
        match auth.authenticate(&good, Some(&nonce), LOCAL) {
            Verdict::Accepted(id, _) => {
                assert_eq!(id.account.name, "A");
                assert_eq!(id.user.as_deref(), Some(public.as_str()));
            }
            v => panic!("{v:?}"),
        }
        let refused = [
            connect(&public, None),
            connect(&public, Some(nkey::sign(&seed, b"other").unwrap())),
            connect(
                &public,
                Some(nkey::sign(&other_seed, nonce.as_bytes()).unwrap()),
            ),
            connect(
                &other,
                Some(nkey::sign(&other_seed, nonce.as_bytes()).unwrap()),
            ),
        ];
        for c in refused {
            assert!(matches!(
                auth.authenticate(&c, Some(&nonce), LOCAL),
                Verdict::Refused(_)
            ));
        }
        assert!(matches!(
            auth.authenticate(&Connect::default(), Some(&nonce), LOCAL),
            Verdict::NotSigned
        ));
        // Without nkey users an nkey in CONNECT is not this check's business.
        let none = SignedAuth::new(&Options::default(), &accounts()).unwrap();
        assert!(!none.nonce_required());
        assert!(matches!(
            none.authenticate(&good, Some(&nonce), LOCAL),
            Verdict::NotSigned
        ));
    }
}

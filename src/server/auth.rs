//! Client authentication: single user, token, multiple users (with
//! accounts and permissions), `no_auth_user`, and users mapped from TLS
//! client certificates. Passwords and tokens may be stored as bcrypt hashes
//! (`$2a$`, `$2b$`, `$2x$`, `$2y$`); plain ones are compared in constant
//! time. Credentials never reach a log line: [`redacted_connect`] is what
//! traces show. What a check may cost (bcrypt in turns, no hash for an
//! unknown user) is `auth_cost.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use super::account::{Account, GLOBAL_ACCOUNT};
use super::auth_cost;
use super::nkey_auth::SignedAuth;
use super::permissions::Permissions;
use super::Options;
use crate::protocol::info::Connect;

/// Who a client turned out to be.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user name, when there is one.
    pub user: Option<String>,
    /// The user's permissions, when restricted.
    pub permissions: Option<Arc<Permissions>>,
    /// The account the client lives in.
    pub account: Arc<Account>,
    /// The kinds of connection the user may come in by
    /// (`allowed_connection_types`, upper-cased); `None`: every kind.
    pub connection_types: Option<Arc<[String]>>,
}

impl Identity {
    /// True when this identity may come in by a connection of `kind`
    /// (`STANDARD`, `WEBSOCKET`, ...), as nats-server's
    /// `allowed_connection_types`.
    pub fn allows(&self, kind: &str) -> bool {
        self.connection_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == kind))
    }
}

/// The `allowed_connection_types` of a user entry, shared by its identities.
pub fn connection_types(types: Option<&Vec<String>>) -> Option<Arc<[String]>> {
    types.map(|t| t.iter().map(|s| s.to_ascii_uppercase()).collect())
}

struct UserEntry {
    password: Option<String>,
    permissions: Option<Arc<Permissions>>,
    account: Arc<Account>,
    connection_types: Option<Arc<[String]>>,
}

/// Everything needed to check credentials, built from the options.
pub struct Authenticator {
    token: Option<String>,
    single: Option<(String, String)>,
    users: HashMap<String, UserEntry>,
    no_auth_user: Option<String>,
    global: Arc<Account>,
    required: bool,
    /// NKey users (and operator trust): CONNECTs signed over the nonce.
    pub signed: SignedAuth,
    /// A stored bcrypt hash of the users, whose check an unknown user name
    /// waits as long as (see `auth_cost.rs`).
    decoy: Option<String>,
}

impl Authenticator {
    /// Build from the options and the server's accounts.
    ///
    /// # Errors
    ///
    /// A user names an account that does not exist, or `no_auth_user` names
    /// no user.
    pub fn new(opts: &Options, accounts: &HashMap<String, Arc<Account>>) -> Result<Self, String> {
        let global = accounts
            .get(GLOBAL_ACCOUNT)
            .cloned()
            .unwrap_or_else(|| Arc::new(Account::new(GLOBAL_ACCOUNT)));
        let mut users = HashMap::new();
        for u in &opts.users {
            let account = match &u.account {
                None => global.clone(),
                Some(name) => accounts
                    .get(name)
                    .cloned()
                    .ok_or_else(|| format!("user {:?} names unknown account {name:?}", u.name))?,
            };
            let permissions = u
                .permissions
                .clone()
                .or_else(|| opts.default_permissions.clone())
                .map(Arc::new);
            users.insert(
                u.name.clone(),
                UserEntry {
                    password: u.password.clone(),
                    permissions,
                    account,
                    connection_types: connection_types(u.allowed_connection_types.as_ref()),
                },
            );
        }
        if let Some(name) = &opts.no_auth_user {
            if !users.contains_key(name) {
                return Err(format!("no_auth_user {name:?} not present as user"));
            }
        }
        let decoy = opts
            .users
            .iter()
            .filter_map(|u| u.password.clone())
            .chain(opts.pass.clone())
            .find(|p| is_bcrypt(p));
        if decoy.is_some() {
            auth_cost::calibrate();
        }
        Ok(Authenticator {
            decoy,
            token: opts.token.clone(),
            single: opts
                .user
                .clone()
                .map(|u| (u, opts.pass.clone().unwrap_or_default())),
            users,
            no_auth_user: opts.no_auth_user.clone(),
            global,
            required: opts.auth_required(),
            signed: SignedAuth::new(opts, accounts)?,
        })
    }

    /// True when clients must authenticate (before `no_auth_user`).
    pub fn required(&self) -> bool {
        self.required
    }

    /// The identity of a client that sent no CONNECT (or none yet): the
    /// `no_auth_user`, or the global account when auth is not required.
    pub fn anonymous(&self) -> Option<Identity> {
        if !self.required {
            return Some(Identity {
                user: None,
                permissions: None,
                account: self.global.clone(),
                connection_types: None,
            });
        }
        let name = self.no_auth_user.as_ref()?;
        self.identity_of(name)
    }

    fn identity_of(&self, name: &str) -> Option<Identity> {
        let u = self.users.get(name)?;
        Some(Identity {
            user: Some(name.to_string()),
            permissions: u.permissions.clone(),
            account: u.account.clone(),
            connection_types: u.connection_types.clone(),
        })
    }

    /// Check a CONNECT's credentials; `cert_names` are the names a verified
    /// TLS client certificate maps to (with `verify_and_map`).
    pub fn authenticate(&self, c: &Connect, cert_names: &[String]) -> Option<Identity> {
        if !self.required {
            return self.anonymous();
        }
        let has_credentials = c.user.is_some() || c.pass.is_some() || c.auth_token.is_some();
        if let Some(token) = &self.token {
            let given = c.auth_token.as_deref()?;
            return secret_matches(token, given).then(|| self.anonymous_global());
        }
        if let Some((user, pass)) = &self.single {
            let given_user = c.user.as_deref()?;
            if !constant_time_eq(user.as_bytes(), given_user.as_bytes()) {
                return self.unknown_user();
            }
            let given_pass = c.pass.as_deref().unwrap_or("");
            return secret_matches(pass, given_pass).then(|| Identity {
                user: Some(user.clone()),
                ..self.anonymous_global()
            });
        }
        if let Some(name) = c.user.as_deref() {
            let Some(stored) = self.users.get(name).and_then(|u| u.password.as_deref()) else {
                return self.unknown_user();
            };
            return secret_matches(stored, c.pass.as_deref().unwrap_or(""))
                .then(|| self.identity_of(name))?;
        }
        for name in cert_names {
            if let Some(entry) = self.users.get(name) {
                if entry.password.is_none() {
                    return self.identity_of(name);
                }
            }
        }
        if !has_credentials {
            if let Some(name) = &self.no_auth_user {
                return self.identity_of(name);
            }
        }
        None
    }

    /// Refuse a user name that does not exist (or has no password): no
    /// hash computed, but no sooner than a wrong password is refused.
    fn unknown_user(&self) -> Option<Identity> {
        if let Some(decoy) = &self.decoy {
            auth_cost::as_long_as_a_check(decoy);
        }
        None
    }

    fn anonymous_global(&self) -> Identity {
        Identity {
            user: None,
            permissions: None,
            account: self.global.clone(),
            connection_types: None,
        }
    }
}

/// True when `stored` looks like a bcrypt hash.
pub fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
}

/// Compare a given secret with a stored one (a bcrypt hash or plain text).
/// The hash string itself is never accepted as the password.
pub fn secret_matches(stored: &str, given: &str) -> bool {
    if is_bcrypt(stored) {
        auth_cost::verify_bcrypt(given, stored)
    } else {
        constant_time_eq(stored.as_bytes(), given.as_bytes())
    }
}

/// A stored user and password against given ones (route authorization):
/// the user is compared in constant time first, and the password (maybe a
/// bcrypt hash, checked in turn with the others) only for the right user.
pub fn user_and_password_match(
    (user, password): (Option<&str>, Option<&str>),
    (given_user, given_password): (Option<&str>, Option<&str>),
) -> bool {
    let user_ok = match (user, given_user) {
        (Some(u), Some(g)) => constant_time_eq(u.as_bytes(), g.as_bytes()),
        (None, None) => true,
        _ => false,
    };
    user_ok
        && match (password, given_password) {
            (Some(stored), Some(given)) => secret_matches(stored, given),
            (None, None) => true,
            _ => false,
        }
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

/// The CONNECT as JSON with `pass` and `auth_token` replaced by `[REDACTED]`.
pub fn redacted_connect(c: &Connect) -> String {
    let mut c = c.clone();
    if c.pass.is_some() {
        c.pass = Some("[REDACTED]".into());
    }
    if c.auth_token.is_some() {
        c.auth_token = Some("[REDACTED]".into());
    }
    serde_json::to_string(&c).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::permissions::SubjectRules;
    use crate::server::User;

    fn connect(json: &str) -> Connect {
        serde_json::from_str(json).unwrap()
    }

    fn accounts(names: &[&str]) -> HashMap<String, Arc<Account>> {
        let mut m: HashMap<String, Arc<Account>> = names
            .iter()
            .map(|n| (n.to_string(), Arc::new(Account::new(n))))
            .collect();
        m.insert(
            GLOBAL_ACCOUNT.into(),
            Arc::new(Account::new(GLOBAL_ACCOUNT)),
        );
        m
    }

    fn auth(opts: &Options) -> Authenticator {
        Authenticator::new(opts, &accounts(&["A", "B"])).unwrap()
    }

    #[test]
    fn user_password() {
        let a = auth(&Options {
            user: Some("u".into()),
            pass: Some("p".into()),
            ..Options::default()
        });
        assert_eq!(
            a.authenticate(&connect(r#"{"user":"u","pass":"p"}"#), &[])
                .unwrap()
                .user
                .as_deref(),
            Some("u")
        );
        for bad in [
            r#"{"user":"u","pass":"x"}"#,
            r#"{"user":"x","pass":"p"}"#,
            r#"{"user":"u"}"#,
            r#"{"auth_token":"p"}"#,
            r#"{"user":"u","pass":"p "}"#,
            r#"{}"#,
        ] {
            assert!(a.authenticate(&connect(bad), &[]).is_none(), "{bad}");
        }
    }

    #[test]
    fn token_plain_and_bcrypt() {
        let a = auth(&Options {
            token: Some("s3cr3t".into()),
            ..Options::default()
        });
        assert!(a
            .authenticate(&connect(r#"{"auth_token":"s3cr3t"}"#), &[])
            .is_some());
        assert!(a
            .authenticate(&connect(r#"{"auth_token":"s3cr3"}"#), &[])
            .is_none());
        let hash = bcrypt::hash("T0pS3cr3t", 4).unwrap();
        assert!(secret_matches(&hash, "T0pS3cr3t"));
        assert!(!secret_matches(&hash, &hash));
    }

    #[test]
    fn users_accounts_permissions_and_no_auth_user() {
        let perms = Permissions {
            publish: Some(SubjectRules::new(Some(vec!["foo".into()]), vec![])),
            ..Default::default()
        };
        let opts = Options {
            users: vec![
                User {
                    name: "a".into(),
                    password: Some("pa".into()),
                    account: Some("A".into()),
                    ..Default::default()
                },
                User {
                    name: "b".into(),
                    password: Some("pb".into()),
                    permissions: Some(perms.clone()),
                    ..Default::default()
                },
                User {
                    name: "guest".into(),
                    password: Some("pg".into()),
                    ..Default::default()
                },
                User {
                    name: "CN=example.com,OU=CNCF".into(),
                    ..Default::default()
                },
            ],
            no_auth_user: Some("guest".into()),
            ..Options::default()
        };
        let a = auth(&opts);
        assert_eq!(
            a.authenticate(&connect(r#"{"user":"a","pass":"pa"}"#), &[])
                .unwrap()
                .account
                .name,
            "A"
        );
        let b = a
            .authenticate(&connect(r#"{"user":"b","pass":"pb"}"#), &[])
            .unwrap();
        assert_eq!(b.permissions.as_deref(), Some(&perms));
        assert_eq!(
            a.authenticate(&connect("{}"), &[]).unwrap().user.as_deref(),
            Some("guest")
        );
        assert!(a
            .authenticate(&connect(r#"{"user":"a","pass":"bad"}"#), &[])
            .is_none());
        let dn = "CN=example.com,OU=CNCF".to_string();
        assert!(
            a.authenticate(&connect("{}"), std::slice::from_ref(&dn))
                .unwrap()
                .user
                == Some(dn)
        );
        // A certificate-mapped user has no password to log in with.
        assert!(a
            .authenticate(
                &connect(r#"{"user":"CN=example.com,OU=CNCF","pass":""}"#),
                &[]
            )
            .is_none());
    }

    #[test]
    fn redaction() {
        let s = redacted_connect(&connect(r#"{"user":"u","pass":"p","auth_token":"t"}"#));
        assert!(!s.contains("\"p\"") && !s.contains("\"t\"") && s.contains("[REDACTED]"));
    }

    #[test]
    fn route_user_and_password() {
        let hash = bcrypt::hash("rp", 4).unwrap();
        let stored = (Some("ru"), Some(hash.as_str()));
        assert!(user_and_password_match(stored, (Some("ru"), Some("rp"))));
        assert!(!user_and_password_match(stored, (Some("ru"), Some("x"))));
        assert!(!user_and_password_match(stored, (Some("rx"), Some("rp"))));
        assert!(!user_and_password_match(stored, (None, None)));
        assert!(user_and_password_match((None, None), (None, None)));
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"\0"));
    }
}

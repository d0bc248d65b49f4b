//! The `authorization` block, users, permissions and `accounts`, as
//! nats-server's `parseAuthorization`, `parseUsers`, `parseUserPermissions`
//! and `parseAccounts` read them (`server/opts.go`).
//!
//! Users are named (`user`/`password`) or NKey users (`nkey: U...`, who
//! prove who they are by signing the server's nonce).
//!
//! Account `exports` and `imports` are read by [`super::exports`].
//!
//! What would weaken security if ignored is refused:
//! `auth_callout`, `proxy_required` and account nkeys.

use std::time::Duration;

use super::duration::{parse_signed_duration, seconds_from_value};
use super::error::{ConfError, Pos, Warning};
use super::typed::{self, not_supported, unknown_field};
use super::value::{Map, Value, ValueKind};
use crate::protocol::subject::is_valid_subject;

/// `max` of `allow_responses` when not given (nats-server's
/// `DEFAULT_ALLOW_RESPONSE_MAX_MSGS`).
pub const DEFAULT_ALLOW_RESPONSE_MAX_MSGS: usize = 1;
/// `expires` of `allow_responses` when not given
/// (`DEFAULT_ALLOW_RESPONSE_EXPIRATION`).
pub const DEFAULT_ALLOW_RESPONSE_EXPIRATION: Duration = Duration::from_secs(120);

/// An auth `timeout` above this gets a warning, as in nats-server.
const HIGH_AUTH_TIMEOUT: Duration = Duration::from_secs(60);

/// The connection types `allowed_connection_types` may name.
const CONNECTION_TYPES: &[&str] = &[
    "STANDARD",
    "WEBSOCKET",
    "LEAFNODE",
    "LEAFNODE_WS",
    "MQTT",
    "MQTT_WS",
    "IN_PROCESS",
];

/// The top-level `authorization { ... }` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    /// Single-user auth: the user.
    pub user: Option<String>,
    /// Single-user auth: the password (plain or a bcrypt hash, see
    /// [`is_bcrypt`]).
    pub password: Option<String>,
    /// Token auth (plain or a bcrypt hash).
    pub token: Option<String>,
    /// Time a client has to send CONNECT.
    pub timeout: Option<Duration>,
    /// The `users` array; `Some` (maybe empty) when the key is present.
    /// Users without permissions of their own already carry
    /// `default_permissions`.
    pub users: Option<Vec<User>>,
    /// `default_permissions` (alias `permissions`).
    pub default_permissions: Option<Permissions>,
    /// Where the block starts.
    pub pos: Pos,
}

/// One entry of a `users` array.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The user name (empty for an NKey user).
    pub user: String,
    /// An NKey user's public key (`U...`); such a user has no name or
    /// password.
    pub nkey: Option<String>,
    /// The password: plain, a bcrypt hash, or none (a user mapped from a
    /// TLS certificate by `verify_and_map`).
    pub password: Option<String>,
    /// What the user may publish and subscribe to; `None` is everything.
    pub permissions: Option<Permissions>,
    /// Upper-cased `allowed_connection_types` (`STANDARD`, `WEBSOCKET`,
    /// ...); `None` allows every type.
    pub allowed_connection_types: Option<Vec<String>>,
    /// The account the user belongs to; `None` is the global account.
    pub account: Option<String>,
    /// Where the entry starts.
    pub pos: Pos,
}

/// A user's permissions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Permissions {
    /// Subjects the user may publish to (`publish`/`pub`).
    pub publish: Option<SubjectPermission>,
    /// Subjects the user may subscribe to (`subscribe`/`sub`); entries may
    /// be `"subject queue"`.
    pub subscribe: Option<SubjectPermission>,
    /// `allow_responses`: may publish to the reply subjects of requests it
    /// received. When set, `publish.allow` is at least an empty list (no
    /// blanket allow), as in nats-server.
    pub allow_responses: Option<ResponsePermission>,
}

/// Allow and deny lists of subjects (wildcards allowed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubjectPermission {
    /// `None` allows everything not denied; `Some(empty)` allows nothing.
    pub allow: Option<Vec<String>>,
    /// Subjects refused even if allowed.
    pub deny: Option<Vec<String>>,
}

/// `allow_responses`: `true` or `{max: N, expires: "1m"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsePermission {
    /// Responses allowed per request; `None` is unlimited (a negative
    /// `max`).
    pub max_msgs: Option<usize>,
    /// How long the permission lasts; `None` is forever (a negative
    /// `expires`).
    pub expires: Option<Duration>,
}

impl Default for ResponsePermission {
    fn default() -> Self {
        ResponsePermission {
            max_msgs: Some(DEFAULT_ALLOW_RESPONSE_MAX_MSGS),
            expires: Some(DEFAULT_ALLOW_RESPONSE_EXPIRATION),
        }
    }
}

/// One account of the `accounts` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// The account name.
    pub name: String,
    /// Subjects other accounts may import (`exports`).
    pub exports: Vec<super::exports::Export>,
    /// Subjects taken from other accounts (`imports`).
    pub imports: Vec<super::exports::Import>,
    /// Its users; each has `account: Some(name)`, and those without
    /// permissions of their own carry the account's `default_permissions`.
    pub users: Vec<User>,
    /// The account's `default_permissions`.
    pub default_permissions: Option<Permissions>,
    /// `msg_trace { dest, sampling }`: messages with a sampled W3C
    /// `traceparent` header are traced to `dest`, `sampling` percent of them.
    pub msg_trace: Option<(String, u8)>,
    /// Where the account is defined.
    pub pos: Pos,
}

/// True when a password or token is a bcrypt hash (`$2a$`, `$2b$`, `$2x$`,
/// `$2y$` then a two-digit cost), which the server must check with bcrypt
/// rather than compare.
pub fn is_bcrypt(secret: &str) -> bool {
    let b = secret.as_bytes();
    b.len() > 7
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// Parse an `authorization` block (the top-level one or a cluster's; the
/// caller checks what each allows).
pub(crate) fn parse_authorization(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<Authorization, ConfError> {
    let map = typed::map(field, value)?;
    let mut auth = Authorization {
        user: None,
        password: None,
        token: None,
        timeout: None,
        users: None,
        default_permissions: None,
        pos: value.pos.clone(),
    };
    for entry in map {
        let (k, v) = (entry.key.as_str(), &entry.value);
        match k.to_ascii_lowercase().as_str() {
            "user" | "username" => auth.user = Some(typed::string(k, v)?),
            "pass" | "password" => auth.password = Some(typed::string(k, v)?),
            "token" => auth.token = Some(typed::string(k, v)?),
            "timeout" => {
                let timeout = seconds_from_value(k, v)?;
                if timeout > HIGH_AUTH_TIMEOUT {
                    warnings.push(Warning::at(
                        &v.pos,
                        format!(
                            "timeout of {} seconds is high, consider keeping it under 60 \
                             seconds (a duration needs quotes: '1m', not 1m)",
                            timeout.as_secs_f64()
                        ),
                    ));
                }
                auth.timeout = Some(timeout);
            }
            "users" => auth.users = Some(parse_users(k, v, None)?),
            "default_permission" | "default_permissions" | "permissions" => {
                auth.default_permissions = Some(parse_permissions(k, v)?)
            }
            "auth_callout" | "auth_hook" => {
                return Err(not_supported(entry, "authorization callout"))
            }
            "proxy_required" => return Err(not_supported(entry, "trusted proxies")),
            _ => unknown_field(entry)?,
        }
    }
    if let (Some(users), Some(default)) = (&mut auth.users, &auth.default_permissions) {
        apply_default_permissions(users, default);
    }
    Ok(auth)
}

/// Check a client `authorization` block the way nats-server does.
pub(crate) fn validate_client_authorization(
    auth: &Authorization,
    at: &Pos,
) -> Result<(), ConfError> {
    if (auth.user.is_some() || auth.password.is_some()) && auth.token.is_some() {
        return Err(ConfError::at(at, "Cannot have a user/pass and token"));
    }
    if let Some(users) = &auth.users {
        if auth.user.is_some() {
            return Err(ConfError::at(
                at,
                "Can not have a single user/pass and a users array",
            ));
        }
        if auth.token.is_some() {
            return Err(ConfError::at(at, "Can not have a token and a users array"));
        }
        check_duplicate_users(users.iter())?;
    }
    Ok(())
}

/// Refuse a user name given twice (within one list or across the
/// authorization block and the accounts).
pub(crate) fn check_duplicate_users<'a>(
    users: impl Iterator<Item = &'a User>,
) -> Result<(), ConfError> {
    let mut seen = std::collections::HashSet::new();
    let mut nkeys = std::collections::HashSet::new();
    for user in users {
        if let Some(nkey) = &user.nkey {
            if !nkeys.insert(nkey.as_str()) {
                return Err(ConfError::at(
                    &user.pos,
                    format!("Duplicate nkey \"{nkey}\" detected"),
                ));
            }
            continue;
        }
        if !seen.insert(user.user.as_str()) {
            return Err(ConfError::at(
                &user.pos,
                format!("Duplicate user \"{}\" detected", user.user),
            ));
        }
    }
    Ok(())
}

fn apply_default_permissions(users: &mut [User], default: &Permissions) {
    for user in users.iter_mut().filter(|u| u.permissions.is_none()) {
        user.permissions = Some(default.clone());
    }
}

/// A `users` array; `account` is the account they are declared in.
fn parse_users(field: &str, value: &Value, account: Option<&str>) -> Result<Vec<User>, ConfError> {
    let items = typed::array(field, value)?;
    let mut users = Vec::with_capacity(items.len());
    for item in items {
        let map = item
            .as_map()
            .ok_or_else(|| typed::wrong_type("users", "user entries that are maps", item))?;
        users.push(parse_user(map, &item.pos, account)?);
    }
    Ok(users)
}

fn parse_user(map: &Map, pos: &Pos, account: Option<&str>) -> Result<User, ConfError> {
    let mut user = None;
    let mut nkey = None;
    let mut password = None;
    let mut permissions = None;
    let mut allowed_connection_types = None;
    for entry in map {
        let (k, v) = (entry.key.as_str(), &entry.value);
        match k.to_ascii_lowercase().as_str() {
            "user" | "username" => user = Some(typed::string(k, v)?),
            "pass" | "password" => password = Some(typed::string(k, v)?),
            "permission" | "permissions" | "authorization" => {
                permissions = Some(parse_permissions(k, v)?)
            }
            "allowed_connection_types" | "connection_types" | "clients" => {
                allowed_connection_types = Some(parse_connection_types(k, v)?)
            }
            "nkey" => nkey = Some(typed::string(k, v)?),
            "proxy_required" => return Err(not_supported(entry, "trusted proxies")),
            _ => unknown_field(entry)?,
        }
    }
    if let Some(key) = &nkey {
        // As nats-server's parseUsers.
        if !crate::nkey::is_public_key(key, crate::nkey::Kind::User) {
            return Err(ConfError::at(pos, "Not a valid public nkey for a user"));
        }
        if user.as_deref().is_some_and(|u| !u.is_empty()) || password.is_some() {
            return Err(ConfError::at(
                pos,
                "Nkey users do not take usernames or passwords",
            ));
        }
    }
    let user = match user {
        Some(u) if !u.is_empty() => u,
        _ if nkey.is_some() => String::new(),
        _ => return Err(ConfError::at(pos, "User entry requires a user")),
    };
    Ok(User {
        user,
        nkey,
        password,
        permissions,
        allowed_connection_types,
        account: account.map(str::to_string),
        pos: pos.clone(),
    })
}

fn parse_connection_types(field: &str, value: &Value) -> Result<Vec<String>, ConfError> {
    let types: Vec<String> = typed::string_list(field, value)?
        .into_iter()
        .map(|t| t.to_ascii_uppercase())
        .collect();
    let unknown: Vec<&String> = types
        .iter()
        .filter(|t| !CONNECTION_TYPES.contains(&t.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(ConfError::at(
            &value.pos,
            format!(
                "invalid connection types {unknown:?} (known: {})",
                CONNECTION_TYPES.join(", ")
            ),
        ));
    }
    Ok(types)
}

/// A `permissions` map.
pub(crate) fn parse_permissions(field: &str, value: &Value) -> Result<Permissions, ConfError> {
    let map = value.as_map().ok_or_else(|| {
        ConfError::at(
            &value.pos,
            format!(
                "Expected permissions to be a map/struct, got {} for '{field}'",
                typed::describe(value)
            ),
        )
    })?;
    let mut perms = Permissions::default();
    for entry in map {
        let (k, v) = (entry.key.as_str(), &entry.value);
        match k.to_ascii_lowercase().as_str() {
            "pub" | "publish" | "import" => perms.publish = parse_subject_permission(v, false)?,
            "sub" | "subscribe" | "export" => perms.subscribe = parse_subject_permission(v, true)?,
            "allow_responses" | "publish_allow_responses" => {
                perms.allow_responses = parse_allow_responses(v)?
            }
            _ if entry.used_as_variable => {}
            _ => {
                return Err(ConfError::at(
                    &entry.key_pos,
                    format!("Unknown field \"{k}\" parsing permissions"),
                ))
            }
        }
    }
    if perms.allow_responses.is_some() {
        // No blanket publish allow once responses are allowed.
        let publish = perms.publish.get_or_insert_with(SubjectPermission::default);
        publish.allow.get_or_insert_with(Vec::new);
    }
    Ok(perms)
}

/// `publish`/`subscribe`: a subject, an array (the allow list), or
/// `{allow, deny}`. An empty map is no restriction, as in nats-server.
fn parse_subject_permission(
    value: &Value,
    allow_queue: bool,
) -> Result<Option<SubjectPermission>, ConfError> {
    let Some(map) = value.as_map() else {
        return Ok(Some(SubjectPermission {
            allow: Some(parse_subjects(value, allow_queue)?),
            deny: None,
        }));
    };
    if map.is_empty() {
        return Ok(None);
    }
    let mut perm = SubjectPermission::default();
    for entry in map {
        match entry.key.to_ascii_lowercase().as_str() {
            "allow" => perm.allow = Some(parse_subjects(&entry.value, allow_queue)?),
            "deny" => perm.deny = Some(parse_subjects(&entry.value, allow_queue)?),
            _ if entry.used_as_variable => {}
            _ => {
                return Err(ConfError::at(
                    &entry.key_pos,
                    format!(
                        "Unknown field name \"{}\" parsing subject permissions, only 'allow' \
                         or 'deny' are permitted",
                        entry.key
                    ),
                ))
            }
        }
    }
    Ok(Some(perm))
}

/// A subject or array of subjects, each checked; subscribe entries may be
/// `"subject queue"`.
fn parse_subjects(value: &Value, allow_queue: bool) -> Result<Vec<String>, ConfError> {
    let items: Vec<&Value> = match &value.kind {
        ValueKind::String(_) => vec![value],
        ValueKind::Array(items) => items.iter().collect(),
        _ => {
            return Err(ConfError::at(
                &value.pos,
                format!(
                    "Expected subject permissions to be a subject, or array of subjects, got {}",
                    typed::describe(value)
                ),
            ))
        }
    };
    let mut subjects = Vec::with_capacity(items.len());
    for item in items {
        let subject = item.as_str().ok_or_else(|| {
            ConfError::at(
                &item.pos,
                "Subject in permissions array cannot be cast to string",
            )
        })?;
        check_subject(subject, allow_queue).map_err(|e| ConfError::at(&item.pos, e))?;
        subjects.push(subject.to_string());
    }
    Ok(subjects)
}

/// nats-server's `checkPermSubjectArray` for one subject.
fn check_subject(subject: &str, allow_queue: bool) -> Result<(), String> {
    if is_valid_subject(subject.as_bytes()) {
        return Ok(());
    }
    let invalid = || format!("subject \"{subject}\" is not a valid subject");
    if !allow_queue {
        return Err(invalid());
    }
    let fields: Vec<&str> = subject.split_whitespace().collect();
    match fields.as_slice() {
        [s, q] => {
            if !is_valid_subject(s.as_bytes()) {
                Err(format!("subject \"{s}\" is not a valid subject"))
            } else if !is_valid_subject(q.as_bytes()) {
                Err(format!("queue \"{q}\" is not a valid queue"))
            } else {
                Ok(())
            }
        }
        _ => Err(invalid()),
    }
}

fn parse_allow_responses(value: &Value) -> Result<Option<ResponsePermission>, ConfError> {
    if let Some(b) = value.as_bool() {
        return Ok(b.then(ResponsePermission::default));
    }
    let Some(map) = value.as_map() else {
        return Err(ConfError::at(
            &value.pos,
            "error parsing response permissions, expected a boolean or a map",
        ));
    };
    let mut rp = ResponsePermission::default();
    for entry in map {
        let (k, v) = (entry.key.as_str(), &entry.value);
        match k.to_ascii_lowercase().as_str() {
            "max" | "max_msgs" | "max_messages" | "max_responses" => {
                // Negative is unlimited, 0 the default.
                let n = typed::integer(k, v)?;
                if n < 0 {
                    rp.max_msgs = None;
                } else if n > 0 {
                    rp.max_msgs = Some(usize::try_from(n).unwrap_or(usize::MAX));
                }
            }
            "expires" | "expiration" | "ttl" => {
                let text = v.as_str().ok_or_else(|| {
                    ConfError::at(&v.pos, "error parsing expires, not a duration string")
                })?;
                let (negative, d) = parse_signed_duration(text)
                    .map_err(|e| ConfError::at(&v.pos, format!("error parsing expires: {e}")))?;
                // Negative is forever, 0 the default.
                if negative && !d.is_zero() {
                    rp.expires = None;
                } else if !d.is_zero() {
                    rp.expires = Some(d);
                }
            }
            _ if entry.used_as_variable => {}
            _ => {
                return Err(ConfError::at(
                    &entry.key_pos,
                    format!("Unknown field \"{k}\" parsing permissions"),
                ))
            }
        }
    }
    Ok(Some(rp))
}

/// The `accounts` block: a map of account name to `{ users: [...] }`, or an
/// array of account names.
pub(crate) fn parse_accounts(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Account>, ConfError> {
    let mut accounts: Vec<Account> = Vec::new();
    if let Some(items) = value.as_array() {
        for item in items {
            let name = typed::string(field, item)?;
            check_account_name(&name, &item.pos)?;
            if accounts.iter().any(|a| a.name == name) {
                return Err(ConfError::at(
                    &item.pos,
                    format!("Duplicate Account Entry: {name}"),
                ));
            }
            accounts.push(Account {
                name,
                exports: Vec::new(),
                imports: Vec::new(),
                users: Vec::new(),
                default_permissions: None,
                msg_trace: None,
                pos: item.pos.clone(),
            });
        }
        return Ok(accounts);
    }
    let map = value
        .as_map()
        .ok_or_else(|| typed::wrong_type(field, "a map of accounts or an array of names", value))?;
    for entry in map {
        if entry.used_as_variable {
            continue;
        }
        let name = entry.key.as_str();
        let Some(body) = entry.value.as_map() else {
            return Err(ConfError::at(
                &entry.value.pos,
                format!(
                    "Expected map entries for accounts, got {} for \"{name}\"",
                    typed::describe(&entry.value)
                ),
            ));
        };
        check_account_name(name, &entry.key_pos)?;
        let mut account = Account {
            name: name.to_string(),
            exports: Vec::new(),
            imports: Vec::new(),
            users: Vec::new(),
            default_permissions: None,
            msg_trace: None,
            pos: entry.key_pos.clone(),
        };
        for e in body {
            let (k, v) = (e.key.as_str(), &e.value);
            match k.to_ascii_lowercase().as_str() {
                "users" => account.users = parse_users(k, v, Some(name))?,
                "default_permissions" => {
                    account.default_permissions = Some(parse_permissions(k, v)?)
                }
                "exports" => account.exports = super::exports::parse_exports(k, v)?,
                "imports" => account.imports = super::exports::parse_imports(k, v)?,
                "nkey" => return Err(not_supported(e, "account nkeys")),
                "msg_trace" | "trace_dest" => account.msg_trace = parse_msg_trace(k, v)?,
                "jetstream" | "mappings" | "maps" | "limits" => typed::ignored(e, warnings),
                _ => unknown_field(e)?,
            }
        }
        if let Some(default) = &account.default_permissions {
            apply_default_permissions(&mut account.users, default);
        }
        check_duplicate_users(account.users.iter())?;
        accounts.push(account);
    }
    super::exports::check_imports(&accounts)?;
    Ok(accounts)
}

/// An account's `msg_trace` (or `trace_dest`): a destination subject, or
/// `{ dest: <subject>, sampling: <1..100 or "N%"> }` (100% by default); no
/// destination, no tracing.
fn parse_msg_trace(field: &str, value: &Value) -> Result<Option<(String, u8)>, ConfError> {
    let dest_of = |v: &Value| -> Result<String, ConfError> {
        let d = typed::string(field, v)?;
        if !crate::protocol::subject::is_valid_literal_subject(d.as_bytes()) {
            return Err(ConfError::at(
                &v.pos,
                format!("Trace destination {d:?} is not valid"),
            ));
        }
        Ok(d)
    };
    if value.as_str().is_some() {
        return Ok(Some((dest_of(value)?, 100)));
    }
    let mut dest = None;
    let mut sampling = 100;
    for e in typed::map(field, value)? {
        match e.key.to_ascii_lowercase().as_str() {
            "dest" => dest = Some(dest_of(&e.value)?),
            "sampling" => {
                let n = match (e.value.as_int(), e.value.as_str()) {
                    (Some(n), _) => Some(n),
                    (None, Some(s)) => s.trim_end_matches('%').trim().parse().ok(),
                    _ => None,
                };
                sampling = match n {
                    Some(n @ 1..=100) => n as u8,
                    _ => {
                        return Err(ConfError::at(
                            &e.value.pos,
                            "trace destination sampling must be 1 to 100 (or \"N%\")",
                        ))
                    }
                };
            }
            _ => unknown_field(e)?,
        }
    }
    Ok(dest.map(|d| (d, sampling)))
}

fn check_account_name(name: &str, pos: &Pos) -> Result<(), ConfError> {
    if name == "$G" {
        return Err(ConfError::at(
            pos,
            format!("\"{name}\" is a Reserved Account"),
        ));
    }
    if name.is_empty() {
        return Err(ConfError::at(pos, "an account needs a name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::parse_str;
    use std::path::Path;

    fn auth(text: &str) -> Result<Authorization, String> {
        let map = parse_str(text, Path::new("a.conf")).map_err(|e| e.to_string())?;
        let v = map.get("authorization").expect("an authorization block");
        let mut warnings = Vec::new();
        let a =
            parse_authorization("authorization", v, &mut warnings).map_err(|e| e.to_string())?;
        validate_client_authorization(&a, &map.entry("authorization").unwrap().key_pos)
            .map_err(|e| e.to_string())?;
        Ok(a)
    }

    fn perms(text: &str) -> Result<Permissions, String> {
        let map = parse_str(text, Path::new("p.conf")).map_err(|e| e.to_string())?;
        parse_permissions("permissions", map.get("permissions").unwrap()).map_err(|e| e.to_string())
    }

    fn strings(list: &[&str]) -> Option<Vec<String>> {
        Some(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn bcrypt_detection() {
        assert!(is_bcrypt(
            "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG"
        ));
        assert!(is_bcrypt("$2b$04$x"));
        assert!(is_bcrypt("$2y$10$x"));
        assert!(!is_bcrypt("$2c$10$x"));
        assert!(!is_bcrypt("2a$10$x"));
        assert!(!is_bcrypt("$2a$1$x"));
        assert!(!is_bcrypt("T0pS3cr3t"));
    }

    #[test]
    fn permission_shapes() {
        let p = perms("permissions { publish: \"a.>\", sub: [\"b.*\", \"c q\"] }").unwrap();
        assert_eq!(p.publish.unwrap().allow, strings(&["a.>"]));
        let s = p.subscribe.unwrap();
        assert_eq!(s.allow, strings(&["b.*", "c q"]));
        assert_eq!(s.deny, None);
        let p = perms("permissions { pub: { allow: [x], deny: \"x.secret\" }, subscribe: {} }")
            .unwrap();
        let publish = p.publish.unwrap();
        assert_eq!(publish.allow, strings(&["x"]));
        assert_eq!(publish.deny, strings(&["x.secret"]));
        assert_eq!(p.subscribe, None);
    }

    #[test]
    fn allow_responses() {
        let p = perms("permissions { allow_responses: true }").unwrap();
        assert_eq!(p.allow_responses, Some(ResponsePermission::default()));
        // Turns off the blanket publish allow.
        assert_eq!(p.publish.unwrap().allow, Some(vec![]));
        let p = perms("permissions { publish: a, allow_responses: { max: 5, expires: \"1m\" } }")
            .unwrap();
        let rp = p.allow_responses.unwrap();
        assert_eq!(
            (rp.max_msgs, rp.expires),
            (Some(5), Some(Duration::from_secs(60)))
        );
        assert_eq!(p.publish.unwrap().allow, strings(&["a"]));
        let p = perms("permissions { allow_responses: { max: -1, expires: \"-1s\" } }").unwrap();
        let rp = p.allow_responses.unwrap();
        assert_eq!((rp.max_msgs, rp.expires), (None, None));
        let p = perms("permissions { allow_responses: { max: 0, expires: \"0s\" } }").unwrap();
        assert_eq!(p.allow_responses, Some(ResponsePermission::default()));
        assert_eq!(
            perms("permissions { allow_responses: false }")
                .unwrap()
                .allow_responses,
            None
        );
        assert!(perms("permissions { allow_responses: { expires: 5 } }")
            .unwrap_err()
            .contains("not a duration string"));
        assert!(perms("permissions { allow_responses: 1 }").is_err());
    }

    #[test]
    fn permission_errors() {
        assert_eq!(
            perms("permissions {\n  publish: \"a..b\"\n}").unwrap_err(),
            "p.conf:2:12: subject \"a..b\" is not a valid subject"
        );
        // Queue groups only for subscribe.
        assert!(perms("permissions { publish: \"a q\" }").is_err());
        assert_eq!(
            perms("permissions { subscribe: \"a q.>.x\" }").unwrap_err(),
            "p.conf:1:26: queue \"q.>.x\" is not a valid queue"
        );
        assert_eq!(
            perms("permissions { publish: [1] }").unwrap_err(),
            "p.conf:1:25: Subject in permissions array cannot be cast to string"
        );
        assert_eq!(
            perms("permissions { publsh: a }").unwrap_err(),
            "p.conf:1:15: Unknown field \"publsh\" parsing permissions"
        );
        assert!(perms("permissions { publish: { allow: a, alow: b } }")
            .unwrap_err()
            .contains("only 'allow' or 'deny'"));
        assert!(perms("permissions: [a]")
            .unwrap_err()
            .contains("Expected permissions to be a map/struct"));
        assert!(perms("permissions { publish: true }")
            .unwrap_err()
            .contains("Expected subject permissions"));
    }

    #[test]
    fn authorization_rules() {
        let a = auth("authorization { user: a, password: b, timeout: 0.5 }").unwrap();
        assert_eq!(
            (a.user.as_deref(), a.password.as_deref()),
            (Some("a"), Some("b"))
        );
        assert_eq!(a.timeout, Some(Duration::from_millis(500)));
        let a = auth("authorization { token: \"s3cr3t\", timeout: \"3s\" }").unwrap();
        assert_eq!(a.token.as_deref(), Some("s3cr3t"));
        assert_eq!(a.timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            auth("\nauthorization { user: a, password: b, token: c }").unwrap_err(),
            "a.conf:2:1: Cannot have a user/pass and token"
        );
        assert!(auth("authorization { user: a, users: [] }")
            .unwrap_err()
            .contains("single user/pass and a users array"));
        assert!(auth("authorization { token: a, users: [] }")
            .unwrap_err()
            .contains("token and a users array"));
        assert_eq!(
            auth("authorization { users: [\n {user: a}\n {user: b}\n {user: a, password: x}\n] }")
                .unwrap_err(),
            "a.conf:4:2: Duplicate user \"a\" detected"
        );
        assert_eq!(
            auth("authorization { users: [ {password: x} ] }").unwrap_err(),
            "a.conf:1:26: User entry requires a user"
        );
        assert_eq!(
            auth("authorization { usr: a }").unwrap_err(),
            "a.conf:1:17: unknown field \"usr\""
        );
        assert_eq!(
            auth("authorization { users: [ {nkey: UABC} ] }").unwrap_err(),
            "a.conf:1:26: Not a valid public nkey for a user"
        );
        let key = crate::nkey::generate(crate::nkey::Kind::User).1;
        assert_eq!(
            auth(&format!(
                "authorization {{ users: [ {{user: a, nkey: {key}}} ] }}"
            ))
            .unwrap_err(),
            "a.conf:1:26: Nkey users do not take usernames or passwords"
        );
        let dup = format!("authorization {{ users: [ {{nkey: {key}}}, {{nkey: {key}}} ] }}");
        assert!(auth(&dup).unwrap_err().contains("Duplicate nkey"));
        let ok = auth(&format!(
            "authorization {{ users: [ {{nkey: {key}, permissions: {{publish: foo}}}}, {{user: b, password: c}} ] }}"
        ))
        .unwrap();
        let users = ok.users.unwrap();
        assert_eq!(users[0].nkey.as_deref(), Some(key.as_str()));
        assert!(users[0].permissions.is_some());
        assert!(auth("authorization { auth_callout { issuer: x } }")
            .unwrap_err()
            .contains("is not supported by nats-lite"));
        assert!(auth("authorization { users: [ a ] }")
            .unwrap_err()
            .contains("user entries that are maps"));
        // An empty users array is still "a users array".
        assert_eq!(
            auth("authorization { users: [] }").unwrap().users,
            Some(vec![])
        );
    }

    #[test]
    fn connection_types() {
        let a = auth("authorization { users: [ {user: a, allowed_connection_types: [\"standard\", WEBSOCKET]} ] }").unwrap();
        assert_eq!(
            a.users.unwrap()[0].allowed_connection_types,
            strings(&["STANDARD", "WEBSOCKET"])
        );
        assert!(
            auth("authorization { users: [ {user: a, allowed_connection_types: TELNET} ] }")
                .unwrap_err()
                .contains("invalid connection types [\"TELNET\"]")
        );
    }

    #[test]
    fn accounts() {
        let map = parse_str(
            "accounts {\n  A: { users: [ {user: a, password: x} ], default_permissions: { publish: a } }\n  \
             B: { users: [ {user: b, password: y, permissions: { publish: b }} ] }\n}",
            Path::new("acc.conf"),
        )
        .unwrap();
        let mut w = Vec::new();
        let accounts = parse_accounts("accounts", map.get("accounts").unwrap(), &mut w).unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].name, "A");
        assert_eq!(accounts[0].users[0].account.as_deref(), Some("A"));
        assert_eq!(
            accounts[0].users[0]
                .permissions
                .as_ref()
                .unwrap()
                .publish
                .as_ref()
                .unwrap()
                .allow,
            strings(&["a"])
        );
        assert_eq!(accounts[1].users[0].account.as_deref(), Some("B"));
        let err = |text: &str| {
            let map = parse_str(text, Path::new("acc.conf")).unwrap();
            parse_accounts("accounts", map.get("accounts").unwrap(), &mut Vec::new())
                .unwrap_err()
                .to_string()
        };
        assert!(
            err("accounts { A: { imports: [ {stream: {account: B, subject: x}} ] } }")
                .contains("stream import not authorized")
        );
        assert!(err("accounts { A: 1 }").contains("Expected map entries for accounts"));
        assert!(err("accounts { $G: {} }").contains("Reserved Account"));
        assert!(err("accounts [ A, A ]").contains("Duplicate Account Entry: A"));
        assert!(err("accounts { A: { userz: [] } }").contains("unknown field \"userz\""));
        let map = parse_str("accounts [ A, B ]", Path::new("acc.conf")).unwrap();
        let names: Vec<_> = parse_accounts("accounts", map.get("accounts").unwrap(), &mut w)
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["A", "B"]);
        let map = parse_str(
            "accounts { A: { jetstream: enabled } }",
            Path::new("acc.conf"),
        )
        .unwrap();
        let mut w = Vec::new();
        parse_accounts("accounts", map.get("accounts").unwrap(), &mut w).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0]
            .message
            .contains("'jetstream' is not supported by nats-lite and is ignored"));
    }
}

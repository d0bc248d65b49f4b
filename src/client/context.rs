//! `nats` CLI contexts (ADR-21), read-only: the connection settings the
//! `nats context` command saves, so a user's existing contexts work here.
//!
//! A context is `<dir>/context/<NAME>.json`, with `<dir>` =
//! `$XDG_CONFIG_HOME/nats` or else `~/.config/nats`; the selected one is the
//! name given (`--context`, `NATS_CONTEXT`) or else the name in
//! `<dir>/context.txt`. Keys read: `url`, `user`, `password`, `token`,
//! `creds`, `nkey`, `user_jwt`, `cert`, `key`, `ca`, `tls_first`,
//! `inbox_prefix`; empty strings count as unset (the CLI writes every key).
//! A context that needs what we cannot do (`nsc` lookups) is refused
//! rather than used in part.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The settings of one context (empty strings already dropped).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Context {
    /// The context's name (from its file name).
    #[serde(skip)]
    pub name: String,
    /// Server URL(s), comma separated.
    pub url: Option<String>,
    /// User name (or a token without a password).
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Token.
    pub token: Option<String>,
    /// A `.creds` file.
    pub creds: Option<String>,
    /// An NKey seed file.
    pub nkey: Option<String>,
    /// A user JWT, signed for with `nkey`.
    pub user_jwt: Option<String>,
    /// Client certificate (PEM).
    pub cert: Option<String>,
    /// Its private key (PEM).
    pub key: Option<String>,
    /// CA certificates (PEM).
    pub ca: Option<String>,
    /// TLS before the server's INFO.
    pub tls_first: bool,
    /// Prefix of reply inboxes instead of `_INBOX`.
    pub inbox_prefix: Option<String>,
    /// An `nsc://` lookup (not supported).
    pub nsc: Option<String>,
}

/// The `nats` configuration directory: `$XDG_CONFIG_HOME/nats` or
/// `$HOME/.config/nats`.
pub fn config_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(xdg) = env("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(Path::new(&xdg).join("nats"));
    }
    let home = env("HOME").or_else(|| env("USERPROFILE"))?;
    Some(Path::new(&home).join(".config").join("nats"))
}

/// The selected context: `name` (from `--context` or `NATS_CONTEXT`), else
/// the one `context.txt` names, else none.
///
/// # Errors
///
/// A named context that does not exist or does not parse, or one that
/// needs `nsc`.
pub fn selected(
    name: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Context>, String> {
    let Some(dir) = config_dir(env) else {
        return match name {
            Some(n) => Err(format!("unknown context {n:?}: no configuration directory")),
            None => Ok(None),
        };
    };
    let name = match name.filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => match std::fs::read_to_string(dir.join("context.txt")) {
            Ok(text) if !text.trim().is_empty() => text.trim().to_string(),
            _ => return Ok(None),
        },
    };
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(format!("invalid context name {name:?}"));
    }
    let file = dir.join("context").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("unknown context {name:?} ({}: {e})", file.display()))?;
    let mut ctx: Context =
        serde_json::from_str(&text).map_err(|e| format!("context {name:?}: {e}"))?;
    ctx.name = name;
    ctx.drop_empty(env);
    if let Some(nsc) = &ctx.nsc {
        return Err(format!(
            "context {:?} uses nsc ({nsc}), which nats-lite cannot resolve; \
             use creds or nkey instead",
            ctx.name
        ));
    }
    Ok(Some(ctx))
}

impl Context {
    /// Empty strings are unset; `~/` in paths is the home directory.
    fn drop_empty(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let home = env("HOME");
        for v in [
            &mut self.url,
            &mut self.user,
            &mut self.password,
            &mut self.token,
            &mut self.user_jwt,
            &mut self.inbox_prefix,
            &mut self.nsc,
        ] {
            if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *v = None;
            }
        }
        for v in [
            &mut self.creds,
            &mut self.nkey,
            &mut self.cert,
            &mut self.key,
            &mut self.ca,
        ] {
            match v.as_deref() {
                Some(s) if s.trim().is_empty() => *v = None,
                Some(s) if s.starts_with("~/") => {
                    if let Some(h) = &home {
                        *v = Some(format!("{h}/{}", &s[2..]));
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "nats-lite-ctx-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("nats/context")).unwrap();
        dir
    }

    #[test]
    fn selected_by_name_or_context_txt() {
        let dir = temp_dir("sel");
        let xdg = dir.to_str().unwrap().to_string();
        let env = move |k: &str| match k {
            "XDG_CONFIG_HOME" => Some(xdg.clone()),
            "HOME" => Some("/home/u".into()),
            _ => None,
        };
        assert_eq!(selected(None, &env).unwrap(), None);
        std::fs::write(
            dir.join("nats/context/east.json"),
            r#"{"description":"","url":"nats://e:4222","user":"","password":"","creds":"~/e.creds","nkey":"","tls_first":false,"inbox_prefix":"_I","jetstream_domain":""}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("nats/context/odd.json"),
            r#"{"nsc":"nsc://o/a/u"}"#,
        )
        .unwrap();
        std::fs::write(dir.join("nats/context.txt"), "east\n").unwrap();
        let ctx = selected(None, &env).unwrap().unwrap();
        assert_eq!(ctx.name, "east");
        assert_eq!(ctx.url.as_deref(), Some("nats://e:4222"));
        assert_eq!(ctx.user, None);
        assert_eq!(ctx.creds.as_deref(), Some("/home/u/e.creds"));
        assert_eq!(ctx.inbox_prefix.as_deref(), Some("_I"));
        assert!(selected(Some("west"), &env)
            .unwrap_err()
            .contains("unknown context \"west\""));
        assert!(selected(Some("odd"), &env).unwrap_err().contains("nsc"));
        assert!(selected(Some("../x"), &env).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn config_dir_prefers_xdg() {
        let env = |k: &str| (k == "HOME").then(|| "/h".to_string());
        assert_eq!(config_dir(&env), Some(PathBuf::from("/h/.config/nats")));
        let env = |k: &str| match k {
            "XDG_CONFIG_HOME" => Some("/x".to_string()),
            _ => Some("/h".to_string()),
        };
        assert_eq!(config_dir(&env), Some(PathBuf::from("/x/nats")));
    }
}

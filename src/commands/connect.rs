//! Connection options shared by the client subcommands (`-s`, credentials,
//! TLS), named as the `nats` CLI names them.

/// How to reach and authenticate to a NATS server.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    /// Server URL(s), comma separated: nats://host:port, tls://host:port, host:port,
    /// nats://user:pass@host, nats://token@host.
    #[arg(short = 's', long = "server", env = "NATS_URL", global = false)]
    pub server: Option<String>,
    /// User name (or a token when no password is given).
    #[arg(long, env = "NATS_USER")]
    pub user: Option<String>,
    /// Password.
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Authentication token.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

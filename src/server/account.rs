//! Accounts: each has its own subject space. Until accounts are configured
//! every client lives in the global account `$G`, as in nats-server.

use super::sublist::Sublist;

/// The global account's name.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// An account and its subject index.
#[derive(Default)]
pub struct Account {
    /// Account name (`$G` for the global account).
    pub name: String,
    /// Subscriptions of the account's clients.
    pub sublist: Sublist,
    /// Where its messages go besides its own subscribers (imports).
    pub imports: super::imports::Imports,
    /// `msg_trace`: where messages with a sampled `traceparent` are traced.
    pub msg_trace: super::trace::AccountTrace,
}

impl Account {
    /// A new, empty account.
    pub fn new(name: &str) -> Account {
        Account {
            name: name.to_string(),
            sublist: Sublist::default(),
            imports: super::imports::Imports::default(),
            msg_trace: super::trace::AccountTrace::default(),
        }
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account").field("name", &self.name).finish()
    }
}

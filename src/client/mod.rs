//! The blocking NATS client used by the client subcommands (being built).

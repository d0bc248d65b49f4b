//! The nats-server configuration file format (being built).

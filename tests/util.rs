//! Helpers shared by the integration tests (being built).

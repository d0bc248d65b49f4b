//! Load generation for `nats-lite bench`, in the spirit of nats-bench and
//! `nats bench`: publishers, subscribers, requesters and responders, each
//! on its own connection and thread, measured and reported.
//!
//! # Modules
//!
//! - [`runner`]: connects the clients, runs the load, and returns what each
//!   client did ([`runner::Outcome`]); cut short from another thread by a
//!   [`runner::Stopper`], watched through [`runner::Progress`].
//! - [`stats`]: samples, rates, spreads, percentiles, sizes (pure).
//! - [`report`]: the outcome as nats-bench's report, as CSV, and the
//!   progress bar line (strings only).
//!
//! Like [`crate::client`], which it drives, nothing here prints: the
//! terminal is [`crate::commands::bench`]'s.

pub mod report;
pub mod runner;
pub mod stats;

pub use runner::{run, Ended, Load, Outcome, Plan, Progress, Stopper};

//! The client's TLS: its options and rustls configuration are the shared
//! `crate::tls` module's (the server uses them to dial routes over TLS);
//! here they report [`ClientError`]s.
//!
//! The handshake itself, and feeding rustls afterwards, belong to
//! [`super::connection`].

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use super::error::{ClientError, ErrorKind, Result};

pub use crate::tls::TlsOptions;

fn config_err(msg: String) -> ClientError {
    ClientError::new(ErrorKind::Config, msg)
}

/// Build the rustls configuration for `opts`.
///
/// # Errors
///
/// Unreadable or invalid PEM files, or a certificate without its key.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>> {
    crate::tls::client_config(opts).map_err(config_err)
}

/// The name the server's certificate must carry: the URL's host name or IP.
///
/// # Errors
///
/// A host that is neither a DNS name nor an IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    crate::tls::server_name(host).map_err(config_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_insecure_configs_build() {
        assert!(client_config(&TlsOptions::default()).is_ok());
        assert!(client_config(&TlsOptions {
            insecure: true,
            ..Default::default()
        })
        .is_ok());
    }

    #[test]
    fn bad_files_are_config_errors() {
        let e = client_config(&TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = client_config(&TlsOptions {
            cert_file: Some("/nonexistent/c.pem".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("together"));
    }

    #[test]
    fn names() {
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("demo.nats.io").is_ok());
        assert!(server_name("bad host").is_err());
    }
}

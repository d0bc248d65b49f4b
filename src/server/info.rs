//! The client INFO encoded once: every client gets the same JSON but for
//! its `client_id` and `client_ip`, so the server's part is serialized once
//! (with a marker in their place) and each connection only splices its two
//! fields in. The template remembers what it was made from (the options,
//! the authenticator, lame duck mode) and is remade when any of them
//! changes. A connection's line is written into its staging buffer, or
//! (the first INFO of a plain connection) into a buffer on its thread's
//! stack, so its thread allocates nothing for it.

use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use super::auth::Authenticator;
use super::Options;

/// The `client_id` the template is encoded with: no connection has it.
pub const CLIENT_MARK_ID: u64 = u64::MAX;
/// What the marker fields look like in the encoded JSON. Inside a JSON
/// string a `"` is escaped, so this can only be the fields themselves.
const MARK: &str = ",\"client_id\":18446744073709551615,\"client_ip\":\"\"";

/// The INFO JSON around a client's own fields.
pub struct Template {
    opts: Arc<Options>,
    auth: Arc<Authenticator>,
    ldm: bool,
    /// Up to the client's fields, and after them (`None`: no marker was
    /// found and `whole` is used as it is).
    split: Option<(Vec<u8>, Vec<u8>)>,
    whole: Vec<u8>,
}

impl Template {
    /// The template for `json`, encoded under `opts`, `auth` and `ldm` with
    /// [`CLIENT_MARK_ID`] and an empty `client_ip`.
    pub fn new(opts: Arc<Options>, auth: Arc<Authenticator>, ldm: bool, json: Vec<u8>) -> Template {
        let split = memchr::memmem::find(&json, MARK.as_bytes())
            .map(|at| (json[..at].to_vec(), json[at + MARK.len()..].to_vec()));
        Template {
            opts,
            auth,
            ldm,
            split,
            whole: json,
        }
    }

    /// Still what the server would encode now (the same options and
    /// authenticator, which a reload replaces, and lame duck mode)?
    pub fn fits(&self, opts: &Arc<Options>, auth: &Arc<Authenticator>, ldm: bool) -> bool {
        Arc::ptr_eq(&self.opts, opts) && Arc::ptr_eq(&self.auth, auth) && self.ldm == ldm
    }

    /// The INFO JSON for connection `cid` from `ip`.
    pub fn for_client(&self, cid: u64, ip: IpAddr) -> Vec<u8> {
        let mut json = Vec::new();
        self.write_for_client(&mut json, cid, ip);
        json
    }

    /// Append `INFO <json>\r\n` for connection `cid` from `ip` to `out`,
    /// growing it at most once (a connection's first bytes are written
    /// straight into its staging buffer: no temporary line is allocated
    /// and freed on the connection's thread, where the freed block would
    /// stay in the thread's malloc cache for the connection's life).
    pub fn write_line(&self, out: &mut Vec<u8>, cid: u64, ip: IpAddr) {
        out.reserve(self.whole.len() + 80);
        out.extend_from_slice(b"INFO ");
        self.write_for_client(out, cid, ip);
        out.extend_from_slice(b"\r\n");
    }

    /// Write `INFO <json>\r\n` for connection `cid` from `ip` into `out`
    /// (a buffer on the caller's stack); its length, or `None` when it does
    /// not fit.
    pub fn write_line_into(&self, out: &mut [u8], cid: u64, ip: IpAddr) -> Option<usize> {
        let room = out.len();
        let mut w: &mut [u8] = out;
        let written = (|| -> std::io::Result<()> {
            w.write_all(b"INFO ")?;
            match &self.split {
                None => w.write_all(&self.whole)?,
                Some((head, tail)) => {
                    w.write_all(head)?;
                    write!(w, ",\"client_id\":{cid},\"client_ip\":\"{ip}\"")?;
                    w.write_all(tail)?;
                }
            }
            w.write_all(b"\r\n")
        })();
        written.ok().map(|()| room - w.len())
    }

    fn write_for_client(&self, out: &mut Vec<u8>, cid: u64, ip: IpAddr) {
        let Some((head, tail)) = &self.split else {
            out.extend_from_slice(&self.whole);
            return;
        };
        out.reserve(head.len() + tail.len() + 80);
        out.extend_from_slice(head);
        // An IP address's text needs no JSON escaping.
        let _ = write!(out, ",\"client_id\":{cid},\"client_ip\":\"{ip}\"");
        out.extend_from_slice(tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::info::ServerInfo;

    fn info(cid: u64, ip: &str) -> Vec<u8> {
        serde_json::to_vec(&ServerInfo {
            server_id: "NABC".into(),
            server_name: "a \"client_id\":1 name".into(),
            version: "2.9.10".into(),
            proto: 1,
            host: "127.0.0.1".into(),
            port: 4222,
            headers: true,
            max_payload: 1 << 20,
            client_id: Some(cid),
            client_ip: Some(ip.into()),
            ldm: true,
            ..ServerInfo::default()
        })
        .unwrap()
    }

    #[test]
    fn splicing_matches_encoding_each_client() {
        let opts = Arc::new(Options::default());
        let accounts = std::collections::HashMap::new();
        let auth = Arc::new(Authenticator::new(&opts, &accounts).unwrap());
        let t = Template::new(opts.clone(), auth.clone(), false, info(CLIENT_MARK_ID, ""));
        for (cid, ip) in [(1, "127.0.0.1"), (987_654, "::1"), (42, "fe80::1")] {
            let got = t.for_client(cid, ip.parse().unwrap());
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(info(cid, ip)).unwrap()
            );
            let mut line = b"PONG\r\n".to_vec();
            t.write_line(&mut line, cid, ip.parse().unwrap());
            assert_eq!(
                line,
                [&b"PONG\r\nINFO "[..], &info(cid, ip), b"\r\n"].concat()
            );
            let mut room = [0u8; 2048];
            let n = t.write_line_into(&mut room, cid, ip.parse().unwrap());
            assert_eq!(Some(&room[..n.unwrap()]), line.get(6..));
            assert_eq!(
                t.write_line_into(&mut room[..40], cid, ip.parse().unwrap()),
                None
            );
        }
        assert!(t.fits(&opts, &auth, false));
        assert!(!t.fits(&opts, &auth, true));
        assert!(!t.fits(&Arc::new(Options::default()), &auth, false));
    }
}

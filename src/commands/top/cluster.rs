//! `top` against several servers at once (`-s a,b:8223,c`): each is
//! polled in parallel through its own [`Engine`]; the view is one
//! aggregated header (sums over the servers that answered) and one row
//! per server, down ones included with their error. Pure rendering here;
//! the loop is in `top.rs`.

use super::engine::{Engine, Stats};
use super::render::{nsize, psize};

/// One server of the view.
pub struct Member {
    /// As given on the command line (`host:port`).
    pub label: String,
    /// Where it is polled.
    pub target: Target,
    /// Its poller.
    pub engine: Engine,
    /// The last poll: its figures, or why it failed.
    pub last: Result<Stats, String>,
}

/// Split `-s a,b:8223,[::1]:8224` into (host, port) pairs, `default_port`
/// where none is given.
///
/// # Errors
///
/// An empty entry or a bad port.
pub fn parse_hosts(list: &str, default_port: u16) -> Result<Vec<(String, u16)>, String> {
    list.split(',')
        .map(str::trim)
        .map(|item| {
            if item.is_empty() {
                return Err(format!("empty server in {list:?}"));
            }
            let (host, port) = if let Some(v6) = item.strip_prefix('[') {
                let (h, rest) = v6
                    .split_once(']')
                    .ok_or_else(|| format!("bad address {item:?}"))?;
                (h, rest.strip_prefix(':'))
            } else if item.matches(':').count() == 1 {
                let (h, p) = item.split_once(':').unwrap_or((item, ""));
                (h, Some(p))
            } else {
                (item, None)
            };
            let port = match port {
                None => default_port,
                Some(p) => p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("bad port in {item:?}"))?,
            };
            Ok((host.to_string(), port))
        })
        .collect()
}

/// A server to poll: host, port, over HTTPS.
pub type Target = (String, u16, bool);

/// `top --discover`: the other servers of `seed`'s cluster, from its
/// `/varz`: the monitoring URLs nats-lite servers list
/// (`cluster.monitor_urls`), else (nats-server) the hosts of its
/// `connect_urls` with `default_port`, over HTTPS when `https`.
pub fn discover(seed: &mut Engine, default_port: u16, https: bool) -> Result<Vec<Target>, String> {
    let stats = seed.poll().map_err(|e| e.to_string())?;
    Ok(targets_in(&stats.varz, default_port, https))
}

/// The other servers a server's `/varz` names (see [`discover`]).
pub fn targets_in(varz: &super::engine::Varz, default_port: u16, https: bool) -> Vec<Target> {
    if !varz.cluster.monitor_urls.is_empty() {
        return varz
            .cluster
            .monitor_urls
            .iter()
            .filter_map(|u| {
                let (scheme, rest) = u.split_once("://")?;
                let (host, port) = rest.rsplit_once(':')?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                Some((host.to_string(), port.parse().ok()?, scheme == "https"))
            })
            .collect();
    }
    let hosts = varz
        .connect_urls
        .iter()
        .filter_map(|u| parse_hosts(u, default_port).ok()?.into_iter().next())
        .map(|(host, _)| (host, default_port, https));
    hosts.collect()
}

/// Keep the first member of each server (by server id) once polled: a
/// server discovered under another address than the one given is shown once.
pub fn drop_duplicates(members: &mut Vec<Member>) {
    let mut seen = std::collections::HashSet::new();
    members.retain(|m| match &m.last {
        Ok(s) if !s.varz.id.is_empty() => seen.insert(s.varz.id.clone()),
        _ => true,
    });
}

/// Poll every member at once (one thread each; each poll is bounded by the
/// engine's request timeout).
pub fn poll_all(members: &mut [Member]) {
    std::thread::scope(|s| {
        for m in members.iter_mut() {
            s.spawn(move || {
                m.last = m.engine.poll().map_err(|e| e.to_string());
            });
        }
    });
}

/// Text from the network with control characters escaped.
fn clean(s: &str) -> String {
    crate::printable::printable(s).into_owned()
}

/// The aggregated header and the per-server table.
pub fn render(members: &[Member], raw: bool) -> String {
    let up: Vec<&Stats> = members
        .iter()
        .filter_map(|m| m.last.as_ref().ok())
        .collect();
    let sum = |f: &dyn Fn(&Stats) -> i64| up.iter().map(|s| f(s)).sum::<i64>();
    let sumf = |f: &dyn Fn(&Stats) -> f64| up.iter().map(|s| f(s)).sum::<f64>();
    let mut versions: Vec<&str> = up.iter().map(|s| s.varz.version.as_str()).collect();
    versions.sort_unstable();
    versions.dedup();
    let mut text = format!(
        "NATS cluster view: {} servers, {} answering (versions: {})\n\
         \x20 Load: CPU:  {:.1}%  Memory: {}  Slow Consumers: {}\n\
         \x20 In:   Msgs: {}  Bytes: {}  Msgs/Sec: {:.1}  Bytes/Sec: {}\n\
         \x20 Out:  Msgs: {}  Bytes: {}  Msgs/Sec: {:.1}  Bytes/Sec: {}\n\
         \x20 Connections: {}  Subscriptions: {}  Routes: {}\n\n",
        members.len(),
        up.len(),
        clean(&versions.join(", ")),
        sumf(&|s| s.varz.cpu),
        psize(false, sum(&|s| s.varz.mem)),
        sum(&|s| s.varz.slow_consumers),
        nsize(raw, sum(&|s| s.varz.in_msgs)),
        psize(raw, sum(&|s| s.varz.in_bytes)),
        sumf(&|s| s.rates.in_msgs),
        psize(raw, sumf(&|s| s.rates.in_bytes) as i64),
        nsize(raw, sum(&|s| s.varz.out_msgs)),
        psize(raw, sum(&|s| s.varz.out_bytes)),
        sumf(&|s| s.rates.out_msgs),
        psize(raw, sumf(&|s| s.rates.out_bytes) as i64),
        sum(&|s| s.varz.connections),
        sum(&|s| s.varz.subscriptions),
        sum(&|s| s.varz.routes),
    );
    let label_w = members
        .iter()
        .map(|m| m.label.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let names: Vec<String> = members
        .iter()
        .map(|m| {
            m.last
                .as_ref()
                .map(|s| clean(&s.varz.name))
                .unwrap_or_default()
        })
        .collect();
    let name_w = names
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(4)
        .clamp(4, 24);
    text.push_str(&format!(
        "{:<label_w$}  {:<name_w$}  {:>6}  {:>6}  {:>6}  {:>10}  {:>10}  {:>10}  {:>10}  {:>6}  {:>7}  {:>5}  {}\n",
        "SERVER", "NAME", "CONNS", "SUBS", "ROUTES", "MSGS_IN/S", "MSGS_OUT/S", "BYTES_IN/S",
        "BYTES_OUT/S", "CPU", "MEM", "SLOW", "UPTIME"
    ));
    for (m, name) in members.iter().zip(&names) {
        let name: String = name.chars().take(name_w).collect();
        match &m.last {
            Ok(s) => {
                let v = &s.varz;
                text.push_str(&format!(
                    "{:<label_w$}  {:<name_w$}  {:>6}  {:>6}  {:>6}  {:>10.1}  {:>10.1}  {:>10}  {:>10}  {:>5.1}%  {:>7}  {:>5}  {}\n",
                    m.label,
                    name,
                    v.connections,
                    v.subscriptions,
                    v.routes,
                    s.rates.in_msgs,
                    s.rates.out_msgs,
                    psize(raw, s.rates.in_bytes as i64),
                    psize(raw, s.rates.out_bytes as i64),
                    v.cpu,
                    psize(false, v.mem),
                    v.slow_consumers,
                    clean(&v.uptime),
                ));
            }
            Err(e) => {
                let e: String = clean(e).chars().take(100).collect();
                text.push_str(&format!(
                    "{:<label_w$}  {:<name_w$}  DOWN: {e}\n",
                    m.label, ""
                ));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_lists() {
        assert_eq!(
            parse_hosts("a,b:8223,[::1]:9,[::2]", 8222).unwrap(),
            vec![
                ("a".to_string(), 8222),
                ("b".to_string(), 8223),
                ("::1".to_string(), 9),
                ("::2".to_string(), 8222)
            ]
        );
        assert!(parse_hosts("a,,b", 1).is_err());
        assert!(parse_hosts("a:x", 1).is_err());
        assert!(parse_hosts("a:0", 1).is_err());
    }
}

//! `top`'s drawing side: a poll ([`Stats`]) to text, as nats-top lays it
//! out (`generateParagraphPlainText` / `generateParagraphCSV` in its
//! `nats-top.go`), with human units (`34.2K`, `3.0M`). Pure: no terminal,
//! no I/O, so the layout is unit-tested.

use super::engine::{ConnInfo, Stats};
use crate::civil::go_time_string;

/// How to show a poll.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Counts and bytes as plain numbers instead of K/M/G.
    pub raw_bytes: bool,
    /// The SUBSCRIPTIONS column.
    pub show_subs: bool,
    /// Per-connection rates instead of totals.
    pub show_rates: bool,
}

/// Bytes with binary units: `512`, `1.5K`, `3.0M`, `2.1G` (nats-top's `Psize`).
pub fn psize(raw: bool, n: i64) -> String {
    const KIB: f64 = 1024.0;
    let s = n as f64;
    if raw || s < KIB {
        format!("{s:.0}")
    } else if s < KIB * KIB {
        format!("{:.1}K", s / KIB)
    } else if s < KIB * KIB * KIB {
        format!("{:.1}M", s / (KIB * KIB))
    } else {
        format!("{:.1}G", s / (KIB * KIB * KIB))
    }
}

/// Counts with decimal units: `999`, `34.2K`, `3.0M`, `1.2B`, `4.0T` (nats-top's `Nsize`).
pub fn nsize(raw: bool, n: i64) -> String {
    let s = n as f64;
    if raw || s < 1e3 {
        format!("{s:.0}")
    } else if s < 1e6 {
        format!("{:.1}K", s / 1e3)
    } else if s < 1e9 {
        format!("{:.1}M", s / 1e6)
    } else if s < 1e12 {
        format!("{:.1}B", s / 1e9)
    } else {
        format!("{:.1}T", s / 1e12)
    }
}

/// The LAST_ACTIVITY cell: Go's `time.Time` text in UTC, or the raw value
/// when it does not parse.
fn last_activity(c: &ConnInfo) -> String {
    match super::engine::parse_rfc3339(&c.last_activity) {
        Some(n) if n >= 0 => go_time_string(n as u64),
        _ => c.last_activity.clone(),
    }
}

/// The server figures both views show, formatted once.
struct Figures {
    mem: String,
    in_msgs: String,
    in_bytes: String,
    in_rate: f64,
    in_byte_rate: String,
    out_msgs: String,
    out_bytes: String,
    out_rate: f64,
    out_byte_rate: String,
}

impl Figures {
    fn of(stats: &Stats, raw: bool) -> Figures {
        let v = &stats.varz;
        let r = &stats.rates;
        Figures {
            mem: psize(false, v.mem),
            in_msgs: nsize(raw, v.in_msgs),
            in_bytes: psize(raw, v.in_bytes),
            in_rate: r.in_msgs,
            in_byte_rate: psize(raw, r.in_bytes as i64),
            out_msgs: nsize(raw, v.out_msgs),
            out_bytes: psize(raw, v.out_bytes),
            out_rate: r.out_msgs,
            out_byte_rate: psize(raw, r.out_bytes as i64),
        }
    }
}

/// The header lines (server, load, in, out), with `error` after the first.
pub fn header(stats: &Stats, view: &View, error: &str) -> String {
    let v = &stats.varz;
    let name = if v.name != v.id { v.name.as_str() } else { "" };
    let Figures {
        mem,
        in_msgs,
        in_bytes,
        in_rate,
        in_byte_rate,
        out_msgs,
        out_bytes,
        out_rate,
        out_byte_rate,
    } = Figures::of(stats, view.raw_bytes);
    let (version, uptime, id, cpu, slow) = (&v.version, &v.uptime, &v.id, v.cpu, v.slow_consumers);
    format!(
        "NATS server version {version} (uptime: {uptime}) {error}\n\
         Server: {name}\n\
         \x20 ID:   {id}\n\
         \x20 Load: CPU:  {cpu:.1}%  Memory: {mem}  Slow Consumers: {slow}\n\
         \x20 In:   Msgs: {in_msgs}  Bytes: {in_bytes}  Msgs/Sec: {in_rate:.1}  Bytes/Sec: {in_byte_rate}\n\
         \x20 Out:  Msgs: {out_msgs}  Bytes: {out_bytes}  Msgs/Sec: {out_rate:.1}  Bytes/Sec: {out_byte_rate}\n",
    )
}

/// The whole grid view: header, `Connections Polled: N`, the table.
/// `host_of` names a connection's host (`ip:port`, or a DNS name).
pub fn grid(
    stats: &Stats,
    view: &View,
    error: &str,
    host_of: &dyn Fn(&ConnInfo) -> String,
) -> String {
    let raw = view.raw_bytes;
    let mut text = header(stats, view, error);
    text.push_str(&format!(
        "\nConnections Polled: {}\n",
        stats.connz.num_connections
    ));
    let conns = &stats.connz.connections;
    let hosts: Vec<String> = conns.iter().map(host_of).collect();
    let mut host_w = 15;
    for h in &hosts {
        if h.len() > host_w {
            host_w = h.len() + 2;
        }
    }
    let mut name_w = 0;
    for c in conns {
        if c.name.len() > name_w {
            name_w = (c.name.len() + 2).max(4);
        }
    }
    let mut line = format!("  {:<host_w$}  {:<6} ", "HOST", "CID");
    if name_w > 0 {
        line.push_str(&format!("{:<name_w$} ", "NAME"));
    }
    line.push_str(&format!(
        "{:<6}  {:<10}  {:<10}  {:<10}  {:<10}  {:<10}  {:<7}  {:<7}  {:<7}  {:<40}",
        "SUBS",
        "PENDING",
        "MSGS_TO",
        "MSGS_FROM",
        "BYTES_TO",
        "BYTES_FROM",
        "LANG",
        "VERSION",
        "UPTIME",
        "LAST_ACTIVITY"
    ));
    if view.show_subs {
        line.push_str(&format!("{:>13}", "SUBSCRIPTIONS"));
    }
    text.push_str(&line);
    text.push('\n');
    for (c, host) in conns.iter().zip(&hosts) {
        let (to_msgs, from_msgs, to_bytes, from_bytes) = if view.show_rates {
            let r = stats
                .rates
                .connections
                .get(&c.cid)
                .copied()
                .unwrap_or_default();
            (
                r.out_msgs as i64,
                r.in_msgs as i64,
                r.out_bytes as i64,
                r.in_bytes as i64,
            )
        } else {
            (c.out_msgs, c.in_msgs, c.out_bytes, c.in_bytes)
        };
        let mut line = format!("  {host:<host_w$}  {:<6} ", c.cid);
        if name_w > 0 {
            line.push_str(&format!("{:<name_w$} ", c.name));
        }
        line.push_str(&format!(
            "{:<6}  {:<10}  {:<10}  {:<10}  {:<10}  {:<10}  {:<7}  {:<7}  {:<7}  {:<40}",
            c.num_subs,
            nsize(raw, c.pending),
            nsize(raw, to_msgs),
            nsize(raw, from_msgs),
            psize(raw, to_bytes),
            psize(raw, from_bytes),
            c.lang,
            c.version,
            c.uptime,
            last_activity(c),
        ));
        if view.show_subs {
            line.push_str(&c.subs.join(", "));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// The delimited view (`-l DELIM`), as nats-top's CSV-like output.
pub fn delimited(
    stats: &Stats,
    view: &View,
    delim: &str,
    host_of: &dyn Fn(&ConnInfo) -> String,
) -> String {
    let v = &stats.varz;
    let raw = view.raw_bytes;
    let d = delim;
    let Figures {
        mem,
        in_msgs,
        in_bytes,
        in_rate,
        in_byte_rate,
        out_msgs,
        out_bytes,
        out_rate,
        out_byte_rate,
    } = Figures::of(stats, raw);
    let (version, uptime, cpu, slow) = (&v.version, &v.uptime, v.cpu, v.slow_consumers);
    let polled = stats.connz.num_connections;
    let mut text = format!(
        "NATS server version{d}{version}{d}(uptime: {uptime}){d}\n\
         Server:\n\
         Load:{d}CPU:{d}{cpu:.1}%{d}Memory:{d}{mem}{d}Slow Consumers:{d}{slow}\n\
         In:{d}Msgs:{d}{in_msgs}{d}Bytes:{d}{in_bytes}{d}Msgs/Sec:{d}{in_rate:.1}{d}Bytes/Sec:{d}{in_byte_rate}\n\
         Out:{d}Msgs:{d}{out_msgs}{d}Bytes:{d}{out_bytes}{d}Msgs/Sec:{d}{out_rate:.1}{d}Bytes/Sec:{d}{out_byte_rate}\n\
         \nConnections Polled:{d}{polled}\n",
    );
    let mut cols = vec![
        "HOST",
        "CID",
        "NAME",
        "SUBS",
        "PENDING",
        "MSGS_TO",
        "MSGS_FROM",
        "BYTES_TO",
        "BYTES_FROM",
        "LANG",
        "VERSION",
        "UPTIME",
        "LAST_ACTIVITY",
    ];
    if view.show_subs {
        cols.push("SUBSCRIPTIONS");
    }
    text.push_str(&cols.join(d));
    text.push('\n');
    for c in &stats.connz.connections {
        let mut row = vec![
            host_of(c),
            c.cid.to_string(),
            c.name.clone(),
            c.num_subs.to_string(),
            nsize(raw, c.pending),
            nsize(raw, c.out_msgs),
            nsize(raw, c.in_msgs),
            psize(raw, c.out_bytes),
            psize(raw, c.in_bytes),
            c.lang.clone(),
            c.version.clone(),
            c.uptime.clone(),
            last_activity(c),
        ];
        if view.show_subs {
            // Two spaces, not commas: a comma may be the delimiter.
            row.push(c.subs.join("  "));
        }
        text.push_str(&row.join(d));
        text.push('\n');
    }
    text
}

/// The help screen (`?` or `h`).
pub const HELP: &str = "\
Command          Description

o<option>        Set primary sort key to <option>.

                 Option can be one of: {cid|subs|pending|msgs_to|msgs_from|
                 bytes_to|bytes_from|idle|last|uptime|rtt}

                 This can be set in the command line too with --sort.

n<limit>         Set sample size of connections to request from the server.

                 This can be set in the command line as well via -n.
                 Used with sort, the server respects both, allowing queries
                 like 'connection with most subscriptions': -n 1 --sort subs

s                Toggle displaying connection subscriptions.

d                Toggle activating DNS address lookup for clients.

b                Toggle displaying raw bytes.

space            Toggle displaying rates per second in connections.

q                Quit (also Ctrl-C).

Press any key to continue...
";

#[cfg(test)]
mod tests {
    use super::super::engine::{Connz, Rates, Varz};
    use super::*;

    #[test]
    fn units_as_nats_top() {
        assert_eq!(psize(false, 0), "0");
        assert_eq!(psize(false, 1023), "1023");
        assert_eq!(psize(false, 1536), "1.5K");
        assert_eq!(psize(false, 3 * 1024 * 1024), "3.0M");
        assert_eq!(psize(false, 5 * 1024 * 1024 * 1024), "5.0G");
        assert_eq!(psize(true, 1536), "1536");
        assert_eq!(nsize(false, 999), "999");
        assert_eq!(nsize(false, 34_200), "34.2K");
        assert_eq!(nsize(false, 3_000_000), "3.0M");
        assert_eq!(nsize(false, 1_200_000_000), "1.2B");
        assert_eq!(nsize(false, 4_000_000_000_000), "4.0T");
        assert_eq!(nsize(true, 34_200), "34200");
    }

    fn stats() -> Stats {
        Stats {
            varz: Varz {
                id: "NID".into(),
                name: "alpha".into(),
                version: "2.9.10".into(),
                uptime: "1m2s".into(),
                mem: 3 * 1024 * 1024,
                cpu: 1.5,
                in_msgs: 34_200,
                in_bytes: 2048,
                ..Varz::default()
            },
            connz: Connz {
                num_connections: 1,
                connections: vec![ConnInfo {
                    cid: 7,
                    ip: "127.0.0.1".into(),
                    port: 4000,
                    name: "worker".into(),
                    lang: "rust".into(),
                    version: "1.0".into(),
                    num_subs: 2,
                    in_msgs: 1500,
                    out_bytes: 1536,
                    uptime: "5s".into(),
                    last_activity: "2023-11-14T22:13:20.5Z".into(),
                    subs: vec!["a".into(), "b.>".into()],
                    ..ConnInfo::default()
                }],
            },
            rates: Rates {
                in_msgs: 12.5,
                ..Rates::default()
            },
        }
    }

    fn ip_port(c: &ConnInfo) -> String {
        format!("{}:{}", c.ip, c.port)
    }

    #[test]
    fn grid_layout() {
        let view = View {
            show_subs: true,
            ..View::default()
        };
        let text = grid(&stats(), &view, "", &ip_port);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NATS server version 2.9.10 (uptime: 1m2s) ");
        assert_eq!(lines[1], "Server: alpha");
        assert_eq!(lines[2], "  ID:   NID");
        assert_eq!(
            lines[3],
            "  Load: CPU:  1.5%  Memory: 3.0M  Slow Consumers: 0"
        );
        assert_eq!(
            lines[4],
            "  In:   Msgs: 34.2K  Bytes: 2.0K  Msgs/Sec: 12.5  Bytes/Sec: 0"
        );
        assert_eq!(lines[6], "");
        assert_eq!(lines[7], "Connections Polled: 1");
        let head: Vec<&str> = lines[8].split_whitespace().collect();
        assert_eq!(
            head,
            [
                "HOST",
                "CID",
                "NAME",
                "SUBS",
                "PENDING",
                "MSGS_TO",
                "MSGS_FROM",
                "BYTES_TO",
                "BYTES_FROM",
                "LANG",
                "VERSION",
                "UPTIME",
                "LAST_ACTIVITY",
                "SUBSCRIPTIONS"
            ]
        );
        assert!(
            lines[9].starts_with("  127.0.0.1:4000   7      worker   2       0"),
            "{}",
            lines[9]
        );
        assert!(lines[9].contains("1.5K"));
        assert!(lines[9].contains("2023-11-14 22:13:20.5 +0000 UTC"));
        assert!(lines[9].ends_with("a, b.>"));
        // Columns line up with the header.
        let col = |l: &str, w: &str| l.find(w).unwrap();
        assert_eq!(col(lines[8], "LANG"), col(lines[9], "rust"));
    }

    #[test]
    fn no_name_column_when_nobody_has_a_name() {
        let mut s = stats();
        s.connz.connections[0].name.clear();
        let text = grid(&s, &View::default(), "", &ip_port);
        assert!(!text.contains("NAME"));
        assert!(!text.contains("SUBSCRIPTIONS"));
    }

    #[test]
    fn delimited_layout() {
        let text = delimited(&stats(), &View::default(), ",", &ip_port);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NATS server version,2.9.10,(uptime: 1m2s),");
        assert_eq!(lines[2], "Load:,CPU:,1.5%,Memory:,3.0M,Slow Consumers:,0");
        assert_eq!(lines[6], "Connections Polled:,1");
        assert!(lines[7].starts_with("HOST,CID,NAME,SUBS,"));
        assert_eq!(lines[8].split(',').count(), 13);
        assert!(lines[8].starts_with("127.0.0.1:4000,7,worker,2,0,0,1.5K,1.5K,0,rust,1.0,5s,"));
    }
}

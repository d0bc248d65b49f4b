//! The live dashboard at `/`: one self-contained page (`dashboard.html`,
//! embedded in the binary: no CDN, no framework, about 8 KB) that polls
//! `/varz`, `/connz` and `/routez` every second and draws message and byte
//! rates, connections, subscriptions, slow consumers, the busiest
//! connections (sortable) and routes. The server fills in a snapshot of
//! the figures when it serves the page, so with scripts off it still reads
//! as text.

use super::format::my_uptime;
use super::varz::varz;
use super::Monitor;
use crate::server::Server;

/// The page template; `{{name}}` placeholders are filled per request.
pub const TEMPLATE: &str = include_str!("dashboard.html");

/// Escape text for HTML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page with the current figures filled in.
pub fn render(server: &Server, monitor: &Monitor) -> String {
    let v = varz(server, monitor);
    let fields: [(&str, String); 12] = [
        ("server_name", v.server_name.clone()),
        ("server_id", v.server_id.clone()),
        ("version", v.version.clone()),
        ("uptime", my_uptime(v.now.since(v.start))),
        ("connections", v.connections.to_string()),
        ("subscriptions", v.subscriptions.to_string()),
        ("slow_consumers", v.slow_consumers.to_string()),
        ("routes", v.routes.to_string()),
        ("in_msgs", v.in_msgs.to_string()),
        ("out_msgs", v.out_msgs.to_string()),
        ("mem", format!("{} B", v.mem)),
        ("cpu", format!("{:.1}", v.cpu)),
    ];
    let mut page = TEMPLATE.to_string();
    for (name, value) in fields {
        page = page.replace(&format!("{{{{{name}}}}}"), &escape(&value));
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_small_and_self_contained() {
        assert!(TEMPLATE.len() < 16 * 1024, "{} bytes", TEMPLATE.len());
        for remote in ["http://", "https://", "//cdn", "<link", "src="] {
            assert!(!TEMPLATE.contains(remote), "{remote} in the dashboard");
        }
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}

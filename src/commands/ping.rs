//! `nats-lite ping`: connect, show what the server says about itself, and
//! time PING/PONG round trips. Exits non-zero when the server cannot be
//! reached or does not answer, so it doubles as a health check.

use std::process::ExitCode;
use std::time::Duration;

use super::connect::{exit_status_help, parse_duration, show_duration, ConnectArgs};
use crate::client::Connection;
use crate::error::{Error, Result};
use crate::printable::printable;

const AFTER_HELP: &str = concat!(
    "Examples:\n",
    "  nats-lite ping\n",
    "  nats-lite ping -s tls://nats.example.com:4443 --count 10 --interval 1s\n",
    "  nats-lite ping -s nats://db1:4222 --count 1 >/dev/null || alert 'NATS is down'\n",
    exit_status_help!()
);

/// `nats-lite ping` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct PingArgs {
    /// Number of round trips to time.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub count: u32,
    /// Wait between round trips.
    #[arg(long, default_value = "100ms", value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Duration,
    /// How long to wait for each PONG.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Run `nats-lite ping`.
pub fn run(global: &ConnectArgs, args: PingArgs) -> Result<ExitCode> {
    let mut opts = global.options(&args.connect)?;
    opts.reconnect = false;
    let mut conn = Connection::connect(opts)?;
    let info = conn.info().clone();
    let name = if info.server_name.is_empty() || info.server_name == info.server_id {
        info.server_id.clone()
    } else {
        format!("{} ({})", info.server_name, info.server_id)
    };
    let name = printable(&name);
    println!("Connected to {}", conn.url());
    println!("  Server:      {name}");
    println!("  Version:     {}", printable(&info.version));
    println!("  Address:     {}:{}", printable(&info.host), info.port);
    println!(
        "  Max payload: {} bytes ({})",
        info.max_payload,
        human_bytes(info.max_payload)
    );
    println!(
        "  Auth:        {}",
        if info.auth_required {
            "required"
        } else {
            "not required"
        }
    );
    let tls = match (info.tls_required, info.tls_available) {
        (true, _) => "required",
        (false, true) => "available",
        _ => "not offered",
    };
    println!(
        "  TLS:         {tls}{}",
        if conn.is_tls() {
            ", this connection is encrypted"
        } else {
            ""
        }
    );
    println!("  Headers:     {}", if info.headers { "yes" } else { "no" });
    if conn.servers().len() > 1 {
        let others: Vec<String> = conn.servers().iter().map(ToString::to_string).collect();
        println!("  Servers:     {}", printable(&others.join(", ")));
    }
    let mut times = Vec::new();
    for seq in 1..=args.count {
        let rtt = conn
            .rtt(args.timeout)
            .map_err(|e| Error::failure(format!("PING {seq}: {e}")))?;
        println!(
            "PONG from {}: seq={seq} time={}",
            conn.url(),
            show_duration(rtt)
        );
        times.push(rtt);
        if seq < args.count && !args.interval.is_zero() {
            std::thread::sleep(args.interval);
        }
    }
    if let (Some(min), Some(max)) = (times.iter().min(), times.iter().max()) {
        let avg = times.iter().sum::<Duration>() / times.len() as u32;
        println!(
            "{} PINGs, {} PONGs, round trip min/avg/max = {}/{}/{}",
            args.count,
            times.len(),
            show_duration(*min),
            show_duration(avg),
            show_duration(*max)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1048576), "1.0 MiB");
    }
}

//! Who may hold a monitoring connection: at most
//! [`MAX_MONITOR_CONNECTIONS`] at once, at most [`MAX_PER_IP`] of them
//! from one IP address, and past that a few [`HEALTH_SLOTS`] that serve
//! only `/healthz`, with a short deadline, so a liveness probe gets its
//! answer while slow or greedy peers hold every ordinary slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Monitoring connections served at once from every peer.
pub const MAX_MONITOR_CONNECTIONS: usize = 64;
/// Monitoring connections served at once from one IP address.
pub const MAX_PER_IP: usize = 16;
/// Extra connections, past the ordinary ones, that may only ask `/healthz`.
pub const HEALTH_SLOTS: usize = 8;
/// Health slots one IP address may hold at once.
pub const HEALTH_SLOTS_PER_IP: usize = 2;

/// The kind of slot a connection got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// Any endpoint, with the ordinary deadline.
    Ordinary,
    /// `/healthz` only, with a short deadline.
    Health,
}

#[derive(Default)]
struct Counts {
    ordinary: usize,
    health: usize,
    /// Per address: (ordinary, health).
    per_ip: HashMap<IpAddr, (usize, usize)>,
}

/// The slot counts, shared by the accept thread and the connections.
#[derive(Default)]
pub struct Slots {
    counts: Mutex<Counts>,
}

/// A held slot, given back when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
    /// Which kind it is.
    pub kind: SlotKind,
}

impl Slots {
    /// A slot for a connection from `ip`, or `None` when it must be refused.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let (ordinary_total, health_total) = (c.ordinary, c.health);
        let mine = c.per_ip.entry(ip).or_default();
        let kind = if ordinary_total < MAX_MONITOR_CONNECTIONS && mine.0 < MAX_PER_IP {
            mine.0 += 1;
            SlotKind::Ordinary
        } else if health_total < HEALTH_SLOTS && mine.1 < HEALTH_SLOTS_PER_IP {
            mine.1 += 1;
            SlotKind::Health
        } else {
            if *mine == (0, 0) {
                c.per_ip.remove(&ip);
            }
            return None;
        };
        match kind {
            SlotKind::Ordinary => c.ordinary += 1,
            SlotKind::Health => c.health += 1,
        }
        Some(Slot {
            slots: self.clone(),
            ip,
            kind,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.slots.counts.lock().unwrap_or_else(|e| e.into_inner());
        match self.kind {
            SlotKind::Ordinary => c.ordinary -= 1,
            SlotKind::Health => c.health -= 1,
        }
        if let Some(mine) = c.per_ip.get_mut(&self.ip) {
            match self.kind {
                SlotKind::Ordinary => mine.0 -= 1,
                SlotKind::Health => mine.1 -= 1,
            }
            if *mine == (0, 0) {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_cap_then_health_slots_then_refusal() {
        let slots = Arc::new(Slots::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let held: Vec<Slot> = (0..MAX_PER_IP).map(|_| slots.acquire(a).unwrap()).collect();
        assert!(held.iter().all(|s| s.kind == SlotKind::Ordinary));
        let h1 = slots.acquire(a).unwrap();
        let h2 = slots.acquire(a).unwrap();
        assert_eq!((h1.kind, h2.kind), (SlotKind::Health, SlotKind::Health));
        assert!(
            slots.acquire(a).is_none(),
            "one address holds few health slots"
        );
        assert_eq!(slots.acquire(b).unwrap().kind, SlotKind::Ordinary);
        drop(held);
        assert_eq!(slots.acquire(a).unwrap().kind, SlotKind::Ordinary);
        drop((h1, h2));
        assert!(slots.counts.lock().unwrap().per_ip.is_empty());
    }

    #[test]
    fn the_total_cap_leaves_health_slots() {
        let slots = Arc::new(Slots::default());
        let held: Vec<Slot> = (0..MAX_MONITOR_CONNECTIONS)
            .map(|i| {
                slots
                    .acquire(IpAddr::from([10, 0, (i / 10) as u8, 1]))
                    .unwrap()
            })
            .collect();
        assert!(held.iter().all(|s| s.kind == SlotKind::Ordinary));
        let probe = slots.acquire("10.9.9.9".parse().unwrap()).unwrap();
        assert_eq!(probe.kind, SlotKind::Health);
    }
}

//! Who is present in each channel: signed-in addresses with at least one subscribed
//! connection. An address with several sockets counts once, and leaves when its last socket
//! on the channel goes.
//!
//! This instance's sockets are counted here. With a shared bus, each room also holds who is
//! present through other instances ([`Presence::set_remote`], read from Redis once a second
//! by [`crate::cluster`]), and an address counts once whichever instances its sockets are on;
//! [`Presence::round`] says what to write there. Rooms are kept only while this instance has
//! members in them: the others' presence matters only to local listeners.
//!
//! Changes are not announced one by one: a channel with changes is marked, and [`Presence::flush`]
//! (run once a second) compares who is present with who was last announced. So an address that
//! drops and comes back within the second (a reconnect, a page reload) is announced neither
//! leaving nor joining, and no address appears in more than one announcement a second,
//! however fast its sockets churn.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use realtime_core::{Address, ChannelName};
use realtime_protocol::social::{PresenceChange, PresenceSnapshot};

use crate::hub::ConnId;
use crate::queue::SendQueue;

/// Most addresses a snapshot lists, and a change lists per direction; the counts are exact.
pub const LIST_MAX: usize = 100;
/// Channels with more addresses present than this get no `presence_change` pushes (a join
/// there would reach everyone, every second); their subscribers ask with `presence`.
pub const ANNOUNCE_MAX: usize = 500;

/// An address in a room: its subscribed connections, and whether the last announcement left
/// subscribers believing it present. One entry serves both, so presence costs one map entry
/// per address and channel.
#[derive(Debug, Clone, Copy, Default)]
struct Member {
    conns: u32,
    announced: bool,
}

#[derive(Debug, Default)]
struct Room {
    /// Present addresses (`conns > 0`), and absent ones still announced as present.
    members: HashMap<Address, Member>,
    /// Addresses with `conns > 0`.
    present: usize,
    /// Connections that asked for the changes (`subscribe` with `presence: true`).
    listeners: HashMap<ConnId, SendQueue>,
    /// Addresses present through other instances, as last read.
    remote: HashSet<Address>,
}

impl Room {
    /// Whether `who` has a subscribed socket on this instance.
    fn is_here(&self, who: &Address) -> bool {
        self.members.get(who).is_some_and(|m| m.conns > 0)
    }

    fn is_present(&self, who: &Address) -> bool {
        self.is_here(who) || self.remote.contains(who)
    }

    /// Addresses present here or elsewhere, each once.
    fn present_all(&self) -> Vec<Address> {
        let mut all: Vec<Address> = self
            .members
            .iter()
            .filter(|(_, m)| m.conns > 0)
            .map(|(a, _)| *a)
            .chain(self.remote.iter().filter(|a| !self.is_here(a)).copied())
            .collect();
        all.sort();
        all
    }
}

#[derive(Debug, Default)]
struct Rooms {
    rooms: HashMap<ChannelName, Room>,
    changed: HashSet<ChannelName>,
    /// Channels whose local members changed since the last [`Presence::round`].
    dirty: HashSet<ChannelName>,
    /// Addresses whose last local socket left a channel since the last round.
    departed: HashMap<ChannelName, HashSet<Address>>,
}

/// What this instance writes to the shared presence in one round.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Per channel, the addresses present through this instance.
    pub present: Vec<(ChannelName, Vec<Address>)>,
    /// Per channel, the addresses that left this instance since the last round.
    pub left: Vec<(ChannelName, Vec<Address>)>,
    /// Every channel with local members, whose remote members are wanted.
    pub rooms: Vec<ChannelName>,
}

/// What changed in one channel since its last announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub channel: ChannelName,
    pub joined: Vec<Address>,
    pub left: Vec<Address>,
    /// Addresses present now.
    pub count: usize,
}

/// Presence per channel on this instance.
#[derive(Debug, Default)]
pub struct Presence {
    inner: Mutex<Rooms>,
}

impl Presence {
    fn lock(&self) -> MutexGuard<'_, Rooms> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One more connection of `who` subscribed to `channel`.
    pub fn join(&self, channel: &ChannelName, who: Address) {
        let mut r = self.lock();
        let room = r.rooms.entry(channel.clone()).or_default();
        let member = room.members.entry(who).or_default();
        member.conns += 1;
        if member.conns == 1 {
            room.present += 1;
            if let Some(gone) = r.departed.get_mut(channel) {
                gone.remove(&who);
            }
            r.dirty.insert(channel.clone());
        }
        r.changed.insert(channel.clone());
    }

    /// `conn` (present in `channel`) receives the channel's changes on `queue`.
    pub fn listen(&self, channel: &ChannelName, conn: ConnId, queue: SendQueue) {
        if let Some(room) = self.lock().rooms.get_mut(channel) {
            room.listeners.insert(conn, queue);
        }
    }

    /// Connection `conn` of `who` left `channel`.
    pub fn leave(&self, channel: &ChannelName, who: Address, conn: ConnId) {
        let mut r = self.lock();
        let Some(room) = r.rooms.get_mut(channel) else {
            return;
        };
        room.listeners.remove(&conn);
        if let Some(member) = room.members.get_mut(&who)
            && member.conns > 0
        {
            member.conns -= 1;
            if member.conns == 0 {
                room.present -= 1;
                if !member.announced {
                    room.members.remove(&who);
                }
                r.departed.entry(channel.clone()).or_default().insert(who);
            }
        }
        r.changed.insert(channel.clone());
    }

    /// Addresses present in `channel`, and up to `max` of them (sorted, so the same set
    /// gives the same list).
    pub fn snapshot(&self, channel: &ChannelName, max: usize) -> (usize, Vec<Address>) {
        let r = self.lock();
        let Some(room) = r.rooms.get(channel) else {
            return (0, Vec::new());
        };
        let mut members = room.present_all();
        let count = members.len();
        members.truncate(max);
        (count, members)
    }

    /// Addresses present in `channel` through this instance's sockets.
    pub fn local(&self, channel: &ChannelName) -> Vec<Address> {
        self.lock()
            .rooms
            .get(channel)
            .map_or_else(Vec::new, |room| {
                room.members
                    .iter()
                    .filter(|(_, m)| m.conns > 0)
                    .map(|(a, _)| *a)
                    .collect()
            })
    }

    /// What to write to the shared presence: the channels whose local members changed
    /// since the last round (all channels when `full`, to refresh every entry), and who
    /// left. Takes the changes: the next round starts from here.
    pub fn round(&self, full: bool) -> Round {
        let mut r = self.lock();
        let dirty: HashSet<ChannelName> = std::mem::take(&mut r.dirty);
        let departed = std::mem::take(&mut r.departed);
        let mut round = Round::default();
        for (channel, room) in &r.rooms {
            round.rooms.push(channel.clone());
            if full || dirty.contains(channel) {
                let here: Vec<Address> = room
                    .members
                    .iter()
                    .filter(|(_, m)| m.conns > 0)
                    .map(|(a, _)| *a)
                    .collect();
                round.present.push((channel.clone(), here));
            }
        }
        for (channel, gone) in departed {
            let still = r.rooms.get(&channel);
            let gone: Vec<Address> = gone
                .into_iter()
                .filter(|a| !still.is_some_and(|room| room.is_here(a)))
                .collect();
            if !gone.is_empty() {
                round.left.push((channel, gone));
            }
        }
        round
    }

    /// Who is present in `channel` through other instances, as just read.
    pub fn set_remote(&self, channel: &ChannelName, remote: HashSet<Address>) {
        let mut r = self.lock();
        let Some(room) = r.rooms.get_mut(channel) else {
            return;
        };
        if room.remote != remote {
            room.remote = remote;
            r.changed.insert(channel.clone());
        }
    }

    /// The snapshot of `channel` as clients see it.
    pub fn snapshot_of(&self, channel: &ChannelName) -> PresenceSnapshot {
        let (count, members) = self.snapshot(channel, LIST_MAX);
        PresenceSnapshot {
            count: count as u64,
            complete: members.len() == count,
            members: members.iter().map(ToString::to_string).collect(),
        }
    }

    /// Whether `who` is present in `channel`.
    pub fn is_present(&self, channel: &ChannelName, who: Address) -> bool {
        self.lock()
            .rooms
            .get(channel)
            .is_some_and(|room| room.is_present(&who))
    }

    /// The changes since the last flush, net of churn, one per channel that has any, with
    /// the queues of the connections listening; rooms nobody is in any more are dropped.
    pub fn flush(&self) -> Vec<(Change, Vec<SendQueue>)> {
        let mut r = self.lock();
        let changed: Vec<ChannelName> = r.changed.drain().collect();
        let mut out = Vec::new();
        let mut again = Vec::new();
        for channel in changed {
            let Some(room) = r.rooms.get_mut(&channel) else {
                continue;
            };
            let present = room.present_all();
            let count = present.len();
            // No member and no listener here: what happens elsewhere concerns no one here.
            let idle = room.present == 0 && room.listeners.is_empty();
            if count == 0 && room.members.values().all(|m| !m.announced) {
                r.rooms.remove(&channel);
                continue;
            }
            // Too crowded to announce: nothing is sent, so nothing is marked announced; the
            // differences wait for the room to shrink.
            if count > ANNOUNCE_MAX {
                if idle {
                    r.rooms.remove(&channel);
                }
                continue;
            }
            let mut joined: Vec<Address> = present
                .iter()
                .filter(|a| !room.members.get(a).is_some_and(|m| m.announced))
                .copied()
                .collect();
            let mut left: Vec<Address> = room
                .members
                .iter()
                .filter(|(a, m)| m.announced && !room.is_present(a))
                .map(|(a, _)| *a)
                .collect();
            if joined.is_empty() && left.is_empty() {
                if idle {
                    r.rooms.remove(&channel);
                }
                continue;
            }
            left.sort();
            // Only what one push lists counts as announced; the rest goes in the next one.
            if joined.len() > LIST_MAX || left.len() > LIST_MAX {
                joined.truncate(LIST_MAX);
                left.truncate(LIST_MAX);
                again.push(channel.clone());
            }
            for who in &joined {
                // Present through another instance only: an entry to remember the announcement.
                room.members.entry(*who).or_default().announced = true;
            }
            for who in &left {
                room.members.remove(who);
            }
            let listeners: Vec<SendQueue> = room.listeners.values().cloned().collect();
            // Nobody here any more: the others' presence concerns no one on this instance.
            if room.members.is_empty() || idle {
                r.rooms.remove(&channel);
            }
            let change = Change {
                channel,
                joined,
                left,
                count,
            };
            out.push((change, listeners));
        }
        r.changed.extend(again);
        out
    }
}

impl Change {
    /// The push of this change.
    pub fn to_push(&self) -> PresenceChange {
        let names = |list: &[Address]| list.iter().map(ToString::to_string).collect();
        PresenceChange {
            joined: names(&self.joined),
            left: names(&self.left),
            count: self.count as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u32) -> Address {
        format!("0x{n:x}").parse().unwrap()
    }

    fn world() -> ChannelName {
        ChannelName::new("world").unwrap()
    }

    #[test]
    fn several_sockets_count_once_and_leave_with_the_last() {
        let p = Presence::default();
        p.join(&world(), addr(1));
        p.join(&world(), addr(1));
        p.join(&world(), addr(2));
        assert_eq!(p.snapshot(&world(), 10), (2, vec![addr(1), addr(2)]));
        let first = p.flush();
        assert_eq!(first[0].0.joined, vec![addr(1), addr(2)]);
        p.leave(&world(), addr(1), 1);
        assert!(p.is_present(&world(), addr(1)));
        assert!(
            p.flush().is_empty(),
            "one socket of two left: still present"
        );
        p.leave(&world(), addr(1), 1);
        let change = p.flush();
        assert_eq!(
            (change[0].0.left.clone(), change[0].0.count),
            (vec![addr(1)], 1)
        );
        assert_eq!(p.snapshot(&world(), 0), (1, Vec::new()));
    }

    #[test]
    fn only_what_a_push_lists_counts_as_announced() {
        let p = Presence::default();
        for n in 0..(LIST_MAX as u32 + 5) {
            p.join(&world(), addr(n + 1));
        }
        let first = p.flush();
        assert_eq!(first[0].0.joined.len(), LIST_MAX);
        let rest = p.flush();
        assert_eq!(
            rest[0].0.joined.len(),
            5,
            "the rest follow in the next push"
        );
        assert!(p.flush().is_empty());
    }

    #[test]
    fn a_crowded_room_announces_nothing_and_no_one_leaves_unseen() {
        let p = Presence::default();
        for n in 0..(ANNOUNCE_MAX as u32 + 1) {
            p.join(&world(), addr(n + 1));
        }
        assert!(p.flush().is_empty(), "too crowded");
        // Shrinking below the limit: those still there are announced, the one who left is
        // not, since nobody was told it had come.
        p.leave(&world(), addr(1), 1);
        let change = p.flush();
        assert!(change[0].0.left.is_empty());
        assert_eq!(change[0].0.joined.len(), LIST_MAX);
    }

    #[test]
    fn churn_within_a_flush_is_not_announced() {
        let p = Presence::default();
        p.join(&world(), addr(1));
        p.flush();
        for _ in 0..50 {
            p.leave(&world(), addr(1), 1);
            p.join(&world(), addr(1));
        }
        assert!(p.flush().is_empty());
        // A visit that begins and ends between two flushes is not announced either.
        p.join(&world(), addr(2));
        p.leave(&world(), addr(2), 2);
        assert!(p.flush().is_empty());
        p.leave(&world(), addr(1), 1);
        assert_eq!(p.flush()[0].0.left, vec![addr(1)]);
        assert!(p.lock().rooms.is_empty(), "an empty room is dropped");
    }

    #[test]
    fn other_instances_count_once_and_rounds_carry_the_changes() {
        let p = Presence::default();
        p.join(&world(), addr(1));
        let round = p.round(false);
        assert_eq!(round.present, vec![(world(), vec![addr(1)])]);
        assert!(p.round(false).present.is_empty(), "nothing changed since");
        p.set_remote(&world(), [addr(1), addr(2)].into_iter().collect());
        assert_eq!(p.snapshot(&world(), 10), (2, vec![addr(1), addr(2)]));
        assert_eq!(p.flush()[0].0.joined, vec![addr(1), addr(2)]);
        // Leaving here while present elsewhere: written as left, not announced.
        p.join(&world(), addr(3));
        p.leave(&world(), addr(1), 1);
        let round = p.round(false);
        assert_eq!(round.left, vec![(world(), vec![addr(1)])]);
        assert_eq!(p.flush()[0].0.joined, vec![addr(3)]);
        p.set_remote(&world(), [addr(2)].into_iter().collect());
        assert_eq!(p.flush()[0].0.left, vec![addr(1)]);
        // The last local member gone: the room goes, whoever is elsewhere.
        p.leave(&world(), addr(3), 3);
        p.flush();
        assert!(p.lock().rooms.is_empty());
    }
}

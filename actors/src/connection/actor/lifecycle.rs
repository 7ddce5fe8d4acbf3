//! The lifecycle of an endpoint's sockets as one state: down, one socket (connecting, then
//! streaming), or rotating (the socket and its replacement, make-before-break). Each
//! transition is a method, so no code path can hold a replacement without an active socket.

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::connection::messages::CloseReason;
use crate::connection::session::{SessionStats, SessionStop};

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Opening the socket (TCP, TLS, WebSocket handshake).
    Connecting,
    /// Open; no market data yet.
    Connected,
    /// Market data flows.
    Streaming,
}

/// One socket's session, as its connection actor holds it.
#[derive(Debug)]
pub(super) struct LiveSession {
    pub(super) id: u64,
    pub(super) stop: SessionStop,
    pub(super) stats: Arc<SessionStats>,
    pub(super) task: JoinHandle<()>,
    pub(super) phase: Phase,
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        // A session whose handle is gone must not outlive it; stopping is idempotent.
        if !self.task.is_finished() {
            self.stop.stop(CloseReason::Shutdown);
        }
    }
}

/// Which of an endpoint's sockets a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The socket in use.
    Active,
    /// The socket opened to replace it.
    Replacement,
}

/// An endpoint's sockets.
#[derive(Debug, Default)]
pub(super) enum Sockets {
    /// None: before the first connection, while waiting to reconnect, after a stop.
    #[default]
    Down,
    /// One socket, connecting or streaming.
    One(LiveSession),
    /// The socket in use and its replacement, until data flows on the replacement (or it
    /// fails, or the old socket closes first).
    Rotating {
        /// The socket in use.
        active: LiveSession,
        /// The socket replacing it.
        replacement: LiveSession,
    },
}

impl Sockets {
    /// The socket in use.
    pub(super) fn active(&self) -> Option<&LiveSession> {
        match self {
            Sockets::Down => None,
            Sockets::One(active) | Sockets::Rotating { active, .. } => Some(active),
        }
    }

    /// True while a replacement is open.
    pub(super) fn is_rotating(&self) -> bool {
        matches!(self, Sockets::Rotating { .. })
    }

    /// Every open socket (the active one first).
    pub(super) fn iter(&self) -> impl Iterator<Item = &LiveSession> {
        let (first, second) = match self {
            Sockets::Down => (None, None),
            Sockets::One(active) => (Some(active), None),
            Sockets::Rotating {
                active,
                replacement,
            } => (Some(active), Some(replacement)),
        };
        first.into_iter().chain(second)
    }

    /// The role of session `id`, if it is one of these sockets.
    pub(super) fn role(&self, id: u64) -> Option<Role> {
        match self {
            Sockets::Rotating { replacement, .. } if replacement.id == id => {
                Some(Role::Replacement)
            }
            _ => self.active().filter(|s| s.id == id).map(|_| Role::Active),
        }
    }

    /// Session `id`, to update its phase.
    pub(super) fn session_mut(&mut self, id: u64) -> Option<&mut LiveSession> {
        match self {
            Sockets::Down => None,
            Sockets::One(active) => Some(active).filter(|s| s.id == id),
            Sockets::Rotating {
                active,
                replacement,
            } => [active, replacement].into_iter().find(|s| s.id == id),
        }
    }

    /// True when a socket of `role` may be opened now: a first socket when down, a
    /// replacement when exactly one socket is open.
    pub(super) fn can_open(&self, role: Role) -> bool {
        match role {
            Role::Active => matches!(self, Sockets::Down),
            Role::Replacement => matches!(self, Sockets::One(_)),
        }
    }

    /// Opens a socket of `role`; a socket that cannot be opened now ([`Self::can_open`])
    /// is handed back.
    pub(super) fn open(&mut self, role: Role, live: LiveSession) -> Result<(), LiveSession> {
        if !self.can_open(role) {
            return Err(live);
        }
        *self = match (std::mem::take(self), role) {
            (Sockets::One(active), Role::Replacement) => Sockets::Rotating {
                active,
                replacement: live,
            },
            (_, _) => Sockets::One(live),
        };
        Ok(())
    }

    /// Data flows on the replacement: it becomes the socket in use; returns the old one.
    pub(super) fn promote(&mut self) -> Option<LiveSession> {
        match std::mem::take(self) {
            Sockets::Rotating {
                active,
                replacement,
            } => {
                *self = Sockets::One(replacement);
                Some(active)
            }
            other => {
                *self = other;
                None
            }
        }
    }

    /// The replacement closed: the socket in use stays; returns the replacement.
    pub(super) fn drop_replacement(&mut self) -> Option<LiveSession> {
        match std::mem::take(self) {
            Sockets::Rotating {
                active,
                replacement,
            } => {
                *self = Sockets::One(active);
                Some(replacement)
            }
            other => {
                *self = other;
                None
            }
        }
    }

    /// The socket in use closed: the replacement, if any, takes over (returns true);
    /// otherwise the endpoint is down.
    pub(super) fn close_active(&mut self) -> bool {
        match std::mem::take(self) {
            Sockets::Rotating { replacement, .. } => {
                *self = Sockets::One(replacement);
                true
            }
            _ => false,
        }
    }

    /// Takes every socket (the endpoint is down after).
    pub(super) fn take_all(&mut self) -> Vec<LiveSession> {
        match std::mem::take(self) {
            Sockets::Down => Vec::new(),
            Sockets::One(active) => vec![active],
            Sockets::Rotating {
                active,
                replacement,
            } => vec![active, replacement],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(id: u64) -> LiveSession {
        LiveSession {
            id,
            stop: SessionStop::default(),
            stats: Arc::new(SessionStats::default()),
            task: tokio::spawn(async {}),
            phase: Phase::Connecting,
        }
    }

    fn ids(sockets: &Sockets) -> Vec<u64> {
        sockets.iter().map(|s| s.id).collect()
    }

    #[tokio::test]
    async fn a_rotation_opens_the_replacement_then_promotes_it() {
        let mut sockets = Sockets::default();
        assert!(!sockets.can_open(Role::Replacement), "nothing to replace");
        assert!(sockets.open(Role::Active, live(1)).is_ok());
        assert!(
            sockets.open(Role::Active, live(9)).is_err(),
            "one active socket"
        );
        assert!(sockets.open(Role::Replacement, live(2)).is_ok());
        assert!(sockets.is_rotating());
        assert!(
            sockets.open(Role::Replacement, live(9)).is_err(),
            "one replacement"
        );
        assert_eq!(
            (sockets.role(1), sockets.role(2), sockets.role(3)),
            (Some(Role::Active), Some(Role::Replacement), None)
        );
        assert_eq!(ids(&sockets), [1, 2]);
        sockets.session_mut(2).unwrap().phase = Phase::Streaming;
        assert_eq!(sockets.promote().map(|old| old.id), Some(1));
        assert_eq!(ids(&sockets), [2]);
        assert_eq!(sockets.active().map(|s| s.phase), Some(Phase::Streaming));
        assert!(sockets.promote().is_none(), "nothing to promote");
    }

    #[tokio::test]
    async fn a_failed_replacement_leaves_the_socket_in_use_and_a_closed_one_hands_over() {
        let mut sockets = Sockets::default();
        assert!(sockets.open(Role::Active, live(1)).is_ok());
        assert!(sockets.open(Role::Replacement, live(2)).is_ok());
        assert_eq!(sockets.drop_replacement().map(|s| s.id), Some(2));
        assert_eq!(ids(&sockets), [1]);
        assert!(sockets.open(Role::Replacement, live(3)).is_ok());
        assert!(sockets.close_active(), "the replacement takes over");
        assert_eq!(sockets.role(3), Some(Role::Active));
        assert!(!sockets.close_active(), "nothing takes over");
        assert!(matches!(sockets, Sockets::Down));
        assert!(sockets.open(Role::Active, live(4)).is_ok());
        assert!(sockets.open(Role::Replacement, live(5)).is_ok());
        assert_eq!(
            sockets.take_all().iter().map(|s| s.id).collect::<Vec<_>>(),
            [4, 5]
        );
        assert!(matches!(sockets, Sockets::Down));
    }
}

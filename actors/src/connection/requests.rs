//! The requests a session sent and waits for an answer to (subscriptions, unsubscriptions,
//! client pings), by request id: a pure ledger the session's reader drives.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a request waits for an answer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// A subscription to these topics.
    Subscribe(Vec<String>),
    /// An unsubscription (before a resubscription).
    Unsubscribe,
    /// A client ping.
    Ping,
}

/// The requests in flight on one socket.
#[derive(Debug)]
pub struct RequestTracker {
    next_id: u64,
    pending: HashMap<u64, (Pending, Instant)>,
}

impl Default for RequestTracker {
    fn default() -> Self {
        Self {
            next_id: 1,
            pending: HashMap::new(),
        }
    }
}

impl RequestTracker {
    /// Returns the id the next request gets.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Records that the request with the id [`Self::next_id`] was sent at `now`.
    pub fn sent(&mut self, pending: Pending, now: Instant) {
        self.pending.insert(self.next_id, (pending, now));
        self.next_id += 1;
    }

    /// Records that the request with the id [`Self::next_id`] could not be sent: the id is
    /// used up all the same, so a late answer to it is never mistaken for another request.
    pub fn not_sent(&mut self) {
        self.next_id += 1;
    }

    /// Takes the request an answer names.
    pub fn answered(&mut self, id: u64) -> Option<Pending> {
        self.pending.remove(&id).map(|(pending, _)| pending)
    }

    /// The id of the only subscription waiting, if exactly one waits: a venue error without
    /// an id can only be about it.
    pub fn only_subscription(&self) -> Option<u64> {
        let mut waiting = self
            .pending
            .iter()
            .filter(|(_, (pending, _))| matches!(pending, Pending::Subscribe(_)))
            .map(|(id, _)| *id);
        match (waiting.next(), waiting.next()) {
            (Some(id), None) => Some(id),
            _ => None,
        }
    }

    /// Takes the subscriptions unanswered for longer than `timeout` at `now`: their topics.
    pub fn expired_subscriptions(&mut self, now: Instant, timeout: Duration) -> Vec<Vec<String>> {
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, (_, at))| now.saturating_duration_since(*at) > timeout)
            .map(|(id, _)| *id)
            .collect();
        let mut topics: Vec<(u64, Vec<String>)> = expired
            .into_iter()
            .filter_map(|id| match self.pending.remove(&id) {
                Some((Pending::Subscribe(topics), _)) => Some((id, topics)),
                _ => None,
            })
            .collect();
        topics.sort_by_key(|(id, _)| *id);
        topics.into_iter().map(|(_, topics)| topics).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribe(topic: &str) -> Pending {
        Pending::Subscribe(vec![topic.to_owned()])
    }

    #[test]
    fn ids_are_never_reused_and_answers_take_their_request() {
        let mut tracker = RequestTracker::default();
        let now = Instant::now();
        assert_eq!(tracker.next_id(), 1);
        tracker.sent(subscribe("a"), now);
        tracker.not_sent();
        tracker.sent(Pending::Ping, now);
        assert_eq!(tracker.next_id(), 4);
        assert_eq!(tracker.answered(2), None, "a request that was never sent");
        assert_eq!(tracker.answered(3), Some(Pending::Ping));
        assert_eq!(tracker.answered(1), Some(subscribe("a")));
        assert_eq!(tracker.answered(1), None, "an answer counts once");
    }

    #[test]
    fn an_error_without_an_id_belongs_to_the_only_waiting_subscription() {
        let mut tracker = RequestTracker::default();
        let now = Instant::now();
        tracker.sent(Pending::Ping, now);
        assert_eq!(tracker.only_subscription(), None);
        tracker.sent(subscribe("a"), now);
        assert_eq!(tracker.only_subscription(), Some(2));
        tracker.sent(subscribe("b"), now);
        assert_eq!(
            tracker.only_subscription(),
            None,
            "two wait: it cannot be told"
        );
    }

    #[test]
    fn unanswered_subscriptions_expire_after_the_timeout_in_order() {
        let mut tracker = RequestTracker::default();
        let start = Instant::now();
        tracker.sent(subscribe("a"), start);
        tracker.sent(Pending::Ping, start);
        tracker.sent(subscribe("b"), start + Duration::from_secs(5));
        let timeout = Duration::from_secs(10);
        assert!(
            tracker
                .expired_subscriptions(start + timeout, timeout)
                .is_empty()
        );
        let later = start + Duration::from_secs(11);
        assert_eq!(
            tracker.expired_subscriptions(later, timeout),
            vec![vec!["a".to_owned()]]
        );
        assert_eq!(tracker.answered(2), None, "an expired ping is dropped too");
        assert_eq!(
            tracker.expired_subscriptions(start + Duration::from_secs(16), timeout),
            vec![vec!["b".to_owned()]]
        );
    }
}

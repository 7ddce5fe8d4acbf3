//! The boards the API reads: the latest published state of each (venue, symbol), each behind
//! a watch channel, so readers never make a mailbox round trip and a slow reader never holds
//! up a writer.
//!
//! - [`SnapshotBoard`]: what each aggregator last published (bars, windows, session).
//! - [`BookBoard`]: each live order book a connection keeps in sync.
//!
//! Both outlive actor incarnations (the composition root owns them): a restarted actor
//! publishes into the same slot.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::aggregator::{AggregatorSnapshot, ProfileParams};
use crate::model::{BookView, Symbol, Venue};

/// The latest snapshot of every (venue, symbol).
#[derive(Debug, Default)]
pub struct SnapshotBoard {
    slots: HashMap<(Venue, Symbol), watch::Sender<Arc<AggregatorSnapshot>>>,
}

impl SnapshotBoard {
    /// Creates an empty snapshot per pair, each with its parameters.
    pub fn new(pairs: impl IntoIterator<Item = (Venue, Symbol, ProfileParams)>) -> Self {
        Self {
            slots: pairs
                .into_iter()
                .map(|(venue, symbol, params)| {
                    let empty = AggregatorSnapshot::empty(venue, symbol, params);
                    ((venue, symbol), watch::Sender::new(Arc::new(empty)))
                })
                .collect(),
        }
    }

    /// Publishes a pair's snapshot (ignored for a pair the board does not hold).
    pub fn publish(&self, snapshot: AggregatorSnapshot) {
        if let Some(sender) = self.slots.get(&(snapshot.venue, snapshot.symbol)) {
            sender.send_replace(Arc::new(snapshot));
        }
    }

    /// Returns a pair's latest snapshot.
    pub fn latest(&self, venue: Venue, symbol: Symbol) -> Option<Arc<AggregatorSnapshot>> {
        self.slots
            .get(&(venue, symbol))
            .map(|sender| Arc::clone(&sender.borrow()))
    }

    /// Subscribes to a pair's snapshots.
    pub fn subscribe(
        &self,
        venue: Venue,
        symbol: Symbol,
    ) -> Option<watch::Receiver<Arc<AggregatorSnapshot>>> {
        self.slots
            .get(&(venue, symbol))
            .map(watch::Sender::subscribe)
    }

    /// Returns every pair on the board.
    pub fn pairs(&self) -> impl Iterator<Item = (Venue, Symbol)> + '_ {
        self.slots.keys().copied()
    }
}

/// The latest published book view of each (venue, symbol): the live book the API reads.
#[derive(Debug, Default)]
pub struct BookBoard {
    views: HashMap<(Venue, Symbol), watch::Sender<Option<Arc<BookView>>>>,
}

impl BookBoard {
    /// Creates an empty board entry per pair.
    pub fn new(pairs: impl IntoIterator<Item = (Venue, Symbol)>) -> Self {
        Self {
            views: pairs
                .into_iter()
                .map(|pair| (pair, watch::Sender::new(None)))
                .collect(),
        }
    }

    /// Publishes a view.
    pub fn publish(&self, view: Arc<BookView>) {
        if let Some(sender) = self.views.get(&(view.venue, view.symbol)) {
            sender.send_replace(Some(view));
        }
    }

    /// Removes a pair's view (its book is out of sync).
    pub fn clear(&self, venue: Venue, symbol: Symbol) {
        if let Some(sender) = self.views.get(&(venue, symbol)) {
            sender.send_replace(None);
        }
    }

    /// Returns the latest view of a pair.
    pub fn latest(&self, venue: Venue, symbol: Symbol) -> Option<Arc<BookView>> {
        self.views
            .get(&(venue, symbol))
            .and_then(|sender| sender.borrow().clone())
    }

    /// Subscribes to a pair's views.
    pub fn subscribe(
        &self,
        venue: Venue,
        symbol: Symbol,
    ) -> Option<watch::Receiver<Option<Arc<BookView>>>> {
        self.views
            .get(&(venue, symbol))
            .map(watch::Sender::subscribe)
    }
}

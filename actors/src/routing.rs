//! The routing table from (venue, symbol) to the aggregator of that pair.
//!
//! The table is built once from configuration with one [`RouteSlot`] per pair; connection
//! sessions keep the slots of their symbols. The aggregator supervisor installs each new
//! aggregator incarnation into its slot, so no sender ever holds a reference a restart has
//! made stale.
//!
//! ractor mailboxes are unbounded, so each slot bounds its aggregator's queue itself: it
//! counts messages in flight (sent, not yet handled) and drops, counting, anything sent past
//! its capacity. Messages still queued when an incarnation dies are lost with it; the next
//! install counts them as dropped too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use ractor::ActorRef;

use crate::aggregator::AggregatorMsg;
use crate::metrics::{ROUTER_DROPPED_TOTAL, ROUTER_MESSAGES_TOTAL, ROUTER_TRADES_DROPPED_TOTAL};
use crate::model::{Symbol, Venue};

/// Why a message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The aggregator has more than the slot's capacity of messages queued.
    #[error("the aggregator's queue is full")]
    Overloaded,
    /// No aggregator is installed (not started yet, or restarting).
    #[error("no aggregator is running")]
    NoAggregator,
}

impl RouteError {
    /// Returns a stable metric label.
    pub const fn reason(self) -> &'static str {
        match self {
            RouteError::Overloaded => "overload",
            RouteError::NoAggregator => "no_aggregator",
        }
    }
}

/// The route to one (venue, symbol)'s aggregator.
#[derive(Debug)]
pub struct RouteSlot {
    venue: Venue,
    symbol: Symbol,
    actor: RwLock<Option<ActorRef<AggregatorMsg>>>,
    in_flight: AtomicUsize,
    /// Trades inside the messages in flight.
    in_flight_trades: AtomicU64,
    capacity: usize,
    sent: AtomicU64,
    dropped: AtomicU64,
    dropped_trades: AtomicU64,
    /// `wadm_router_messages_total` of the venue, resolved at the first send (after the
    /// recorder is installed) rather than looked up on every message.
    messages: OnceLock<metrics::Counter>,
}

impl RouteSlot {
    fn new(venue: Venue, symbol: Symbol, capacity: usize) -> Self {
        Self {
            venue,
            symbol,
            actor: RwLock::new(None),
            in_flight: AtomicUsize::new(0),
            in_flight_trades: AtomicU64::new(0),
            capacity: capacity.max(1),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            dropped_trades: AtomicU64::new(0),
            messages: OnceLock::new(),
        }
    }

    /// Returns the venue.
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// Returns the symbol.
    pub fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// Installs a new aggregator incarnation; messages still queued for the previous one are
    /// counted as dropped.
    pub fn install(&self, actor: ActorRef<AggregatorMsg>) {
        let lost = self.in_flight.swap(0, Ordering::AcqRel);
        let lost_trades = self.in_flight_trades.swap(0, Ordering::AcqRel);
        if lost > 0 {
            self.count_drops(lost as u64, lost_trades, "aggregator_restart");
        }
        *self.actor.write().unwrap_or_else(|p| p.into_inner()) = Some(actor);
    }

    /// Returns the current aggregator incarnation, if one is installed.
    pub fn actor(&self) -> Option<ActorRef<AggregatorMsg>> {
        self.actor.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Removes the aggregator (it is stopping).
    pub fn uninstall(&self) {
        *self.actor.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Sends a message to the aggregator without waiting.
    pub fn send(&self, message: AggregatorMsg) -> Result<(), RouteError> {
        let trades = message.trade_count();
        if self.in_flight.load(Ordering::Acquire) >= self.capacity {
            self.count_drops(1, trades, RouteError::Overloaded.reason());
            return Err(RouteError::Overloaded);
        }
        let guard = self.actor.read().unwrap_or_else(|p| p.into_inner());
        let Some(actor) = guard.as_ref() else {
            drop(guard);
            self.count_drops(1, trades, RouteError::NoAggregator.reason());
            return Err(RouteError::NoAggregator);
        };
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.in_flight_trades.fetch_add(trades, Ordering::AcqRel);
        if actor.cast(message).is_err() {
            drop(guard);
            self.done(trades);
            self.count_drops(1, trades, RouteError::NoAggregator.reason());
            return Err(RouteError::NoAggregator);
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.messages
            .get_or_init(
                || metrics::counter!(ROUTER_MESSAGES_TOTAL, "venue" => self.venue.as_str()),
            )
            .increment(1);
        Ok(())
    }

    /// Called by the aggregator for each routed message it has handled, with the number of
    /// trades it held.
    pub fn done(&self, trades: u64) {
        // Saturating: a message of a previous incarnation may be handled after an install.
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
        let _ = self
            .in_flight_trades
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(trades))
            });
    }

    /// Returns the number of messages sent and not yet handled.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Returns the number of messages delivered to the mailbox.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Returns the number of messages dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Returns the number of trades inside dropped messages.
    pub fn dropped_trades(&self) -> u64 {
        self.dropped_trades.load(Ordering::Relaxed)
    }

    fn count_drops(&self, count: u64, trades: u64, reason: &'static str) {
        self.dropped.fetch_add(count, Ordering::Relaxed);
        metrics::counter!(ROUTER_DROPPED_TOTAL, "venue" => self.venue.as_str(), "reason" => reason)
            .increment(count);
        if trades > 0 {
            self.dropped_trades.fetch_add(trades, Ordering::Relaxed);
            metrics::counter!(ROUTER_TRADES_DROPPED_TOTAL, "venue" => self.venue.as_str(), "reason" => reason)
                .increment(trades);
        }
    }
}

/// Every route, by (venue, symbol).
#[derive(Debug, Default)]
pub struct RoutingTable {
    slots: HashMap<(Venue, Symbol), Arc<RouteSlot>>,
}

impl RoutingTable {
    /// Creates a slot for each pair, each bounding its aggregator's queue at `capacity`.
    pub fn new(pairs: impl IntoIterator<Item = (Venue, Symbol)>, capacity: usize) -> Self {
        let slots = pairs
            .into_iter()
            .map(|(venue, symbol)| {
                (
                    (venue, symbol),
                    Arc::new(RouteSlot::new(venue, symbol, capacity)),
                )
            })
            .collect();
        Self { slots }
    }

    /// Returns the slot of a pair.
    pub fn slot(&self, venue: Venue, symbol: Symbol) -> Option<Arc<RouteSlot>> {
        self.slots.get(&(venue, symbol)).cloned()
    }

    /// Returns every slot.
    pub fn slots(&self) -> impl Iterator<Item = &Arc<RouteSlot>> {
        self.slots.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drop_reason_is_a_label_the_metrics_initialise() {
        for error in [RouteError::Overloaded, RouteError::NoAggregator] {
            assert!(crate::metrics::ROUTE_DROP_REASONS.contains(&error.reason()));
        }
    }
}

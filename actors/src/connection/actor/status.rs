//! The status a connection actor reports: its endpoints, subscriptions, books and
//! instruments (`/api/v1/status`, `/health`).

use std::sync::atomic::Ordering;

use wadm_supervision::unix_millis;

use super::instruments::InstrumentState;
use super::lifecycle::Phase;
use super::{ConnectionState, SubscriptionState};
use crate::connection::session::monotonic_ms;
use crate::connection::status::{
    ConnectionStatus, EndpointStatus, InstrumentStatus, RejectedTopic, SubscriptionStatus,
    SymbolBookStatus,
};
use crate::connection::streams::StreamClass;
use crate::model::Symbol;

impl ConnectionState {
    pub(super) fn status(&self) -> ConnectionStatus {
        let now = monotonic_ms();
        let endpoints = self
            .endpoints
            .iter()
            .map(|e| {
                let active = e.sockets.active();
                let connected_at =
                    active.map_or(0, |s| s.stats.connected_at.load(Ordering::Acquire));
                let state = match active {
                    Some(s) if s.phase == Phase::Streaming => "streaming",
                    Some(_) => "connecting",
                    None => "disconnected",
                };
                EndpointStatus {
                    name: e.endpoint.name,
                    url: e.endpoint.url.to_string(),
                    state,
                    session: active.map(|s| s.id),
                    connected_since_ms: (connected_at > 0)
                        .then(|| unix_millis() - (now - connected_at)),
                    last_frame_age_ms: active.and_then(|s| {
                        let last = s.stats.last_frame.load(Ordering::Relaxed);
                        (last > 0).then_some(now - last)
                    }),
                    frames: active.map_or(0, |s| s.stats.frames.load(Ordering::Relaxed)),
                    bytes: active.map_or(0, |s| s.stats.bytes.load(Ordering::Relaxed)),
                    parse_errors: active
                        .map_or(0, |s| s.stats.parse_errors.load(Ordering::Relaxed)),
                    reconnects: e.reconnects,
                    attempt: e.attempt,
                    last_close: e.last_close.clone(),
                    rotating: e.sockets.is_rotating(),
                    recent_reconnect_delays_ms: e
                        .recent_delays
                        .iter()
                        .map(|d| d.as_millis() as u64)
                        .collect(),
                }
            })
            .collect();
        let mut subscriptions = SubscriptionStatus {
            total: self.subscriptions.len(),
            ..SubscriptionStatus::default()
        };
        for (topic, (_, state)) in &self.subscriptions {
            match state {
                SubscriptionState::Pending => subscriptions.pending += 1,
                SubscriptionState::Acked => subscriptions.acked += 1,
                SubscriptionState::Rejected(reason) => subscriptions.rejected.push(RejectedTopic {
                    topic: topic.clone(),
                    reason: reason.clone(),
                }),
                SubscriptionState::Unanswered => subscriptions.unanswered.push(topic.clone()),
            }
        }
        let book_symbols: Vec<Symbol> = self
            .endpoints
            .iter()
            .flat_map(|e| {
                e.endpoint
                    .topics
                    .iter()
                    .filter(|t| t.stream.class() == StreamClass::Book)
                    .map(|t| t.symbol)
            })
            .collect();
        let books = book_symbols
            .into_iter()
            .filter_map(|symbol| {
                let cursor = self.args.cursors.get(symbol)?;
                let (state, update_id, resyncs) = cursor.book_status();
                Some(SymbolBookStatus {
                    symbol,
                    state,
                    update_id,
                    resyncs,
                    unusable_snapshots: cursor.unusable_snapshots(),
                })
            })
            .collect();
        let instruments = self
            .instruments
            .iter()
            .map(|(symbol, state)| match state {
                InstrumentState::Pending => InstrumentStatus {
                    symbol: *symbol,
                    state: "pending",
                    tick_size: self.args.tick_overrides.get(symbol).copied(),
                    lot_size: None,
                    error: None,
                },
                InstrumentState::Known(info) => InstrumentStatus {
                    symbol: *symbol,
                    state: "known",
                    tick_size: Some(info.tick_size),
                    lot_size: Some(info.lot_size),
                    error: None,
                },
                InstrumentState::Unknown(error) => InstrumentStatus {
                    symbol: *symbol,
                    state: "unknown",
                    tick_size: None,
                    lot_size: None,
                    error: Some(error.clone()),
                },
            })
            .collect();
        ConnectionStatus {
            venue: self.venue(),
            generation: self.args.generation,
            endpoints,
            subscriptions,
            books,
            instruments,
        }
    }
}

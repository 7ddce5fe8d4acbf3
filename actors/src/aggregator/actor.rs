//! The aggregator actor of one (venue, symbol). For now it counts what reaches it (trades,
//! exact volumes by side, book views, candles); the volume profile and order flow maths
//! replace the counting.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::{Instrument as _, debug, info_span};
use wadm_supervision::{ActorEntry, unix_millis};

use super::messages::{AggregatorCounts, AggregatorMsg};
use crate::model::{Side, Symbol, Venue};
use crate::routing::RouteSlot;

/// What an aggregator incarnation starts from.
#[derive(Debug, Clone)]
pub struct AggregatorArgs {
    /// Venue.
    pub venue: Venue,
    /// Symbol.
    pub symbol: Symbol,
    /// Generation of this incarnation.
    pub generation: u64,
    /// Its route, to acknowledge handled messages.
    pub route: Arc<RouteSlot>,
    /// Its status entry.
    pub status: Arc<ActorEntry>,
}

/// The aggregator of one (venue, symbol).
#[derive(Debug, Clone, Copy, Default)]
pub struct AggregatorActor;

/// State of an aggregator incarnation.
#[derive(Debug)]
pub struct AggregatorState {
    args: AggregatorArgs,
    counts: AggregatorCounts,
}

impl Actor for AggregatorActor {
    type Msg = AggregatorMsg;
    type State = AggregatorState;
    type Arguments = AggregatorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        args.route.install(myself);
        debug!(venue = %args.venue, symbol = %args.symbol, generation = args.generation, "aggregator started");
        Ok(AggregatorState {
            args,
            counts: AggregatorCounts::default(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.args.route.uninstall();
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let span = info_span!("actor", kind = "aggregator", venue = %state.args.venue, symbol = %state.args.symbol, generation = state.args.generation);
        async {
            let counts = &mut state.counts;
            let routed = !matches!(message, AggregatorMsg::GetCounts(_));
            match message {
                AggregatorMsg::Trades(trades) => {
                    for trade in &trades {
                        counts.trades += 1;
                        if let Some(id) = trade.id.as_number() {
                            counts.first_trade_id.get_or_insert(id);
                            counts.last_trade_id = Some(id);
                        }
                        match trade.side {
                            Side::Buy => counts.buy_volume += trade.qty,
                            Side::Sell => counts.sell_volume += trade.qty,
                        }
                    }
                    state.args.status.record_data(unix_millis());
                }
                AggregatorMsg::Book(view) => {
                    counts.book_updates += 1;
                    counts.last_book_update_id = Some(view.update_id);
                }
                AggregatorMsg::Klines(klines) => counts.klines += klines.len() as u64,
                AggregatorMsg::Instrument(info) => counts.instrument = Some(info),
                AggregatorMsg::GetCounts(reply) => {
                    let _ = reply.send(counts.clone());
                }
            }
            if routed {
                state.args.route.done();
                state.args.status.record_messages(1);
                state
                    .args
                    .status
                    .set_queue_len(state.args.route.in_flight() as i64);
            }
        }
        .instrument(span)
        .await;
        Ok(())
    }
}

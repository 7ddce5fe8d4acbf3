//! Binance USD-M open interest over REST (issue #20): the venue does not push it, so each
//! listed symbol is asked for it every `connection.open_interest_interval`, weight 1 each,
//! through the venue's shared REST budget at metadata priority (behind book snapshots, ahead
//! of backfill). A poll still running when the next is due is not doubled. The values go
//! to the aggregators as ticks carrying only the open interest.

use ractor::ActorRef;
use tracing::{Instrument as _, info, warn};

use super::ConnectionState;
use super::instruments::InstrumentState;
use crate::aggregator::AggregatorMsg;
use crate::connection::messages::ConnectionMsg;
use crate::connection::rest_client::RestError;
use crate::connection::streams::StreamClass;
use crate::model::{DerivativesTick, Symbol, Venue};
use crate::util::error_chain;

impl ConnectionState {
    /// True when this venue polls open interest: Binance USD-M with derivatives streams
    /// configured and a non-zero interval.
    pub(super) fn polls_open_interest(&self) -> bool {
        self.args.venue == Venue::BinanceUsdm
            && !self.args.settings.open_interest_interval.is_zero()
            && self
                .args
                .streams
                .iter()
                .any(|s| s.class() == StreamClass::Derivatives)
    }

    /// Starts a poll of every symbol the venue lists (unless one is running).
    pub(super) fn poll_open_interest(&mut self, myself: &ActorRef<ConnectionMsg>) {
        if self.open_interest_running {
            return;
        }
        let symbols: Vec<Symbol> = self
            .args
            .symbols
            .iter()
            .copied()
            .filter(|s| !matches!(self.instruments.get(s), Some(InstrumentState::Unknown(_))))
            .collect();
        if symbols.is_empty() {
            return;
        }
        self.open_interest_running = true;
        let rest = self.rest.clone();
        let actor = myself.clone();
        tokio::spawn(
            async move {
                let mut results = Vec::with_capacity(symbols.len());
                for symbol in symbols {
                    results.push((symbol, rest.open_interest(symbol).await));
                }
                let _ = actor.cast(ConnectionMsg::OpenInterest(results));
            }
            .instrument(self.span.clone()),
        );
    }

    /// Routes the values to the aggregators; a failure is logged when it starts and when
    /// it ends (each is counted in `wadm_rest_requests_total`).
    pub(super) fn on_open_interest(
        &mut self,
        results: Vec<(Symbol, Result<DerivativesTick, RestError>)>,
    ) {
        self.open_interest_running = false;
        for (symbol, result) in results {
            let failing = self.open_interest_failing.contains(&symbol);
            match result {
                Ok(tick) => {
                    if failing {
                        self.open_interest_failing.remove(&symbol);
                        info!(symbol = %symbol, "open interest answered again");
                    }
                    if let Some(slot) = self.args.routes.get(&symbol) {
                        let _ = slot.send(AggregatorMsg::Derivatives(tick));
                    }
                }
                Err(err) => {
                    if !failing {
                        self.open_interest_failing.insert(symbol);
                        warn!(symbol = %symbol, error = %error_chain(&err), "open interest could not be fetched; polling on");
                    }
                }
            }
        }
    }
}

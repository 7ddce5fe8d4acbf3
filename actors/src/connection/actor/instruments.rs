//! Instrument metadata of a connection actor: tick and lot sizes fetched at start and after
//! reconnects (in a task, answered by message), sent to the aggregators; an unknown symbol is
//! reported and the others carry on.

use std::time::{Duration, Instant};

use ractor::ActorRef;
use tracing::{Instrument as _, error, warn};

use super::ConnectionState;
use crate::aggregator::AggregatorMsg;
use crate::connection::messages::ConnectionMsg;
use crate::connection::rest_client::InstrumentError;
use crate::model::{DataQualityEvent, InstrumentInfo, Qty, QualityKind, Symbol};

/// Delay before instrument metadata that could not be fetched is asked for again.
const INSTRUMENT_RETRY: Duration = Duration::from_secs(30);

/// What is known of a symbol's instrument.
#[derive(Debug, Clone)]
pub(super) enum InstrumentState {
    /// Not fetched yet.
    Pending,
    /// The venue's metadata (with any configured tick override).
    Known(InstrumentInfo),
    /// The venue does not list the symbol.
    Unknown(String),
}

impl ConnectionState {
    pub(super) fn fetch_instruments(&mut self, myself: &ActorRef<ConnectionMsg>) {
        if self.instrument_fetch_running {
            return;
        }
        self.instrument_fetch_running = true;
        self.last_instrument_fetch = Some(Instant::now());
        let rest = self.rest.clone();
        let symbols = self.args.symbols.clone();
        let actor = myself.clone();
        tokio::spawn(
            async move {
                let results = rest.instruments(&symbols).await;
                let _ = actor.cast(ConnectionMsg::Instruments(results));
            }
            .instrument(self.span.clone()),
        );
    }

    pub(super) fn on_instruments(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        results: Vec<(Symbol, Result<InstrumentInfo, InstrumentError>)>,
    ) {
        self.instrument_fetch_running = false;
        let venue = self.venue();
        let mut transient = false;
        for (symbol, result) in results {
            let override_tick = self.args.tick_overrides.get(&symbol).copied();
            let info = match result {
                Ok(mut info) => {
                    if let Some(tick) = override_tick {
                        info.tick_size = tick;
                    }
                    Some(info)
                }
                Err(InstrumentError::Unknown(error)) => {
                    let was_unknown = matches!(
                        self.instruments.get(&symbol),
                        Some(InstrumentState::Unknown(_))
                    );
                    if !was_unknown {
                        error!(symbol = %symbol, error = %error, "unknown instrument: the venue does not list this symbol; the other symbols carry on");
                        self.args.quality.record(DataQualityEvent::now(
                            venue,
                            Some(symbol),
                            QualityKind::UnknownInstrument,
                            error.clone(),
                        ));
                    }
                    self.instruments
                        .insert(symbol, InstrumentState::Unknown(error));
                    None
                }
                Err(InstrumentError::Unavailable(error)) => {
                    warn!(symbol = %symbol, error = %error, "instrument metadata unavailable; retrying later");
                    transient = true;
                    override_tick.map(|tick_size| InstrumentInfo {
                        venue,
                        symbol,
                        tick_size,
                        lot_size: Qty::ZERO,
                        trading: true,
                    })
                }
            };
            if let Some(info) = info {
                if let Some(slot) = self.args.routes.get(&symbol) {
                    let _ = slot.send(AggregatorMsg::Instrument(info.clone()));
                }
                self.instruments
                    .insert(symbol, InstrumentState::Known(info));
            }
        }
        if transient {
            myself.send_after(INSTRUMENT_RETRY, || ConnectionMsg::RefreshInstruments);
        }
    }
}

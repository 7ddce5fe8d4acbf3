//! HTTP calls to the venues' REST endpoints (depth snapshots, instrument metadata, trades
//! for repair and backfill), on reqwest over rustls with the ring provider. Every request
//! takes its weight from the venue's [`RestBudget`] first, and every answer tells the budget
//! what the venue counted (and any 429 or 418).

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::protocol::{self, TradesFrom};
use super::rest::{MAX_REST_BODY_BYTES, RestParser};
use super::rest_budget::{RestBudget, RestPriority, weights};
use crate::metrics::REST_REQUESTS_TOTAL;
use crate::model::{
    BookSnapshot, DerivativesTick, InstrumentInfo, Symbol, Trade, UnixNanos, Venue,
};
use crate::util::{error_chain, install_crypto_provider};

/// Why a REST call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The request could not be made or the answer not read.
    #[error("request to {venue} failed")]
    Request {
        venue: Venue,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// The answer was larger than [`MAX_REST_BODY_BYTES`].
    #[error("answer from {venue} exceeds {MAX_REST_BODY_BYTES} bytes")]
    TooLarge { venue: Venue },
    /// The answer could not be parsed (or was a venue error).
    #[error("answer from {venue} (HTTP {status}) could not be used")]
    Parse {
        venue: Venue,
        /// HTTP status.
        status: u16,
        /// Cause.
        #[source]
        source: super::ParseError,
    },
    /// The base URL and path do not form a URL.
    #[error("invalid REST URL for {venue}")]
    Url {
        venue: Venue,
        /// Cause.
        #[source]
        source: url::ParseError,
    },
    /// The venue limits our requests (HTTP 429) or has banned the IP for a while (418):
    /// every REST request to it now waits (see [`RestBudget`]).
    #[error("{venue} answered HTTP {status}: too many requests")]
    RateLimited {
        venue: Venue,
        /// 429 or 418.
        status: u16,
        /// The venue's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The venue has no such request (Bybit has no `aggTrades`, Binance no `recent-trade`).
    #[error("{venue} has no {what} request")]
    Unsupported {
        venue: Venue,
        /// What was asked.
        what: &'static str,
    },
}

/// Why a symbol has no instrument metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstrumentError {
    /// The venue does not list the symbol.
    Unknown(String),
    /// The venue could not be asked (network, timeout, unexpected answer): try later.
    Unavailable(String),
}

impl InstrumentError {
    fn from_rest(err: &RestError) -> Self {
        // Binance: -1121 "Invalid symbol."; Bybit: 10001 "params error: symbol invalid".
        match err {
            RestError::Parse {
                source:
                    super::ParseError::VenueError {
                        code: Some(-1121 | 10001),
                        ..
                    },
                ..
            } => InstrumentError::Unknown(error_chain(err)),
            _ => InstrumentError::Unavailable(error_chain(err)),
        }
    }
}

impl std::fmt::Display for InstrumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstrumentError::Unknown(reason) | InstrumentError::Unavailable(reason) => {
                f.write_str(reason)
            }
        }
    }
}

/// A venue's REST endpoint.
#[derive(Debug, Clone)]
pub struct RestClient {
    venue: Venue,
    base: Url,
    http: reqwest::Client,
    budget: Arc<RestBudget>,
}

impl RestClient {
    /// Creates a client for `venue` at `base` with a per-request `timeout`, taking its
    /// weight from `budget` (the venue's, shared by every REST caller of it).
    pub fn new(
        venue: Venue,
        base: Url,
        timeout: Duration,
        budget: Arc<RestBudget>,
    ) -> Result<Self, reqwest::Error> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("wadm/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            venue,
            base,
            http,
            budget,
        })
    }

    /// Returns the venue's REST budget.
    pub fn budget(&self) -> &Arc<RestBudget> {
        &self.budget
    }

    /// Fetches up to `limit` (at most 1,000) Binance aggregate trades of `symbol` from
    /// `from`, oldest first. Backfill priority: it waits for book snapshots.
    pub async fn agg_trades(
        &self,
        symbol: Symbol,
        from: TradesFrom,
        limit: u32,
    ) -> Result<Vec<Trade>, RestError> {
        let path = protocol::agg_trades_path(self.venue, symbol, from, limit.clamp(1, 1_000))
            .ok_or(RestError::Unsupported {
                venue: self.venue,
                what: "aggTrades",
            })?;
        let weight = weights::trades(self.venue);
        self.fetch(
            &path,
            weight,
            RestPriority::Backfill,
            "trades",
            |parser, body| parser.binance_agg_trades(self.venue, symbol, body, UnixNanos::now()),
        )
        .await
    }

    /// Fetches the most recent Bybit trades of `symbol` (up to `limit`, at most 60 on spot
    /// and 1,000 on linear), oldest first.
    pub async fn recent_trades(&self, symbol: Symbol, limit: u32) -> Result<Vec<Trade>, RestError> {
        let limit = limit.clamp(1, protocol::recent_trades_limit(self.venue));
        let path = protocol::recent_trades_path(self.venue, symbol, limit).ok_or(
            RestError::Unsupported {
                venue: self.venue,
                what: "recent-trade",
            },
        )?;
        let weight = weights::trades(self.venue);
        self.fetch(
            &path,
            weight,
            RestPriority::Backfill,
            "trades",
            |parser, body| {
                let mut trades =
                    parser.bybit_recent_trades(self.venue, symbol, body, UnixNanos::now())?;
                trades.reverse();
                Ok(trades)
            },
        )
        .await
    }

    /// Fetches the open interest of `symbol` (Binance USD-M), as a tick carrying only it.
    /// Metadata priority: ahead of backfill, behind book snapshots.
    pub async fn open_interest(&self, symbol: Symbol) -> Result<DerivativesTick, RestError> {
        let path =
            protocol::open_interest_path(self.venue, symbol).ok_or(RestError::Unsupported {
                venue: self.venue,
                what: "openInterest",
            })?;
        self.fetch(
            &path,
            weights::OPEN_INTEREST,
            RestPriority::Metadata,
            "open_interest",
            |parser, body| parser.binance_open_interest(self.venue, symbol, body, UnixNanos::now()),
        )
        .await
    }

    /// Fetches a depth snapshot of `symbol` with up to `limit` levels per side (Binance).
    pub async fn depth_snapshot(
        &self,
        symbol: Symbol,
        limit: u32,
    ) -> Result<BookSnapshot, RestError> {
        let path = protocol::depth_path(self.venue, symbol, limit).unwrap_or_default();
        let weight = weights::depth(self.venue, limit);
        self.fetch(
            &path,
            weight,
            RestPriority::Book,
            "depth",
            |parser, body| parser.binance_depth(self.venue, symbol, body, UnixNanos::now()),
        )
        .await
    }

    /// Fetches the instrument metadata of `symbols`; each gets its info, or why it has none.
    pub async fn instruments(
        &self,
        symbols: &[Symbol],
    ) -> Vec<(Symbol, Result<InstrumentInfo, InstrumentError>)> {
        if self.venue == Venue::BinanceUsdm {
            // USD-M lists every instrument in one answer.
            let listed = self.fetch_instruments(None).await;
            return symbols
                .iter()
                .map(|&symbol| {
                    let info = match &listed {
                        Ok(list) => list
                            .iter()
                            .find(|info| info.symbol == symbol)
                            .cloned()
                            .ok_or_else(|| {
                                InstrumentError::Unknown(format!(
                                    "{symbol} is not listed by {}",
                                    self.venue
                                ))
                            }),
                        Err(err) => Err(err.clone()),
                    };
                    (symbol, info)
                })
                .collect();
        }
        let mut results = Vec::with_capacity(symbols.len());
        for &symbol in symbols {
            let info = match self.fetch_instruments(Some(symbol)).await {
                Ok(list) => list
                    .into_iter()
                    .find(|info| info.symbol == symbol)
                    .ok_or_else(|| {
                        InstrumentError::Unknown(format!(
                            "{symbol} is not listed by {}",
                            self.venue
                        ))
                    }),
                Err(err) => Err(err),
            };
            results.push((symbol, info));
        }
        results
    }

    async fn fetch_instruments(
        &self,
        symbol: Option<Symbol>,
    ) -> Result<Vec<InstrumentInfo>, InstrumentError> {
        let path = protocol::instruments_path(self.venue, symbol);
        let weight = weights::instruments(self.venue);
        self.fetch(
            &path,
            weight,
            RestPriority::Metadata,
            "instruments",
            |parser, body| match self.venue {
                Venue::BinanceSpot | Venue::BinanceUsdm => {
                    parser.binance_exchange_info(self.venue, body)
                }
                Venue::BybitSpot | Venue::BybitLinear => parser.bybit_instruments(self.venue, body),
            },
        )
        .await
        .map_err(|err| InstrumentError::from_rest(&err))
    }

    /// Asks `path` (through the budget, with `weight` and `priority`), parses the answer
    /// with `parse`, and counts the outcome as a request of `kind`.
    async fn fetch<T>(
        &self,
        path: &str,
        weight: u32,
        priority: RestPriority,
        kind: &'static str,
        parse: impl FnOnce(&mut RestParser, &[u8]) -> Result<T, super::ParseError>,
    ) -> Result<T, RestError> {
        let result = async {
            let (status, body) = self.get(path, weight, priority).await?;
            parse(&mut RestParser::default(), &body).map_err(|source| RestError::Parse {
                venue: self.venue,
                status,
                source,
            })
        }
        .await;
        self.count(kind, result.is_ok());
        result
    }

    async fn get(
        &self,
        path: &str,
        weight: u32,
        priority: RestPriority,
    ) -> Result<(u16, Vec<u8>), RestError> {
        let url = self.base.join(path).map_err(|source| RestError::Url {
            venue: self.venue,
            source,
        })?;
        let request = |source| RestError::Request {
            venue: self.venue,
            source,
        };
        self.budget.acquire(weight, priority).await;
        let mut response = self.http.get(url).send().await.map_err(request)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let used = header("x-mbx-used-weight-1m").and_then(|w| u32::try_from(w).ok());
        let retry_after = header("retry-after").map(Duration::from_secs);
        self.budget
            .observe(status, used, retry_after, tokio::time::Instant::now());
        if matches!(status, 429 | 418) {
            return Err(RestError::RateLimited {
                venue: self.venue,
                status,
                retry_after,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request)? {
            if body.len() + chunk.len() > MAX_REST_BODY_BYTES {
                return Err(RestError::TooLarge { venue: self.venue });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    fn count(&self, kind: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        metrics::counter!(REST_REQUESTS_TOTAL, "venue" => self.venue.as_str(), "kind" => kind, "outcome" => outcome).increment(1);
    }
}

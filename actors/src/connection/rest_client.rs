//! HTTP calls to the venues' REST endpoints (depth snapshots, instrument metadata), on
//! reqwest over rustls with the ring provider.

use std::time::Duration;

use url::Url;

use super::protocol;
use super::rest::{MAX_REST_BODY_BYTES, RestParser};
use crate::metrics::REST_REQUESTS_TOTAL;
use crate::model::{BookSnapshot, InstrumentInfo, Symbol, UnixNanos, Venue};

/// Installs ring as the process-wide rustls crypto provider (once; later calls do nothing),
/// so TLS never depends on which crate enabled which provider.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why a REST call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The request could not be made or the answer not read.
    #[error("request to {venue} failed")]
    Request {
        /// Venue.
        venue: Venue,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// The answer was larger than [`MAX_REST_BODY_BYTES`].
    #[error("answer from {venue} exceeds {MAX_REST_BODY_BYTES} bytes")]
    TooLarge {
        /// Venue.
        venue: Venue,
    },
    /// The answer could not be parsed (or was a venue error).
    #[error("answer from {venue} (HTTP {status}) could not be used")]
    Parse {
        /// Venue.
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
        /// Venue.
        venue: Venue,
        /// Cause.
        #[source]
        source: url::ParseError,
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
}

impl RestClient {
    /// Creates a client for `venue` at `base` with a per-request `timeout`.
    pub fn new(venue: Venue, base: Url, timeout: Duration) -> Result<Self, reqwest::Error> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("wadm/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { venue, base, http })
    }

    /// Fetches a depth snapshot of `symbol` with up to `limit` levels per side (Binance).
    pub async fn depth_snapshot(
        &self,
        symbol: Symbol,
        limit: u32,
    ) -> Result<BookSnapshot, RestError> {
        let path = protocol::depth_path(self.venue, symbol, limit).unwrap_or_default();
        let result = async {
            let (status, body) = self.get(&path).await?;
            RestParser::default()
                .binance_depth(self.venue, symbol, &body, UnixNanos::now())
                .map_err(|source| RestError::Parse {
                    venue: self.venue,
                    status,
                    source,
                })
        }
        .await;
        self.count("depth", result.is_ok());
        result
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
        let result = async {
            let (status, body) = self.get(&path).await?;
            let mut parser = RestParser::default();
            let parsed = match self.venue {
                Venue::BinanceSpot | Venue::BinanceUsdm => {
                    parser.binance_exchange_info(self.venue, &body)
                }
                Venue::BybitSpot | Venue::BybitLinear => {
                    parser.bybit_instruments(self.venue, &body)
                }
            };
            parsed.map_err(|source| RestError::Parse {
                venue: self.venue,
                status,
                source,
            })
        }
        .await;
        self.count("instruments", result.is_ok());
        result.map_err(|err| InstrumentError::from_rest(&err))
    }

    async fn get(&self, path: &str) -> Result<(u16, Vec<u8>), RestError> {
        let url = self.base.join(path).map_err(|source| RestError::Url {
            venue: self.venue,
            source,
        })?;
        let request = |source| RestError::Request {
            venue: self.venue,
            source,
        };
        let mut response = self.http.get(url).send().await.map_err(request)?;
        let status = response.status().as_u16();
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

/// Renders an error with its sources, for logs and status.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

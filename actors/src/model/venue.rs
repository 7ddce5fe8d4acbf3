//! The four venues WADM collects from. Data is always keyed by (venue, symbol):
//! `BTCUSDT` on Bybit spot and on Bybit linear are different books.

use std::fmt;
use std::str::FromStr;

/// One market of one exchange, with its own protocol details and its own books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Venue {
    /// Binance spot (`wss://stream.binance.com:9443`).
    BinanceSpot,
    /// Binance USD-M futures (`wss://fstream.binance.com`, routed `/public` and `/market`).
    BinanceUsdm,
    /// Bybit v5 spot (`wss://stream.bybit.com/v5/public/spot`).
    BybitSpot,
    /// Bybit v5 linear perpetuals and futures (`wss://stream.bybit.com/v5/public/linear`).
    BybitLinear,
}

/// The exchange operating a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exchange {
    /// Binance.
    Binance,
    /// Bybit.
    Bybit,
}

impl Venue {
    /// Every venue, in the canonical order used for defaults and listings.
    pub const ALL: [Venue; 4] = [
        Venue::BinanceSpot,
        Venue::BinanceUsdm,
        Venue::BybitSpot,
        Venue::BybitLinear,
    ];

    /// Returns the stable identifier used in configuration, metrics labels and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Venue::BinanceSpot => "binance-spot",
            Venue::BinanceUsdm => "binance-usdm",
            Venue::BybitSpot => "bybit-spot",
            Venue::BybitLinear => "bybit-linear",
        }
    }

    /// True for the perpetual-futures venues (USD-M, linear); false for spot.
    pub const fn is_derivative(self) -> bool {
        matches!(self, Venue::BinanceUsdm | Venue::BybitLinear)
    }

    /// `spot` or `derivatives`.
    pub const fn market(self) -> &'static str {
        if self.is_derivative() {
            "derivatives"
        } else {
            "spot"
        }
    }

    /// Returns the exchange that operates this venue.
    pub const fn exchange(self) -> Exchange {
        match self {
            Venue::BinanceSpot | Venue::BinanceUsdm => Exchange::Binance,
            Venue::BybitSpot | Venue::BybitLinear => Exchange::Bybit,
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no venue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown venue {0:?}: expected one of binance-spot, binance-usdm, bybit-spot, bybit-linear"
)]
pub struct UnknownVenue(pub String);

impl FromStr for Venue {
    type Err = UnknownVenue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Venue::ALL
            .into_iter()
            .find(|venue| venue.as_str() == text)
            .ok_or_else(|| UnknownVenue(text.chars().take(64).collect()))
    }
}

impl serde::Serialize for Venue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Venue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip() {
        for venue in Venue::ALL {
            assert_eq!(venue.as_str().parse::<Venue>().unwrap(), venue);
            let json = serde_json::to_string(&venue).unwrap();
            assert_eq!(serde_json::from_str::<Venue>(&json).unwrap(), venue);
        }
        assert!("binance".parse::<Venue>().is_err());
    }
}

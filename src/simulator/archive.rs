//! The simulated exchange's daily trade archives, built from its own trade record (history
//! included) for any finished UTC day, at the venues' paths and in their formats
//! ([`crate::archive::source`], [`crate::archive::format`]):
//!
//! | venue | path | format |
//! |---|---|---|
//! | binance-spot | `/data/spot/daily/aggTrades/<S>/<S>-aggTrades-<day>.zip[.CHECKSUM]` | no header, times in µs (as Binance writes spot files from 2025 on) |
//! | binance-usdm | `/data/futures/um/daily/aggTrades/<S>/<S>-aggTrades-<day>.zip[.CHECKSUM]` | a header, times in ms |
//! | bybit-linear | `/trading/<S>/<S><day>.csv.gz` | a header, newest first, times in seconds with a fraction |
//! | bybit-spot | `/spot/<S>/<S>_<day>.csv.gz` | a header, rows numbered from 1 |
//!
//! A day without trades has no file (404). Files honour `Range` (206, or 416 past the end). A test can make the checksums lie
//! ([`super::Simulator::corrupt_archive_checksums`]); [`ArchiveCounters`] counts requests.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use sha2::{Digest, Sha256};
use wadm_actors::model::{Side, Symbol, Venue};
use warp::http::StatusCode;
use warp::reply::Reply;

use super::Inner;
use super::render::{self, SimTrade};

const DAY_MS: i64 = 86_400_000;

/// What the archive side has answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveCounters {
    /// File requests (archives and checksums).
    pub requests: u64,
    /// Archive requests that asked for a `Range`.
    pub ranged: u64,
    /// Checksum requests.
    pub checksums: u64,
}

/// An archive's (venue, symbol, day).
type ArchiveKey = (Venue, Symbol, i64);

/// Built archives (so that every request for one gets the same bytes) and the test knobs.
#[derive(Debug, Default)]
pub struct Archives {
    built: Mutex<HashMap<ArchiveKey, Arc<Vec<u8>>>>,
    corrupt: Mutex<bool>,
    counters: Mutex<HashMap<Venue, ArchiveCounters>>,
}

impl Archives {
    /// Makes checksum files name a wrong digest (or the right one again).
    pub fn corrupt_checksums(&self, corrupt: bool) {
        *self.corrupt.lock().unwrap_or_else(|p| p.into_inner()) = corrupt;
    }

    /// What `venue`'s archive side has answered.
    pub fn counters(&self, venue: Venue) -> ArchiveCounters {
        self.count(venue, |_| {})
    }

    fn count(&self, venue: Venue, f: impl FnOnce(&mut ArchiveCounters)) -> ArchiveCounters {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let entry = counters.entry(venue).or_default();
        f(entry);
        *entry
    }

    /// The archive of a finished day, built once; `None` for a day without trades (as a
    /// venue has no file for a day before the listing).
    pub fn file(
        &self,
        inner: &Inner,
        venue: Venue,
        symbol: Symbol,
        day: i64,
    ) -> Option<Arc<Vec<u8>>> {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = built.get(&(venue, symbol, day)) {
            return Some(Arc::clone(file));
        }
        let csv = inner.shared.with_recorded(venue, symbol, |trades| {
            let first = trades.partition_point(|t| t.time < day);
            let last = trades.partition_point(|t| t.time < day + DAY_MS);
            (first < last).then(|| csv(venue, symbol, &trades[first..last]))
        })?;
        let file = Arc::new(pack(venue, symbol, day, &csv));
        built.insert((venue, symbol, day), Arc::clone(&file));
        Some(file)
    }
}

fn day_text(day: i64) -> String {
    crate::archive::format_day(day)
}

/// The CSV text of a day's trades in `venue`'s format.
fn csv(venue: Venue, symbol: Symbol, trades: &[SimTrade]) -> String {
    let places = render::places(venue);
    let number = |units: i128| render::fixed(units, places);
    let mut text = String::new();
    match venue {
        Venue::BinanceSpot => {
            for t in trades {
                text.push_str(&format!(
                    "{},{},{},{},{},{},{},True\n",
                    t.id,
                    number(t.price.units()),
                    number(t.qty.units()),
                    t.id * 3,
                    t.id * 3 + 2,
                    t.time * 1_000 + 123,
                    if t.side == Side::Sell {
                        "True"
                    } else {
                        "False"
                    },
                ));
            }
        }
        Venue::BinanceUsdm => {
            text.push_str(
                "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n",
            );
            for t in trades {
                text.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    t.id,
                    number(t.price.units()),
                    number(t.qty.units()),
                    t.id * 3,
                    t.id * 3 + 2,
                    t.time,
                    t.side == Side::Sell,
                ));
            }
        }
        Venue::BybitLinear => {
            text.push_str("timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional,RPI\n");
            for t in trades.iter().rev() {
                text.push_str(&format!(
                    "{}.{:03}0,{symbol},{},{},{},ZeroPlusTick,{},0,{},0,0\n",
                    t.time.div_euclid(1_000),
                    t.time.rem_euclid(1_000),
                    if t.side == Side::Buy { "Buy" } else { "Sell" },
                    number(t.qty.units()),
                    number(t.price.units()),
                    render::bybit_trade_id(venue, t.id),
                    number(t.qty.units()),
                ));
            }
        }
        Venue::BybitSpot => {
            text.push_str("id,timestamp,price,volume,side,rpi\n");
            for (row, t) in trades.iter().enumerate() {
                text.push_str(&format!(
                    "{},{},{},{},{},0\n",
                    row + 1,
                    t.time,
                    number(t.price.units()),
                    number(t.qty.units()),
                    if t.side == Side::Buy { "buy" } else { "sell" },
                ));
            }
        }
    }
    text
}

fn pack(venue: Venue, symbol: Symbol, day: i64, csv: &str) -> Vec<u8> {
    match venue {
        Venue::BinanceSpot | Venue::BinanceUsdm => {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            let name = format!("{symbol}-aggTrades-{}.csv", day_text(day));
            let written = zip
                .start_file(name, options)
                .and_then(|()| zip.write_all(csv.as_bytes()).map_err(Into::into))
                .and_then(|()| zip.finish());
            written.map(std::io::Cursor::into_inner).unwrap_or_default()
        }
        Venue::BybitSpot | Venue::BybitLinear => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = gz.write_all(csv.as_bytes());
            gz.finish().unwrap_or_default()
        }
    }
}

/// What a request path names.
#[derive(Debug, PartialEq, Eq)]
struct Wanted {
    venue: Venue,
    symbol: Symbol,
    day: i64,
    checksum: bool,
}

fn parse_path(tail: &str) -> Option<Wanted> {
    let parts: Vec<&str> = tail.split('/').collect();
    let (venue, symbol, file) = match parts.as_slice() {
        ["data", "spot", "daily", "aggTrades", s, file] => (Venue::BinanceSpot, *s, *file),
        ["data", "futures", "um", "daily", "aggTrades", s, file] => (Venue::BinanceUsdm, *s, *file),
        ["trading", s, file] => (Venue::BybitLinear, *s, *file),
        ["spot", s, file] => (Venue::BybitSpot, *s, *file),
        _ => return None,
    };
    let symbol_id = Symbol::new(symbol).ok()?;
    let (file, checksum) = match file.strip_suffix(".CHECKSUM") {
        Some(file) => (file, true),
        None => (file, false),
    };
    let day = match venue {
        Venue::BinanceSpot | Venue::BinanceUsdm => file
            .strip_prefix(&format!("{symbol}-aggTrades-"))?
            .strip_suffix(".zip")?,
        Venue::BybitLinear => file.strip_prefix(symbol)?.strip_suffix(".csv.gz")?,
        Venue::BybitSpot => file
            .strip_prefix(&format!("{symbol}_"))?
            .strip_suffix(".csv.gz")?,
    };
    if checksum && matches!(venue, Venue::BybitSpot | Venue::BybitLinear) {
        return None;
    }
    Some(Wanted {
        venue,
        symbol: symbol_id,
        day: crate::archive::parse_day(day).ok()?,
        checksum,
    })
}

/// Answers `GET /<tail>` when it names an archive of a simulated (venue, symbol) and a
/// finished day; 404 otherwise.
pub(super) fn answer(inner: &Inner, tail: &str, range: Option<&str>) -> warp::reply::Response {
    let not_found = || warp::reply::with_status("not found", StatusCode::NOT_FOUND).into_response();
    let Some(wanted) = parse_path(tail) else {
        return not_found();
    };
    let simulated = inner
        .venues
        .get(&wanted.venue)
        .is_some_and(|v| v.symbols.iter().any(|s| s.symbol == wanted.symbol));
    let now = wadm_actors::model::TimestampMs::now().as_millis();
    if !simulated || wanted.day + DAY_MS > now {
        return not_found();
    }
    let archives = &inner.archives;
    let Some(file) = archives.file(inner, wanted.venue, wanted.symbol, wanted.day) else {
        return not_found();
    };
    let name = tail.rsplit('/').next().unwrap_or_default().to_owned();
    if wanted.checksum {
        archives.count(wanted.venue, |c| {
            c.requests += 1;
            c.checksums += 1;
        });
        let digest = if *archives.corrupt.lock().unwrap_or_else(|p| p.into_inner()) {
            Sha256::digest(b"not the archive")
        } else {
            Sha256::digest(file.as_slice())
        };
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let zip_name = name.trim_end_matches(".CHECKSUM");
        return format!("{hex}  {zip_name}\n").into_response();
    }
    archives.count(wanted.venue, |c| {
        c.requests += 1;
        c.ranged += u64::from(range.is_some());
    });
    let len = file.len() as u64;
    let start = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse::<u64>().ok());
    match start {
        Some(start) if start >= len => warp::reply::with_status(
            warp::reply::with_header(Vec::new(), "content-range", format!("bytes */{len}")),
            StatusCode::RANGE_NOT_SATISFIABLE,
        )
        .into_response(),
        Some(start) => warp::reply::with_status(
            warp::reply::with_header(
                file[usize::try_from(start).unwrap_or(0)..].to_vec(),
                "content-range",
                format!("bytes {start}-{}/{len}", len - 1),
            ),
            StatusCode::PARTIAL_CONTENT,
        )
        .into_response(),
        None => file.as_slice().to_vec().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_venue_symbol_and_day() {
        let day = crate::archive::parse_day("2026-12-01").unwrap();
        let btc = Symbol::new("BTCUSDT").unwrap();
        assert_eq!(
            parse_path(
                "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2026-12-01.zip.CHECKSUM"
            ),
            Some(Wanted {
                venue: Venue::BinanceSpot,
                symbol: btc,
                day,
                checksum: true
            })
        );
        assert_eq!(
            parse_path("trading/BTCUSDT/BTCUSDT2026-12-01.csv.gz"),
            Some(Wanted {
                venue: Venue::BybitLinear,
                symbol: btc,
                day,
                checksum: false
            })
        );
        assert_eq!(
            parse_path("spot/BTCUSDT/BTCUSDT_2026-12-01.csv.gz.CHECKSUM"),
            None
        );
        assert_eq!(parse_path("spot/BTCUSDT/ETHUSDT_2026-12-01.csv.gz"), None);
        assert_eq!(parse_path("api/v3/depth"), None);
    }
}

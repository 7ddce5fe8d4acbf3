//! The rows of the venues' daily trade archives, read exactly as the stream parsers read
//! the same trades: decimal strings to fixed point, the same plausibility bounds, typed
//! errors naming the line and the column, never a panic.
//!
//! | layout | files | columns |
//! |---|---|---|
//! | Binance aggTrades | `<S>-aggTrades-<day>.zip` (spot: no header; USD-M: a header) | aggregate id, price, quantity, first id, last id, time (ms; spot from 2025 on: µs), buyer is maker[, best match] |
//! | Bybit trading (linear) | `<S><day>.csv.gz` | `timestamp` (s with a fraction), `symbol`, `side`, `size`, `price`, `tickDirection`, `trdMatchID`, ... |
//! | Bybit spot | `<S>_<day>.csv.gz` | `id` (the row's number in the file), `timestamp` (ms), `price`, `volume`, `side`[, `rpi`] |
//!
//! Columns are found by their header name where the file has a header, so a column the
//! venue adds later (Bybit's `RPI`) changes nothing.

use std::io::Read;

use wadm_actors::connection::MAX_MARKET_VALUE;
use wadm_actors::model::{
    FillRange, Price, Qty, Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos, Venue,
};

/// Why a row (or the whole file) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// A field does not hold what its column should.
    #[error("line {line}: column `{column}` {reason}")]
    Field {
        /// Line in the file (1-based).
        line: u64,
        /// Column name.
        column: &'static str,
        /// What is wrong, with the text cut short.
        reason: String,
    },
    /// A row has fewer columns than the layout needs.
    #[error("line {line}: {found} columns, at least {needed} needed")]
    Columns {
        /// Line in the file.
        line: u64,
        /// Columns found.
        found: usize,
        /// Columns needed.
        needed: usize,
    },
    /// The header lacks a column the layout needs.
    #[error("the header has no `{0}` column")]
    Header(&'static str),
    /// The file is not CSV (or not UTF-8).
    #[error("line {line}: not CSV: {message}")]
    Csv {
        /// Line in the file.
        line: u64,
        /// The reader's message.
        message: String,
    },
}

/// How a venue lays its archive out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Binance spot and USD-M aggregate trades.
    BinanceAgg,
    /// Bybit linear (`trading/`).
    BybitTrading,
    /// Bybit spot (`spot/`).
    BybitSpot,
}

impl Layout {
    /// The layout of `venue`'s archives.
    pub const fn of(venue: Venue) -> Self {
        match venue {
            Venue::BinanceSpot | Venue::BinanceUsdm => Layout::BinanceAgg,
            Venue::BybitLinear => Layout::BybitTrading,
            Venue::BybitSpot => Layout::BybitSpot,
        }
    }

    /// True when the rows carry the venue's own trade ids (so raw trades from the archive
    /// are the trades the stream delivered, and can be stored next to them). Bybit spot
    /// numbers the rows of each file instead.
    pub const fn has_venue_ids(self) -> bool {
        !matches!(self, Layout::BybitSpot)
    }
}

/// Column positions of one file.
#[derive(Debug, Clone, Copy)]
struct Columns {
    id: usize,
    time: usize,
    price: usize,
    qty: usize,
    side: usize,
    first: Option<usize>,
    last: Option<usize>,
    needed: usize,
}

impl Columns {
    const BINANCE: Columns = Columns {
        id: 0,
        price: 1,
        qty: 2,
        first: Some(3),
        last: Some(4),
        time: 5,
        side: 6,
        needed: 7,
    };

    fn from_header(layout: Layout, header: &csv::StringRecord) -> Result<Self, RowError> {
        let find = |name: &'static str| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
                .ok_or(RowError::Header(name))
        };
        let columns = match layout {
            Layout::BinanceAgg => Columns {
                id: find("agg_trade_id")?,
                price: find("price")?,
                qty: find("quantity")?,
                first: Some(find("first_trade_id")?),
                last: Some(find("last_trade_id")?),
                time: find("transact_time")?,
                side: find("is_buyer_maker")?,
                needed: 0,
            },
            Layout::BybitTrading => Columns {
                id: find("trdMatchID")?,
                time: find("timestamp")?,
                price: find("price")?,
                qty: find("size")?,
                side: find("side")?,
                first: None,
                last: None,
                needed: 0,
            },
            Layout::BybitSpot => Columns {
                id: find("id")?,
                time: find("timestamp")?,
                price: find("price")?,
                qty: find("volume")?,
                side: find("side")?,
                first: None,
                last: None,
                needed: 0,
            },
        };
        let needed = [
            columns.id,
            columns.time,
            columns.price,
            columns.qty,
            columns.side,
            columns.first.unwrap_or(0),
            columns.last.unwrap_or(0),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
            + 1;
        Ok(Columns { needed, ..columns })
    }
}

/// The trades of one archive file, in file order.
#[derive(Debug)]
pub struct ArchiveRows<R: Read> {
    layout: Layout,
    venue: Venue,
    symbol: Symbol,
    /// Prefix of Bybit spot's per-file row numbers, to make them unique across days.
    day: String,
    reader: csv::Reader<R>,
    record: csv::StringRecord,
    columns: Option<Columns>,
    line: u64,
    failed: bool,
}

impl<R: Read> ArchiveRows<R> {
    /// Reads `input`, the CSV of `venue`'s archive of `symbol` for `day` (`YYYY-MM-DD`).
    pub fn new(venue: Venue, symbol: Symbol, day: &str, input: R) -> Self {
        Self {
            layout: Layout::of(venue),
            venue,
            symbol,
            day: day.to_owned(),
            reader: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(input),
            record: csv::StringRecord::new(),
            columns: None,
            line: 0,
            failed: false,
        }
    }

    fn next_record(&mut self) -> Option<Result<(), RowError>> {
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => {
                    self.line += 1;
                    // A blank line (a trailing newline pair) is not a row.
                    if self.record.len() == 1 && self.record.get(0).is_some_and(str::is_empty) {
                        continue;
                    }
                    return Some(Ok(()));
                }
                Err(err) => {
                    self.line += 1;
                    return Some(Err(RowError::Csv {
                        line: self.line,
                        message: clip(&err.to_string()),
                    }));
                }
            }
        }
    }

    fn trade(&self, columns: Columns) -> Result<Trade, RowError> {
        let line = self.line;
        if self.record.len() < columns.needed {
            return Err(RowError::Columns {
                line,
                found: self.record.len(),
                needed: columns.needed,
            });
        }
        let field = |index: usize| self.record.get(index).unwrap_or("").trim();
        let bad = |column: &'static str, reason: String| RowError::Field {
            line,
            column,
            reason,
        };
        let price = positive(field(columns.price)).map_err(|r| bad("price", r))?;
        let qty = positive(field(columns.qty))
            .map(|units| Qty::from_units(units.units()))
            .map_err(|r| bad("quantity", r))?;
        match self.layout {
            Layout::BinanceAgg => {
                let id = unsigned(field(columns.id)).map_err(|r| bad("agg_trade_id", r))?;
                let first = unsigned(field(columns.first.unwrap_or(3)))
                    .map_err(|r| bad("first_trade_id", r))?;
                let last = unsigned(field(columns.last.unwrap_or(4)))
                    .map_err(|r| bad("last_trade_id", r))?;
                if last < first {
                    return Err(bad("last_trade_id", "is before first_trade_id".to_owned()));
                }
                let time =
                    binance_time(field(columns.time)).map_err(|r| bad("transact_time", r))?;
                let maker = boolean(field(columns.side)).map_err(|r| bad("is_buyer_maker", r))?;
                Ok(self.build(
                    TradeId::Number(id),
                    price,
                    qty,
                    Side::from_buyer_is_maker(maker),
                    time,
                    TradeFlags::AGGREGATE,
                    Some(FillRange { first, last }),
                ))
            }
            Layout::BybitTrading => {
                let id = field(columns.id);
                if id.is_empty() {
                    return Err(bad("trdMatchID", "is empty".to_owned()));
                }
                let time = seconds_time(field(columns.time)).map_err(|r| bad("timestamp", r))?;
                let side = taker_side(field(columns.side)).map_err(|r| bad("side", r))?;
                Ok(self.build(
                    TradeId::from_text(id),
                    price,
                    qty,
                    side,
                    time,
                    TradeFlags::NONE,
                    None,
                ))
            }
            Layout::BybitSpot => {
                let row = unsigned(field(columns.id)).map_err(|r| bad("id", r))?;
                let time = millis(field(columns.time)).map_err(|r| bad("timestamp", r))?;
                let side = taker_side(field(columns.side)).map_err(|r| bad("side", r))?;
                Ok(self.build(
                    TradeId::Text(format!("{}#{row}", self.day).into()),
                    price,
                    qty,
                    side,
                    time,
                    TradeFlags::NONE,
                    None,
                ))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        id: TradeId,
        price: Price,
        qty: Qty,
        side: Side,
        time: i64,
        flags: TradeFlags,
        fills: Option<FillRange>,
    ) -> Trade {
        Trade {
            venue: self.venue,
            symbol: self.symbol,
            id,
            price,
            qty,
            side,
            trade_time: TimestampMs(time),
            event_time: TimestampMs(time),
            // The trade's own time, so that importing twice writes the same documents.
            received_at: UnixNanos(time.saturating_mul(1_000_000)),
            flags,
            sequence: None,
            fills,
        }
    }
}

impl<R: Read> Iterator for ArchiveRows<R> {
    type Item = Result<Trade, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let columns = loop {
            if let Err(err) = self.next_record()? {
                self.failed = true;
                return Some(Err(err));
            }
            match self.columns {
                Some(columns) => break columns,
                None => {
                    // Binance spot files have no header: the first row is a trade.
                    let headless = self.layout == Layout::BinanceAgg
                        && self
                            .record
                            .get(0)
                            .is_some_and(|first| first.trim().parse::<u64>().is_ok());
                    if headless {
                        self.columns = Some(Columns::BINANCE);
                        break Columns::BINANCE;
                    }
                    match Columns::from_header(self.layout, &self.record) {
                        Ok(columns) => self.columns = Some(columns),
                        Err(err) => {
                            self.failed = true;
                            return Some(Err(err));
                        }
                    }
                }
            }
        };
        Some(self.trade(columns))
    }
}

/// Longest field text echoed in an error.
const ECHO: usize = 40;

fn clip(text: &str) -> String {
    match text.char_indices().nth(ECHO) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

fn positive(text: &str) -> Result<Price, String> {
    let value = Price::parse_non_negative(text).map_err(|e| format!("{:?}: {e}", clip(text)))?;
    if value.units() == 0 {
        return Err("must be above zero".to_owned());
    }
    if value.units() > Price::from_int(MAX_MARKET_VALUE).units() {
        return Err("above 10^14 is implausible".to_owned());
    }
    Ok(value)
}

fn unsigned(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| format!("{:?} is not an unsigned integer", clip(text)))
}

fn millis(text: &str) -> Result<i64, String> {
    match text.parse::<i64>() {
        Ok(ms) if ms > 0 => Ok(ms),
        _ => Err(format!("{:?} is not a time in milliseconds", clip(text))),
    }
}

/// Binance times: milliseconds, or microseconds (spot files from 2025-01-01 on), told
/// apart by size (10^14 ms is the year 5138).
fn binance_time(text: &str) -> Result<i64, String> {
    let value = millis(text)?;
    Ok(if value >= 100_000_000_000_000 {
        value / 1_000
    } else {
        value
    })
}

/// Bybit trading times: seconds with a decimal fraction (`1704067200.5436`), cut to the
/// millisecond.
fn seconds_time(text: &str) -> Result<i64, String> {
    let wrong = || format!("{:?} is not a time in seconds", clip(text));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(wrong());
    }
    let seconds: i64 = whole.parse().map_err(|_| wrong())?;
    let mut ms = 0_i64;
    for position in 0..3 {
        let digit = fraction.as_bytes().get(position).map_or(0, |b| b - b'0');
        ms = ms * 10 + i64::from(digit);
    }
    seconds
        .checked_mul(1_000)
        .and_then(|s| s.checked_add(ms))
        .filter(|&t| t > 0)
        .ok_or_else(wrong)
}

fn boolean(text: &str) -> Result<bool, String> {
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("{:?} is not true or false", clip(text)))
    }
}

fn taker_side(text: &str) -> Result<Side, String> {
    if text.eq_ignore_ascii_case("buy") {
        Ok(Side::Buy)
    } else if text.eq_ignore_ascii_case("sell") {
        Ok(Side::Sell)
    } else {
        Err(format!("{:?} is not buy or sell", clip(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(venue: Venue, text: &str) -> Vec<Result<Trade, RowError>> {
        ArchiveRows::new(
            venue,
            Symbol::new("BTCUSDT").unwrap(),
            "2024-01-01",
            text.as_bytes(),
        )
        .collect()
    }

    #[test]
    fn binance_spot_rows_without_a_header_in_ms_and_us() {
        let got = rows(
            Venue::BinanceSpot,
            "26129,0.01633102,4.70443515,27781,27783,1498793709153,True,True\n\
             26130,0.01633100,1.00000000,27784,27784,1735689600010866,False,True\n",
        );
        let trades: Vec<Trade> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(trades.len(), 2);
        assert_eq!(trades[0].id, TradeId::Number(26129));
        assert_eq!(trades[0].price, "0.01633102".parse().unwrap());
        assert_eq!(trades[0].qty, "4.70443515".parse().unwrap());
        assert_eq!(trades[0].side, Side::Sell);
        assert_eq!(trades[0].trade_time, TimestampMs(1_498_793_709_153));
        assert_eq!(
            trades[0].fills,
            Some(FillRange {
                first: 27781,
                last: 27783
            })
        );
        assert_eq!(trades[1].trade_time, TimestampMs(1_735_689_600_010));
        assert_eq!(trades[1].side, Side::Buy);
    }

    #[test]
    fn binance_usdm_rows_after_a_header() {
        let got = rows(
            Venue::BinanceUsdm,
            "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n\
             1,42000.10,0.005,10,12,1704067200000,true\n",
        );
        assert_eq!(got.len(), 1);
        let trade = got[0].clone().unwrap();
        assert_eq!(trade.id, TradeId::Number(1));
        assert_eq!(trade.side, Side::Sell);
    }

    #[test]
    fn bybit_trading_rows_in_seconds_with_a_fraction() {
        let got = rows(
            Venue::BybitLinear,
            "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional,RPI\n\
             1704067200.5436,BTCUSDT,Buy,0.003,42283.10,ZeroPlusTick,0a7a5f0c-71ab-5b0e-a1b0-1bdc0f5e1e6e,1.2684930e+10,0.003,126.8493,0\n\
             1704067201,BTCUSDT,Sell,0.5,42283.0,MinusTick,9b9c1e33-4a5b-5f55-8a43-5d6a2a0b3c11,2.11415e+12,0.5,21141.5,0\n",
        );
        let trades: Vec<Trade> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(trades[0].trade_time, TimestampMs(1_704_067_200_543));
        assert_eq!(trades[0].side, Side::Buy);
        assert!(matches!(trades[0].id, TradeId::Uuid(_)));
        assert_eq!(
            trades[0].id.to_string(),
            "0a7a5f0c-71ab-5b0e-a1b0-1bdc0f5e1e6e"
        );
        assert_eq!(trades[1].trade_time, TimestampMs(1_704_067_201_000));
        assert_eq!(trades[1].side, Side::Sell);
    }

    #[test]
    fn bybit_spot_rows_are_numbered_by_day() {
        let got = rows(
            Venue::BybitSpot,
            "id,timestamp,price,volume,side,rpi\n1,1747612800074,106453.8,0.003718,sell,0\n",
        );
        let trade = got[0].clone().unwrap();
        assert_eq!(trade.id, TradeId::Text("2024-01-01#1".into()));
        assert_eq!(trade.side, Side::Sell);
        assert_eq!(trade.trade_time, TimestampMs(1_747_612_800_074));
    }

    #[test]
    fn bad_rows_name_their_line_and_column() {
        let got = rows(
            Venue::BinanceSpot,
            "1,0.1,1,1,1,1498793709153,True,True\n2,-0.1,1,2,2,1498793709154,True,True\n3,0.1,0,3,3,1,True,True\n4,0.1,1,5,4,1,True,True\n5,0.1\n6,0.1,1,6,6,1,maybe,True\n",
        );
        assert!(got[0].is_ok());
        let errors: Vec<String> = got[1..]
            .iter()
            .map(|r| r.clone().unwrap_err().to_string())
            .collect();
        assert!(
            errors[0].starts_with("line 2: column `price`"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("line 3: column `quantity`"),
            "{errors:?}"
        );
        assert!(
            errors[2].starts_with("line 4: column `last_trade_id`"),
            "{errors:?}"
        );
        assert_eq!(errors[3], "line 5: 2 columns, at least 7 needed");
        assert!(
            errors[4].starts_with("line 6: column `is_buyer_maker`"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_header_without_a_needed_column_is_refused() {
        let got = rows(
            Venue::BybitLinear,
            "timestamp,symbol,side,size\n1,BTCUSDT,Buy,1\n",
        );
        assert_eq!(got, vec![Err(RowError::Header("trdMatchID"))]);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_trades_or_errors(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            for venue in Venue::ALL {
                for row in ArchiveRows::new(venue, Symbol::new("BTCUSDT").unwrap(), "2024-01-01", bytes.as_slice()) {
                    let _ = row;
                }
            }
        }
    }
}

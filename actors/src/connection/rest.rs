//! Parsers of the REST answers the connection needs: Binance depth snapshots (the start of
//! every Binance local book) and instrument metadata (tick and lot sizes).
//!
//! | venue | depth snapshot | instruments |
//! |---|---|---|
//! | binance-spot | `GET /api/v3/depth?symbol=S&limit=N` | `GET /api/v3/exchangeInfo?symbol=S` |
//! | binance-usdm | `GET /fapi/v1/depth?symbol=S&limit=N` | `GET /fapi/v1/exchangeInfo` (every symbol) |
//! | bybit-spot / bybit-linear | (books come from the WebSocket snapshot) | `GET /v5/market/instruments-info?category=spot\|linear&symbol=S` |
//!
//! and the trades that repair gaps and backfill: Binance `GET /api/v3/aggTrades` (spot) and
//! `GET /fapi/v1/aggTrades` (USD-M), by `fromId` or by a `startTime`/`endTime` window of at
//! most an hour, up to 1,000 a request; Bybit `GET /v5/market/recent-trade`, only the most
//! recent trades (60 on spot, 1,000 on linear).

use simd_json::tape::Value;

use super::parse::fields;
use super::parse::frame::{DEFAULT_MAX_FRAME_BYTES, FrameKind, ParseError, clip};
use super::parse::tape::{Obj, TapeDecoder, pick};
use crate::model::{
    BookSnapshot, DerivativesTick, FillRange, InstrumentInfo, Price, Side, SnapshotSequence,
    Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos, Venue,
};

/// Largest REST answer accepted: a 5000-level depth snapshot is about 250 KiB, USD-M's full
/// `exchangeInfo` about 1.5 MiB.
pub const MAX_REST_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Parses REST answers with a reused decoder.
#[derive(Debug)]
pub struct RestParser {
    decoder: TapeDecoder,
}

impl Default for RestParser {
    fn default() -> Self {
        Self {
            decoder: TapeDecoder::new(MAX_REST_BODY_BYTES.max(DEFAULT_MAX_FRAME_BYTES)),
        }
    }
}

impl RestParser {
    /// Parses a Binance depth snapshot:
    /// `{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}`
    /// (USD-M adds `"E"` and `"T"`). An error body (`{"code":-1121,"msg":"Invalid symbol."}`)
    /// is a [`ParseError::VenueError`].
    pub fn binance_depth(
        &mut self,
        venue: Venue,
        symbol: Symbol,
        body: &[u8],
        received_at: UnixNanos,
    ) -> Result<BookSnapshot, ParseError> {
        self.decoder.decode(body, |root| {
            let root = Obj::new(root, FrameKind::RestDepth, "body")?;
            let f = pick!(root; last = "lastUpdateId", bids = "bids", asks = "asks", event_time = "E", code = "code", msg = "msg");
            if f.code().is_present() && !f.last().is_present() {
                return Err(venue_error(f.code().opt_i64()?, f.msg().opt_str()?));
            }
            Ok(BookSnapshot {
                venue,
                symbol,
                sequence: SnapshotSequence::Binance {
                    last_update_id: f.last().u64()?,
                },
                bids: f.bids().levels()?,
                asks: f.asks().levels()?,
                event_time: f.event_time().opt_i64()?.map(TimestampMs),
                received_at,
            })
        })
    }

    /// Parses a Binance USD-M open interest:
    /// `{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}` (base asset;
    /// `time` is the venue's time of the value) into a whole tick carrying only it.
    pub fn binance_open_interest(
        &mut self,
        venue: Venue,
        symbol: Symbol,
        body: &[u8],
        received_at: UnixNanos,
    ) -> Result<DerivativesTick, ParseError> {
        self.decoder.decode(body, |root| {
            let root = Obj::new(root, FrameKind::RestOpenInterest, "body")?;
            let f = pick!(root; oi = "openInterest", answered = "symbol", time = "time", code = "code", msg = "msg");
            if f.code().is_present() && !f.oi().is_present() {
                return Err(venue_error(f.code().opt_i64()?, f.msg().opt_str()?));
            }
            if f.answered().str()? != symbol.as_str() {
                return Err(ParseError::InvalidValue {
                    kind: FrameKind::RestOpenInterest,
                    field: "symbol",
                    reason: "not the symbol asked for",
                });
            }
            Ok(DerivativesTick {
                venue,
                symbol,
                time: TimestampMs(f.time().i64()?),
                received_at,
                // The answer is whole (it is all the venue says of open interest).
                complete: true,
                mark_price: None,
                index_price: None,
                funding_rate: None,
                next_funding_time: None,
                open_interest: Some(f.oi().qty()?),
            })
        })
    }

    /// Parses a Binance `exchangeInfo` answer into the instruments it lists:
    /// `{"symbols":[{"symbol":"BTCUSDT","status":"TRADING","filters":[{"filterType":"PRICE_FILTER","tickSize":"0.01"},{"filterType":"LOT_SIZE","stepSize":"0.00001"}]}]}`.
    pub fn binance_exchange_info(
        &mut self,
        venue: Venue,
        body: &[u8],
    ) -> Result<Vec<InstrumentInfo>, ParseError> {
        self.decoder.decode(body, |root| {
            let root = Obj::new(root, FrameKind::RestInstruments, "body")?;
            let f = pick!(root; symbols = "symbols", code = "code", msg = "msg");
            if f.code().is_present() && !f.symbols().is_present() {
                return Err(venue_error(f.code().opt_i64()?, f.msg().opt_str()?));
            }
            let mut instruments = Vec::new();
            for entry in f.symbols().array()?.iter() {
                instruments.push(binance_instrument(venue, entry)?);
            }
            Ok(instruments)
        })
    }

    /// Parses a Bybit `instruments-info` answer:
    /// `{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol":"BTCUSDT","status":"Trading","lotSizeFilter":{"basePrecision":"0.000001"},"priceFilter":{"tickSize":"0.01"}}]}}`
    /// (linear gives `lotSizeFilter.qtyStep`).
    pub fn bybit_instruments(
        &mut self,
        venue: Venue,
        body: &[u8],
    ) -> Result<Vec<InstrumentInfo>, ParseError> {
        self.decoder.decode(body, |root| {
            let kind = FrameKind::RestInstruments;
            let root = Obj::new(root, kind, "body")?;
            let f = pick!(root; code = "retCode", msg = "retMsg", result = "result");
            let code = f.code().i64()?;
            if code != 0 {
                return Err(venue_error(Some(code), f.msg().opt_str()?));
            }
            let result = pick!(f.result().obj(kind)?; list = "list");
            let mut instruments = Vec::new();
            for entry in result.list().array()?.iter() {
                let item = pick!(Obj::new(entry, kind, "list")?;
                    symbol = "symbol", status = "status", lot = "lotSizeFilter", price = "priceFilter",
                );
                let lot = pick!(item.lot().obj(kind)?; base = "basePrecision", step = "qtyStep");
                let price = pick!(item.price().obj(kind)?; tick = "tickSize");
                let lot_size = match lot.step().opt_str()? {
                    Some(step) => fields::qty(kind, "qtyStep", step)?,
                    None => lot.base().qty()?,
                };
                instruments.push(InstrumentInfo {
                    venue,
                    symbol: fields::symbol(kind, "symbol", item.symbol().str()?)?,
                    tick_size: positive_price(price.tick().price()?, "tickSize")?,
                    lot_size,
                    trading: item.status().str()? == "Trading",
                });
            }
            Ok(instruments)
        })
    }
}

impl RestParser {
    /// Parses a Binance `aggTrades` answer, oldest first:
    /// `[{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":true,"M":true}]`
    /// (USD-M gives no `M`). Exactly as the stream's `aggTrade`: the same fields, the same
    /// checks. An error body (`{"code":-1121,"msg":"Invalid symbol."}`) is a
    /// [`ParseError::VenueError`].
    pub fn binance_agg_trades(
        &mut self,
        venue: Venue,
        symbol: Symbol,
        body: &[u8],
        received_at: UnixNanos,
    ) -> Result<Vec<Trade>, ParseError> {
        let kind = FrameKind::RestTrades;
        self.decoder.decode(body, |root| {
            if root.is_object() {
                let f = pick!(Obj::new(root, kind, "body")?; code = "code", msg = "msg");
                return Err(venue_error(f.code().opt_i64()?, f.msg().opt_str()?));
            }
            let list = root.as_array().ok_or(ParseError::WrongType {
                kind,
                field: "body",
                expected: "an array",
            })?;
            let mut trades = Vec::with_capacity(list.len());
            for item in list.iter() {
                let f = pick!(Obj::new(item, kind, "body")?;
                    id = "a", price = "p", qty = "q", first = "f", last = "l",
                    trade_time = "T", buyer_is_maker = "m",
                );
                let (first, last) = (f.first().u64()?, f.last().u64()?);
                if last < first {
                    return Err(ParseError::InvalidValue {
                        kind,
                        field: "l",
                        reason: "the last fill id is before the first",
                    });
                }
                let time = TimestampMs(f.trade_time().i64()?);
                trades.push(Trade {
                    venue,
                    symbol,
                    id: TradeId::Number(f.id().u64()?),
                    price: f.price().trade_price()?,
                    qty: f.qty().trade_qty()?,
                    side: Side::from_buyer_is_maker(f.buyer_is_maker().bool()?),
                    trade_time: time,
                    event_time: time,
                    received_at,
                    flags: TradeFlags::AGGREGATE,
                    sequence: None,
                    fills: Some(FillRange { first, last }),
                });
            }
            Ok(trades)
        })
    }

    /// Parses a Bybit `recent-trade` answer, newest first as the venue lists them:
    /// `{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"execId":"2100000000007764263","symbol":"BTCUSDT","price":"16618.49","size":"0.00012","side":"Buy","time":"1672052955758","isBlockTrade":false}]},"time":1672053054358}`.
    /// The same trades as the stream's `publicTrade`: `execId` is its `i`, `side` the
    /// taker's side.
    pub fn bybit_recent_trades(
        &mut self,
        venue: Venue,
        symbol: Symbol,
        body: &[u8],
        received_at: UnixNanos,
    ) -> Result<Vec<Trade>, ParseError> {
        let kind = FrameKind::RestTrades;
        self.decoder.decode(body, |root| {
            let root = Obj::new(root, kind, "body")?;
            let f = pick!(root; code = "retCode", msg = "retMsg", result = "result");
            let code = f.code().i64()?;
            if code != 0 {
                return Err(venue_error(Some(code), f.msg().opt_str()?));
            }
            let result = pick!(f.result().obj(kind)?; list = "list");
            let list = result.list().array()?;
            let mut trades = Vec::with_capacity(list.len());
            for item in list.iter() {
                let f = pick!(Obj::new(item, kind, "list")?;
                    id = "execId", symbol = "symbol", price = "price", qty = "size", side = "side",
                    time = "time", block_trade = "isBlockTrade", rpi = "isRPITrade",
                );
                let mut flags = TradeFlags::NONE;
                if f.block_trade().opt_bool()?.unwrap_or(false) {
                    flags = flags.with(TradeFlags::BLOCK_TRADE);
                }
                if f.rpi().opt_bool()?.unwrap_or(false) {
                    flags = flags.with(TradeFlags::RETAIL_PRICE_IMPROVEMENT);
                }
                let time: i64 = f
                    .time()
                    .str()?
                    .parse()
                    .map_err(|_| ParseError::InvalidValue {
                        kind,
                        field: "time",
                        reason: "not a whole number of milliseconds",
                    })?;
                trades.push(Trade {
                    venue,
                    symbol: fields::same_symbol(
                        kind,
                        symbol,
                        fields::symbol(kind, "symbol", f.symbol().str()?)?,
                    )?,
                    id: TradeId::from_text(f.id().str()?),
                    price: f.price().trade_price()?,
                    qty: f.qty().trade_qty()?,
                    side: fields::bybit_side(kind, "side", f.side().str()?)?,
                    trade_time: TimestampMs(time),
                    event_time: TimestampMs(time),
                    received_at,
                    flags,
                    sequence: None,
                    fills: None,
                });
            }
            Ok(trades)
        })
    }
}

fn binance_instrument(venue: Venue, entry: Value<'_, '_>) -> Result<InstrumentInfo, ParseError> {
    let kind = FrameKind::RestInstruments;
    let item = pick!(Obj::new(entry, kind, "symbols")?; symbol = "symbol", status = "status", filters = "filters");
    let mut tick_size = None;
    let mut lot_size = None;
    for filter in item.filters().array()?.iter() {
        let filter = pick!(Obj::new(filter, kind, "filters")?; kind = "filterType", tick = "tickSize", step = "stepSize");
        match filter.kind().str()? {
            "PRICE_FILTER" => tick_size = Some(filter.tick().price()?),
            "LOT_SIZE" => lot_size = Some(filter.step().qty()?),
            _ => {}
        }
    }
    Ok(InstrumentInfo {
        venue,
        symbol: fields::symbol(kind, "symbol", item.symbol().str()?)?,
        tick_size: positive_price(
            tick_size.ok_or(ParseError::MissingField {
                kind,
                field: "PRICE_FILTER",
            })?,
            "tickSize",
        )?,
        lot_size: lot_size.ok_or(ParseError::MissingField {
            kind,
            field: "LOT_SIZE",
        })?,
        trading: item.status().str()? == "TRADING",
    })
}

fn positive_price(price: Price, field: &'static str) -> Result<Price, ParseError> {
    if price.is_positive() {
        Ok(price)
    } else {
        Err(ParseError::InvalidValue {
            kind: FrameKind::RestInstruments,
            field,
            reason: "a tick size must be above zero",
        })
    }
}

fn venue_error(code: Option<i64>, message: Option<&str>) -> ParseError {
    ParseError::VenueError {
        code,
        message: clip(message.unwrap_or("no message")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(text: &str) -> Symbol {
        Symbol::new(text).unwrap()
    }

    #[test]
    fn parses_binance_open_interest_and_refuses_another_symbols() {
        let mut parser = RestParser::default();
        let body = br#"{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}"#;
        let tick = parser
            .binance_open_interest(Venue::BinanceUsdm, sym("BTCUSDT"), body, UnixNanos(5))
            .unwrap();
        assert_eq!(tick.open_interest, Some("10659.509".parse().unwrap()));
        assert_eq!(tick.time, TimestampMs(1589437530011));
        assert!(tick.complete && tick.mark_price.is_none());
        assert!(
            parser
                .binance_open_interest(Venue::BinanceUsdm, sym("ETHUSDT"), body, UnixNanos(5))
                .is_err()
        );
        let refused = br#"{"code":-1121,"msg":"Invalid symbol."}"#;
        assert!(matches!(
            parser.binance_open_interest(Venue::BinanceUsdm, sym("BTCUSDT"), refused, UnixNanos(5)),
            Err(ParseError::VenueError { .. })
        ));
        for cut in 0..body.len() {
            let _ = parser.binance_open_interest(
                Venue::BinanceUsdm,
                sym("BTCUSDT"),
                &body[..cut],
                UnixNanos(5),
            );
        }
    }

    #[test]
    fn parses_binance_depth_snapshots_and_errors() {
        let mut parser = RestParser::default();
        let spot = br#"{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"],["4.00000300","1.5"]]}"#;
        let snapshot = parser
            .binance_depth(Venue::BinanceSpot, sym("BNBBTC"), spot, UnixNanos(5))
            .unwrap();
        assert_eq!(
            snapshot.sequence,
            SnapshotSequence::Binance {
                last_update_id: 1027024
            }
        );
        assert_eq!(snapshot.bids.len(), 1);
        assert_eq!(snapshot.asks[1].qty, "1.5".parse().unwrap());
        assert_eq!(snapshot.event_time, None);
        let usdm = br#"{"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,"bids":[["4.0000","431.0"]],"asks":[]}"#;
        let snapshot = parser
            .binance_depth(Venue::BinanceUsdm, sym("BTCUSDT"), usdm, UnixNanos(5))
            .unwrap();
        assert_eq!(snapshot.event_time, Some(TimestampMs(1589436922972)));
        let error = parser
            .binance_depth(
                Venue::BinanceSpot,
                sym("NOPE"),
                br#"{"code":-1121,"msg":"Invalid symbol."}"#,
                UnixNanos(5),
            )
            .unwrap_err();
        assert_eq!(error.reason(), "venue_error");
        assert!(error.to_string().contains("Invalid symbol."));
        assert_eq!(
            parser
                .binance_depth(Venue::BinanceSpot, sym("X"), b"<html>", UnixNanos(5))
                .unwrap_err()
                .reason(),
            "invalid_json"
        );
    }

    #[test]
    fn parses_binance_exchange_info() {
        let body = br#"{"timezone":"UTC","symbols":[
            {"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","filters":[
                {"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
                {"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},
                {"filterType":"NOTIONAL","minNotional":"5.00000000"}]},
            {"symbol":"OLDUSDT","status":"BREAK","filters":[
                {"filterType":"PRICE_FILTER","tickSize":"0.0001"},{"filterType":"LOT_SIZE","stepSize":"1"}]}]}"#;
        let instruments = RestParser::default()
            .binance_exchange_info(Venue::BinanceSpot, body)
            .unwrap();
        assert_eq!(
            instruments[0],
            InstrumentInfo {
                venue: Venue::BinanceSpot,
                symbol: sym("BTCUSDT"),
                tick_size: "0.01".parse().unwrap(),
                lot_size: "0.00001".parse().unwrap(),
                trading: true,
            }
        );
        assert!(!instruments[1].trading);
        let missing = br#"{"symbols":[{"symbol":"X","status":"TRADING","filters":[{"filterType":"LOT_SIZE","stepSize":"1"}]}]}"#;
        assert_eq!(
            RestParser::default()
                .binance_exchange_info(Venue::BinanceSpot, missing)
                .unwrap_err()
                .reason(),
            "missing_field"
        );
        let zero_tick = br#"{"symbols":[{"symbol":"X","status":"TRADING","filters":[{"filterType":"PRICE_FILTER","tickSize":"0"},{"filterType":"LOT_SIZE","stepSize":"1"}]}]}"#;
        assert_eq!(
            RestParser::default()
                .binance_exchange_info(Venue::BinanceSpot, zero_tick)
                .unwrap_err()
                .reason(),
            "invalid_value"
        );
    }

    #[test]
    fn parses_bybit_instruments_for_spot_and_linear() {
        let spot = br#"{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol":"BTCUSDT","baseCoin":"BTC","status":"Trading","lotSizeFilter":{"basePrecision":"0.000001","quotePrecision":"0.00000001","minOrderQty":"0.000048"},"priceFilter":{"tickSize":"0.01"}}]},"time":1}"#;
        let instruments = RestParser::default()
            .bybit_instruments(Venue::BybitSpot, spot)
            .unwrap();
        assert_eq!(
            (instruments[0].tick_size, instruments[0].lot_size),
            ("0.01".parse().unwrap(), "0.000001".parse().unwrap())
        );
        let linear = br#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"BTCUSDT","status":"Trading","lotSizeFilter":{"maxOrderQty":"100","minOrderQty":"0.001","qtyStep":"0.001"},"priceFilter":{"minPrice":"0.10","tickSize":"0.10"}}],"nextPageCursor":""}}"#;
        let instruments = RestParser::default()
            .bybit_instruments(Venue::BybitLinear, linear)
            .unwrap();
        assert_eq!(
            (instruments[0].tick_size, instruments[0].lot_size),
            ("0.1".parse().unwrap(), "0.001".parse().unwrap())
        );
        let empty = br#"{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[]}}"#;
        assert!(
            RestParser::default()
                .bybit_instruments(Venue::BybitSpot, empty)
                .unwrap()
                .is_empty()
        );
        let refused = br#"{"retCode":10001,"retMsg":"params error: symbol invalid","result":{}}"#;
        let error = RestParser::default()
            .bybit_instruments(Venue::BybitSpot, refused)
            .unwrap_err();
        assert!(error.to_string().contains("symbol invalid"), "{error}");
    }

    #[test]
    fn parses_binance_agg_trades_exactly_like_the_stream() {
        let body = br#"[{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27783,"T":1498793709153,"m":true,"M":true},{"a":26130,"p":"0.01633103","q":"1","f":27784,"l":27784,"T":1498793709154,"m":false}]"#;
        let trades = RestParser::default()
            .binance_agg_trades(Venue::BinanceSpot, sym("BNBBTC"), body, UnixNanos(7))
            .unwrap();
        assert_eq!(trades.len(), 2);
        assert_eq!(trades[0].id, TradeId::Number(26129));
        assert_eq!(trades[0].side, Side::Sell, "m: true, the taker sold");
        assert_eq!(trades[0].price, "0.01633102".parse().unwrap());
        assert_eq!(
            trades[0].fills,
            Some(FillRange {
                first: 27781,
                last: 27783
            })
        );
        assert_eq!(trades[0].trade_time, TimestampMs(1498793709153));
        assert!(trades[0].flags.contains(TradeFlags::AGGREGATE));
        assert_eq!(trades[1].side, Side::Buy);
        let empty = RestParser::default()
            .binance_agg_trades(Venue::BinanceUsdm, sym("BTCUSDT"), b"[]", UnixNanos(7))
            .unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn refuses_bad_binance_agg_trades_with_typed_errors() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"code":-1121,"msg":"Invalid symbol."}"#, "venue_error"),
            (
                br#"[{"a":1,"p":"0","q":"1","f":1,"l":1,"T":1,"m":true}]"#,
                "invalid_value",
            ),
            (
                br#"[{"a":1,"p":"1","q":"1","f":5,"l":4,"T":1,"m":true}]"#,
                "invalid_value",
            ),
            (
                br#"[{"a":1,"p":"1","q":"1","f":1,"l":1,"m":true}]"#,
                "missing_field",
            ),
            (
                br#"[{"a":1,"p":1.5,"q":"1","f":1,"l":1,"T":1,"m":true}]"#,
                "wrong_type",
            ),
        ];
        for (body, reason) in cases {
            let err = RestParser::default()
                .binance_agg_trades(Venue::BinanceSpot, sym("BTCUSDT"), body, UnixNanos(0))
                .unwrap_err();
            assert_eq!(err.reason(), reason, "{err}");
        }
    }

    #[test]
    fn parses_bybit_recent_trades_and_refusals() {
        let body = br#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"execId":"20f43950-d8dd-5b31-9112-a178eb6023af","symbol":"BTCUSDT","price":"16578.50","size":"0.001","side":"Sell","time":"1672304486865","isBlockTrade":true,"isRPITrade":false}]},"retExtInfo":{},"time":1672304486868}"#;
        let trades = RestParser::default()
            .bybit_recent_trades(Venue::BybitLinear, sym("BTCUSDT"), body, UnixNanos(1))
            .unwrap();
        assert_eq!(trades.len(), 1);
        assert_eq!(
            trades[0].id,
            TradeId::from_text("20f43950-d8dd-5b31-9112-a178eb6023af")
        );
        assert_eq!(trades[0].side, Side::Sell);
        assert_eq!(trades[0].trade_time, TimestampMs(1672304486865));
        assert!(trades[0].flags.contains(TradeFlags::BLOCK_TRADE));
        let other = br#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"execId":"1","symbol":"ETHUSDT","price":"1","size":"1","side":"Buy","time":"1"}]}}"#;
        assert_eq!(
            RestParser::default()
                .bybit_recent_trades(Venue::BybitLinear, sym("BTCUSDT"), other, UnixNanos(1))
                .unwrap_err()
                .reason(),
            "symbol_mismatch"
        );
        let refused = br#"{"retCode":10001,"retMsg":"params error","result":{}}"#;
        assert_eq!(
            RestParser::default()
                .bybit_recent_trades(Venue::BybitSpot, sym("BTCUSDT"), refused, UnixNanos(1))
                .unwrap_err()
                .reason(),
            "venue_error"
        );
        let bad_time = br#"{"retCode":0,"retMsg":"OK","result":{"list":[{"execId":"1","symbol":"BTCUSDT","price":"1","size":"1","side":"Buy","time":"soon"}]}}"#;
        assert_eq!(
            RestParser::default()
                .bybit_recent_trades(Venue::BybitSpot, sym("BTCUSDT"), bad_time, UnixNanos(1))
                .unwrap_err()
                .reason(),
            "invalid_value"
        );
    }

    proptest::proptest! {
        #[test]
        fn no_trade_answer_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let mut parser = RestParser::default();
            let _ = parser.binance_agg_trades(Venue::BinanceSpot, sym("BTCUSDT"), &body, UnixNanos(0));
            let _ = parser.bybit_recent_trades(Venue::BybitSpot, sym("BTCUSDT"), &body, UnixNanos(0));
        }
    }
}

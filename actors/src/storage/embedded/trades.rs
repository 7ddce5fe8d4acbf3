//! The raw-trade table: append-only, typed columns, insert-only.
//!
//! Raw trades are the bulk of what the daemon writes (every trade of every pair) and never
//! change once made, so their table is built for appending, not for the upserts of the other
//! kinds:
//!
//! - **Typed columns**, no JSON body: ids, times, side and flags as integers; price and size as
//!   their exact 10^-12 units when those fit 64 bits (nearly always), else as exact decimal
//!   text (SQLite keeps each value's own type, and both read back to the same decimal).
//! - **One key, no index**: a `WITHOUT ROWID` table keyed by `(venue, symbol, time, id)`, which
//!   serves range reads and the sweep itself, so an insert updates one B-tree rather than two
//!   (1.7 times the rows per second for the daemon's interleaved pairs; storage README). The
//!   key still names one trade: a venue stamps a trade once, and the socket, its REST
//!   history and its archive files all carry that stamp (archive times in micro- or
//!   fractional seconds are cut to the millisecond, as the venues' own millisecond times
//!   are), so a trade repeated by a retry, a replay or a repair is ignored, never written
//!   twice. Schema 2 keyed by `(venue, symbol, id)` with a separate time index; a file of it
//!   is converted when opened ([`migrate_from_v2`]).
//! - **Insert-only**: `INSERT OR IGNORE`, many rows per statement, prepared
//!   once per connection.
//!
//! Ids: a numeric id up to `i64::MAX` is an integer, a UUID its 16 bytes (a blob, which sorts
//! as the UUID does), anything else text; so ties in time read back in id order (numbers
//! numerically), as before.

use std::collections::BTreeSet;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, Statement, Transaction};

use crate::model::{
    FillRange, Price, Qty, Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos, Venue,
};

/// The table's schema (version 3 of the file). `id`, `price` and `qty` have no declared type
/// (no affinity): each value keeps the type it was bound with, integer, text or blob.
pub(super) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS trades (
        venue TEXT NOT NULL, symbol TEXT NOT NULL, id NOT NULL, time INTEGER NOT NULL,
        price NOT NULL, qty NOT NULL, side INTEGER NOT NULL, flags INTEGER NOT NULL,
        event_time INTEGER NOT NULL, received_at INTEGER NOT NULL,
        sequence INTEGER, fill_first INTEGER, fill_last INTEGER,
        PRIMARY KEY (venue, symbol, time, id)) WITHOUT ROWID;";

/// Columns per row.
const COLUMNS: usize = 13;
/// Rows per multi-row insert (13 x 64 parameters, well under SQLite's limit).
pub(super) const ROWS_PER_INSERT: usize = 64;

/// The insert of `rows` trades.
pub(super) fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT OR IGNORE INTO trades (venue, symbol, id, time, price, qty, side, flags, event_time, \
         received_at, sequence, fill_first, fill_last) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?,?,?,?,?,?)");
    }
    sql
}

/// The columns of a select that [`from_row`] reads, in its order.
pub(super) const SELECT_COLUMNS: &str = "venue, symbol, id, time, price, qty, side, flags, \
    event_time, received_at, sequence, fill_first, fill_last";

/// A 64-bit value stored bit for bit (sequences and fill ids are never compared in SQL).
#[allow(clippy::cast_possible_wrap)]
const fn bits(value: u64) -> i64 {
    value as i64
}

#[allow(clippy::cast_sign_loss)]
const fn unbits(value: i64) -> u64 {
    value as u64
}

/// Binds the 13 columns of `trade` at `first` (1-based) and after.
fn bind(statement: &mut Statement<'_>, first: usize, trade: &Trade) -> rusqlite::Result<()> {
    let at = |column: usize| first + column;
    statement.raw_bind_parameter(at(0), trade.venue.as_str())?;
    statement.raw_bind_parameter(at(1), trade.symbol.as_str())?;
    match &trade.id {
        TradeId::Number(n) => match i64::try_from(*n) {
            Ok(n) => statement.raw_bind_parameter(at(2), n)?,
            Err(_) => statement.raw_bind_parameter(at(2), n.to_string())?,
        },
        TradeId::Uuid(bits) => statement.raw_bind_parameter(at(2), bits.to_be_bytes())?,
        TradeId::Text(text) => statement.raw_bind_parameter(at(2), &**text)?,
    }
    statement.raw_bind_parameter(at(3), trade.trade_time.as_millis())?;
    match i64::try_from(trade.price.units()) {
        Ok(units) => statement.raw_bind_parameter(at(4), units)?,
        Err(_) => statement.raw_bind_parameter(at(4), trade.price.to_string())?,
    }
    match i64::try_from(trade.qty.units()) {
        Ok(units) => statement.raw_bind_parameter(at(5), units)?,
        Err(_) => statement.raw_bind_parameter(at(5), trade.qty.to_string())?,
    }
    statement.raw_bind_parameter(
        at(6),
        match trade.side {
            Side::Buy => 0,
            Side::Sell => 1,
        },
    )?;
    statement.raw_bind_parameter(at(7), i64::from(trade.flags.bits()))?;
    statement.raw_bind_parameter(at(8), trade.event_time.as_millis())?;
    statement.raw_bind_parameter(at(9), trade.received_at.0)?;
    statement.raw_bind_parameter(at(10), trade.sequence.map(bits))?;
    statement.raw_bind_parameter(at(11), trade.fills.map(|f| bits(f.first)))?;
    statement.raw_bind_parameter(at(12), trade.fills.map(|f| bits(f.last)))?;
    Ok(())
}

/// Inserts `trades` inside `tx`, ignoring those already stored; every trade is then in the
/// table.
pub(super) fn insert(tx: &Transaction<'_>, trades: &[&Trade]) -> rusqlite::Result<()> {
    let mut chunks = trades.chunks_exact(ROWS_PER_INSERT);
    if chunks.len() > 0 {
        let mut statement = tx.prepare_cached(&insert_sql(ROWS_PER_INSERT))?;
        for chunk in chunks.by_ref() {
            for (row, trade) in chunk.iter().enumerate() {
                bind(&mut statement, 1 + row * COLUMNS, trade)?;
            }
            statement.raw_execute()?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut statement = tx.prepare_cached(&insert_sql(1))?;
        for trade in rest {
            bind(&mut statement, 1, trade)?;
            statement.raw_execute()?;
        }
    }
    Ok(())
}

/// Why a stored row could not be read back.
fn corrupt(column: &str, value: ValueRef<'_>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        value.data_type(),
        format!("trades.{column}: unreadable value").into(),
    )
}

fn text<'a>(row: &'a Row<'_>, index: usize, column: &str) -> rusqlite::Result<&'a str> {
    match row.get_ref(index)? {
        ValueRef::Text(bytes) => {
            std::str::from_utf8(bytes).map_err(|_| corrupt(column, ValueRef::Text(bytes)))
        }
        other => Err(corrupt(column, other)),
    }
}

fn decimal<T: std::str::FromStr>(
    row: &Row<'_>,
    index: usize,
    column: &str,
    from_units: fn(i128) -> T,
) -> rusqlite::Result<T> {
    match row.get_ref(index)? {
        ValueRef::Integer(units) => Ok(from_units(i128::from(units))),
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| corrupt(column, ValueRef::Text(bytes))),
        other => Err(corrupt(column, other)),
    }
}

fn optional_bits(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<u64>> {
    Ok(row.get::<_, Option<i64>>(index)?.map(unbits))
}

/// Reads a row selected with [`SELECT_COLUMNS`].
pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Trade> {
    let venue: Venue = text(row, 0, "venue")?
        .parse()
        .map_err(|_| corrupt("venue", ValueRef::Null))?;
    let symbol =
        Symbol::new(text(row, 1, "symbol")?).map_err(|_| corrupt("symbol", ValueRef::Null))?;
    let id = match row.get_ref(2)? {
        ValueRef::Integer(n) => {
            TradeId::Number(u64::try_from(n).map_err(|_| corrupt("id", ValueRef::Integer(n)))?)
        }
        ValueRef::Blob(bytes) => TradeId::Uuid(u128::from_be_bytes(
            bytes
                .try_into()
                .map_err(|_| corrupt("id", ValueRef::Blob(bytes)))?,
        )),
        ValueRef::Text(bytes) => TradeId::from_text(
            std::str::from_utf8(bytes).map_err(|_| corrupt("id", ValueRef::Text(bytes)))?,
        ),
        other => return Err(corrupt("id", other)),
    };
    let side = match row.get::<_, i64>(6)? {
        0 => Side::Buy,
        1 => Side::Sell,
        other => return Err(corrupt("side", ValueRef::Integer(other))),
    };
    let flags = u8::try_from(row.get::<_, i64>(7)?)
        .map(TradeFlags::from_bits)
        .map_err(|_| corrupt("flags", ValueRef::Null))?;
    let fills = match (optional_bits(row, 11)?, optional_bits(row, 12)?) {
        (Some(first), Some(last)) => Some(FillRange { first, last }),
        _ => None,
    };
    Ok(Trade {
        venue,
        symbol,
        id,
        price: decimal(row, 4, "price", Price::from_units)?,
        qty: decimal(row, 5, "qty", Qty::from_units)?,
        side,
        trade_time: TimestampMs(row.get(3)?),
        event_time: TimestampMs(row.get(8)?),
        received_at: UnixNanos(row.get(9)?),
        flags,
        sequence: optional_bits(row, 10)?,
        fills,
    })
}

/// The (venue, symbol) pairs that have trades stored.
pub(super) fn pairs(connection: &Connection) -> rusqlite::Result<BTreeSet<(String, String)>> {
    let mut statement = connection.prepare("SELECT DISTINCT venue, symbol FROM trades")?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// Deletes the oldest trades of one pair older than `cutoff`, about `chunk` of them: those
/// up to the time of the `chunk`-th oldest (so at least `chunk` while that many are left,
/// and more only by trades sharing that millisecond); returns how many.
pub(super) fn sweep_chunk(
    connection: &Connection,
    venue: &str,
    symbol: &str,
    cutoff: i64,
    chunk: usize,
) -> rusqlite::Result<usize> {
    let mut statement = connection.prepare_cached(
        "DELETE FROM trades WHERE venue = ?1 AND symbol = ?2 AND time < ?3
           AND time <= COALESCE((SELECT time FROM trades
               WHERE venue = ?1 AND symbol = ?2 AND time < ?3
               ORDER BY time LIMIT 1 OFFSET ?4 - 1), ?3)",
    )?;
    statement.execute(rusqlite::params![
        venue,
        symbol,
        cutoff,
        i64::try_from(chunk).unwrap_or(i64::MAX)
    ])
}

/// Moves the trades of a version-2 file (keyed by id, with a time index) into the table
/// keyed by time and id, inside the migration's transaction. Returns how many were moved.
pub(super) fn migrate_from_v2(tx: &Transaction<'_>) -> rusqlite::Result<usize> {
    tx.execute_batch("DROP INDEX IF EXISTS trades_range; ALTER TABLE trades RENAME TO trades_v2;")?;
    tx.execute_batch(SCHEMA)?;
    let moved = tx.execute(
        &format!(
            "INSERT OR IGNORE INTO trades ({SELECT_COLUMNS}) SELECT {SELECT_COLUMNS} FROM trades_v2 \
             ORDER BY venue, symbol, time, id"
        ),
        [],
    )?;
    tx.execute_batch("DROP TABLE trades_v2;")?;
    Ok(moved)
}

/// Moves the trades of a version-1 file (a JSON body per row) into the typed table, inside
/// the migration's transaction. Returns how many were moved.
pub(super) fn migrate_from_json(tx: &Transaction<'_>) -> Result<usize, String> {
    tx.execute_batch(
        "DROP INDEX IF EXISTS trades_key; DROP INDEX IF EXISTS trades_range;
         DROP INDEX IF EXISTS trades_time; ALTER TABLE trades RENAME TO trades_v1;",
    )
    .map_err(|e| e.to_string())?;
    tx.execute_batch(SCHEMA).map_err(|e| e.to_string())?;
    let mut moved = 0;
    {
        let mut select = tx
            .prepare("SELECT doc FROM trades_v1")
            .map_err(|e| e.to_string())?;
        let mut rows = select.query([]).map_err(|e| e.to_string())?;
        let mut batch: Vec<Trade> = Vec::new();
        loop {
            let row = rows.next().map_err(|e| e.to_string())?;
            if let Some(row) = row {
                let doc: String = row.get(0).map_err(|e| e.to_string())?;
                let trade: Trade = serde_json::from_str(&doc)
                    .map_err(|e| format!("a stored trade is unreadable: {e}"))?;
                batch.push(trade);
            }
            if batch.len() == 10_000 || (row.is_none() && !batch.is_empty()) {
                let refs: Vec<&Trade> = batch.iter().collect();
                insert(tx, &refs).map_err(|e| e.to_string())?;
                moved += batch.len();
                batch.clear();
            }
            if row.is_none() {
                break;
            }
        }
    }
    tx.execute_batch("DROP TABLE trades_v1;")
        .map_err(|e| e.to_string())?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        connection
    }

    fn add(connection: &Connection, symbol: &str, id: i64, time: i64) {
        connection
            .execute(
                &format!(
                    "INSERT INTO trades ({SELECT_COLUMNS}) VALUES \
                     ('binance-spot', ?1, ?2, ?3, 1, 1, 0, 0, ?3, 0, NULL, NULL, NULL)"
                ),
                rusqlite::params![symbol, id, time],
            )
            .unwrap();
    }

    fn count(connection: &Connection, symbol: &str) -> i64 {
        connection
            .query_row(
                "SELECT COUNT(*) FROM trades WHERE symbol = ?1",
                [symbol],
                |row| row.get(0),
            )
            .unwrap()
    }

    #[test]
    fn a_sweep_chunk_deletes_the_oldest_of_one_pair_and_progresses_through_ties() {
        let connection = table();
        // Ten trades in one millisecond, then five later ones; another pair untouched.
        for id in 0..10 {
            add(&connection, "BTCUSDT", id, 1_000);
        }
        for id in 10..15 {
            add(&connection, "BTCUSDT", id, 2_000 + id);
        }
        add(&connection, "ETHUSDT", 1, 1_000);
        let sweep = |chunk| sweep_chunk(&connection, "binance-spot", "BTCUSDT", 2_013, chunk);
        // Three asked for: the whole tied millisecond goes (a chunk never stalls on ties).
        assert_eq!(sweep(3).unwrap(), 10);
        assert_eq!(sweep(2).unwrap(), 2);
        // Fewer left than the chunk: all older than the cutoff, the rest kept.
        assert_eq!(sweep(5).unwrap(), 1);
        assert_eq!(sweep(5).unwrap(), 0);
        assert_eq!(count(&connection, "BTCUSDT"), 2);
        assert_eq!(count(&connection, "ETHUSDT"), 1);
    }
}

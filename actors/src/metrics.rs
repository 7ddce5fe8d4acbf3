//! Metric names of the actors crate, with their help text. Labels come only from bounded
//! sets: configured venues and symbols, and enum-backed reasons and kinds.

/// Gauge: 1 while a venue endpoint's socket is connected and streaming, else 0. Labels:
/// `venue`, `endpoint` (`stream`, `public`, `market`).
pub const WS_CONNECTED: &str = "wadm_ws_connected";
/// Counter: WebSocket frames received, by `venue` and `kind` (a frame kind, `ping`, `binary`...).
pub const WS_MESSAGES_RECEIVED_TOTAL: &str = "wadm_ws_messages_received_total";
/// Counter: WebSocket payload bytes received, by `venue`.
pub const WS_RECEIVED_BYTES_TOTAL: &str = "wadm_ws_received_bytes_total";
/// Counter: connections replaced or lost, by `venue` and `reason`.
pub const WS_RECONNECTS_TOTAL: &str = "wadm_ws_reconnects_total";
/// Counter: connection attempts, by `venue` and `outcome` (`connected`, `failed`).
pub const WS_CONNECT_ATTEMPTS_TOTAL: &str = "wadm_ws_connect_attempts_total";
/// Counter: connection attempts delayed by the global attempt budget, by `venue`.
pub const WS_BUDGET_WAITS_TOTAL: &str = "wadm_ws_connect_budget_waits_total";
/// Counter: frames that could not be parsed, by `venue` and `reason`.
pub const WS_PARSE_ERRORS_TOTAL: &str = "wadm_ws_parse_errors_total";
/// Counter: subscription answers, by `venue` and `outcome` (`ack`, `rejected`, `timeout`).
pub const WS_SUBSCRIPTIONS_TOTAL: &str = "wadm_ws_subscription_responses_total";
/// Counter: watchdog trips, by `venue` and `class` (`transport`, `book`, `trades`).
pub const WS_WATCHDOG_TRIPS_TOTAL: &str = "wadm_ws_watchdog_trips_total";
/// Counter: outgoing control messages dropped because the writer queue was full, by `venue`.
pub const WS_OUTGOING_DROPPED_TOTAL: &str = "wadm_ws_outgoing_dropped_total";
/// Histogram: venue event time to local receive time, in seconds, by `venue`.
pub const FEED_LAG_SECONDS: &str = "wadm_feed_lag_seconds";
/// Histogram: a trade frame's local receive time to the moment its trades are in the
/// aggregator's state (bars, windows, session), in seconds, by `venue`.
pub const PIPELINE_LATENCY_SECONDS: &str = "wadm_pipeline_latency_seconds";
/// Counter: local books rebuilt from a snapshot, by `venue` and `symbol`.
pub const BOOK_RESYNCS_TOTAL: &str = "wadm_book_resyncs_total";
/// Counter: REST depth snapshots that did not fit the diff stream, by `venue` and `reason`
/// (`too_old`, `too_new`).
pub const BOOK_UNUSABLE_SNAPSHOTS_TOTAL: &str = "wadm_book_unusable_snapshots_total";
/// Counter: book diffs dropped from a full pre-snapshot buffer, by `venue`.
pub const BOOK_BUFFER_DROPPED_TOTAL: &str = "wadm_book_buffer_dropped_total";
/// Counter: REST requests, by `venue`, `kind` (`depth`, `instruments`) and `outcome`.
pub const REST_REQUESTS_TOTAL: &str = "wadm_rest_requests_total";
/// Gauge: REST weight (Binance) or requests (Bybit) used in the venue's current window, by
/// `venue`.
pub const REST_WEIGHT_USED: &str = "wadm_rest_weight_used";
/// Counter: REST requests that waited for the venue's budget, by `venue` and `priority`
/// (`book`, `metadata`, `backfill`).
pub const REST_BUDGET_WAITS_TOTAL: &str = "wadm_rest_budget_waits_total";
/// Counter: HTTP 429 (rate limited) and 418 (IP banned) answers, by `venue` and `status`.
pub const REST_RATE_LIMITED_TOTAL: &str = "wadm_rest_rate_limited_total";
/// Counter: trades fetched by repair and backfill, by `venue` and `outcome` (`taken`,
/// `duplicate`, `too_old`).
pub const BACKFILL_TRADES_TOTAL: &str = "wadm_backfill_trades_total";
/// Counter: REST requests of repair and backfill, by `venue`.
pub const BACKFILL_REQUESTS_TOTAL: &str = "wadm_backfill_requests_total";
/// Counter: repair and backfill jobs finished, by `venue` and `outcome` (`repaired`,
/// `unrepairable`).
pub const BACKFILL_JOBS_TOTAL: &str = "wadm_backfill_jobs_total";
/// Gauge: repair and backfill jobs running or waiting, by `venue`.
pub const BACKFILL_PENDING_JOBS: &str = "wadm_backfill_pending_jobs";
/// Counter: data-quality events (gaps, resyncs, reconnects...), by `venue` and `kind`.
pub const DATA_QUALITY_EVENTS_TOTAL: &str = "wadm_data_quality_events_total";
/// Counter: messages routed to aggregators, by `venue`.
pub const ROUTER_MESSAGES_TOTAL: &str = "wadm_router_messages_total";
/// Counter: messages not delivered to an aggregator, by `venue` and `reason`.
pub const ROUTER_DROPPED_TOTAL: &str = "wadm_router_dropped_total";
/// Counter: trades inside messages not delivered to an aggregator, by `venue` and `reason`.
pub const ROUTER_TRADES_DROPPED_TOTAL: &str = "wadm_router_trades_dropped_total";
/// Counter: trades taken into bars, by `venue`.
pub const AGGREGATOR_TRADES_TOTAL: &str = "wadm_aggregator_trades_total";
/// Counter: trades refused by an aggregator as already taken (a reconnect or an overlapping
/// socket repeating them, a warm start or REST repair bringing them again), by `venue`.
pub const AGGREGATOR_DUPLICATE_TRADES_TOTAL: &str = "wadm_aggregator_duplicate_trades_total";
/// Counter: warm starts of aggregators, by `venue` and `outcome` (`warm`, `cold`,
/// `failed`, `timeout`).
pub const AGGREGATOR_WARM_STARTS_TOTAL: &str = "wadm_aggregator_warm_starts_total";
/// Counter: late trades (for a closed minute) that amended bars, by `venue`.
pub const AGGREGATOR_LATE_TRADES_TOTAL: &str = "wadm_aggregator_late_trades_total";
/// Counter: trades not taken into bars, by `venue` and `reason` (`too_late`, `future_time`,
/// `implausible_time`, `row_size_unknown`).
pub const AGGREGATOR_TRADES_DROPPED_TOTAL: &str = "wadm_aggregator_trades_dropped_total";
/// Counter: live trades stamped ahead of the local clock and held until it reached them, by
/// `venue`.
pub const AGGREGATOR_TRADES_HELD_TOTAL: &str = "wadm_aggregator_trades_held_total";
/// Counter: bars closed, by `venue` and `timeframe`.
pub const AGGREGATOR_BARS_CLOSED_TOTAL: &str = "wadm_aggregator_bars_closed_total";
/// Counter: venue candles compared with trade-derived bars, by `venue` and `outcome`
/// (`match`, `mismatch`, `skipped`).
pub const AGGREGATOR_KLINE_CHECKS_TOTAL: &str = "wadm_aggregator_kline_checks_total";
/// Counter: records for persistence dropped because its queue was full, by `venue` and `kind`.
pub const AGGREGATOR_RECORDS_DROPPED_TOTAL: &str = "wadm_aggregator_records_dropped_total";
/// Counter: frames written to recordings, by `venue`.
pub const RECORDER_FRAMES_TOTAL: &str = "wadm_recorder_frames_total";
/// Counter: frames not recorded (queue full or write error), by `reason`.
pub const RECORDER_DROPPED_TOTAL: &str = "wadm_recorder_dropped_total";
/// Gauge: documents held by persistence (buffered and being written).
pub const PERSISTENCE_BUFFERED_DOCUMENTS: &str = "wadm_persistence_buffered_documents";
/// Histogram: documents per batch written.
pub const PERSISTENCE_BATCH_DOCUMENTS: &str = "wadm_persistence_batch_documents";
/// Histogram: duration of successful batch writes.
pub const PERSISTENCE_FLUSH_DURATION_SECONDS: &str = "wadm_persistence_flush_duration_seconds";
/// Counter: documents written, by `kind`.
pub const PERSISTENCE_WRITTEN_TOTAL: &str = "wadm_persistence_documents_written_total";
/// Counter: documents dropped, by `kind` and `reason` (`buffer_full`, `rejected`, `shutdown`).
pub const PERSISTENCE_DROPPED_TOTAL: &str = "wadm_persistence_documents_dropped_total";
/// Counter: documents not written because they were already older than their kind's
/// retention (a backfill of trades the sweep would delete at once), by `kind`.
pub const PERSISTENCE_EXPIRED_TOTAL: &str = "wadm_persistence_expired_documents_total";
/// Counter: failed batch writes, by `reason` (`unavailable`, `rejected`).
pub const PERSISTENCE_WRITE_FAILURES_TOTAL: &str = "wadm_persistence_write_failures_total";
/// Gauge: 1 while the last store write succeeded, else 0.
pub const PERSISTENCE_STORE_AVAILABLE: &str = "wadm_persistence_store_available";
/// Counter: documents deleted by the retention sweep, by `kind`.
pub const PERSISTENCE_SWEPT_TOTAL: &str = "wadm_persistence_swept_documents_total";

/// Counter: API requests answered, by `route` (a route template or `unmatched`) and `status`.
pub const API_REQUESTS_TOTAL: &str = "wadm_api_requests_total";
/// Histogram: time to answer an API request, by `route`.
pub const API_REQUEST_DURATION_SECONDS: &str = "wadm_api_request_duration_seconds";
/// Counter: API requests refused for their key, by `reason` (`missing`, `invalid`, `proxied`).
pub const API_AUTH_FAILURES_TOTAL: &str = "wadm_api_auth_failures_total";
/// Counter: API requests refused by the rate limit, by `subject` (`key`, `ip`).
pub const API_RATE_LIMITED_TOTAL: &str = "wadm_api_rate_limited_total";
/// Gauge: API connections open.
pub const API_CONNECTIONS_OPEN: &str = "wadm_api_connections_open";
/// Counter: API connections closed at once because `api.max_connections` were open and busy.
pub const API_CONNECTIONS_REJECTED_TOTAL: &str = "wadm_api_connections_rejected_total";
/// Counter: idle API connections closed to make room for a new one.
pub const API_CONNECTIONS_EVICTED_TOTAL: &str = "wadm_api_connections_evicted_total";
/// Counter: API connections ended by an error, by `reason` (`header_timeout`, `idle`,
/// `parse`, `closed`, `io`, `accept`).
pub const API_CONNECTION_ERRORS_TOTAL: &str = "wadm_api_connection_errors_total";
/// Counter: API requests answered 503 because `api.max_concurrent_requests` were being
/// answered.
pub const API_OVERLOADED_TOTAL: &str = "wadm_api_overloaded_total";
/// Counter: API requests whose answering panicked (answered 500).
pub const API_PANICS_TOTAL: &str = "wadm_api_panics_total";

/// Registers the help text of every metric of this crate.
/// Creates the drop counters at zero for every bounded label value, so that dashboards and
/// alert rules (`increase(...)`) see a series before the first drop.
pub fn initialize(venues: &[crate::model::Venue]) {
    for venue in venues {
        metrics::counter!(AGGREGATOR_DUPLICATE_TRADES_TOTAL, "venue" => venue.as_str())
            .increment(0);
        for status in ["429", "418"] {
            metrics::counter!(REST_RATE_LIMITED_TOTAL, "venue" => venue.as_str(), "status" => status)
                .increment(0);
        }
        for kind in ["bar", "book", "trades", "kline"] {
            metrics::counter!(AGGREGATOR_RECORDS_DROPPED_TOTAL, "venue" => venue.as_str(), "kind" => kind)
                .increment(0);
        }
        for reason in crate::routing::DROP_REASONS {
            metrics::counter!(ROUTER_DROPPED_TOTAL, "venue" => venue.as_str(), "reason" => reason)
                .increment(0);
            metrics::counter!(ROUTER_TRADES_DROPPED_TOTAL, "venue" => venue.as_str(), "reason" => reason)
                .increment(0);
        }
    }
    for kind in crate::storage::Kind::ALL {
        for reason in crate::persistence::DROP_REASONS {
            metrics::counter!(PERSISTENCE_DROPPED_TOTAL, "kind" => kind.as_str(), "reason" => reason)
                .increment(0);
        }
    }
}

/// Registers the help text of every metric of this crate.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        WS_CONNECTED,
        "1 while the venue endpoint's socket is connected and streaming, else 0."
    );
    describe_counter!(
        WS_MESSAGES_RECEIVED_TOTAL,
        "WebSocket frames received, by venue and frame kind."
    );
    describe_counter!(
        WS_RECEIVED_BYTES_TOTAL,
        metrics::Unit::Bytes,
        "WebSocket payload bytes received, by venue."
    );
    describe_counter!(
        WS_RECONNECTS_TOTAL,
        "Connections lost or replaced, by venue and reason."
    );
    describe_counter!(
        WS_CONNECT_ATTEMPTS_TOTAL,
        "WebSocket connection attempts, by venue and outcome."
    );
    describe_counter!(
        WS_BUDGET_WAITS_TOTAL,
        "Connection attempts delayed by the global connection-attempt budget."
    );
    describe_counter!(
        WS_PARSE_ERRORS_TOTAL,
        "Frames that could not be parsed (counted, logged, skipped), by venue and reason."
    );
    describe_counter!(
        WS_SUBSCRIPTIONS_TOTAL,
        "Answers to subscription requests, by venue and outcome (ack, rejected, timeout)."
    );
    describe_counter!(
        WS_WATCHDOG_TRIPS_TOTAL,
        "Watchdog trips, by venue and class (transport: no frame at all; book or trades: no data of that class)."
    );
    describe_counter!(
        WS_OUTGOING_DROPPED_TOTAL,
        "Outgoing control messages dropped because the socket writer's queue was full."
    );
    describe_histogram!(
        FEED_LAG_SECONDS,
        metrics::Unit::Seconds,
        "Venue event time to local receive time."
    );
    describe_histogram!(
        PIPELINE_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "Trade frame received to its trades applied by the aggregator (parse, dedupe, route, queue, aggregate)."
    );
    describe_counter!(
        BOOK_UNUSABLE_SNAPSHOTS_TOTAL,
        "REST depth snapshots that did not fit the diff stream, by venue and reason (too_old, too_new)."
    );
    describe_counter!(
        BOOK_RESYNCS_TOTAL,
        "Local books rebuilt from a fresh snapshot, by venue and symbol."
    );
    describe_counter!(
        BOOK_BUFFER_DROPPED_TOTAL,
        "Book diffs dropped from a full buffer while waiting for a snapshot."
    );
    describe_counter!(
        REST_REQUESTS_TOTAL,
        "REST requests to venues, by venue, kind and outcome."
    );
    describe_gauge!(
        REST_WEIGHT_USED,
        "REST weight (Binance) or requests (Bybit) used in the venue's current rate-limit window."
    );
    describe_counter!(
        REST_BUDGET_WAITS_TOTAL,
        "REST requests that waited for the venue's budget, by venue and priority (book, metadata, backfill)."
    );
    describe_counter!(
        REST_RATE_LIMITED_TOTAL,
        "HTTP 429 (rate limited) and 418 (IP banned) answers, by venue and status: every REST request to the venue then waits for Retry-After."
    );
    describe_counter!(
        BACKFILL_TRADES_TOTAL,
        "Trades fetched by repair and backfill, by venue and outcome (taken, duplicate, too_old)."
    );
    describe_counter!(
        BACKFILL_REQUESTS_TOTAL,
        "REST requests of repair and backfill, by venue."
    );
    describe_counter!(
        BACKFILL_JOBS_TOTAL,
        "Repair and backfill jobs finished, by venue and outcome (repaired, unrepairable)."
    );
    describe_gauge!(
        BACKFILL_PENDING_JOBS,
        "Repair and backfill jobs running or waiting, by venue."
    );
    describe_counter!(
        DATA_QUALITY_EVENTS_TOTAL,
        "Data-quality events (gaps, resyncs, reconnects, rejections, drops), by venue and kind."
    );
    describe_counter!(
        ROUTER_TRADES_DROPPED_TOTAL,
        "Trades inside messages not delivered to an aggregator, by venue and reason (overload, no_aggregator, aggregator_restart)."
    );
    describe_counter!(
        ROUTER_MESSAGES_TOTAL,
        "Messages routed to aggregators, by venue."
    );
    describe_counter!(
        ROUTER_DROPPED_TOTAL,
        "Messages not delivered to an aggregator, by venue and reason (overload, no_aggregator, aggregator_restart)."
    );
    describe_counter!(AGGREGATOR_TRADES_TOTAL, "Trades taken into bars, by venue.");
    describe_counter!(
        AGGREGATOR_DUPLICATE_TRADES_TOTAL,
        "Trades refused as already taken (repeated by a reconnect or an overlapping socket, or brought again by a warm start or REST), by venue."
    );
    describe_counter!(
        AGGREGATOR_WARM_STARTS_TOTAL,
        "Aggregator starts by venue and outcome (warm: state rebuilt from the store; cold: nothing stored; failed or timeout: the store did not answer in time)."
    );
    describe_counter!(
        AGGREGATOR_LATE_TRADES_TOTAL,
        "Late trades (for an already closed minute) that amended bars, by venue."
    );
    describe_counter!(
        AGGREGATOR_TRADES_DROPPED_TOTAL,
        "Trades not taken into bars, by venue and reason (too_late, future_time, implausible_time, row_size_unknown)."
    );
    describe_counter!(
        AGGREGATOR_TRADES_HELD_TOTAL,
        "Live trades stamped ahead of the local clock, held until it reached them, by venue."
    );
    describe_counter!(
        AGGREGATOR_BARS_CLOSED_TOTAL,
        "Bars closed, by venue and timeframe."
    );
    describe_counter!(
        AGGREGATOR_KLINE_CHECKS_TOTAL,
        "Venue 1-minute candles compared with trade-derived bars, by venue and outcome (match, mismatch, skipped)."
    );
    describe_counter!(
        AGGREGATOR_RECORDS_DROPPED_TOTAL,
        "Records for persistence dropped because its queue was full, by venue and kind."
    );
    describe_counter!(
        RECORDER_FRAMES_TOTAL,
        "Raw frames written to recordings, by venue."
    );
    describe_counter!(
        RECORDER_DROPPED_TOTAL,
        "Raw frames not recorded, by reason (queue_full, write_error)."
    );
    describe_counter!(
        API_REQUESTS_TOTAL,
        "API requests answered, by route template and HTTP status."
    );
    describe_histogram!(
        API_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer an API request, by route template."
    );
    describe_counter!(
        API_AUTH_FAILURES_TOTAL,
        "API requests refused for their key, by reason (missing, invalid, proxied)."
    );
    describe_counter!(
        API_RATE_LIMITED_TOTAL,
        "API requests refused by the rate limit, by subject (key, ip)."
    );
    describe_gauge!(API_CONNECTIONS_OPEN, "API connections open.");
    describe_counter!(
        API_CONNECTIONS_REJECTED_TOTAL,
        "API connections closed at once: api.max_connections open and every one busy."
    );
    describe_counter!(
        API_CONNECTIONS_EVICTED_TOTAL,
        "Idle API connections closed to make room for a new one."
    );
    describe_counter!(
        API_CONNECTION_ERRORS_TOTAL,
        "API connections ended by an error, by reason (header_timeout, idle, parse, closed, io, accept)."
    );
    describe_counter!(
        API_OVERLOADED_TOTAL,
        "API requests answered 503 because api.max_concurrent_requests were being answered."
    );
    describe_counter!(
        API_PANICS_TOTAL,
        "API requests whose answering panicked (answered 500)."
    );
    describe_gauge!(
        PERSISTENCE_BUFFERED_DOCUMENTS,
        "Documents held by persistence, buffered or being written."
    );
    describe_histogram!(
        PERSISTENCE_BATCH_DOCUMENTS,
        "Documents per batch written to the store."
    );
    describe_histogram!(
        PERSISTENCE_FLUSH_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Duration of successful batch writes."
    );
    describe_counter!(
        PERSISTENCE_WRITTEN_TOTAL,
        "Documents written to the store, by kind."
    );
    describe_counter!(
        PERSISTENCE_DROPPED_TOTAL,
        "Documents not written, by kind and reason (buffer_full, rejected, shutdown)."
    );
    describe_counter!(
        PERSISTENCE_EXPIRED_TOTAL,
        "Documents not written because they were already older than their kind's retention, by kind."
    );
    describe_counter!(
        PERSISTENCE_WRITE_FAILURES_TOTAL,
        "Failed batch writes, by reason (unavailable, rejected)."
    );
    describe_gauge!(
        PERSISTENCE_STORE_AVAILABLE,
        "1 while the last store write succeeded, else 0."
    );
    describe_counter!(
        PERSISTENCE_SWEPT_TOTAL,
        "Documents deleted by the retention sweep, by kind."
    );
}

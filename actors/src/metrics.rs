//! Metric names of the actors crate, their catalogue (kind, unit, help text) and the label
//! sets they are initialised with. A leaf: labels come only from bounded sets (configured
//! venues and symbols, and the reasons and kinds listed here), and nothing here imports the
//! rest of the crate.

use metrics::Unit;

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
pub const WS_CONNECT_BUDGET_WAITS_TOTAL: &str = "wadm_ws_connect_budget_waits_total";
/// Counter: frames that could not be parsed, by `venue` and `reason`.
pub const WS_PARSE_ERRORS_TOTAL: &str = "wadm_ws_parse_errors_total";
/// Counter: subscription answers, by `venue` and `outcome` (`ack`, `rejected`, `timeout`).
pub const WS_SUBSCRIPTION_RESPONSES_TOTAL: &str = "wadm_ws_subscription_responses_total";
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
/// Counter: trades from the venue (live, or fetched by a repair) taken into bars, by
/// `venue`; each once (a warm start's replay is counted in
/// [`AGGREGATOR_TRADES_RESTORED_TOTAL`]).
pub const AGGREGATOR_TRADES_TOTAL: &str = "wadm_aggregator_trades_total";
/// Counter: stored raw trades a warm start took into bars again (an earlier incarnation or
/// run took them from the venue and counted them in [`AGGREGATOR_TRADES_TOTAL`]), by `venue`.
pub const AGGREGATOR_TRADES_RESTORED_TOTAL: &str = "wadm_aggregator_trades_restored_total";
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
/// Counter: alerts fired, by `rule`.
pub const ALERTS_FIRED_TOTAL: &str = "wadm_alerts_fired_total";
/// Counter: alerts not fired because the rule's cooldown had not passed, by `rule`.
pub const ALERTS_SUPPRESSED_TOTAL: &str = "wadm_alerts_suppressed_total";
/// Counter: alert deliveries by `destination` and `outcome` (delivered, failed, dropped).
pub const ALERT_DELIVERIES_TOTAL: &str = "wadm_alert_deliveries_total";
/// Gauge: alerts waiting in the delivery queue.
pub const ALERT_QUEUE_DEPTH: &str = "wadm_alert_queue_depth";
/// Counter: alert log records that could not be queued for the store.
pub const ALERT_LOG_DROPPED_TOTAL: &str = "wadm_alert_log_dropped_total";
/// Counter: liquidations and derivatives values not taken into bars, by `venue` and `reason`.
pub const AGGREGATOR_DERIVATIVES_DROPPED_TOTAL: &str = "wadm_aggregator_derivatives_dropped_total";
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
pub const PERSISTENCE_DOCUMENTS_WRITTEN_TOTAL: &str = "wadm_persistence_documents_written_total";
/// Counter: documents dropped, by `kind` and `reason` (`buffer_full`, `rejected`, `shutdown`).
pub const PERSISTENCE_DOCUMENTS_DROPPED_TOTAL: &str = "wadm_persistence_documents_dropped_total";
/// Counter: documents not written because they were already older than their kind's
/// retention (a backfill of trades the sweep would delete at once), by `kind`.
pub const PERSISTENCE_EXPIRED_DOCUMENTS_TOTAL: &str = "wadm_persistence_expired_documents_total";
/// Counter: failed batch writes, by `reason` (`unavailable`, `rejected`).
pub const PERSISTENCE_WRITE_FAILURES_TOTAL: &str = "wadm_persistence_write_failures_total";
/// Gauge: 1 while the last store write succeeded, else 0.
pub const PERSISTENCE_STORE_AVAILABLE: &str = "wadm_persistence_store_available";
/// Counter: documents deleted by the retention sweep, by `kind`.
pub const PERSISTENCE_SWEPT_DOCUMENTS_TOTAL: &str = "wadm_persistence_swept_documents_total";
/// Counter: 1-day bars summed from stored 1-hour bars, by `outcome` (`written`,
/// `store_error`, `unreadable`).
pub const PERSISTENCE_ROLLUPS_TOTAL: &str = "wadm_persistence_rollups_total";

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

/// What kind of value a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up (name ends in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets (name ends in a base unit).
    Histogram,
}

impl MetricKind {
    /// The Prometheus type name.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: MetricKind,
    /// Its unit, when it has one.
    pub unit: Option<Unit>,
    /// Its help text.
    pub help: &'static str,
}

/// Every metric of the actors crate: what [`describe`] registers, and what the catalogue in
/// `docker/README.md` must list (`tests/metrics.rs`).
pub const CATALOGUE: &[Metric] = &[
    Metric {
        name: WS_CONNECTED,
        kind: MetricKind::Gauge,
        unit: None,
        help: "1 while the venue endpoint's socket is connected and streaming, else 0.",
    },
    Metric {
        name: WS_MESSAGES_RECEIVED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "WebSocket frames received, by venue and frame kind.",
    },
    Metric {
        name: WS_RECEIVED_BYTES_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Bytes),
        help: "WebSocket payload bytes received, by venue.",
    },
    Metric {
        name: WS_RECONNECTS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Connections lost or replaced, by venue and reason.",
    },
    Metric {
        name: WS_CONNECT_ATTEMPTS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "WebSocket connection attempts, by venue and outcome.",
    },
    Metric {
        name: WS_CONNECT_BUDGET_WAITS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Connection attempts delayed by the global connection-attempt budget.",
    },
    Metric {
        name: WS_PARSE_ERRORS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Frames that could not be parsed (counted, logged, skipped), by venue and reason.",
    },
    Metric {
        name: WS_SUBSCRIPTION_RESPONSES_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Answers to subscription requests, by venue and outcome (ack, rejected, timeout).",
    },
    Metric {
        name: WS_WATCHDOG_TRIPS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Watchdog trips, by venue and class (transport: no frame at all; book or trades: no data of that class).",
    },
    Metric {
        name: WS_OUTGOING_DROPPED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Outgoing control messages dropped because the socket writer's queue was full.",
    },
    Metric {
        name: FEED_LAG_SECONDS,
        kind: MetricKind::Histogram,
        unit: Some(Unit::Seconds),
        help: "Venue event time to local receive time.",
    },
    Metric {
        name: PIPELINE_LATENCY_SECONDS,
        kind: MetricKind::Histogram,
        unit: Some(Unit::Seconds),
        help: "Trade frame received to its trades applied by the aggregator (parse, dedupe, route, queue, aggregate).",
    },
    Metric {
        name: BOOK_UNUSABLE_SNAPSHOTS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "REST depth snapshots that did not fit the diff stream, by venue and reason (too_old, too_new).",
    },
    Metric {
        name: BOOK_RESYNCS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Local books rebuilt from a fresh snapshot, by venue and symbol.",
    },
    Metric {
        name: BOOK_BUFFER_DROPPED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Book diffs dropped from a full buffer while waiting for a snapshot.",
    },
    Metric {
        name: REST_REQUESTS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "REST requests to venues, by venue, kind and outcome.",
    },
    Metric {
        name: REST_WEIGHT_USED,
        kind: MetricKind::Gauge,
        unit: None,
        help: "REST weight (Binance) or requests (Bybit) used in the venue's current rate-limit window.",
    },
    Metric {
        name: REST_BUDGET_WAITS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "REST requests that waited for the venue's budget, by venue and priority (book, metadata, backfill).",
    },
    Metric {
        name: REST_RATE_LIMITED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "HTTP 429 (rate limited) and 418 (IP banned) answers, by venue and status: every REST request to the venue then waits for Retry-After.",
    },
    Metric {
        name: BACKFILL_TRADES_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Trades fetched by repair and backfill, by venue and outcome (taken, duplicate, too_old).",
    },
    Metric {
        name: BACKFILL_REQUESTS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "REST requests of repair and backfill, by venue.",
    },
    Metric {
        name: BACKFILL_JOBS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Repair and backfill jobs finished, by venue and outcome (repaired, unrepairable).",
    },
    Metric {
        name: BACKFILL_PENDING_JOBS,
        kind: MetricKind::Gauge,
        unit: None,
        help: "Repair and backfill jobs running or waiting, by venue.",
    },
    Metric {
        name: DATA_QUALITY_EVENTS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Data-quality events (gaps, resyncs, reconnects, rejections, drops), by venue and kind.",
    },
    Metric {
        name: ROUTER_TRADES_DROPPED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Trades inside messages not delivered to an aggregator, by venue and reason (overload, no_aggregator, aggregator_restart).",
    },
    Metric {
        name: ROUTER_MESSAGES_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Messages routed to aggregators, by venue.",
    },
    Metric {
        name: ROUTER_DROPPED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Messages not delivered to an aggregator, by venue and reason (overload, no_aggregator, aggregator_restart).",
    },
    Metric {
        name: AGGREGATOR_TRADES_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Trades from the venue (live or repaired) taken into bars, each once, by venue.",
    },
    Metric {
        name: AGGREGATOR_TRADES_RESTORED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Stored raw trades a warm start took into bars again (counted before when they came from the venue), by venue.",
    },
    Metric {
        name: AGGREGATOR_DUPLICATE_TRADES_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Trades refused as already taken (repeated by a reconnect or an overlapping socket, or brought again by a warm start or REST), by venue.",
    },
    Metric {
        name: AGGREGATOR_WARM_STARTS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Aggregator starts by venue and outcome (warm: state rebuilt from the store; cold: nothing stored; failed or timeout: the store did not answer in time).",
    },
    Metric {
        name: AGGREGATOR_LATE_TRADES_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Late trades (for an already closed minute) that amended bars, by venue.",
    },
    Metric {
        name: ALERTS_FIRED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Alerts fired, by rule.",
    },
    Metric {
        name: ALERTS_SUPPRESSED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Alerts not fired because the rule's cooldown had not passed, by rule.",
    },
    Metric {
        name: ALERT_DELIVERIES_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Alert deliveries by destination and outcome (delivered, failed: every attempt failed or the destination refused; dropped: the delivery queue was full).",
    },
    Metric {
        name: ALERT_QUEUE_DEPTH,
        kind: MetricKind::Gauge,
        unit: None,
        help: "Alerts waiting in the delivery queue.",
    },
    Metric {
        name: ALERT_LOG_DROPPED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Alert log records that could not be queued for the store (the persistence channel was full).",
    },
    Metric {
        name: AGGREGATOR_DERIVATIVES_DROPPED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Liquidations and mark/funding/open-interest values not taken into bars, by venue and reason (out_of_memory: older than the aggregator's memory or too far ahead of its clock; row_size_unknown: the pending buffer was full; delta_before_snapshot: a Bybit ticker delta before any snapshot).",
    },
    Metric {
        name: AGGREGATOR_TRADES_DROPPED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Trades not taken into bars, by venue and reason (too_late, future_time, implausible_time, row_size_unknown).",
    },
    Metric {
        name: AGGREGATOR_TRADES_HELD_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Live trades stamped ahead of the local clock, held until it reached them, by venue.",
    },
    Metric {
        name: AGGREGATOR_BARS_CLOSED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Bars closed, by venue and timeframe.",
    },
    Metric {
        name: AGGREGATOR_KLINE_CHECKS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Venue 1-minute candles compared with trade-derived bars, by venue and outcome (match, mismatch, skipped).",
    },
    Metric {
        name: AGGREGATOR_RECORDS_DROPPED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Records for persistence dropped because its queue was full, by venue and kind.",
    },
    Metric {
        name: RECORDER_FRAMES_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Raw frames written to recordings, by venue.",
    },
    Metric {
        name: RECORDER_DROPPED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Raw frames not recorded, by reason (queue_full, write_error).",
    },
    Metric {
        name: API_REQUESTS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "API requests answered, by route template and HTTP status.",
    },
    Metric {
        name: API_REQUEST_DURATION_SECONDS,
        kind: MetricKind::Histogram,
        unit: Some(Unit::Seconds),
        help: "Time to answer an API request, by route template.",
    },
    Metric {
        name: API_AUTH_FAILURES_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "API requests refused for their key, by reason (missing, invalid, proxied).",
    },
    Metric {
        name: API_RATE_LIMITED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "API requests refused by the rate limit, by subject (key, ip).",
    },
    Metric {
        name: API_CONNECTIONS_OPEN,
        kind: MetricKind::Gauge,
        unit: None,
        help: "API connections open.",
    },
    Metric {
        name: API_CONNECTIONS_REJECTED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "API connections closed at once: api.max_connections open and every one busy.",
    },
    Metric {
        name: API_CONNECTIONS_EVICTED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Idle API connections closed to make room for a new one.",
    },
    Metric {
        name: API_CONNECTION_ERRORS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "API connections ended by an error, by reason (header_timeout, idle, parse, closed, io, accept).",
    },
    Metric {
        name: API_OVERLOADED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "API requests answered 503 because api.max_concurrent_requests were being answered.",
    },
    Metric {
        name: API_PANICS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "API requests whose answering panicked (answered 500).",
    },
    Metric {
        name: PERSISTENCE_BUFFERED_DOCUMENTS,
        kind: MetricKind::Gauge,
        unit: None,
        help: "Documents held by persistence, buffered or being written.",
    },
    Metric {
        name: PERSISTENCE_BATCH_DOCUMENTS,
        kind: MetricKind::Histogram,
        unit: None,
        help: "Documents per batch written to the store.",
    },
    Metric {
        name: PERSISTENCE_FLUSH_DURATION_SECONDS,
        kind: MetricKind::Histogram,
        unit: Some(Unit::Seconds),
        help: "Duration of successful batch writes.",
    },
    Metric {
        name: PERSISTENCE_DOCUMENTS_WRITTEN_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Documents written to the store, by kind.",
    },
    Metric {
        name: PERSISTENCE_DOCUMENTS_DROPPED_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Documents not written, by kind and reason (queue_full: the aggregators' queue to persistence was full; buffer_full, rejected, shutdown).",
    },
    Metric {
        name: PERSISTENCE_EXPIRED_DOCUMENTS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Documents not written because they were already older than their kind's retention, by kind.",
    },
    Metric {
        name: PERSISTENCE_WRITE_FAILURES_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Failed batch writes, by reason (unavailable, rejected).",
    },
    Metric {
        name: PERSISTENCE_STORE_AVAILABLE,
        kind: MetricKind::Gauge,
        unit: None,
        help: "1 while the last store write succeeded, else 0.",
    },
    Metric {
        name: PERSISTENCE_SWEPT_DOCUMENTS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "Documents deleted by the retention sweep, by kind.",
    },
    Metric {
        name: PERSISTENCE_ROLLUPS_TOTAL,
        kind: MetricKind::Counter,
        unit: None,
        help: "1-day bars summed from the stored 1-hour bars of a finished day, by outcome.",
    },
];

/// Every reason a route drops a message (a label of [`ROUTER_DROPPED_TOTAL`] and
/// [`ROUTER_TRADES_DROPPED_TOTAL`]).
pub const ROUTE_DROP_REASONS: [&str; 3] = ["overload", "no_aggregator", "aggregator_restart"];

/// Every reason persistence drops documents (a label of
/// [`PERSISTENCE_DOCUMENTS_DROPPED_TOTAL`]): the buffer was full, the store refused them, or
/// the shutdown flush ran out of time.
pub const PERSISTENCE_DROP_REASONS: [&str; 3] = ["buffer_full", "rejected", "shutdown"];

/// Every kind of stored document (a label of the persistence metrics).
pub const STORED_KINDS: [&str; 10] = [
    "trades",
    "bars_1m",
    "bars_1h",
    "bars_1d",
    "book_snapshots",
    "klines",
    "data_quality",
    "liquidations",
    "funding",
    "alerts",
];

/// Every kind of record an aggregator hands to persistence (a label of
/// [`AGGREGATOR_RECORDS_DROPPED_TOTAL`]).
pub const RECORD_KINDS: [&str; 7] = [
    "bar",
    "book",
    "trades",
    "kline",
    "liquidations",
    "funding",
    "alert",
];

/// Creates the labelled series that must exist before anything happens (at zero), so
/// dashboards and alerts see them from the start: per configured venue, and per stored kind.
pub fn initialize(venues: &[&'static str]) {
    for &venue in venues {
        metrics::counter!(AGGREGATOR_DUPLICATE_TRADES_TOTAL, "venue" => venue).increment(0);
        for status in ["429", "418"] {
            metrics::counter!(REST_RATE_LIMITED_TOTAL, "venue" => venue, "status" => status)
                .increment(0);
        }
        for kind in RECORD_KINDS {
            metrics::counter!(AGGREGATOR_RECORDS_DROPPED_TOTAL, "venue" => venue, "kind" => kind)
                .increment(0);
        }
        for reason in ROUTE_DROP_REASONS {
            metrics::counter!(ROUTER_DROPPED_TOTAL, "venue" => venue, "reason" => reason)
                .increment(0);
            metrics::counter!(ROUTER_TRADES_DROPPED_TOTAL, "venue" => venue, "reason" => reason)
                .increment(0);
        }
    }
    for kind in STORED_KINDS {
        for reason in PERSISTENCE_DROP_REASONS {
            metrics::counter!(PERSISTENCE_DOCUMENTS_DROPPED_TOTAL, "kind" => kind, "reason" => reason)
                .increment(0);
        }
    }
}

/// Registers the help text (and unit) of every metric of the [`CATALOGUE`].
pub fn describe() {
    for metric in CATALOGUE {
        match (metric.kind, metric.unit) {
            (MetricKind::Counter, Some(unit)) => {
                metrics::describe_counter!(metric.name, unit, metric.help);
            }
            (MetricKind::Counter, None) => metrics::describe_counter!(metric.name, metric.help),
            (MetricKind::Gauge, Some(unit)) => {
                metrics::describe_gauge!(metric.name, unit, metric.help)
            }
            (MetricKind::Gauge, None) => metrics::describe_gauge!(metric.name, metric.help),
            (MetricKind::Histogram, Some(unit)) => {
                metrics::describe_histogram!(metric.name, unit, metric.help);
            }
            (MetricKind::Histogram, None) => {
                metrics::describe_histogram!(metric.name, metric.help);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_its_constant_and_its_kind_fits_it() {
        let source = include_str!("metrics.rs");
        let mut names: Vec<&str> = CATALOGUE.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len(), "a metric is listed twice");
        for metric in CATALOGUE {
            let constant = metric
                .name
                .strip_prefix("wadm_")
                .expect("wadm_ prefix")
                .to_ascii_uppercase();
            assert!(
                source.contains(&format!(
                    "pub const {constant}: &str = \"{}\";",
                    metric.name
                )),
                "{} is named by the constant {constant}",
                metric.name
            );
            assert_eq!(
                metric.name.ends_with("_total"),
                metric.kind == MetricKind::Counter,
                "{}",
                metric.name
            );
        }
        // Every constant is in the catalogue.
        let constants = source
            .lines()
            .filter(|l| l.starts_with("pub const ") && l.contains(": &str = \"wadm_"))
            .count();
        assert_eq!(constants, CATALOGUE.len());
    }
}

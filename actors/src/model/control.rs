//! Control messages: answers to our requests and venue announcements.

use super::TimestampMs;

/// A frame that is about the connection rather than the market.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Control {
    /// A request was accepted. Binance: `{"result":null,"id":1}`; Bybit:
    /// `{"success":true,"op":"subscribe","req_id":"10001",...}`.
    Ack {
        /// The id we sent with the request (Bybit `req_id` when it is numeric).
        request_id: Option<u64>,
    },
    /// A request was rejected. Binance: `{"code":2,"msg":"Invalid request: unknown stream"}`
    /// (possibly with `id`); Bybit: `{"success":false,"ret_msg":"error:handler not found,topic:...",...}`.
    Rejected {
        /// The id we sent with the request, if the venue echoed it.
        request_id: Option<u64>,
        /// The venue's error code, if it sent one.
        code: Option<i64>,
        /// The venue's message, truncated to 256 bytes.
        message: Box<str>,
        /// The topic the venue named as rejected (Bybit `topic:` suffix), if any.
        topic: Option<Box<str>>,
    },
    /// Answer to Bybit's client `{"op":"ping"}`.
    Pong {
        /// The id we sent with the ping, if numeric.
        request_id: Option<u64>,
    },
    /// Binance `serverShutdown`: the server is going away; reconnect now.
    ServerShutdown {
        /// Event time of the announcement.
        event_time: TimestampMs,
    },
}

//! The alert log: every firing as stored (with retention) and served, with its delivery
//! state per destination.

use serde::{Deserialize, Serialize};

use super::evaluate::Firing;
use crate::model::{Symbol, Venue};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// Queued or being attempted.
    Pending,
    /// The destination answered 2xx.
    Delivered,
    /// Every attempt failed (or the destination refused it: a 4xx other than 429).
    Failed,
    /// The delivery queue was full: not attempted.
    Dropped,
}

impl DeliveryOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Pending => "pending",
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Failed => "failed",
            DeliveryOutcome::Dropped => "dropped",
        }
    }
}

/// One destination's delivery of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    pub destination: String,
    /// `webhook`, `telegram`, `discord`, `slack`.
    pub kind: String,
    pub state: DeliveryOutcome,
    pub attempts: u32,
    /// The last HTTP status answered.
    pub last_status: Option<u16>,
    /// The last error (no URL, no secret).
    pub last_error: Option<String>,
    /// When the state last changed (Unix ms).
    pub updated_at: i64,
}

/// A firing as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Unique: `<time>-<rule>-<venue>-<symbol>`.
    pub id: String,
    pub rule: String,
    pub condition: String,
    pub venue: Option<Venue>,
    pub symbol: Option<Symbol>,
    /// When it fired (Unix ms).
    pub time: i64,
    /// One line a person reads.
    pub summary: String,
    /// The values that fired it.
    pub values: serde_json::Value,
    pub deliveries: Vec<DeliveryState>,
}

impl AlertRecord {
    /// The record of a firing, every delivery pending (`kinds`: each destination's kind).
    pub fn of(firing: &Firing, kinds: &[(String, &'static str)]) -> Self {
        let venue = firing.venue.map_or("-", Venue::as_str);
        let symbol = firing.symbol.as_ref().map_or("-", Symbol::as_str);
        Self {
            id: format!("{}-{}-{venue}-{symbol}", firing.time, firing.rule),
            rule: firing.rule.clone(),
            condition: firing.condition.to_owned(),
            venue: firing.venue,
            symbol: firing.symbol,
            time: firing.time,
            summary: firing.summary.clone(),
            values: firing.values.clone(),
            deliveries: kinds
                .iter()
                .map(|(name, kind)| DeliveryState {
                    destination: name.clone(),
                    kind: (*kind).to_owned(),
                    state: DeliveryOutcome::Pending,
                    attempts: 0,
                    last_status: None,
                    last_error: None,
                    updated_at: firing.time,
                })
                .collect(),
        }
    }
}

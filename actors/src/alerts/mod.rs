//! Alerts (issue #21): rules from the configuration (`[alerts]`, reloaded on SIGHUP),
//! evaluated next to the aggregators on each published snapshot ([`evaluate`]), delivered
//! by webhook with a signature, retries and a bounded queue ([`delivery`]), and logged with
//! each destination's delivery state ([`record`]) for `GET /api/v1/alerts` and the MCP tool
//! `get_alerts`. Reference: [README](README.md).

mod actor;
pub mod config;
pub mod delivery;
pub mod evaluate;
pub mod record;

pub use actor::{AlertActor, AlertArgs, AlertMsg};
pub use config::{AlertProblem, AlertSettings, RawAlerts, Rule};
pub use evaluate::{Evaluator, Firing, Health, ReferenceLevels};
pub use record::{AlertRecord, DeliveryOutcome, DeliveryState};

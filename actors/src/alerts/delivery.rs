//! Delivery by webhook: a bounded queue (a full one drops the alert, counted and logged as
//! `dropped`), a few deliveries in flight at once, each destination attempted up to
//! `attempts` times with a timeout and exponential backoff (429 and 5xx and transport errors
//! are retried; another 4xx is final). Bodies: WADM's JSON, or the ready-made shapes of
//! Telegram's Bot API (`sendMessage`), Discord and Slack incoming webhooks. When the
//! destination has a secret, `X-WADM-Signature: sha256=<hex>` is the HMAC-SHA256 of the body.
//! URLs (chat services put their token in them) and secrets are never logged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::{Semaphore, mpsc};
use tracing::{debug, warn};

use super::config::{AlertSettings, Destination, DestinationKind};
use super::record::{AlertRecord, DeliveryOutcome};
use crate::metrics::{ALERT_DELIVERIES_TOTAL, ALERT_QUEUE_DEPTH};

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-WADM-Signature";

/// Longest Discord message.
const DISCORD_MAX: usize = 2_000;

/// Persists a record (its latest state); returns false when it could not be queued.
pub type Persist = Arc<dyn Fn(AlertRecord) -> bool + Send + Sync>;

struct Job {
    record: AlertRecord,
    destinations: Vec<Destination>,
}

/// The sending side of the delivery queue.
#[derive(Clone)]
pub struct Deliverer {
    sender: mpsc::Sender<Job>,
    persist: Persist,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("capacity", &self.sender.max_capacity())
            .finish_non_exhaustive()
    }
}

/// The signature of `body` with `secret`: `sha256=<hex>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The body a destination of `kind` receives for `record`.
pub fn body(kind: DestinationKind, record: &AlertRecord, chat_id: Option<&str>) -> Vec<u8> {
    let value = match kind {
        DestinationKind::Webhook => serde_json::json!({
            "id": record.id,
            "rule": record.rule,
            "condition": record.condition,
            "venue": record.venue,
            "symbol": record.symbol,
            "time": record.time,
            "summary": record.summary,
            "values": record.values,
        }),
        DestinationKind::Telegram => serde_json::json!({
            "chat_id": chat_id,
            "text": record.summary,
            "disable_web_page_preview": true,
        }),
        DestinationKind::Discord => {
            let content: String = record.summary.chars().take(DISCORD_MAX).collect();
            serde_json::json!({ "content": content })
        }
        DestinationKind::Slack => serde_json::json!({ "text": record.summary }),
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

impl Deliverer {
    /// Starts the delivery worker of `settings`; `persist` stores each record state.
    pub fn start(settings: &AlertSettings, persist: Persist) -> Result<Self, reqwest::Error> {
        crate::util::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wadm/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let (sender, mut receiver) = mpsc::channel::<Job>(settings.queue_capacity.max(1));
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let retry = Retry {
            attempts: settings.attempts.max(1),
            initial: settings.initial_backoff,
            max: settings.max_backoff,
        };
        let worker_persist = Arc::clone(&persist);
        let queue = sender.clone();
        tokio::spawn(async move {
            while let Some(job) = receiver.recv().await {
                metrics::gauge!(ALERT_QUEUE_DEPTH)
                    .set((queue.max_capacity() - queue.capacity()) as f64);
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    break;
                };
                let (http, persist) = (http.clone(), Arc::clone(&worker_persist));
                tokio::spawn(async move {
                    deliver(job, &http, retry, &persist).await;
                    drop(permit);
                });
            }
        });
        Ok(Self { sender, persist })
    }

    /// Queues a firing's deliveries without waiting: a full queue marks them `dropped`
    /// (counted), and the record is stored either way. Returns whether it was queued.
    pub fn offer(&self, mut record: AlertRecord, destinations: Vec<Destination>) -> bool {
        (self.persist)(record.clone());
        let job = Job {
            record: record.clone(),
            destinations,
        };
        match self.sender.try_send(job) {
            Ok(()) => {
                metrics::gauge!(ALERT_QUEUE_DEPTH)
                    .set((self.sender.max_capacity() - self.sender.capacity()) as f64);
                true
            }
            Err(_) => {
                let now = wadm_supervision::unix_millis();
                for d in &mut record.deliveries {
                    d.state = DeliveryOutcome::Dropped;
                    d.last_error = Some("the delivery queue was full".into());
                    d.updated_at = now;
                    metrics::counter!(ALERT_DELIVERIES_TOTAL, "destination" => d.destination.clone(), "outcome" => "dropped").increment(1);
                }
                warn!(rule = %record.rule, id = %record.id, "alert not delivered: the delivery queue is full");
                (self.persist)(record);
                false
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Retry {
    attempts: u32,
    initial: Duration,
    max: Duration,
}

impl Retry {
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Delivers one record to each of its destinations, concurrently, storing the state after
/// each destination's outcome.
async fn deliver(job: Job, http: &reqwest::Client, retry: Retry, persist: &Persist) {
    let record = Arc::new(Mutex::new(job.record.clone()));
    let tasks = job.destinations.into_iter().map(|destination| {
        let record = Arc::clone(&record);
        let snapshot = job.record.clone();
        async move {
            let outcome = attempt_all(&destination, &snapshot, http, retry, |attempts, status, error| {
                let mut r = record.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(d) = r.deliveries.iter_mut().find(|d| d.destination == destination.name) {
                    d.attempts = attempts;
                    d.last_status = status;
                    d.last_error = error;
                    d.updated_at = wadm_supervision::unix_millis();
                }
            })
            .await;
            let updated = {
                let mut r = record.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(d) = r.deliveries.iter_mut().find(|d| d.destination == destination.name) {
                    d.state = outcome;
                    d.updated_at = wadm_supervision::unix_millis();
                }
                r.clone()
            };
            metrics::counter!(ALERT_DELIVERIES_TOTAL, "destination" => destination.name.clone(), "outcome" => outcome.as_str()).increment(1);
            persist(updated);
        }
    });
    futures_util::future::join_all(tasks).await;
}

/// Attempts one destination until it answers 2xx, refuses for good, or the attempts run out.
async fn attempt_all(
    destination: &Destination,
    record: &AlertRecord,
    http: &reqwest::Client,
    retry: Retry,
    mut note: impl FnMut(u32, Option<u16>, Option<String>),
) -> DeliveryOutcome {
    let body = body(destination.kind, record, destination.chat_id.as_deref());
    let signature = destination.secret.as_deref().map(|s| signature(s, &body));
    for attempt in 1..=retry.attempts {
        let mut request = http
            .post(destination.url.clone())
            .header("Content-Type", "application/json")
            .header("X-WADM-Alert-Id", record.id.as_str())
            .body(body.clone());
        if let Some(signature) = &signature {
            request = request.header(SIGNATURE_HEADER, signature.as_str());
        }
        let (status, error, retry_after) = match request.send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                (Some(status.as_u16()), None, retry_after)
            }
            Err(err) => (None, Some(err.without_url().to_string()), None),
        };
        note(attempt, status, error.clone());
        match status {
            Some(code) if (200..300).contains(&code) => {
                debug!(destination = %destination.name, rule = %record.rule, attempt, "alert delivered");
                return DeliveryOutcome::Delivered;
            }
            Some(code) if (400..500).contains(&code) && code != 429 && code != 408 => {
                warn!(destination = %destination.name, rule = %record.rule, status = code, "alert refused by its destination; not retried");
                return DeliveryOutcome::Failed;
            }
            _ => {}
        }
        if attempt == retry.attempts {
            break;
        }
        let wait = retry_after.map_or(retry.delay(attempt), |d| d.min(retry.max));
        debug!(destination = %destination.name, rule = %record.rule, attempt, status = ?status, error = ?error, wait_ms = wait.as_millis() as u64, "alert delivery failed; retrying");
        tokio::time::sleep(wait).await;
    }
    warn!(destination = %destination.name, rule = %record.rule, attempts = retry.attempts, "alert not delivered: every attempt failed");
    DeliveryOutcome::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn each_destination_kind_gets_its_shape() {
        let record = AlertRecord {
            id: "1-r-bybit-linear-BTCUSDT".into(),
            rule: "r".into(),
            condition: "gap".into(),
            venue: None,
            symbol: None,
            time: 1,
            summary: "x".repeat(2_500),
            values: serde_json::json!({"a": 1}),
            deliveries: Vec::new(),
        };
        let parse = |kind, chat: Option<&str>| -> serde_json::Value {
            serde_json::from_slice(&body(kind, &record, chat)).unwrap_or_default()
        };
        let webhook = parse(DestinationKind::Webhook, None);
        assert_eq!(
            (webhook["rule"].as_str(), webhook["values"]["a"].as_i64()),
            (Some("r"), Some(1))
        );
        let telegram = parse(DestinationKind::Telegram, Some("42"));
        assert_eq!(telegram["chat_id"], "42");
        assert_eq!(telegram["text"].as_str().map(str::len), Some(2_500));
        let discord = parse(DestinationKind::Discord, None);
        assert_eq!(
            discord["content"].as_str().map(str::len),
            Some(2_000),
            "Discord's limit"
        );
        let slack = parse(DestinationKind::Slack, None);
        assert_eq!(slack["text"].as_str().map(str::len), Some(2_500));
        assert_eq!(slack.as_object().map(|o| o.len()), Some(1));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let retry = Retry {
            attempts: 5,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
        };
        let delays: Vec<u128> = (1..=4).map(|a| retry.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
    }
}

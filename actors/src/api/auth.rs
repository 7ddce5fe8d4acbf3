//! API keys: only argon2 hashes (PHC strings) are configured; a presented key is verified
//! against every one of them (so the time does not tell which one matched).
//!
//! The cost of a verification is bounded, whoever sends keys:
//! - **One argon2 thread** verifies, one key at a time, in one memory buffer allocated once
//!   (the largest configured memory cost, at most [`MAX_MEMORY_KIB`]): memory does not grow
//!   with attempts, and argon2 never takes more than one core. At most [`QUEUE`] wait; more
//!   are answered `Busy`.
//! - **A key verified once is remembered** for the life of the process (by a keyed BLAKE2b
//!   digest; the pepper is random per process and never leaves memory): a good key costs
//!   argon2 once, whoever else is sending keys. Keys verified together wait on the same
//!   answer, so a good key is verified at most once.
//! - **A key refused once is remembered too** (the last [`REFUSED_MEMO`]): a client repeating
//!   a bad key costs no argon2 and is not counted again.
//! - **Failures are counted per client IP** ([`MAX_FAILURES_PER_MINUTE`] distinct bad keys):
//!   beyond, unknown keys from that IP are answered `TooManyFailures` without verification.
//!   Only failures count: a good key is never charged, and one that was verified passes
//!   whatever its IP sent before. Without prefixes (below), a client sending many distinct
//!   bad keys can still delay a good key of the same IP that was not verified yet.
//! - **Key prefixes**: `wadm hash-key` prints the key's first characters as `prefix`. When
//!   every configured key has one, a presented key that starts with none is refused without
//!   argon2 and without counting against its IP, so random bad keys cost nothing and cannot
//!   lock a good key of the same IP out.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHasher as _;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use blake2::{Blake2b512, Digest as _};
use tokio::sync::watch;

use crate::util::lock;

/// Longest key accepted (longer presentations are refused without hashing).
pub const MAX_KEY_BYTES: usize = 256;

/// Verifications waiting for the argon2 thread, at most.
pub const QUEUE: usize = 16;

/// Failed verifications a client IP may cause per minute.
pub const MAX_FAILURES_PER_MINUTE: u32 = 20;

/// Bad keys remembered (refused again without argon2).
pub const REFUSED_MEMO: usize = 4_096;

/// The largest argon2 memory cost a configured hash may ask for (KiB): 64 MiB.
pub const MAX_MEMORY_KIB: u32 = 65_536;

/// Prefix of generated keys, so a leaked one is recognisable in a scan.
pub const KEY_PREFIX: &str = "wadm_";

/// Characters of a generated key printed as its `prefix` (`wadm_` and 8 hex digits: 32 of
/// its 256 random bits).
pub const PREFIX_LEN: usize = KEY_PREFIX.len() + 8;

/// A configured key: a name (for logs, status and rate limits), its argon2 hash, and
/// optionally its first characters.
#[derive(Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Who holds it (`mcp`, `grafana`): the only thing ever logged about a key.
    pub name: String,
    /// The argon2 PHC string (`$argon2id$v=19$m=...`).
    pub hash: String,
    /// The key's first characters (`wadm hash-key` prints them): keys that start otherwise
    /// are refused without argon2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("hash", &"<argon2 hash>")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Checks that `hash` is an argon2 PHC string whose memory cost is at most
/// [`MAX_MEMORY_KIB`].
pub fn check_hash(hash: &str) -> Result<(), String> {
    parse_hash(hash).map(|_| ())
}

/// A configured hash, ready to verify against.
#[derive(Clone)]
struct Parsed {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Vec<u8>,
    output: Output,
}

fn parse_hash(hash: &str) -> Result<Parsed, String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("not a PHC hash string: {e}"))?;
    let name = parsed.algorithm.as_str();
    if !name.starts_with("argon2") {
        return Err(format!(
            "algorithm {name:?} is not argon2 (expected argon2id)"
        ));
    }
    let algorithm = Algorithm::try_from(name).map_err(|e| format!("algorithm {name:?}: {e}"))?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| format!("version {v}: {e}"))?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|e| format!("parameters: {e}"))?;
    if params.m_cost() > MAX_MEMORY_KIB {
        return Err(format!(
            "memory cost m={} KiB is above {MAX_MEMORY_KIB} KiB (64 MiB); hash the key again with `wadm hash-key`",
            params.m_cost()
        ));
    }
    let (Some(salt), Some(output)) = (&parsed.salt, &parsed.hash) else {
        return Err("the hash string has no salt or no output".into());
    };
    Ok(Parsed {
        algorithm,
        version,
        params,
        salt: salt.as_ref().to_vec(),
        output: *output,
    })
}

/// A new random key and its argon2id hash, for `wadm hash-key`.
pub fn generate_key() -> Result<(String, String), String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let key = format!("{KEY_PREFIX}{}", hex(&bytes));
    let hash = hash_key(&key)?;
    Ok((key, hash))
}

/// The argon2id hash (default parameters, random salt) of a key.
pub fn hash_key(key: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(key.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("argon2 failed: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// What a presented key turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The configured key at this index.
    Key(usize),
    /// No configured key matches.
    Refused,
    /// The client's IP caused too many failures lately; try again after this long.
    TooManyFailures(Duration),
    /// Too many verifications are waiting; try again in a moment.
    Busy,
}

type Digest64 = [u8; 64];

/// A verification's answer: `None` while it runs, then the key matched (if any).
type Answer = Option<Option<usize>>;

/// One verification for the argon2 thread.
struct Job {
    digest: Digest64,
    candidate: String,
    answer: watch::Sender<Answer>,
}

/// Answers of verifications in progress, by digest (those waiting on the same key share it).
type Pending = HashMap<Digest64, watch::Receiver<Answer>>;

/// Verifies presented keys against the configured hashes.
pub struct KeyVerifier {
    keys: Arc<[ApiKey]>,
    prefixes: Option<Vec<String>>,
    pepper: [u8; 32],
    memo: Arc<Mutex<HashMap<Digest64, usize>>>,
    refused: Arc<Mutex<HashSet<Digest64>>>,
    pending: Arc<Mutex<Pending>>,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    jobs: Option<std::sync::mpsc::SyncSender<Job>>,
}

impl fmt::Debug for KeyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVerifier")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl KeyVerifier {
    /// Creates a verifier of `keys` (and its argon2 thread when there are keys).
    pub fn new(keys: Vec<ApiKey>) -> Result<Self, String> {
        let mut parsed = Vec::with_capacity(keys.len());
        for key in &keys {
            parsed.push(parse_hash(&key.hash).map_err(|e| format!("API key {:?}: {e}", key.name))?);
            if let Some(prefix) = &key.prefix
                && prefix.is_empty()
            {
                return Err(format!("API key {:?}: the prefix is empty", key.name));
            }
        }
        let mut pepper = [0u8; 32];
        getrandom::fill(&mut pepper).map_err(|e| format!("no randomness from the OS: {e}"))?;
        let prefixes = keys
            .iter()
            .map(|k| k.prefix.clone())
            .collect::<Option<Vec<String>>>()
            .filter(|p| !p.is_empty());
        let memo = Arc::new(Mutex::new(HashMap::new()));
        let refused = Arc::new(Mutex::new(HashSet::new()));
        let pending = Arc::new(Mutex::new(HashMap::new()));
        let jobs = if parsed.is_empty() {
            None
        } else {
            let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
            let worker = Worker {
                keys: parsed,
                memo: Arc::clone(&memo),
                refused: Arc::clone(&refused),
                pending: Arc::clone(&pending),
            };
            std::thread::Builder::new()
                .name("wadm-argon2".into())
                .spawn(move || worker.run(&receiver))
                .map_err(|e| format!("the key verification thread cannot start: {e}"))?;
            Some(sender)
        };
        Ok(Self {
            keys: keys.into(),
            prefixes,
            pepper,
            memo,
            refused,
            pending,
            failures: Mutex::new(HashMap::new()),
            jobs,
        })
    }

    /// True when keys are configured (requests must present one).
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// True when every configured key has a prefix (random bad keys cost nothing).
    pub fn prefixed(&self) -> bool {
        self.prefixes.is_some()
    }

    /// The name of the key at `index`.
    pub fn name(&self, index: usize) -> &str {
        self.keys.get(index).map_or("?", |k| k.name.as_str())
    }

    fn digest(&self, presented: &str) -> Digest64 {
        let mut hasher = Blake2b512::new();
        hasher.update(self.pepper);
        hasher.update(presented.as_bytes());
        hasher.finalize().into()
    }

    /// Returns the key a presentation matched before, without hashing it with argon2.
    pub fn remembered(&self, presented: &str) -> Option<usize> {
        lock(&self.memo).get(&self.digest(presented)).copied()
    }

    /// Forgets the failure counts of clients quiet for a minute.
    pub fn prune(&self) {
        lock(&self.failures).retain(|_, (since, _)| since.elapsed() < Duration::from_secs(60));
    }

    /// Client IPs with failures counted.
    pub fn tracked_failures(&self) -> usize {
        lock(&self.failures).len()
    }

    /// Verifies a key presented by `client`.
    pub async fn verify(&self, presented: &str, client: IpAddr) -> Verdict {
        if presented.is_empty() || presented.len() > MAX_KEY_BYTES {
            return Verdict::Refused;
        }
        let digest = self.digest(presented);
        if let Some(index) = lock(&self.memo).get(&digest) {
            return Verdict::Key(*index);
        }
        if let Some(prefixes) = &self.prefixes
            && !prefixes.iter().any(|p| presented.starts_with(p.as_str()))
        {
            return Verdict::Refused;
        }
        // A bad key seen before costs nothing, and does not count against its IP (a client
        // left with an old key must not lock out its neighbours behind the same NAT).
        if lock(&self.refused).contains(&digest) {
            return Verdict::Refused;
        }
        if let Some(wait) = self.failures_wait(client) {
            return Verdict::TooManyFailures(wait);
        }
        let Some(jobs) = &self.jobs else {
            return Verdict::Refused;
        };
        // Join a verification of the same key in progress, else queue one.
        let mut answer = {
            let mut pending = lock(&self.pending);
            match pending.get(&digest) {
                Some(answer) => answer.clone(),
                None => {
                    let (sender, answer) = watch::channel(None);
                    let job = Job {
                        digest,
                        candidate: presented.to_owned(),
                        answer: sender,
                    };
                    if jobs.try_send(job).is_err() {
                        return Verdict::Busy;
                    }
                    pending.insert(digest, answer.clone());
                    answer
                }
            }
        };
        let found = match answer.wait_for(Option::is_some).await {
            Ok(found) => found.flatten(),
            Err(_) => None,
        };
        match found {
            Some(index) => Verdict::Key(index),
            None => {
                self.fail(client);
                Verdict::Refused
            }
        }
    }

    /// How long `client` must wait before its next unknown key is verified, if it must.
    fn failures_wait(&self, client: IpAddr) -> Option<Duration> {
        let failures = lock(&self.failures);
        let (since, count) = failures.get(&client)?;
        let elapsed = since.elapsed();
        (*count >= MAX_FAILURES_PER_MINUTE && elapsed < Duration::from_secs(60))
            .then(|| Duration::from_secs(60) - elapsed)
    }

    fn fail(&self, client: IpAddr) {
        let mut failures = lock(&self.failures);
        let entry = failures.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= Duration::from_secs(60) {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// The argon2 thread: one verification at a time, in one reused buffer.
struct Worker {
    keys: Vec<Parsed>,
    memo: Arc<Mutex<HashMap<Digest64, usize>>>,
    refused: Arc<Mutex<HashSet<Digest64>>>,
    pending: Arc<Mutex<Pending>>,
}

impl Worker {
    fn run(self, jobs: &std::sync::mpsc::Receiver<Job>) {
        let blocks = self
            .keys
            .iter()
            .map(|k| k.params.block_count())
            .max()
            .unwrap_or(0);
        let mut memory = vec![Block::new(); blocks];
        let mut out = [0u8; Output::MAX_LENGTH];
        while let Ok(job) = jobs.recv() {
            // A verification of the same key that finished meanwhile answers this one.
            let known = lock(&self.memo).get(&job.digest).copied();
            let found = known.or_else(|| self.check(&job.candidate, &mut memory, &mut out));
            match found {
                Some(index) => {
                    lock(&self.memo).insert(job.digest, index);
                }
                None => {
                    let mut refused = lock(&self.refused);
                    if refused.len() >= REFUSED_MEMO {
                        refused.clear();
                    }
                    refused.insert(job.digest);
                }
            }
            lock(&self.pending).remove(&job.digest);
            let _ = job.answer.send(Some(found));
        }
    }

    /// Tries every configured hash (all of them, so the time does not tell which matched).
    fn check(&self, candidate: &str, memory: &mut [Block], out: &mut [u8]) -> Option<usize> {
        let mut found = None;
        for (index, key) in self.keys.iter().enumerate() {
            let argon2 = Argon2::new(key.algorithm, key.version, key.params.clone());
            let len = key.output.len();
            let blocks = key.params.block_count();
            let (Some(out), Some(memory)) = (out.get_mut(..len), memory.get_mut(..blocks)) else {
                continue;
            };
            let matched = argon2
                .hash_password_into_with_memory(candidate.as_bytes(), &key.salt, out, memory)
                .is_ok()
                && Output::new(out).is_ok_and(|computed| computed == key.output);
            if matched && found.is_none() {
                found = Some(index);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn a_generated_key_verifies_and_others_do_not() -> Result<(), String> {
        let (key, hash) = generate_key()?;
        assert!(key.starts_with(KEY_PREFIX) && key.len() == KEY_PREFIX.len() + 64);
        assert!(!hash.contains(&key));
        let (_, other_hash) = generate_key()?;
        let verifier = KeyVerifier::new(vec![
            ApiKey {
                name: "other".into(),
                hash: other_hash,
                prefix: None,
            },
            ApiKey {
                name: "mcp".into(),
                hash,
                prefix: None,
            },
        ])?;
        assert_eq!(verifier.remembered(&key), None);
        assert_eq!(verifier.verify(&key, HERE).await, Verdict::Key(1));
        assert_eq!(verifier.remembered(&key), Some(1));
        assert_eq!(verifier.verify("wadm_not_it", HERE).await, Verdict::Refused);
        assert_eq!(verifier.verify("", HERE).await, Verdict::Refused);
        assert_eq!(verifier.remembered("wadm_not_it"), None);
        Ok(())
    }

    #[tokio::test]
    async fn failures_are_counted_per_ip_and_never_charge_a_good_key() -> Result<(), String> {
        let (key, hash) = generate_key()?;
        let verifier = KeyVerifier::new(vec![ApiKey {
            name: "mcp".into(),
            hash,
            prefix: None,
        }])?;
        let spammer = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 9));
        for i in 0..MAX_FAILURES_PER_MINUTE {
            assert_eq!(
                verifier.verify(&format!("bad{i}"), spammer).await,
                Verdict::Refused
            );
        }
        assert!(matches!(
            verifier.verify("bad-next", spammer).await,
            Verdict::TooManyFailures(_)
        ));
        // Another IP is not affected; once verified, the good key passes from the spammer's
        // IP too.
        assert_eq!(verifier.verify(&key, HERE).await, Verdict::Key(0));
        assert_eq!(verifier.verify(&key, spammer).await, Verdict::Key(0));
        // A repeated bad key is refused from memory.
        assert_eq!(verifier.verify("bad0", HERE).await, Verdict::Refused);
        Ok(())
    }

    #[tokio::test]
    async fn keys_without_a_configured_prefix_are_refused_without_counting() -> Result<(), String> {
        let (key, hash) = generate_key()?;
        let verifier = KeyVerifier::new(vec![ApiKey {
            name: "mcp".into(),
            hash,
            prefix: Some(key[..PREFIX_LEN].to_owned()),
        }])?;
        assert!(verifier.prefixed());
        for i in 0..200 {
            assert_eq!(
                verifier.verify(&format!("wadm_bad{i}"), HERE).await,
                Verdict::Refused
            );
        }
        assert_eq!(verifier.tracked_failures(), 0);
        assert_eq!(verifier.verify(&key, HERE).await, Verdict::Key(0));
        Ok(())
    }

    #[tokio::test]
    async fn a_key_presented_at_once_many_times_is_verified_once() -> Result<(), String> {
        let (key, hash) = generate_key()?;
        let verifier = Arc::new(KeyVerifier::new(vec![ApiKey {
            name: "mcp".into(),
            hash,
            prefix: None,
        }])?);
        let mut all = Vec::new();
        for _ in 0..8 {
            let verifier = Arc::clone(&verifier);
            let key = key.clone();
            all.push(tokio::spawn(
                async move { verifier.verify(&key, HERE).await },
            ));
        }
        for one in all {
            assert_eq!(one.await.map_err(|e| e.to_string())?, Verdict::Key(0));
        }
        Ok(())
    }

    #[test]
    fn hashes_must_be_argon2_phc_strings_with_bounded_memory() {
        assert!(check_hash("plaintext").is_err());
        assert!(check_hash("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
        assert!(
            KeyVerifier::new(vec![ApiKey {
                name: "x".into(),
                hash: "secret".into(),
                prefix: None,
            }])
            .is_err()
        );
        let big = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(MAX_MEMORY_KIB * 2, 1, 1, None).unwrap_or_default(),
        )
        .hash_password(b"k")
        .map(|h| h.to_string())
        .unwrap_or_default();
        assert!(
            check_hash(&big).is_err_and(|e| e.contains("memory cost")),
            "{big}"
        );
    }

    #[test]
    fn debug_output_never_shows_a_hash() -> Result<(), String> {
        let (_, hash) = generate_key()?;
        let key = ApiKey {
            name: "mcp".into(),
            hash: hash.clone(),
            prefix: None,
        };
        assert!(!format!("{key:?}").contains(&hash));
        Ok(())
    }
}

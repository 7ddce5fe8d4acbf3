//! API keys: only argon2 hashes (PHC strings) are configured; a presented key is verified in
//! constant time against them, on a blocking thread because argon2 is deliberately slow.
//!
//! A key that verified once is remembered by a keyed BLAKE2b digest (the pepper is random per
//! process and never leaves memory), so a client with a good key pays argon2 once, not per
//! request. Only keys that verified enter the memo, so it holds at most one entry per
//! configured key. Failed attempts always pay
//! argon2, are limited per IP before verification, and run at most
//! [`MAX_CONCURRENT_VERIFICATIONS`] at a time, so a flood of bad keys cannot occupy every
//! blocking thread.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use blake2::{Blake2b512, Digest as _};
use tokio::sync::Semaphore;

/// Longest key accepted (longer presentations are refused without hashing).
pub const MAX_KEY_BYTES: usize = 256;

/// How many argon2 verifications may run at once.
pub const MAX_CONCURRENT_VERIFICATIONS: usize = 2;

/// Prefix of generated keys, so a leaked one is recognisable in a scan.
pub const KEY_PREFIX: &str = "wadm_";

/// A configured key: a name (for logs, status and rate limits) and its argon2 hash.
#[derive(Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Who holds it (`mcp`, `grafana`): the only thing ever logged about a key.
    pub name: String,
    /// The argon2 PHC string (`$argon2id$v=19$m=...`).
    pub hash: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("hash", &"<argon2 hash>")
            .finish()
    }
}

/// Checks that `hash` is an argon2 PHC string.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("not a PHC hash string: {e}"))?;
    let algorithm = parsed.algorithm.as_str();
    if !algorithm.starts_with("argon2") {
        return Err(format!(
            "algorithm {algorithm:?} is not argon2 (expected argon2id)"
        ));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err("the hash string has no salt or no output".into());
    }
    Ok(())
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
}

/// Verifies presented keys against the configured hashes.
pub struct KeyVerifier {
    keys: Arc<[ApiKey]>,
    pepper: [u8; 32],
    memo: Mutex<HashMap<[u8; 64], usize>>,
    permits: Arc<Semaphore>,
}

impl fmt::Debug for KeyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVerifier")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl KeyVerifier {
    /// Creates a verifier of `keys`.
    pub fn new(keys: Vec<ApiKey>) -> Result<Self, String> {
        for key in &keys {
            check_hash(&key.hash).map_err(|e| format!("API key {:?}: {e}", key.name))?;
        }
        let mut pepper = [0u8; 32];
        getrandom::fill(&mut pepper).map_err(|e| format!("no randomness from the OS: {e}"))?;
        Ok(Self {
            keys: keys.into(),
            pepper,
            memo: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_VERIFICATIONS)),
        })
    }

    /// True when keys are configured (requests must present one).
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The name of the key at `index`.
    pub fn name(&self, index: usize) -> &str {
        self.keys.get(index).map_or("?", |k| k.name.as_str())
    }

    fn digest(&self, presented: &str) -> [u8; 64] {
        let mut hasher = Blake2b512::new();
        hasher.update(self.pepper);
        hasher.update(presented.as_bytes());
        hasher.finalize().into()
    }

    /// Returns the key a presentation matched before, without hashing it with argon2.
    pub fn remembered(&self, presented: &str) -> Option<usize> {
        let digest = self.digest(presented);
        self.memo
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&digest)
            .copied()
    }

    /// Verifies a presented key with argon2 against every configured hash (every hash is
    /// tried, so the time does not tell which one matched), on a blocking thread.
    pub async fn verify(&self, presented: &str) -> Verdict {
        if presented.is_empty() || presented.len() > MAX_KEY_BYTES {
            return Verdict::Refused;
        }
        if let Some(index) = self.remembered(presented) {
            return Verdict::Key(index);
        }
        let Ok(_permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return Verdict::Refused;
        };
        let keys = Arc::clone(&self.keys);
        let candidate = presented.to_owned();
        let found = tokio::task::spawn_blocking(move || {
            let argon2 = Argon2::default();
            let mut found = None;
            for (index, key) in keys.iter().enumerate() {
                let matched = PasswordHash::new(&key.hash)
                    .is_ok_and(|hash| argon2.verify_password(candidate.as_bytes(), &hash).is_ok());
                if matched && found.is_none() {
                    found = Some(index);
                }
            }
            found
        })
        .await
        .ok()
        .flatten();
        match found {
            Some(index) => {
                let digest = self.digest(presented);
                self.memo
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(digest, index);
                Verdict::Key(index)
            }
            None => Verdict::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            },
            ApiKey {
                name: "mcp".into(),
                hash,
            },
        ])?;
        assert_eq!(verifier.remembered(&key), None);
        assert_eq!(verifier.verify(&key).await, Verdict::Key(1));
        assert_eq!(verifier.remembered(&key), Some(1));
        assert_eq!(verifier.verify("wadm_not_it").await, Verdict::Refused);
        assert_eq!(verifier.verify("").await, Verdict::Refused);
        assert_eq!(verifier.remembered("wadm_not_it"), None);
        Ok(())
    }

    #[test]
    fn hashes_must_be_argon2_phc_strings() {
        assert!(check_hash("plaintext").is_err());
        assert!(check_hash("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
        assert!(
            KeyVerifier::new(vec![ApiKey {
                name: "x".into(),
                hash: "secret".into()
            }])
            .is_err()
        );
    }

    #[test]
    fn debug_output_never_shows_a_hash() -> Result<(), String> {
        let (_, hash) = generate_key()?;
        let key = ApiKey {
            name: "mcp".into(),
            hash: hash.clone(),
        };
        assert!(!format!("{key:?}").contains(&hash));
        Ok(())
    }
}

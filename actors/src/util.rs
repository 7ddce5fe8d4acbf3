//! Small helpers every part of the crate uses: poison-tolerant locking, error chains for
//! logs, and the process-wide TLS provider.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking the data even if a thread panicked while holding it: every
/// critical section of this crate leaves its data consistent between statements (an open
/// SQLite transaction rolls back when its guard drops), so a panic elsewhere must not take
/// the lock's users down with it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Renders an error with its sources, for logs and status.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Installs ring as the process-wide rustls crypto provider (once; later calls do nothing),
/// so TLS never depends on which crate enabled which provider.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_gives_its_data() {
        let mutex = std::sync::Arc::new(Mutex::new(1));
        let held = std::sync::Arc::clone(&mutex);
        let _ = std::thread::spawn(move || {
            let _guard = held.lock();
            panic!("poison it");
        })
        .join();
        assert!(mutex.is_poisoned());
        *lock(&mutex) += 1;
        assert_eq!(*lock(&mutex), 2);
    }

    #[test]
    fn an_error_chain_names_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("write failed")]
        struct Write(#[source] std::io::Error);
        assert_eq!(
            error_chain(&Write(std::io::Error::other("disk full"))),
            "write failed: disk full"
        );
    }
}

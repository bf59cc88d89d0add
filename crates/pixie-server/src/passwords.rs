//! Password checks: Argon2id off the async workers, bounded to one per core, with
//! working memory kept between checks, and the same cost for an unknown user.

use crate::crypto;
use crate::error::{ApiError, ApiResult};

/// The password checker.
#[derive(Debug)]
pub struct Passwords {
    /// An Argon2 hash checked for unknown users, so they cost what known ones do.
    dummy_hash: std::sync::OnceLock<String>,
    /// Argon2 working memory kept between checks (19 MiB each, see
    /// `crypto::verify_password_in`): at most one per allowed concurrent check.
    memory: std::sync::Mutex<Vec<Vec<argon2::Block>>>,
    /// Bounds concurrent checks to one per core: each holds 19 MiB, and more at once
    /// would only queue for the CPU.
    permits: tokio::sync::Semaphore,
}

impl Default for Passwords {
    fn default() -> Self {
        Self {
            dummy_hash: std::sync::OnceLock::new(),
            memory: std::sync::Mutex::default(),
            permits: tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
        }
    }
}

impl Passwords {
    /// Whether `password` matches the PHC string `hash`; with no hash (an unknown
    /// user), checks against a hash no password matches, at the same cost.
    pub async fn verify(&self, hash: Option<String>, password: &str) -> ApiResult<bool> {
        let known = hash.is_some();
        let hash = match hash {
            Some(h) => h,
            None => self.dummy_hash().await?,
        };
        let password = password.to_owned();
        let _span = tracing::info_span!(target: crate::telemetry::TRACE_TARGET, "password check");
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let mut memory = self
            .memory
            .lock()
            .ok()
            .and_then(|mut kept| kept.pop())
            .unwrap_or_default();
        let (ok, memory) = tokio::task::spawn_blocking(move || {
            let ok = crypto::verify_password_in(&password, &hash, &mut memory);
            (ok, memory)
        })
        .await
        .map_err(ApiError::internal)?;
        if let Ok(mut kept) = self.memory.lock() {
            kept.push(memory);
        }
        Ok(ok && known)
    }

    /// The hash unknown users are checked against.
    pub async fn dummy_hash(&self) -> ApiResult<String> {
        if let Some(h) = self.dummy_hash.get() {
            return Ok(h.clone());
        }
        let h = tokio::task::spawn_blocking(|| crypto::hash_password("pixie: no such user"))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        Ok(self.dummy_hash.get_or_init(|| h).clone())
    }
}

//! Randomness, hashing, the master key (AES-256-GCM for keys at rest) and passwords
//! (Argon2id). Every primitive comes from aws-lc-rs or RustCrypto; nothing is hand-rolled.

use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use subtle::ConstantTimeEq;

/// Fresh random bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A random identifier or secret: `N` bytes of OS randomness in unpadded base64url.
pub fn random_token<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<N>())
}

/// A random identifier or secret that sorts by when it was made (see
/// [`pixie_core::ids`]): the wall clock's milliseconds, then `N` bytes of OS randomness.
/// For keys stored in an index that grows with every flow (codes, grants).
pub fn sortable_token<const N: usize>() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    pixie_core::ids::sortable(millis, &random_bytes::<N>())
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Why the master key could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The value is not 32 bytes in base64url or hex.
    #[error("the master key must be 32 bytes, as 43 base64url or 64 hex characters")]
    Malformed,
    /// The key file could not be read or written.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// A ciphertext did not open: wrong key, or tampered data.
    #[error("decryption failed: wrong master key, or the stored data was altered")]
    Decrypt,
}

/// The key that encrypts signing keys at rest, so that a copy of the database alone
/// leaks no signing key.
pub struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<secret>)")
    }
}

impl MasterKey {
    /// Parses 32 bytes given as base64url (43 characters) or hex (64 characters).
    pub fn parse(text: &str) -> Result<Self, MasterKeyError> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            (0..32)
                .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| MasterKeyError::Malformed)?
        } else {
            URL_SAFE_NO_PAD.decode(text).map_err(|_| MasterKeyError::Malformed)?
        };
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        let key = UnboundKey::new(&aead::AES_256_GCM, bytes).map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// The key from `configured` if given, else from `<data_dir>/master.key`, which is
    /// created (mode 0600) with a fresh key when missing.
    pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> Result<Self, MasterKeyError> {
        if let Some(text) = configured {
            return Self::parse(text);
        }
        let path = data_dir.join("master.key");
        let io = |source| MasterKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fresh = random_bytes::<32>();
                write_secret_file(&path, URL_SAFE_NO_PAD.encode(fresh).as_bytes()).map_err(io)?;
                // Another process may have won the race to create it: read what is there.
                Self::parse(&std::fs::read_to_string(&path).map_err(io)?)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Encrypts `plaintext`, bound to `aad`: returns nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut out = plaintext.to_vec();
        // Sealing only fails for inputs larger than GCM allows (64 GiB).
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(aad), &mut out)
            .map(|t| t.as_ref().to_vec())
            .unwrap_or_default();
        let mut blob = nonce_bytes.to_vec();
        blob.extend_from_slice(&out);
        blob.extend_from_slice(&tag);
        blob
    }

    /// Decrypts what [`MasterKey::seal`] produced with the same `aad`.
    pub fn open(&self, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        if blob.len() < NONCE_LEN {
            return Err(MasterKeyError::Decrypt);
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::Decrypt)?;
        let mut buf = ct.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| MasterKeyError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

/// Writes a new file readable by its owner only (0600). Fails if it exists.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut f) => {
            f.write_all(contents)?;
            f.sync_all()?;
            // The new name is on disk too (a power cut must not lose the master key).
            #[cfg(unix)]
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn argon2() -> argon2::Argon2<'static> {
    // OWASP's Argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
    let params = argon2::Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hashes a password with Argon2id into a PHC string.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(&random_bytes::<16>())?;
    Ok(argon2().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// Checks a password against a PHC string. An unparsable hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// Checks a password against a PHC string like [`verify_password`], but works in
/// `memory` (grown to what the hash's parameters need, then kept by the caller) instead
/// of a fresh 19 MiB block per check: freed and re-made blocks fragmented the heap, and
/// the server's resident memory grew by 19 MiB steps (measured).
pub fn verify_password_in(password: &str, phc: &str, memory: &mut Vec<argon2::Block>) -> bool {
    use argon2::password_hash::PasswordHash;
    let Ok(h) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let (Ok(params), Ok(alg)) = (argon2::Params::try_from(&h), argon2::Algorithm::try_from(h.algorithm)) else {
        return false;
    };
    let Ok(version) = h
        .version
        .map_or(Ok(argon2::Version::default()), argon2::Version::try_from)
    else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon2 = argon2::Argon2::new(alg, version, params);
    argon2
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok()
        && bool::from(subtle::ConstantTimeEq::ct_eq(out.as_slice(), expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_checks_in_kept_memory_agree_and_reuse_it() {
        let h = hash_password("correct horse").unwrap();
        let mut memory = Vec::new();
        assert!(verify_password_in("correct horse", &h, &mut memory));
        let (len, at) = (memory.len(), memory.as_ptr());
        assert_eq!(len, 19 * 1024, "one block per KiB");
        assert!(!verify_password_in("wrong", &h, &mut memory));
        assert!(!verify_password_in("correct horse", "not a hash", &mut memory));
        assert!(!verify_password_in(
            "correct horse",
            &h.replace("m=19456", "m=19455"),
            &mut memory
        ));
        assert_eq!(
            (memory.len(), memory.as_ptr()),
            (len, at),
            "the same memory, not a new block"
        );
        // A hash made elsewhere with other parameters still verifies.
        let other = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8, 1, 1, None).unwrap(),
        );
        let salt = argon2::password_hash::SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let small = argon2::password_hash::PasswordHasher::hash_password(&other, b"pw", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password_in("pw", &small, &mut memory));
        assert!(!verify_password_in("pX", &small, &mut memory));
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = MasterKey::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap();
        let blob = k.seal(b"secret", b"aad");
        assert_eq!(k.open(&blob, b"aad").unwrap(), b"secret");
        assert!(k.open(&blob, b"other").is_err());
        let other = MasterKey::parse(&"ab".repeat(32)).unwrap();
        assert!(other.open(&blob, b"aad").is_err());
        assert!(k.open(&blob[..5], b"aad").is_err());
        assert!(MasterKey::parse("short").is_err());
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}

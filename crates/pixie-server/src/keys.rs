//! Signing keys: one RS256 and one ES256 key per environment, their JWKs, and JWS
//! signing. Private keys are stored as PKCS#8 sealed with the master key.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pixie_core::client::SigningAlg;
use pixie_store::KeyRow;
use serde_json::{json, Value};

use crate::crypto::{sha256, MasterKey, MasterKeyError};

/// Why a key could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The crypto library refused.
    #[error("key generation or parsing failed")]
    Crypto,
    /// The stored key did not decrypt.
    #[error("signing key {kid} of environment {env}: {source}")]
    Sealed {
        /// The environment.
        env: String,
        /// The key id.
        kid: String,
        /// Why.
        source: MasterKeyError,
    },
    /// The stored algorithm is not one pixie knows.
    #[error("signing key {0}: unknown algorithm")]
    UnknownAlg(String),
}

enum Signer {
    Rs256(RsaKeyPair),
    Es256(EcdsaKeyPair),
}

/// A private signing key with its `kid` and public JWK.
pub struct SigningKey {
    /// The key id: the RFC 7638 thumbprint of the public JWK.
    pub kid: String,
    /// The JWS algorithm.
    pub alg: SigningAlg,
    /// The public JWK (with `kid`, `alg`, `use`).
    pub public_jwk: Value,
    /// The raw public key (SPKI-less: RSA PKCS#1 or an uncompressed EC point).
    public_key: Vec<u8>,
    signer: Signer,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.alg.as_str(), self.kid)
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    /// Generates a fresh key; returns it and its PKCS#8 encoding.
    pub fn generate(alg: SigningAlg) -> Result<(Self, Vec<u8>), KeyError> {
        let pkcs8 = match alg {
            SigningAlg::RS256 => {
                let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Crypto)?;
                kp.as_der().map_err(|_| KeyError::Crypto)?.as_ref().to_vec()
            }
            SigningAlg::ES256 => {
                let kp = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| KeyError::Crypto)?;
                kp.to_pkcs8v1().map_err(|_| KeyError::Crypto)?.as_ref().to_vec()
            }
        };
        Ok((Self::from_pkcs8(alg, &pkcs8)?, pkcs8))
    }

    /// Parses a PKCS#8 private key.
    pub fn from_pkcs8(alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let (signer, mut jwk, public_key) = match alg {
            SigningAlg::RS256 => {
                let kp = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError::Crypto)?;
                let public = kp.public_key();
                let raw = public.as_ref().to_vec();
                // RFC 7638: the required members, in lexicographic order.
                let jwk = json!({
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                });
                (Signer::Rs256(kp), jwk, raw)
            }
            SigningAlg::ES256 => {
                let kp = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| KeyError::Crypto)?;
                // Uncompressed point: 0x04 ‖ x ‖ y.
                let point = kp.public_key().as_ref();
                if point.len() != 65 {
                    return Err(KeyError::Crypto);
                }
                let jwk = json!({"crv": "P-256", "kty": "EC", "x": b64(&point[1..33]), "y": b64(&point[33..])});
                let raw = point.to_vec();
                (Signer::Es256(kp), jwk, raw)
            }
        };
        // serde_json's map is ordered by key, which is what RFC 7638 asks for.
        let kid = b64(&sha256(jwk.to_string().as_bytes()));
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(alg.as_str());
        jwk["use"] = json!("sig");
        Ok(Self {
            kid,
            alg,
            public_jwk: jwk,
            public_key,
            signer,
        })
    }

    /// Signs `message` (a JWS signing input) and returns the raw signature.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rs256(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| KeyError::Crypto)?;
                Ok(sig)
            }
            Signer::Es256(kp) => Ok(kp.sign(&rng, message).map_err(|_| KeyError::Crypto)?.as_ref().to_vec()),
        }
    }

    /// Whether `signature` over `message` verifies with this key's public half.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            SigningAlg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            SigningAlg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        };
        signature::UnparsedPublicKey::new(alg, &self.public_key)
            .verify(message, signature)
            .is_ok()
    }

    /// Keys sort by algorithm in the JWKS: RS256 (the ID token default) first.
    fn alg_order(&self) -> u8 {
        match self.alg {
            SigningAlg::RS256 => 0,
            SigningAlg::ES256 => 1,
        }
    }

    /// Seals the private key for storage, bound to its environment, kid and algorithm.
    pub fn seal(&self, master: &MasterKey, env_id: &str, pkcs8: &[u8], now: i64) -> KeyRow {
        KeyRow {
            env_id: env_id.to_owned(),
            kid: self.kid.clone(),
            alg: self.alg.as_str().to_owned(),
            private_enc: master.seal(pkcs8, aad(env_id, &self.kid, self.alg.as_str()).as_bytes()),
            public_jwk: self.public_jwk.to_string(),
            created_at: now,
        }
    }

    /// Opens a stored key with the master key.
    pub fn open(master: &MasterKey, row: &KeyRow) -> Result<Self, KeyError> {
        let alg = match row.alg.as_str() {
            "RS256" => SigningAlg::RS256,
            "ES256" => SigningAlg::ES256,
            _ => return Err(KeyError::UnknownAlg(row.kid.clone())),
        };
        let pkcs8 = master
            .open(&row.private_enc, aad(&row.env_id, &row.kid, &row.alg).as_bytes())
            .map_err(|source| KeyError::Sealed {
                env: row.env_id.clone(),
                kid: row.kid.clone(),
                source,
            })?;
        Self::from_pkcs8(alg, &pkcs8)
    }
}

fn aad(env_id: &str, kid: &str, alg: &str) -> String {
    format!("pixie signing key\0{env_id}\0{kid}\0{alg}")
}

/// How long a superseded key stays in the JWKS and verifies: the longest an access or
/// ID token it signed can live (CONTRACT §9), and a minute for clocks.
pub const RETIRE_AFTER: i64 = pixie_core::lifetimes::MAX_ACCESS_TOKEN + 60;

/// One key of an environment, with its dates.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The key.
    pub key: Arc<SigningKey>,
    /// When it was made.
    pub created_at: i64,
    /// When it leaves the JWKS: `None` for the key that signs (its algorithm's newest).
    pub retire_at: Option<i64>,
}

/// Where a key is in its life (CONTRACT §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// It signs.
    Active,
    /// Superseded; still in the JWKS and verifying until `retire_at`.
    Retiring,
    /// Gone from the JWKS; verifies nothing.
    Retired,
}

impl KeyStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }
}

impl KeyEntry {
    /// Its status at `now`.
    pub fn status(&self, now: i64) -> KeyStatus {
        match self.retire_at {
            None => KeyStatus::Active,
            Some(t) if now < t => KeyStatus::Retiring,
            Some(_) => KeyStatus::Retired,
        }
    }
}

/// An environment's keys, ready to sign.
#[derive(Debug)]
pub struct EnvKeys {
    /// The RS256 key that signs.
    pub rs256: Arc<SigningKey>,
    /// The ES256 key that signs.
    pub es256: Arc<SigningKey>,
    /// Every key, by algorithm, newest first.
    pub all: Vec<KeyEntry>,
}

impl EnvKeys {
    /// Builds the key set from an environment's keys with their creation times: the
    /// newest key of each algorithm signs (the kid, a thumbprint, only breaks ties); an
    /// older one retires [`RETIRE_AFTER`] its successor was made.
    pub fn from_keys(mut keys: Vec<(SigningKey, i64)>) -> Option<Self> {
        // A stable order, whether the keys were just made or read back from the store:
        // by algorithm, newest first.
        keys.sort_by(|(a, at), (b, bt)| {
            (a.alg_order(), std::cmp::Reverse(*at), &a.kid).cmp(&(b.alg_order(), std::cmp::Reverse(*bt), &b.kid))
        });
        let mut all: Vec<KeyEntry> = Vec::with_capacity(keys.len());
        for (k, created_at) in keys {
            // The key before this one in the order is its successor, if of its algorithm.
            let retire_at = all
                .last()
                .filter(|prev| prev.key.alg == k.alg)
                .map(|prev| prev.created_at + RETIRE_AFTER);
            all.push(KeyEntry {
                key: Arc::new(k),
                created_at,
                retire_at,
            });
        }
        let signing = |alg: SigningAlg| all.iter().find(|e| e.key.alg == alg).map(|e| e.key.clone());
        Some(Self {
            rs256: signing(SigningAlg::RS256)?,
            es256: signing(SigningAlg::ES256)?,
            all,
        })
    }

    /// The key that signs with `alg`.
    pub fn for_alg(&self, alg: SigningAlg) -> &SigningKey {
        match alg {
            SigningAlg::RS256 => &self.rs256,
            SigningAlg::ES256 => &self.es256,
        }
    }

    /// The JWKS document at `now`: every key not retired.
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<&Value> = self
            .all
            .iter()
            .filter(|e| e.status(now) != KeyStatus::Retired)
            .map(|e| &e.key.public_jwk)
            .collect();
        json!({ "keys": keys })
    }

    /// The key with `kid`, if it still verifies at `now`.
    pub fn verifying(&self, kid: &str, now: i64) -> Option<&SigningKey> {
        self.all
            .iter()
            .find(|e| e.key.kid == kid && e.status(now) != KeyStatus::Retired)
            .map(|e| e.key.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256};

    #[test]
    fn sign_verify_and_reload() {
        let master = MasterKey::parse(&"11".repeat(32)).unwrap();
        for alg in [SigningAlg::ES256, SigningAlg::RS256] {
            let (key, pkcs8) = SigningKey::generate(alg).unwrap();
            let sig = key.sign(b"header.payload").unwrap();
            let row = key.seal(&master, "env", &pkcs8, 0);
            let again = SigningKey::open(&master, &row).unwrap();
            assert_eq!(again.kid, key.kid);
            assert_eq!(again.public_jwk, key.public_jwk);
            let ok = match &again.signer {
                Signer::Es256(kp) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, kp.public_key().as_ref())
                    .verify(b"header.payload", &sig)
                    .is_ok(),
                Signer::Rs256(kp) => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, kp.public_key().as_ref())
                    .verify(b"header.payload", &sig)
                    .is_ok(),
            };
            assert!(ok, "{alg:?}");
            // Bound to its environment: a row moved to another environment does not open.
            let moved = KeyRow {
                env_id: "other".into(),
                ..row.clone()
            };
            assert!(SigningKey::open(&master, &moved).is_err());
            let wrong = MasterKey::parse(&"22".repeat(32)).unwrap();
            assert!(matches!(SigningKey::open(&wrong, &row), Err(KeyError::Sealed { .. })));
        }
    }

    #[test]
    fn the_newest_key_of_an_algorithm_signs_whatever_its_kid() {
        let gen = |alg| SigningKey::generate(alg).unwrap().0;
        let rs = gen(SigningAlg::RS256);
        // Two ES256 keys; try both ways round, so the kid order cannot decide.
        let (e1, e2) = (gen(SigningAlg::ES256), gen(SigningAlg::ES256));
        let (old_kid, new_kid) = (e1.kid.clone(), e2.kid.clone());
        let set = EnvKeys::from_keys(vec![(e2, 200), (rs, 100), (e1, 100)]).unwrap();
        assert_eq!(set.es256.kid, new_kid, "the newer key signs");
        assert_eq!(
            set.jwks(200)["keys"].as_array().unwrap().len(),
            3,
            "both stay in the JWKS"
        );
        assert!(set.verifying(&old_kid, 200).is_some());
        assert_eq!(
            set.all.iter().find(|e| e.key.kid == old_kid).unwrap().retire_at,
            Some(200 + RETIRE_AFTER)
        );
        // Once every token it signed has expired, the old key leaves and verifies nothing.
        assert_eq!(set.jwks(200 + RETIRE_AFTER)["keys"].as_array().unwrap().len(), 2);
        assert!(set.verifying(&old_kid, 200 + RETIRE_AFTER).is_none());
        assert!(
            set.verifying(&new_kid, i64::MAX).is_some(),
            "the signing key never retires"
        );
        let (e1, e2) = (gen(SigningAlg::ES256), gen(SigningAlg::ES256));
        let newer = e1.kid.clone();
        let set = EnvKeys::from_keys(vec![(e2, 100), (gen(SigningAlg::RS256), 1), (e1, 300)]).unwrap();
        assert_eq!(set.es256.kid, newer);
        assert_ne!(old_kid, newer);
    }
}

//! RFC 7636 values: `code_verifier`, `code_challenge` and `code_challenge_method`.
//!
//! Each type can only hold a value that the RFC allows, so code that has one never
//! re-checks it. Parsing never panics, whatever the input.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The shortest `code_verifier` (and `plain` challenge) RFC 7636 §4.1 allows.
pub const MIN_LEN: usize = 43;
/// The longest `code_verifier` (and `plain` challenge) RFC 7636 §4.1 allows.
pub const MAX_LEN: usize = 128;
/// The length of an S256 challenge: 32 bytes in unpadded base64url.
pub const S256_CHALLENGE_LEN: usize = 43;
/// The verifier length [`CodeVerifier::generate`] uses by default (≥ 256 bits).
pub const DEFAULT_VERIFIER_LEN: usize = 43;

/// A `code_challenge_method` (RFC 7636 §4.2). The names are case-sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ChallengeMethod {
    /// `plain`: the challenge is the verifier itself.
    Plain,
    /// `S256`: the challenge is `BASE64URL(SHA256(ASCII(verifier)))`.
    S256,
}

impl ChallengeMethod {
    /// Both methods, weakest first.
    pub const ALL: [ChallengeMethod; 2] = [ChallengeMethod::Plain, ChallengeMethod::S256];

    /// The method's wire name: `plain` or `S256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::S256 => "S256",
        }
    }

    /// Parses a wire name exactly (RFC 7636 names are case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "plain" => Some(Self::Plain),
            "S256" => Some(Self::S256),
            _ => None,
        }
    }
}

impl fmt::Display for ChallengeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChallengeMethod {
    type Err = PkceFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or(PkceFormatError::UnknownMethod)
    }
}

impl serde::Serialize for ChallengeMethod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ChallengeMethod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s)
            .ok_or_else(|| serde::de::Error::invalid_value(serde::de::Unexpected::Str(&s), &"\"plain\" or \"S256\""))
    }
}

/// Why a verifier, challenge or method is not well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PkceFormatError {
    /// Fewer than 43 characters.
    #[error("{0} characters, fewer than the 43 RFC 7636 requires")]
    TooShort(usize),
    /// More than 128 characters.
    #[error("{0} characters, more than the 128 RFC 7636 allows")]
    TooLong(usize),
    /// A character outside `[A-Za-z0-9-._~]`.
    #[error("character {0} is outside [A-Za-z0-9-._~]")]
    InvalidCharacter(usize),
    /// An S256 challenge that is not 43 characters of unpadded base64url.
    #[error("{0} characters; an S256 challenge is exactly 43 (unpadded base64url of 32 bytes)")]
    S256WrongLength(usize),
    /// An S256 challenge of the right length that does not decode as canonical base64url.
    #[error("not valid unpadded base64url")]
    S256NotBase64Url,
    /// A method other than `plain` or `S256`.
    #[error("unknown code_challenge_method; use S256 or plain")]
    UnknownMethod,
}

/// Whether `b` is in RFC 3986's unreserved set, the alphabet of verifiers.
#[inline]
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Checks RFC 7636 §4.1's verifier grammar: 43–128 unreserved characters.
fn check_verifier_syntax(s: &str) -> Result<(), PkceFormatError> {
    let n = s.len();
    if let Some(pos) = s.bytes().position(|b| !is_unreserved(b)) {
        // Count characters, not bytes, so the position means something to a person.
        return Err(PkceFormatError::InvalidCharacter(s[..pos].chars().count() + 1));
    }
    if n < MIN_LEN {
        return Err(PkceFormatError::TooShort(n));
    }
    if n > MAX_LEN {
        return Err(PkceFormatError::TooLong(n));
    }
    Ok(())
}

/// A `code_verifier`: 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// Parses a verifier, refusing anything RFC 7636 §4.1 does not allow.
    pub fn parse(s: &str) -> Result<Self, PkceFormatError> {
        check_verifier_syntax(s)?;
        Ok(Self(s.to_owned()))
    }

    /// Generates a verifier of `len` characters (43–128) from a cryptographic RNG.
    ///
    /// The characters are unpadded base64url of fresh random bytes, so every
    /// character carries 6 bits: the default 43 characters carry 258 bits.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R, len: usize) -> Result<Self, PkceFormatError> {
        if len < MIN_LEN {
            return Err(PkceFormatError::TooShort(len));
        }
        if len > MAX_LEN {
            return Err(PkceFormatError::TooLong(len));
        }
        let mut bytes = [0u8; 96]; // 96 bytes → 128 characters, the maximum.
        let needed = (len * 6).div_ceil(8);
        rng.fill_bytes(&mut bytes[..needed]);
        let mut s = URL_SAFE_NO_PAD.encode(&bytes[..needed]);
        s.truncate(len);
        Ok(Self(s))
    }

    /// The verifier as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// A verifier is a secret: never print it by accident.
impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeVerifier(<{} chars>)", self.0.len())
    }
}

/// Computes the S256 digest of a verifier.
fn s256_digest(verifier: &str) -> [u8; 32] {
    Sha256::digest(verifier.as_bytes()).into()
}

/// A `code_challenge` together with its method, known to be well formed.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeChallenge {
    repr: Repr,
}

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Plain(String),
    /// The decoded digest, kept so that verification is one hash and one comparison.
    S256([u8; 32]),
}

impl CodeChallenge {
    /// Parses a challenge sent with `method`: `plain` follows the verifier's grammar;
    /// `S256` must be the unpadded base64url of exactly 32 bytes.
    pub fn parse(method: ChallengeMethod, s: &str) -> Result<Self, PkceFormatError> {
        match method {
            ChallengeMethod::Plain => {
                check_verifier_syntax(s)?;
                Ok(Self {
                    repr: Repr::Plain(s.to_owned()),
                })
            }
            ChallengeMethod::S256 => {
                if s.len() != S256_CHALLENGE_LEN {
                    return Err(PkceFormatError::S256WrongLength(s.chars().count()));
                }
                let mut digest = [0u8; 32];
                // The engine refuses padding and non-canonical trailing bits.
                match URL_SAFE_NO_PAD.decode_slice(s, &mut digest) {
                    Ok(32) => Ok(Self {
                        repr: Repr::S256(digest),
                    }),
                    _ => Err(PkceFormatError::S256NotBase64Url),
                }
            }
        }
    }

    /// The challenge a verifier produces under `method` (RFC 7636 §4.2).
    pub fn from_verifier(verifier: &CodeVerifier, method: ChallengeMethod) -> Self {
        let repr = match method {
            ChallengeMethod::Plain => Repr::Plain(verifier.0.clone()),
            ChallengeMethod::S256 => Repr::S256(s256_digest(&verifier.0)),
        };
        Self { repr }
    }

    /// The method this challenge was sent with.
    pub fn method(&self) -> ChallengeMethod {
        match self.repr {
            Repr::Plain(_) => ChallengeMethod::Plain,
            Repr::S256(_) => ChallengeMethod::S256,
        }
    }

    /// The challenge as sent on the wire.
    pub fn value(&self) -> String {
        match &self.repr {
            Repr::Plain(s) => s.clone(),
            Repr::S256(d) => URL_SAFE_NO_PAD.encode(d),
        }
    }

    /// Whether `verifier` transforms to this challenge. The comparison is constant-time.
    pub fn verify(&self, verifier: &CodeVerifier) -> bool {
        match &self.repr {
            Repr::Plain(c) => c.as_bytes().ct_eq(verifier.0.as_bytes()).into(),
            Repr::S256(d) => d.ct_eq(&s256_digest(&verifier.0)).into(),
        }
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeChallenge({}, {})", self.method(), self.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        let v = CodeVerifier::parse(RFC_VERIFIER).unwrap();
        let c = CodeChallenge::from_verifier(&v, ChallengeMethod::S256);
        assert_eq!(c.value(), RFC_CHALLENGE);
        let parsed = CodeChallenge::parse(ChallengeMethod::S256, RFC_CHALLENGE).unwrap();
        assert!(parsed.verify(&v));
        assert_eq!(parsed, c);
    }

    #[test]
    fn appendix_b_octets() {
        // The verifier is base64url of these 32 octets (Appendix B).
        let octets = [
            116u8, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214,
            191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        assert_eq!(URL_SAFE_NO_PAD.encode(octets), RFC_VERIFIER);
    }

    #[test]
    fn plain_challenge_is_verifier() {
        let v = CodeVerifier::parse(RFC_VERIFIER).unwrap();
        let c = CodeChallenge::parse(ChallengeMethod::Plain, RFC_VERIFIER).unwrap();
        assert!(c.verify(&v));
        assert_eq!(c, CodeChallenge::from_verifier(&v, ChallengeMethod::Plain));
        // A plain challenge does not verify an S256 pairing and vice versa.
        let s = CodeChallenge::parse(ChallengeMethod::S256, RFC_CHALLENGE).unwrap();
        let wrong = CodeVerifier::parse(RFC_CHALLENGE).unwrap();
        assert!(!s.verify(&wrong));
    }

    #[test]
    fn verifier_bounds() {
        assert_eq!(CodeVerifier::parse(&"a".repeat(42)), Err(PkceFormatError::TooShort(42)));
        assert!(CodeVerifier::parse(&"a".repeat(43)).is_ok());
        assert!(CodeVerifier::parse(&"a".repeat(128)).is_ok());
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(129)),
            Err(PkceFormatError::TooLong(129))
        );
        assert_eq!(CodeVerifier::parse(""), Err(PkceFormatError::TooShort(0)));
        let mut s = "a".repeat(43);
        s.replace_range(10..11, "+");
        assert_eq!(CodeVerifier::parse(&s), Err(PkceFormatError::InvalidCharacter(11)));
        assert!(CodeVerifier::parse(&format!("{}é", "a".repeat(43))).is_err());
        assert!(CodeVerifier::parse("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg").is_ok());
    }

    #[test]
    fn s256_challenge_shape() {
        // Padded, too long, too short, non-base64url, non-canonical trailing bits.
        for bad in [
            format!("{RFC_CHALLENGE}="),
            format!("{RFC_CHALLENGE}A"),
            RFC_CHALLENGE[..42].to_string(),
            RFC_CHALLENGE.replace('-', "+"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN".to_string(),
            String::new(),
        ] {
            assert!(CodeChallenge::parse(ChallengeMethod::S256, &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn method_names_are_case_sensitive() {
        assert_eq!(ChallengeMethod::parse("S256"), Some(ChallengeMethod::S256));
        assert_eq!(ChallengeMethod::parse("plain"), Some(ChallengeMethod::Plain));
        for bad in ["s256", "PLAIN", "Plain", "S512", "", " S256"] {
            assert_eq!(ChallengeMethod::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn debug_never_prints_a_verifier() {
        let v = CodeVerifier::parse(RFC_VERIFIER).unwrap();
        assert!(!format!("{v:?}").contains(RFC_VERIFIER));
    }

    #[test]
    fn generate_default_length() {
        let v = CodeVerifier::generate(&mut rand_core::OsRng, DEFAULT_VERIFIER_LEN).unwrap();
        assert_eq!(v.as_str().len(), 43);
        assert!(CodeVerifier::parse(v.as_str()).is_ok());
        assert!(CodeVerifier::generate(&mut rand_core::OsRng, 42).is_err());
        assert!(CodeVerifier::generate(&mut rand_core::OsRng, 129).is_err());
    }
}

//! PKCE policy: an environment's (the issuer's "global" policy) and a client's.
//!
//! A policy body that leaves a field out takes the strict default: S256 allowed
//! and required, PKCE required of public clients, enforced.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::pkce::ChallengeMethod;

/// A set of PKCE methods. Serialized as a list of wire names, `plain` before `S256`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MethodSet {
    plain: bool,
    s256: bool,
}

impl MethodSet {
    /// No method.
    pub const EMPTY: MethodSet = MethodSet {
        plain: false,
        s256: false,
    };
    /// `S256` only.
    pub const S256: MethodSet = MethodSet {
        plain: false,
        s256: true,
    };
    /// `plain` only.
    pub const PLAIN: MethodSet = MethodSet {
        plain: true,
        s256: false,
    };
    /// Both `plain` and `S256`.
    pub const ALL: MethodSet = MethodSet {
        plain: true,
        s256: true,
    };

    /// Whether `m` is in the set.
    pub fn contains(self, m: ChallengeMethod) -> bool {
        match m {
            ChallengeMethod::Plain => self.plain,
            ChallengeMethod::S256 => self.s256,
        }
    }

    /// Adds `m` to the set.
    pub fn insert(&mut self, m: ChallengeMethod) {
        match m {
            ChallengeMethod::Plain => self.plain = true,
            ChallengeMethod::S256 => self.s256 = true,
        }
    }

    /// Whether the set has no method.
    pub fn is_empty(self) -> bool {
        !self.plain && !self.s256
    }

    /// Whether every method of `self` is in `other`.
    pub fn is_subset(self, other: MethodSet) -> bool {
        (!self.plain || other.plain) && (!self.s256 || other.s256)
    }

    /// The methods in the set, `plain` first.
    pub fn iter(self) -> impl Iterator<Item = ChallengeMethod> {
        ChallengeMethod::ALL.into_iter().filter(move |m| self.contains(*m))
    }

    /// The wire names, `plain` first.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(ChallengeMethod::as_str).collect()
    }
}

impl FromIterator<ChallengeMethod> for MethodSet {
    fn from_iter<I: IntoIterator<Item = ChallengeMethod>>(iter: I) -> Self {
        let mut set = MethodSet::EMPTY;
        for m in iter {
            set.insert(m);
        }
        set
    }
}

impl fmt::Display for MethodSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.names().join(", "))
    }
}

impl Serialize for MethodSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for MethodSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<ChallengeMethod>::deserialize(d)?.into_iter().collect())
    }
}

/// Whether requirement violations are rejected or only recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    /// Reject every violation.
    #[default]
    Enforce,
    /// Let requirement violations (checks 3 and 4) through, and record them.
    Report,
}

impl PolicyMode {
    /// The wire name: `enforce` or `report`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Report => "report",
        }
    }
}

/// An environment's PKCE policy (CONTRACT §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(default, deny_unknown_fields)]
pub struct EnvPkcePolicy {
    /// Methods accepted at all.
    pub allowed: MethodSet,
    /// If non-empty, PKCE must be sent with one of these methods.
    pub required: MethodSet,
    /// Public clients (auth method `none`) must send PKCE.
    pub require_for_public_clients: bool,
    /// Enforce, or only report, the requirement checks.
    pub mode: PolicyMode,
}

impl Default for EnvPkcePolicy {
    /// The strict policy OAuth 2.1 asks for: S256 only, and required.
    fn default() -> Self {
        Self::strict()
    }
}

impl EnvPkcePolicy {
    /// Allowed `S256`, required `S256`, required of public clients, enforced.
    pub const fn strict() -> Self {
        Self {
            allowed: MethodSet::S256,
            required: MethodSet::S256,
            require_for_public_clients: true,
            mode: PolicyMode::Enforce,
        }
    }

    /// Connect2id's compatible default: both methods allowed, none required.
    pub const fn permissive() -> Self {
        Self {
            allowed: MethodSet::ALL,
            required: MethodSet::EMPTY,
            require_for_public_clients: false,
            mode: PolicyMode::Enforce,
        }
    }

    /// Checks that `allowed` is non-empty and `required` lies within it.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.allowed.is_empty() {
            return Err(PolicyError::AllowedEmpty);
        }
        if let Some(m) = self.required.iter().find(|m| !self.allowed.contains(*m)) {
            return Err(PolicyError::RequiredNotAllowed(m));
        }
        Ok(())
    }
}

/// A client's PKCE metadata (CONTRACT §3): its own, stricter requirement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ClientPkcePolicy {
    /// When set, the client must send exactly this method.
    pub code_challenge_method: Option<ChallengeMethod>,
    /// The client must send PKCE with any allowed method.
    pub require_pkce: bool,
}

impl ClientPkcePolicy {
    /// Checks the client's method against the environment: it must be allowed there.
    pub fn validate(&self, env: &EnvPkcePolicy) -> Result<(), PolicyError> {
        match self.code_challenge_method {
            Some(m) if !env.allowed.contains(m) => Err(PolicyError::ClientMethodNotAllowed(m, env.allowed)),
            _ => Ok(()),
        }
    }
}

/// Why a policy is invalid; [`PolicyError::field`] names the field at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `allowed` lists no method.
    #[error("allowed must list at least one method (plain, S256)")]
    AllowedEmpty,
    /// `required` lists a method that `allowed` does not.
    #[error("required lists {0}, which allowed does not: required must be a subset of allowed")]
    RequiredNotAllowed(ChallengeMethod),
    /// A client's `code_challenge_method` is not allowed by its environment.
    #[error("code_challenge_method {0} is not allowed by this environment (allowed: {1})")]
    ClientMethodNotAllowed(ChallengeMethod, MethodSet),
}

impl PolicyError {
    /// The name of the field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::AllowedEmpty => "allowed",
            Self::RequiredNotAllowed(_) => "required",
            Self::ClientMethodNotAllowed(..) => "code_challenge_method",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_is_default_and_valid() {
        assert_eq!(EnvPkcePolicy::default(), EnvPkcePolicy::strict());
        assert!(EnvPkcePolicy::strict().validate().is_ok());
        assert!(EnvPkcePolicy::permissive().validate().is_ok());
    }

    #[test]
    fn validation_names_the_field() {
        let p = EnvPkcePolicy {
            allowed: MethodSet::EMPTY,
            ..EnvPkcePolicy::strict()
        };
        assert_eq!(p.validate().unwrap_err().field(), "allowed");
        let p = EnvPkcePolicy {
            allowed: MethodSet::S256,
            required: MethodSet::PLAIN,
            ..EnvPkcePolicy::strict()
        };
        assert_eq!(
            p.validate(),
            Err(PolicyError::RequiredNotAllowed(ChallengeMethod::Plain))
        );
        assert_eq!(p.validate().unwrap_err().field(), "required");
        let c = ClientPkcePolicy {
            code_challenge_method: Some(ChallengeMethod::Plain),
            require_pkce: false,
        };
        let err = c.validate(&EnvPkcePolicy::strict()).unwrap_err();
        assert_eq!(err.field(), "code_challenge_method");
        assert!(err.to_string().contains("plain is not allowed"), "{err}");
        assert!(c.validate(&EnvPkcePolicy::permissive()).is_ok());
    }

    #[test]
    fn json_fields_left_out_take_strict_defaults() {
        let p: EnvPkcePolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, EnvPkcePolicy::strict());
        let p: EnvPkcePolicy = serde_json::from_str(r#"{"allowed":["plain","S256"],"required":[]}"#).unwrap();
        assert_eq!(p.allowed, MethodSet::ALL);
        assert_eq!(p.required, MethodSet::EMPTY);
        assert!(p.require_for_public_clients);
        assert_eq!(p.mode, PolicyMode::Enforce);
        assert!(serde_json::from_str::<EnvPkcePolicy>(r#"{"allowed":["S512"]}"#).is_err());
        assert!(serde_json::from_str::<EnvPkcePolicy>(r#"{"mode":"audit"}"#).is_err());
        assert!(serde_json::from_str::<EnvPkcePolicy>(r#"{"alowed":["S256"]}"#).is_err());
        let back = serde_json::to_value(EnvPkcePolicy::permissive()).unwrap();
        assert_eq!(back["allowed"], serde_json::json!(["plain", "S256"]));
        assert_eq!(back["mode"], "enforce");
    }
}

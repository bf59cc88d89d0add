//! How long codes, flows, sessions and tokens live: per environment, with per-client
//! overrides. A body that leaves a field out takes the default.

use serde::{Deserialize, Serialize};

const DAY: i64 = 24 * 3600;

/// The longest access token lifetime an environment or client may set, in seconds:
/// how long a revocation must be remembered.
pub const MAX_ACCESS_TOKEN: i64 = DAY;

/// An environment's lifetimes, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lifetimes {
    /// Authorization codes (RFC 6749 §4.1.2 recommends at most 10 minutes).
    pub code: i64,
    /// Pending sign-on flows.
    pub flow: i64,
    /// Sign-on sessions.
    pub session: i64,
    /// Access tokens and ID tokens.
    pub access_token: i64,
    /// A refresh token unused this long expires; each rotation starts it again.
    pub refresh_token_idle: i64,
    /// No refresh token outlives its grant's start by more than this.
    pub refresh_token_absolute: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            code: 60,
            flow: 600,
            session: 8 * 3600,
            access_token: 3600,
            refresh_token_idle: 14 * DAY,
            refresh_token_absolute: 90 * DAY,
        }
    }
}

/// A lifetime that is out of bounds; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct LifetimeError {
    /// The field at fault.
    pub field: &'static str,
    /// Why.
    pub message: String,
}

fn check(field: &'static str, v: i64, max: i64) -> Result<(), LifetimeError> {
    if (1..=max).contains(&v) {
        Ok(())
    } else {
        Err(LifetimeError {
            field,
            message: format!("must be between 1 and {max} seconds"),
        })
    }
}

impl Lifetimes {
    /// Checks every lifetime is within bounds and idle ≤ absolute.
    pub fn validate(&self) -> Result<(), LifetimeError> {
        check("code", self.code, 600)?;
        check("flow", self.flow, DAY)?;
        check("session", self.session, 366 * DAY)?;
        check("access_token", self.access_token, MAX_ACCESS_TOKEN)?;
        check("refresh_token_idle", self.refresh_token_idle, 366 * DAY)?;
        check("refresh_token_absolute", self.refresh_token_absolute, 366 * DAY)?;
        if self.refresh_token_idle > self.refresh_token_absolute {
            return Err(LifetimeError {
                field: "refresh_token_idle",
                message: "must not exceed refresh_token_absolute".into(),
            });
        }
        Ok(())
    }

    /// These lifetimes with a client's overrides applied.
    pub fn for_client(&self, o: &LifetimeOverrides) -> Lifetimes {
        Lifetimes {
            code: o.code.unwrap_or(self.code),
            flow: o.flow.unwrap_or(self.flow),
            session: self.session,
            access_token: o.access_token.unwrap_or(self.access_token),
            refresh_token_idle: o.refresh_token_idle.unwrap_or(self.refresh_token_idle),
            refresh_token_absolute: o.refresh_token_absolute.unwrap_or(self.refresh_token_absolute),
        }
    }

    /// When a refresh token issued now expires, for a grant that started at `grant_start`.
    pub fn refresh_expiry(&self, now: i64, grant_start: i64) -> i64 {
        (now + self.refresh_token_idle).min(grant_start + self.refresh_token_absolute)
    }
}

/// A client's own lifetimes; unset fields take the environment's. (Sessions are shared
/// by all clients of an environment, so they have no per-client value.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifetimeOverrides {
    /// Authorization codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Pending sign-on flows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<i64>,
    /// Access and ID tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<i64>,
    /// Refresh token idle lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_idle: Option<i64>,
    /// Refresh token absolute lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_absolute: Option<i64>,
}

impl LifetimeOverrides {
    /// Whether no lifetime is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the overrides as they would apply over `env`.
    pub fn validate(&self, env: &Lifetimes) -> Result<(), LifetimeError> {
        env.for_client(self).validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bounds_name_the_field() {
        assert!(Lifetimes::default().validate().is_ok());
        let l: Lifetimes = serde_json::from_str(r#"{"code": 30}"#).unwrap();
        assert_eq!((l.code, l.access_token), (30, 3600));
        let bad = Lifetimes {
            code: 601,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "code");
        let bad = Lifetimes {
            refresh_token_idle: 100,
            refresh_token_absolute: 50,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "refresh_token_idle");
        assert!(serde_json::from_str::<Lifetimes>(r#"{"cod": 30}"#).is_err());
    }

    #[test]
    fn overrides_and_refresh_expiry() {
        let env = Lifetimes::default();
        let o = LifetimeOverrides {
            access_token: Some(60),
            ..Default::default()
        };
        assert_eq!(env.for_client(&o).access_token, 60);
        assert_eq!(env.for_client(&o).code, 60);
        let l = Lifetimes {
            refresh_token_idle: 100,
            refresh_token_absolute: 250,
            ..Default::default()
        };
        assert_eq!(l.refresh_expiry(0, 0), 100);
        assert_eq!(l.refresh_expiry(200, 0), 250, "capped by the absolute lifetime");
        assert!(LifetimeOverrides {
            code: Some(0),
            ..Default::default()
        }
        .validate(&env)
        .is_err());
    }
}

//! The PKCE decisions: what the authorization endpoint does with a request's
//! `code_challenge` / `code_challenge_method`, and what the token endpoint does with
//! a `code_verifier`. Plain functions of their inputs, in CONTRACT §3's order.

use std::fmt;

use crate::error::{ErrorCode, OAuthError};
use crate::pkce::{ChallengeMethod, CodeChallenge, CodeVerifier, PkceFormatError};
use crate::policy::{ClientPkcePolicy, EnvPkcePolicy, PolicyMode};

/// The PKCE parameters of an authorization request, as raw strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PkceParams<'a> {
    /// `code_challenge`, if present (an empty value counts as present).
    pub code_challenge: Option<&'a str>,
    /// `code_challenge_method`, if present.
    pub code_challenge_method: Option<&'a str>,
}

impl PkceParams<'_> {
    /// The method label for counting: `None` when no challenge was sent, the named
    /// method (or `plain` when absent, RFC 7636 §4.3) otherwise; an unknown method
    /// counts as no PKCE, since nothing usable was sent.
    pub fn observed_method(&self) -> Option<ChallengeMethod> {
        self.code_challenge?;
        match self.code_challenge_method {
            None => Some(ChallengeMethod::Plain),
            Some(m) => ChallengeMethod::parse(m),
        }
    }
}

/// Which rule a PKCE rejection (or a report-mode violation) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PkceRule {
    /// Check 1: `code_challenge_method` without `code_challenge`.
    MethodWithoutChallenge,
    /// Check 1: a method other than `plain` or `S256`.
    UnknownMethod,
    /// Check 2: the method is not in the environment's `allowed`.
    MethodNotAllowed,
    /// Check 3: `required` is non-empty and no PKCE was sent.
    RequiredMissing,
    /// Check 3: the method sent is not in `required`.
    MethodNotRequired,
    /// Check 4: the client's registered `code_challenge_method` differs from what was sent.
    ClientMethodMismatch,
    /// Check 4: the client has `require_pkce` and sent none.
    ClientRequiresPkce,
    /// Check 4: the client is public, the environment requires PKCE of public clients.
    PublicClientRequiresPkce,
    /// Check 5: the challenge is malformed for its method.
    MalformedChallenge,
    /// Token: a challenge was recorded and no `code_verifier` was sent.
    VerifierMissing,
    /// Token: the `code_verifier` is not 43–128 unreserved characters.
    VerifierMalformed,
    /// Token: the `code_verifier` does not transform to the recorded challenge.
    VerifierMismatch,
    /// Token: a `code_verifier` was sent but no challenge was recorded (downgrade).
    VerifierWithoutChallenge,
}

impl PkceRule {
    /// A stable snake_case name for reports, metrics and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MethodWithoutChallenge => "method_without_challenge",
            Self::UnknownMethod => "unknown_method",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequiredMissing => "required_missing",
            Self::MethodNotRequired => "method_not_required",
            Self::ClientMethodMismatch => "client_method_mismatch",
            Self::ClientRequiresPkce => "client_requires_pkce",
            Self::PublicClientRequiresPkce => "public_client_requires_pkce",
            Self::MalformedChallenge => "malformed_challenge",
            Self::VerifierMissing => "verifier_missing",
            Self::VerifierMalformed => "verifier_malformed",
            Self::VerifierMismatch => "verifier_mismatch",
            Self::VerifierWithoutChallenge => "verifier_without_challenge",
        }
    }

    /// The contract's check number (1–5) for authorization rules; `None` at the token endpoint.
    pub fn check_number(self) -> Option<u8> {
        match self {
            Self::MethodWithoutChallenge | Self::UnknownMethod => Some(1),
            Self::MethodNotAllowed => Some(2),
            Self::RequiredMissing | Self::MethodNotRequired => Some(3),
            Self::ClientMethodMismatch | Self::ClientRequiresPkce | Self::PublicClientRequiresPkce => Some(4),
            Self::MalformedChallenge => Some(5),
            _ => None,
        }
    }

    /// Whether report mode records this rule instead of enforcing it (checks 3 and 4).
    pub fn is_requirement(self) -> bool {
        matches!(self.check_number(), Some(3 | 4))
    }
}

impl fmt::Display for PkceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PKCE rejection: the rule, and an OAuth error whose description names the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkceRejection {
    /// The rule that rejected the request.
    pub rule: PkceRule,
    /// The error to send: code per RFC, description naming the parameter at fault.
    pub error: OAuthError,
}

impl PkceRejection {
    fn new(rule: PkceRule, description: String) -> Self {
        let code = match rule {
            PkceRule::VerifierMissing | PkceRule::VerifierMalformed | PkceRule::VerifierMismatch => {
                ErrorCode::InvalidGrant
            }
            _ => ErrorCode::InvalidRequest,
        };
        Self {
            rule,
            error: OAuthError::new(code, description),
        }
    }
}

impl fmt::Display for PkceRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.error, self.rule)
    }
}

impl std::error::Error for PkceRejection {}

/// What the authorization endpoint records when PKCE checks pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizePkce {
    /// The challenge to store with the code; `None` when no PKCE was sent.
    pub recorded: Option<CodeChallenge>,
    /// In report mode, the requirement violation that enforce mode would have rejected.
    pub would_reject: Option<PkceRejection>,
}

/// Quotes a method the client sent, if it is short and harmless enough to echo back.
fn quote_method(m: &str) -> String {
    if !m.is_empty() && m.len() <= 16 && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        format!(" '{m}'")
    } else {
        String::new()
    }
}

/// Describes what was sent, for messages: "'plain'", "none".
fn sent_name(sent: Option<ChallengeMethod>, explicit: bool) -> String {
    match (sent, explicit) {
        (None, _) => "none".into(),
        (Some(m), true) => format!("'{m}'"),
        (Some(m), false) => format!("'{m}' (code_challenge_method absent)"),
    }
}

/// Decides a request's PKCE at the authorization endpoint (CONTRACT §3, checks 1–5 in order).
///
/// Call it after the client and redirect URI are known to be valid. `public_client` is
/// true for clients whose token endpoint auth method is `none`.
pub fn authorize_pkce(
    env: &EnvPkcePolicy,
    client: &ClientPkcePolicy,
    public_client: bool,
    params: PkceParams<'_>,
) -> Result<AuthorizePkce, PkceRejection> {
    use PkceRule::*;
    // Check 1: a method without a challenge, or an unknown method.
    let method = match params.code_challenge_method {
        Some(_) if params.code_challenge.is_none() => {
            return Err(PkceRejection::new(
                MethodWithoutChallenge,
                "code_challenge is missing but code_challenge_method was sent".into(),
            ))
        }
        Some(m) => Some(ChallengeMethod::parse(m).ok_or_else(|| {
            // Suggest only what this environment allows; a method in the wrong case
            // is named as such (RFC 7636 §4.3: method names are case-sensitive).
            let allowed = env.allowed.names().join(" or ");
            let hint = match ChallengeMethod::ALL.iter().find(|k| k.as_str().eq_ignore_ascii_case(m)) {
                Some(k) if env.allowed.contains(*k) => format!("method names are case-sensitive: send {k}"),
                _ if allowed.is_empty() => "this environment allows no PKCE method".to_owned(),
                _ => format!("use {allowed}"),
            };
            PkceRejection::new(
                UnknownMethod,
                format!("code_challenge_method{} is not supported: {hint}", quote_method(m)),
            )
        })?),
        None => None,
    };
    let explicit = method.is_some();
    // RFC 7636 §4.3: a challenge without a method is `plain`.
    let sent = params.code_challenge.map(|_| method.unwrap_or(ChallengeMethod::Plain));

    // Check 2: the method must be allowed at all.
    if let Some(m) = sent {
        if !env.allowed.contains(m) {
            let absent = if explicit {
                ""
            } else {
                " (code_challenge_method is absent, which means plain: RFC 7636 §4.3)"
            };
            return Err(PkceRejection::new(
                MethodNotAllowed,
                format!(
                    "code_challenge_method '{m}' is not allowed by this issuer{absent}; allowed: {}",
                    env.allowed
                ),
            ));
        }
    }

    // Checks 3 and 4: requirements, which report mode records instead of enforcing.
    let violation = requirement_violation(env, client, public_client, sent, explicit);
    let would_reject = match violation {
        Some(v) if env.mode == PolicyMode::Enforce => return Err(v),
        v => v,
    };

    // Check 5: the challenge must be well formed for its method.
    let recorded = match (params.code_challenge, sent) {
        (Some(c), Some(m)) => Some(CodeChallenge::parse(m, c).map_err(|e| malformed_challenge(m, e))?),
        _ => None,
    };
    Ok(AuthorizePkce { recorded, would_reject })
}

/// Checks 3 then 4; the first violation found.
fn requirement_violation(
    env: &EnvPkcePolicy,
    client: &ClientPkcePolicy,
    public_client: bool,
    sent: Option<ChallengeMethod>,
    explicit: bool,
) -> Option<PkceRejection> {
    use PkceRule::*;
    if !env.required.is_empty() {
        match sent {
            None => {
                return Some(PkceRejection::new(
                    RequiredMissing,
                    format!(
                        "code_challenge is required by this issuer (code_challenge_method: {})",
                        env.required
                    ),
                ))
            }
            Some(m) if !env.required.contains(m) => {
                return Some(PkceRejection::new(
                    MethodNotRequired,
                    format!(
                        "code_challenge_method {} does not meet this issuer's requirement; required: {}",
                        sent_name(sent, explicit),
                        env.required
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(registered) = client.code_challenge_method {
        if sent != Some(registered) {
            return Some(PkceRejection::new(
                ClientMethodMismatch,
                format!(
                    "code_challenge_method must be '{registered}' for this client; sent: {}",
                    sent_name(sent, explicit)
                ),
            ));
        }
    }
    if sent.is_none() {
        if client.require_pkce {
            return Some(PkceRejection::new(
                ClientRequiresPkce,
                "code_challenge is required for this client".into(),
            ));
        }
        if public_client && env.require_for_public_clients {
            return Some(PkceRejection::new(
                PublicClientRequiresPkce,
                "code_challenge is required for public clients".into(),
            ));
        }
    }
    None
}

fn malformed_challenge(m: ChallengeMethod, e: PkceFormatError) -> PkceRejection {
    let shape = match m {
        ChallengeMethod::S256 => "an S256 code_challenge is the unpadded base64url of a 32-byte SHA-256 digest",
        ChallengeMethod::Plain => "a plain code_challenge is 43-128 characters of [A-Za-z0-9-._~]",
    };
    PkceRejection::new(
        PkceRule::MalformedChallenge,
        format!("code_challenge is malformed ({e}): {shape}"),
    )
}

/// Decides the `code_verifier` at the token endpoint (`authorization_code` grant).
///
/// `recorded` is the challenge captured when the code was issued. A recorded challenge
/// obliges a matching verifier ("soft" PKCE included); a verifier with no recorded
/// challenge is a downgrade (RFC 9700 §2.1.1) and refused as `invalid_request`.
pub fn token_pkce(recorded: Option<&CodeChallenge>, verifier: Option<&str>) -> Result<(), PkceRejection> {
    use PkceRule::*;
    match (recorded, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(PkceRejection::new(
            VerifierWithoutChallenge,
            "code_verifier was sent, but the authorization request had no code_challenge".into(),
        )),
        (Some(c), None) => Err(PkceRejection::new(
            VerifierMissing,
            format!(
                "code_verifier is required: the authorization request sent a code_challenge ({})",
                c.method()
            ),
        )),
        (Some(c), Some(v)) => {
            let v = CodeVerifier::parse(v).map_err(|e| {
                PkceRejection::new(
                    VerifierMalformed,
                    format!("code_verifier is malformed ({e}): it must be 43-128 characters of [A-Za-z0-9-._~]"),
                )
            })?;
            if c.verify(&v) {
                Ok(())
            } else {
                Err(PkceRejection::new(
                    VerifierMismatch,
                    format!("code_verifier does not match the code_challenge ({})", c.method()),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::MethodSet;

    const V: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const C: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn p<'a>(c: Option<&'a str>, m: Option<&'a str>) -> PkceParams<'a> {
        PkceParams {
            code_challenge: c,
            code_challenge_method: m,
        }
    }

    #[test]
    fn strict_accepts_s256_and_records_it() {
        let out = authorize_pkce(
            &EnvPkcePolicy::strict(),
            &Default::default(),
            true,
            p(Some(C), Some("S256")),
        )
        .unwrap();
        let rec = out.recorded.unwrap();
        assert_eq!(rec.method(), ChallengeMethod::S256);
        assert!(token_pkce(Some(&rec), Some(V)).is_ok());
        assert!(out.would_reject.is_none());
    }

    #[test]
    fn absent_method_means_plain_and_messages_say_so() {
        let err = authorize_pkce(&EnvPkcePolicy::strict(), &Default::default(), true, p(Some(V), None)).unwrap_err();
        assert_eq!(err.rule, PkceRule::MethodNotAllowed);
        assert_eq!(err.error.code, ErrorCode::InvalidRequest);
        assert!(err
            .error
            .description
            .contains("code_challenge_method 'plain' is not allowed"));
        assert!(err.error.description.contains("absent"));
    }

    #[test]
    fn unknown_method_is_quoted_only_when_harmless() {
        let err = authorize_pkce(
            &EnvPkcePolicy::permissive(),
            &Default::default(),
            false,
            p(Some(C), Some("S512")),
        )
        .unwrap_err();
        assert!(err.error.description.contains("'S512'"), "{}", err.error.description);
        let err = authorize_pkce(
            &EnvPkcePolicy::permissive(),
            &Default::default(),
            false,
            p(Some(C), Some("<b>\r\n")),
        )
        .unwrap_err();
        assert!(!err.error.description.contains('<'));
        assert_eq!(err.rule, PkceRule::UnknownMethod);
    }

    #[test]
    fn an_unknown_method_suggests_only_what_is_allowed() {
        let strict = EnvPkcePolicy::strict();
        let err = authorize_pkce(&strict, &Default::default(), true, p(Some(C), Some("s256"))).unwrap_err();
        assert!(
            err.error
                .description
                .ends_with("method names are case-sensitive: send S256"),
            "{}",
            err.error.description
        );
        let err = authorize_pkce(&strict, &Default::default(), true, p(Some(C), Some("S512"))).unwrap_err();
        assert!(err.error.description.ends_with("use S256"), "{}", err.error.description);
        assert!(!err.error.description.contains("plain"));
        let err = authorize_pkce(&strict, &Default::default(), true, p(Some(C), Some("PLAIN"))).unwrap_err();
        assert!(
            err.error.description.ends_with("use S256"),
            "plain is not allowed here: {}",
            err.error.description
        );
        let permissive = EnvPkcePolicy::permissive();
        let err = authorize_pkce(&permissive, &Default::default(), false, p(Some(C), Some("x"))).unwrap_err();
        assert!(
            err.error.description.ends_with("use plain or S256"),
            "{}",
            err.error.description
        );
    }

    #[test]
    fn soft_pkce_obliges_the_verifier() {
        let env = EnvPkcePolicy::permissive();
        let out = authorize_pkce(&env, &Default::default(), false, p(Some(C), Some("S256"))).unwrap();
        let rec = out.recorded.unwrap();
        assert_eq!(
            token_pkce(Some(&rec), None).unwrap_err().rule,
            PkceRule::VerifierMissing
        );
        let out = authorize_pkce(&env, &Default::default(), false, p(None, None)).unwrap();
        assert!(out.recorded.is_none());
        assert!(token_pkce(None, None).is_ok());
    }

    #[test]
    fn token_errors() {
        let rec = CodeChallenge::parse(ChallengeMethod::S256, C).unwrap();
        let e = token_pkce(Some(&rec), Some("short")).unwrap_err();
        assert_eq!(
            (e.rule, e.error.code),
            (PkceRule::VerifierMalformed, ErrorCode::InvalidGrant)
        );
        assert!(e.error.description.starts_with("code_verifier"));
        let e = token_pkce(Some(&rec), Some(&"a".repeat(43))).unwrap_err();
        assert_eq!(
            (e.rule, e.error.code),
            (PkceRule::VerifierMismatch, ErrorCode::InvalidGrant)
        );
        let e = token_pkce(None, Some(V)).unwrap_err();
        assert_eq!(
            (e.rule, e.error.code),
            (PkceRule::VerifierWithoutChallenge, ErrorCode::InvalidRequest)
        );
        assert!(e.error.description.starts_with("code_verifier"));
    }

    #[test]
    fn report_mode_records_requirement_violations_only() {
        let env = EnvPkcePolicy {
            mode: PolicyMode::Report,
            ..EnvPkcePolicy::strict()
        };
        let out = authorize_pkce(&env, &Default::default(), true, p(None, None)).unwrap();
        assert_eq!(out.would_reject.unwrap().rule, PkceRule::RequiredMissing);
        // Check 2 always applies.
        let e = authorize_pkce(&env, &Default::default(), true, p(Some(V), Some("plain"))).unwrap_err();
        assert_eq!(e.rule, PkceRule::MethodNotAllowed);
        // Check 5 always applies.
        let e = authorize_pkce(&env, &Default::default(), true, p(Some("x"), Some("S256"))).unwrap_err();
        assert_eq!(e.rule, PkceRule::MalformedChallenge);
    }

    #[test]
    fn client_method_is_a_requirement() {
        let env = EnvPkcePolicy {
            allowed: MethodSet::ALL,
            required: MethodSet::EMPTY,
            ..EnvPkcePolicy::strict()
        };
        let client = ClientPkcePolicy {
            code_challenge_method: Some(ChallengeMethod::S256),
            require_pkce: false,
        };
        let e = authorize_pkce(&env, &client, false, p(Some(V), Some("plain"))).unwrap_err();
        assert_eq!(e.rule, PkceRule::ClientMethodMismatch);
        assert!(e.error.description.contains("must be 'S256' for this client"));
        let e = authorize_pkce(&env, &client, false, p(None, None)).unwrap_err();
        assert_eq!(e.rule, PkceRule::ClientMethodMismatch);
        assert!(e.error.description.ends_with("none"));
    }
}

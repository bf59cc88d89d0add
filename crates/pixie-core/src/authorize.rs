//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1, RFC 7636):
//! which errors may redirect, and in what order the request is checked.
//!
//! Two phases, because an error may only be sent to a redirect URI that is known to be
//! the client's: [`client_and_redirect`] (errors are shown as a page), then
//! [`validate`] (errors redirect).

use crate::client::{redirect_uri_matches, ClientMetadata};
use crate::decision::{authorize_pkce, AuthorizePkce, PkceParams, PkceRejection};
use crate::error::{ErrorCode, OAuthError};
use crate::params::{quote, Params};
use crate::policy::EnvPkcePolicy;

/// Longest `state` and `nonce` accepted: generous for JWT-shaped values, bounded.
pub const MAX_STATE_LEN: usize = 4096;

/// An error that must not redirect: shown to the person as a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PageError(pub String);

/// The client and redirect URI an authorization request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRef<'a> {
    /// `client_id`.
    pub client_id: &'a str,
    /// `redirect_uri`, if sent.
    pub redirect_uri: Option<&'a str>,
}

/// Phase 1: `client_id` and `redirect_uri`, present once each.
pub fn client_and_redirect(params: &Params) -> Result<ClientRef<'_>, PageError> {
    for name in ["client_id", "redirect_uri"] {
        if params.is_repeated(name) {
            return Err(PageError(format!("{name} is repeated")));
        }
    }
    let client_id = params
        .non_empty("client_id")
        .ok_or_else(|| PageError("client_id is missing".into()))?;
    Ok(ClientRef {
        client_id,
        redirect_uri: params.non_empty("redirect_uri"),
    })
}

/// Resolves the redirect URI against the client's registration: the requested one if
/// it matches, or the only registered one when none was sent. Returns it and whether
/// it was sent (then the token request must repeat it).
pub fn resolve_redirect_uri(client: &ClientMetadata, requested: Option<&str>) -> Result<(String, bool), PageError> {
    match requested {
        Some(uri) => {
            if client.redirect_uris.iter().any(|r| redirect_uri_matches(r, uri)) {
                Ok((uri.to_owned(), true))
            } else {
                Err(PageError(
                    "redirect_uri does not match any redirect URI registered for this client".into(),
                ))
            }
        }
        None => match client.redirect_uris.as_slice() {
            [only] => Ok((only.clone(), false)),
            _ => Err(PageError(
                "redirect_uri is missing, and the client has more than one registered".into(),
            )),
        },
    }
}

/// `prompt` values pixie acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `prompt=none`: never show a page; fail with `login_required` without a session.
    pub none: bool,
    /// `prompt=login`: sign on again even with a session.
    pub login: bool,
}

/// A valid authorization request, ready for sign-on and a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// The scopes asked for (all allowed for the client), in order, without repeats.
    pub scopes: Vec<String>,
    /// `state`, echoed back.
    pub state: Option<String>,
    /// `nonce`, put in the ID token.
    pub nonce: Option<String>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age` (OpenID Connect Core §3.1.2.1): the longest time, in seconds, since the
    /// user last signed on that a session may be reused for.
    pub max_age: Option<i64>,
    /// What PKCE decided.
    pub pkce: AuthorizePkce,
}

/// An error to send to the redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectError {
    /// The OAuth error.
    pub error: OAuthError,
    /// The PKCE rejection behind it, if PKCE rejected the request.
    pub pkce: Option<PkceRejection>,
}

impl From<OAuthError> for RedirectError {
    fn from(error: OAuthError) -> Self {
        Self { error, pkce: None }
    }
}

/// Phase 2, once client and redirect URI are valid: repeats, `response_type`, PKCE
/// (CONTRACT §3's order), `scope`, `prompt`, `state` and `nonce`.
pub fn validate(
    params: &Params,
    client: &ClientMetadata,
    env: &EnvPkcePolicy,
) -> Result<AuthorizeRequest, RedirectError> {
    if let Some(name) = params.first_repeated() {
        return Err(OAuthError::invalid_request(format!("{} is repeated", quote(name, 40))).into());
    }
    match params.non_empty("response_type") {
        None => return Err(OAuthError::invalid_request("response_type is missing").into()),
        Some("code") => {}
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type '{}' is not supported: use code", quote(other, 40)),
            )
            .into())
        }
    }
    if let Some(mode) = params.non_empty("response_mode") {
        if mode != "query" {
            return Err(OAuthError::invalid_request(format!(
                "response_mode '{}' is not supported: use query",
                quote(mode, 40)
            ))
            .into());
        }
    }
    for unsupported in ["request", "request_uri"] {
        if params.get(unsupported).is_some() {
            return Err(OAuthError::invalid_request(format!("{unsupported} is not supported")).into());
        }
    }
    let pkce = authorize_pkce(
        env,
        &client.pkce_policy(),
        client.is_public(),
        PkceParams {
            code_challenge: params.get("code_challenge"),
            code_challenge_method: params.get("code_challenge_method"),
        },
    )
    .map_err(|r| RedirectError {
        error: r.error.clone(),
        pkce: Some(r),
    })?;
    let mut scopes: Vec<String> = Vec::new();
    for s in params.get("scope").unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !client.allows_scope(s) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("scope '{}' is not allowed for this client", quote(s, 40)),
            )
            .into());
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    let mut prompt = Prompt::default();
    for p in params.get("prompt").unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        match p {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            // No consent screen and one account per session: nothing to do.
            "consent" | "select_account" => {}
            other => {
                return Err(
                    OAuthError::invalid_request(format!("prompt '{}' is not supported", quote(other, 40))).into(),
                )
            }
        }
    }
    if prompt.none && prompt.login {
        return Err(OAuthError::invalid_request("prompt 'none' cannot be combined with other values").into());
    }
    let max_age = match params.non_empty("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 && v.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(OAuthError::invalid_request("max_age must be a whole number of seconds").into()),
        },
    };
    for name in ["state", "nonce"] {
        if params.get(name).is_some_and(|v| v.len() > MAX_STATE_LEN) {
            return Err(OAuthError::invalid_request(format!("{name} is longer than {MAX_STATE_LEN} bytes")).into());
        }
    }
    Ok(AuthorizeRequest {
        scopes,
        state: params.get("state").map(str::to_owned),
        nonce: params.non_empty("nonce").map(str::to_owned),
        prompt,
        max_age,
        pkce,
    })
}

impl AuthorizeRequest {
    /// Whether a session whose user signed on at `auth_time` may answer this request
    /// at `now`, or the user must sign on again: `prompt=login`, or a sign-on older
    /// than `max_age` (OpenID Connect Core §3.1.2.1: the OP MUST re-authenticate;
    /// `max_age=0` always does, as `prompt=login`).
    pub fn session_is_fresh_enough(&self, auth_time: i64, now: i64) -> bool {
        if self.prompt.login {
            return false;
        }
        match self.max_age {
            None => true,
            Some(0) => false,
            Some(max) => now.saturating_sub(auth_time) <= max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::PkceRule;

    const C: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client() -> ClientMetadata {
        serde_json::from_str(
            r#"{"redirect_uris":["https://a.example/cb","http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}"#,
        )
        .unwrap()
    }

    fn q(s: &str) -> Params {
        Params::parse(s.as_bytes())
    }

    #[test]
    fn phase_one_errors_are_pages() {
        assert!(client_and_redirect(&q("response_type=code")).is_err());
        assert!(client_and_redirect(&q("client_id=a&client_id=b")).is_err());
        assert!(client_and_redirect(&q("client_id=a&redirect_uri=x&redirect_uri=y")).is_err());
        let c = client();
        assert_eq!(
            resolve_redirect_uri(&c, Some("https://a.example/cb")).unwrap(),
            ("https://a.example/cb".into(), true)
        );
        assert!(resolve_redirect_uri(&c, Some("http://127.0.0.1:4567/cb")).is_ok());
        assert!(resolve_redirect_uri(&c, Some("https://evil.example/cb")).is_err());
        assert!(
            resolve_redirect_uri(&c, None).is_err(),
            "two registered: the request must say which"
        );
        let one: ClientMetadata = serde_json::from_str(r#"{"redirect_uris":["https://a.example/cb"]}"#).unwrap();
        assert_eq!(
            resolve_redirect_uri(&one, None).unwrap(),
            ("https://a.example/cb".into(), false)
        );
    }

    #[test]
    fn max_age_and_prompt_login_decide_whether_a_session_may_answer() {
        let env = EnvPkcePolicy::strict();
        let c = client();
        let req = |extra: &str| {
            validate(
                &q(&format!(
                    "client_id=x&response_type=code&code_challenge={C}&code_challenge_method=S256{extra}"
                )),
                &c,
                &env,
            )
        };
        let plain = req("").unwrap();
        assert!(plain.session_is_fresh_enough(0, 1_000_000));
        let zero = req("&max_age=0").unwrap();
        assert_eq!(zero.max_age, Some(0));
        assert!(
            !zero.session_is_fresh_enough(1000, 1000),
            "max_age=0 always signs on again"
        );
        let hour = req("&max_age=3600").unwrap();
        assert!(hour.session_is_fresh_enough(1000, 4600));
        assert!(!hour.session_is_fresh_enough(1000, 4601));
        assert!(!req("&prompt=login").unwrap().session_is_fresh_enough(1000, 1000));
        for bad in ["-1", "1.5", "x", "+5", "99999999999999999999"] {
            assert_eq!(
                req(&format!("&max_age={bad}")).unwrap_err().error.code,
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
    }

    #[test]
    fn phase_two_order_and_codes() {
        let env = EnvPkcePolicy::strict();
        let c = client();
        let base = format!("client_id=x&code_challenge={C}&code_challenge_method=S256");
        let ok = validate(
            &q(&format!(
                "{base}&response_type=code&scope=openid+email+openid&state=s&nonce=n"
            )),
            &c,
            &env,
        )
        .unwrap();
        assert_eq!(ok.scopes, ["openid", "email"]);
        assert_eq!(ok.state.as_deref(), Some("s"));
        assert!(ok.pkce.recorded.is_some());
        let code = |s: &str| validate(&q(s), &c, &env).unwrap_err().error.code;
        assert_eq!(
            code(&format!("{base}&response_type=token")),
            ErrorCode::UnsupportedResponseType
        );
        assert_eq!(code(&base), ErrorCode::InvalidRequest);
        assert_eq!(
            code(&format!("{base}&response_type=code&scope=admin")),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            code(&format!("{base}&response_type=code&state=a&state=b")),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(&format!("{base}&response_type=code&prompt=none+login")),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(&format!("{base}&response_type=code&response_mode=fragment")),
            ErrorCode::InvalidRequest
        );
        let e = validate(&q("client_id=x&response_type=code"), &c, &env).unwrap_err();
        assert_eq!(e.pkce.unwrap().rule, PkceRule::RequiredMissing);
        let e = validate(
            &q("client_id=x&response_type=code&code_challenge=a&code_challenge=b"),
            &c,
            &env,
        )
        .unwrap_err();
        assert!(e.error.description.contains("code_challenge is repeated"));
    }
}

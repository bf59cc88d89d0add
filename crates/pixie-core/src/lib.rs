//! pixie's protocol core: OAuth 2.1 / PKCE decisions as plain functions, with no I/O.
//!
//! Like `quinn-proto`, this crate opens no socket, reads no clock and touches no
//! database: time and randomness are passed in by the caller, so every rule of the
//! contract can be tested exhaustively and deterministically.
//!
//! - [`pkce`]: RFC 7636 values (`code_verifier`, `code_challenge`, methods) that can
//!   only hold valid data, the S256/plain transform and a constant-time check.
//! - [`policy`]: an environment's and a client's PKCE policy, with validation.
//! - [`decision`]: the authorization-time and token-time PKCE decisions, in the
//!   contract's order.
//! - [`client`]: client metadata (RFC 7591), its validation and redirect URI matching.
//! - [`address`]: which addresses pixie may fetch from for a client (no SSRF).
//! - [`authorize`]: the authorization request, in two phases (page errors, then redirect errors).
//! - [`token`]: client authentication and the checks of a code exchange.
//! - [`registration`]: clients that register themselves (RFC 7591).
//! - [`resource`]: resource indicators (RFC 8707): valid, registered, narrowed.
//! - [`claims`]: the claims of access tokens, ID tokens and UserInfo, and scope narrowing.
//! - [`params`]: form and query parameters, each at most once.
//! - [`lifetimes`]: how long codes, flows, sessions and tokens live.
//! - [`report`]: the PKCE readiness report and its verdicts.
//! - [`error`]: OAuth error codes named as in the RFCs.
//! - [`wire`]: the JSON bodies shared by the server, the CLI and the tests.

pub mod address;
pub mod assertion;
pub mod authorize;
pub mod claims;
pub mod client;
pub mod decision;
pub mod document;
pub mod dpop;
pub mod error;
pub mod ids;
pub mod lifetimes;
pub mod names;
pub mod paging;
pub mod par;
pub mod params;
pub mod pkce;
pub mod policy;
pub mod profile;
pub mod registration;
pub mod report;
pub mod resource;
pub mod token;
pub mod wire;

pub use decision::{authorize_pkce, token_pkce, AuthorizePkce, PkceParams, PkceRejection, PkceRule};
pub use error::{ErrorCode, OAuthError};
pub use pkce::{ChallengeMethod, CodeChallenge, CodeVerifier, PkceFormatError};
pub use policy::{ClientPkcePolicy, EnvPkcePolicy, MethodSet, PolicyError, PolicyMode};

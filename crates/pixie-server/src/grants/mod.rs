//! The grant lifecycle as application services: what happens at the authorization,
//! sign-on, token, introspection, revocation and UserInfo endpoints, without HTTP.
//!
//! Each service takes parsed input (the core's types, rows, parameters), asks the core
//! for decisions, runs the store and the crypto, writes the audit log, and returns an
//! outcome or an [`ApiError`](crate::error::ApiError). The HTTP handlers parse, call one
//! service, and render.

pub mod authorization;
pub mod client_auth;
pub mod consent;
pub mod documents;
pub mod introspection;
pub mod par;
pub mod registration;
pub mod signon;
pub mod token;
pub mod userinfo;

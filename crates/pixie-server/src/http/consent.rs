//! The consent page (CONTRACT §7): after sign-on, the user approves or denies the
//! client. The decision is [`crate::grants::consent`]'s; this module renders and parses.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use pixie_core::params::Params;
use pixie_store::{FlowRow, FlowStatus};

use super::pages::{consent_page, error_page, ConsentForm};
use super::respond::redirect;
use super::signon::{completed_elsewhere, form_flow, not_waiting_page, page_flow, signed_on_here, FLOW_FINISHED};
use super::state::{paths, AppState, Base};
use crate::grants::consent;

/// `GET <issuer>/consent?flowId=…`.
pub(super) async fn page(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (flow, csrf) = match page_flow(&s, &base, &env_id, &headers, query.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if let Some(other) = not_asking_here(&base, &env_id, &flow) {
        return other;
    }
    let asked = match consent::asked(&s.svc, &env_id, &flow).await {
        Ok(a) => a,
        Err(e) => return super::pages::error_response(e, base.url()),
    };
    let action = format!("{}{}", base.issuer(&env_id), paths::CONSENT);
    let form = ConsentForm {
        action: &action,
        flow_id: &flow.id,
        csrf: &csrf,
        asked: &asked,
    };
    consent_page(base.url(), &form)
}

/// The page for a flow this page does not ask consent for: not waiting for it, or
/// signed on elsewhere (the flows API); `None` when it does.
fn not_asking_here(base: &Base, env_id: &str, flow: &FlowRow) -> Option<Response> {
    match flow.status {
        FlowStatus::ConsentRequired if signed_on_here(flow) => None,
        FlowStatus::ConsentRequired => Some(completed_elsewhere(base)),
        FlowStatus::UsernamePasswordRequired => Some(error_page(
            base.url(),
            "this sign-on is not finished: go back to the application and start again",
        )),
        _ => not_waiting_page(base, env_id, flow),
    }
}

/// `POST <issuer>/consent` (the form): approve or deny, then on to `/as/resume`.
pub(super) async fn submit(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let (flow, _) = match form_flow(&s, &base, &env_id, &headers, &form).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if let Some(other) = not_asking_here(&base, &env_id, &flow) {
        return other;
    }
    let approve = match form.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return error_page(base.url(), "the consent form is incomplete: choose Allow or Deny"),
    };
    match consent::decide(&s.svc, &env_id, &flow, approve).await {
        Ok(true) => redirect(&base.resume_url(&env_id, &flow.id)),
        Ok(false) => error_page(base.url(), FLOW_FINISHED),
        Err(e) => e.into_response(),
    }
}

//! Server-rendered HTML: the sign-on, sign-off and error pages, from askama templates
//! (`templates/`): checked when pixie is compiled, and every value HTML-escaped unless a
//! template says otherwise (none does). No JavaScript; headers forbid framing, sniffing,
//! referrers and caching.

use askama::Template;

use crate::error::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The stylesheet, served from `/static/pixie.css` (the CSP allows no inline style).
pub const CSS: &str = r#":root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6470;--bg:#f4f6f8;--card:#fff;--line:#d5dbe1;--accent:#3b5bdb;--err:#b42318}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--muted:#a5adb8;--bg:#15181c;--card:#1f2329;--line:#39404a;--accent:#7c9bff;--err:#ff8a80}}
*{box-sizing:border-box}body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;padding:16px}
main{width:100%;max-width:380px;background:var(--card);border:1px solid var(--line);border-radius:12px;padding:28px 24px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.4rem;margin:0 0 4px}p.sub{margin:0 0 20px;color:var(--muted)}label{display:block;font-weight:600;margin:14px 0 6px}
input{width:100%;font:inherit;padding:10px 12px;border:1px solid var(--line);border-radius:8px;background:transparent;color:inherit}
input:focus{outline:2px solid var(--accent);outline-offset:1px}button{margin-top:22px;width:100%;font:inherit;font-weight:600;padding:11px;border:0;border-radius:8px;background:var(--accent);color:#fff;cursor:pointer}
button.secondary{background:transparent;color:var(--fg);border:1px solid var(--line);margin-top:10px}ul{margin:6px 0 12px;padding-left:20px}
.error{border:1px solid var(--err);color:var(--err);border-radius:8px;padding:10px 12px;margin:0 0 8px}footer{margin-top:18px;font-size:.8rem;color:var(--muted);text-align:center}
a{color:var(--accent)}a:focus-visible,button:focus-visible,select:focus-visible,textarea:focus-visible,input:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
body.console{align-items:flex-start}body.console main{max-width:1100px}body.console nav{margin:0 0 14px;line-height:2}h2{font-size:1.1rem;margin:26px 0 8px}
body.console button{width:auto;padding:9px 18px}textarea,select{width:100%;font:inherit;padding:10px 12px;border:1px solid var(--line);border-radius:8px;background:var(--card);color:inherit}
input[type=checkbox]{width:auto;margin:0 6px 0 0;accent-color:var(--accent)}input[type=checkbox]+label{display:inline;font-weight:400;margin:0 18px 0 0}
fieldset{border:1px solid var(--line);border-radius:8px;margin:14px 0;padding:8px 12px}legend{font-weight:600;padding:0 4px}
.scroll{overflow-x:auto;margin:0 0 8px}table{border-collapse:collapse;width:100%;font-size:.95rem}th,td{text-align:left;padding:7px 8px;overflow-wrap:break-word;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600}td form button,td form button.secondary{margin:0;padding:5px 10px}code{overflow-wrap:anywhere}svg#chart{width:100%;height:auto;max-width:760px}
@media (max-width:520px){body{padding:8px}body.console main{padding:20px 14px}body.console table{font-size:.85rem}body.console th,body.console td{padding:6px 4px}}"#;

/// `GET /static/pixie.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        CSS,
    )
        .into_response()
}

/// Adds the headers every page carries.
pub fn secure_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Renders a page template with the security headers; a template that fails to render
/// (a bug) is a 500.
fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut resp = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
            secure_headers(&mut resp);
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    public_url: &'a str,
    message: &'a str,
}

/// An error page: the request cannot be answered at a redirect URI.
pub fn error_page(public_url: &str, message: &str) -> Response {
    render(StatusCode::BAD_REQUEST, &ErrorPage { public_url, message })
}

/// The answer of a page to an error: what the person can act on (a request that cannot
/// go on, a thing not found) as an HTML page; the rest (the store away, a bug) as JSON.
pub fn error_response(e: ApiError, public_url: &str) -> Response {
    match e {
        ApiError::NotFound(what) => error_page(public_url, &format!("{what} not found")),
        e @ ApiError::UnknownEnvironment(_) => error_page(public_url, &e.to_string()),
        ApiError::Invalid { description, .. } => error_page(public_url, &description),
        other => other.into_response(),
    }
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    public_url: &'a str,
    action: &'a str,
    flow_id: &'a str,
    csrf: &'a str,
    client_name: &'a str,
    verified: bool,
    redirect_host: &'a str,
    document_host: Option<String>,
    scopes: &'a [String],
    resources: &'a [String],
}

/// What the consent page shows and posts.
pub struct ConsentForm<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The flow.
    pub flow_id: &'a str,
    /// The CSRF token bound to the flow cookie.
    pub csrf: &'a str,
    /// What the user is asked.
    pub asked: &'a crate::grants::consent::Asked,
}

/// The consent page.
pub fn consent_page(public_url: &str, f: &ConsentForm<'_>) -> Response {
    let client_name = match f.asked.client.client_name.as_str() {
        "" => f.asked.client.client_id.as_str(),
        name => name,
    };
    let page = ConsentPage {
        public_url,
        action: f.action,
        flow_id: f.flow_id,
        csrf: f.csrf,
        client_name,
        verified: f.asked.client.verified,
        redirect_host: &f.asked.client.redirect_host,
        // A client identified by its metadata document: the document's host is who
        // vouches for the name shown.
        document_host: f
            .asked
            .client
            .client_id
            .starts_with("http")
            .then(|| crate::grants::consent::host_of(&f.asked.client.client_id)),
        scopes: &f.asked.scopes,
        resources: &f.asked.resources,
    };
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "signoff.html")]
struct SignOffPage<'a> {
    public_url: &'a str,
    action: &'a str,
    csrf: &'a str,
}

/// The sign-off page: a form that posts to `action` with the session's CSRF token.
pub fn signoff_page(public_url: &str, action: &str, csrf: &str) -> Response {
    render(
        StatusCode::OK,
        &SignOffPage {
            public_url,
            action,
            csrf,
        },
    )
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    public_url: &'a str,
    version: &'a str,
}

/// What a person's browser sees at `/`: what this server is and where to look. It
/// names no environment (they are the operator's to publish).
pub fn home_page(public_url: &str) -> Response {
    render(
        StatusCode::OK,
        &HomePage {
            public_url,
            version: env!("CARGO_PKG_VERSION"),
        },
    )
}

#[derive(Template)]
#[template(path = "signed_off.html")]
struct SignedOffPage<'a> {
    public_url: &'a str,
}

/// What a browser sees once its session has ended.
pub fn signed_off_page(public_url: &str) -> Response {
    render(StatusCode::OK, &SignedOffPage { public_url })
}

/// What the sign-on form shows.
pub struct SignOn<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The flow.
    pub flow_id: &'a str,
    /// The CSRF token bound to the flow cookie.
    pub csrf: &'a str,
    /// The client's name.
    pub client_name: &'a str,
    /// The username to refill after a failure.
    pub username: &'a str,
    /// A message after a failure.
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signon.html")]
struct SignOnPage<'a> {
    public_url: &'a str,
    client_name: &'a str,
    s: &'a SignOn<'a>,
}

/// The sign-on page.
pub fn signon_page(status: StatusCode, public_url: &str, s: &SignOn<'_>) -> Response {
    let client_name = if s.client_name.is_empty() {
        "the application"
    } else {
        s.client_name
    };
    render(
        status,
        &SignOnPage {
            public_url,
            client_name,
            s,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(resp: Response) -> String {
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn every_value_is_escaped() {
        let hostile = r#"<script>x("'&")</script>"#;
        let form = SignOn {
            action: hostile,
            flow_id: hostile,
            csrf: hostile,
            client_name: hostile,
            username: hostile,
            error: Some(hostile),
        };
        let resp = signon_page(StatusCode::OK, hostile, &form);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(resp.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let html = text(resp).await;
        assert!(!html.contains("<script") && !html.contains("\"'&\""), "{html}");
        // All seven values are on the page, each escaped.
        assert_eq!(html.matches("&#60;script&#62;").count(), 7, "{html}");
        let html = text(error_page("https://id.example", hostile)).await;
        assert!(!html.contains("<script") && html.contains("&#60;script&#62;"), "{html}");
        assert!(html.contains(r#"href="https://id.example/static/pixie.css""#), "{html}");
        let html = text(signoff_page("", hostile, hostile)).await;
        assert_eq!(html.matches("&#60;script&#62;").count(), 2, "{html}");
    }

    #[tokio::test]
    async fn the_form_keeps_the_username_and_moves_the_focus() {
        let mut form = SignOn {
            action: "/a",
            flow_id: "f",
            csrf: "c",
            client_name: "",
            username: "",
            error: None,
        };
        let html = text(signon_page(StatusCode::OK, "", &form)).await;
        assert!(
            html.contains("the application") && html.contains(r#"required autofocus value="""#),
            "{html}"
        );
        assert!(!html.contains(r#"id="error""#));
        form.username = "ann";
        form.error = Some("Wrong username or password.");
        let html = text(signon_page(StatusCode::OK, "", &form)).await;
        assert!(
            html.contains(r#"value="ann""#) && html.contains(r#"current-password" required autofocus>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"role="alert">Wrong username or password.</p>"#),
            "{html}"
        );
    }

    #[tokio::test]
    async fn consent_names_who_vouches_for_the_client() {
        let asked = |client_id: &str| crate::grants::consent::Asked {
            client: pixie_core::wire::ConsentClient {
                client_id: client_id.into(),
                client_name: "Agent".into(),
                redirect_host: "127.0.0.1:4000".into(),
                verified: false,
            },
            scopes: vec!["openid".into()],
            resources: vec!["https://mcp.example/mcp".into()],
        };
        let page = |a| async move {
            let form = ConsentForm {
                action: "/a",
                flow_id: "f",
                csrf: "c",
                asked: &a,
            };
            text(consent_page("", &form)).await
        };
        let html = page(asked("https://agent.example/client.json")).await;
        assert!(html.contains(r#"id="document-host">agent.example</strong>"#), "{html}");
        assert!(html.contains(r#"id="host">127.0.0.1:4000</strong>"#) && html.contains("unverified"));
        assert!(html.contains("https://mcp.example/mcp"));
        let html = page(asked("abc123")).await;
        assert!(!html.contains("document-host"), "{html}");
    }
}

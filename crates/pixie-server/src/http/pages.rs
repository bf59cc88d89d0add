//! Server-rendered HTML: the sign-on page and error pages. No JavaScript; every
//! value is escaped; headers forbid framing, sniffing, referrers and caching.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The stylesheet, served from `/static/pixie.css` (the CSP allows no inline style).
pub const CSS: &str = r#":root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6470;--bg:#f4f6f8;--card:#fff;--line:#d5dbe1;--accent:#3b5bdb;--err:#b42318}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--muted:#a5adb8;--bg:#15181c;--card:#1f2329;--line:#39404a;--accent:#7c9bff;--err:#ff8a80}}
*{box-sizing:border-box}body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;padding:16px}
main{width:100%;max-width:380px;background:var(--card);border:1px solid var(--line);border-radius:12px;padding:28px 24px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.4rem;margin:0 0 4px}p.sub{margin:0 0 20px;color:var(--muted)}label{display:block;font-weight:600;margin:14px 0 6px}
input{width:100%;font:inherit;padding:10px 12px;border:1px solid var(--line);border-radius:8px;background:transparent;color:inherit}
input:focus{outline:2px solid var(--accent);outline-offset:1px}button{margin-top:22px;width:100%;font:inherit;font-weight:600;padding:11px;border:0;border-radius:8px;background:var(--accent);color:#fff;cursor:pointer}
.error{border:1px solid var(--err);color:var(--err);border-radius:8px;padding:10px 12px;margin:0 0 8px}footer{margin-top:18px;font-size:.8rem;color:var(--muted);text-align:center}"#;

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

fn layout(public_url: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"{css}\"></head>\
         <body><main>{body}<footer>pixie</footer></main></body></html>\n",
        title = escape(title),
        css = escape(&format!("{public_url}/static/pixie.css")),
    )
}

/// An HTML page with the security headers.
pub fn page(status: StatusCode, public_url: &str, title: &str, body: &str) -> Response {
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        layout(public_url, title, body),
    )
        .into_response();
    secure_headers(&mut resp);
    resp
}

/// An error page: the request cannot be answered at a redirect URI.
pub fn error_page(public_url: &str, message: &str) -> Response {
    let body = format!(
        "<h1>This request cannot continue</h1><p class=\"error\" id=\"error\">{}</p>\
         <p class=\"sub\">Go back to the application and try again.</p>",
        escape(message)
    );
    page(StatusCode::BAD_REQUEST, public_url, "Error", &body)
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

/// The sign-on page.
pub fn signon_page(status: StatusCode, public_url: &str, s: &SignOn<'_>) -> Response {
    let error = s
        .error
        .map(|e| format!("<p class=\"error\" id=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let client = if s.client_name.is_empty() {
        "the application"
    } else {
        s.client_name
    };
    let body = format!(
        "<h1>Sign on</h1><p class=\"sub\">to continue to <strong>{client}</strong></p>{error}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"flowId\" value=\"{flow}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"username\">Username</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" autocapitalize=\"none\" required{focus_user} value=\"{username}\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{focus_pass}>\
         <button type=\"submit\" id=\"submit\">Sign on</button></form>",
        client = escape(client),
        action = escape(s.action),
        flow = escape(s.flow_id),
        csrf = escape(s.csrf),
        username = escape(s.username),
        // After a failed attempt the username is kept: the person retypes the password.
        focus_user = if s.username.is_empty() { " autofocus" } else { "" },
        focus_pass = if s.username.is_empty() { "" } else { " autofocus" },
    );
    page(status, public_url, "Sign on", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

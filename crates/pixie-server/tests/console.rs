//! The admin console (CONTRACT §11, issue 20, first part) over HTTP: it exists only
//! with `--console-env`, signs operators in through pixie's own code flow with S256
//! PKCE, lets in users with the `admin` role only, keeps its session in an `HttpOnly`,
//! `SameSite=Strict` cookie, and its forms need their CSRF token.

use pixie_testkit::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn console_server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.console_env = Some("default".into());
    let s = TestServer::start_with(dir, cfg).await;
    for (name, roles) in [("root", json!(["admin"])), ("tom", json!([]))] {
        let user = json!({"username": name, "password": PASSWORD, "roles": roles});
        let (st, _) = s
            .admin(Method::POST, "/admin/environments/default/users", Some(user))
            .await;
        assert_eq!(st, 201);
    }
    s
}

fn cookie_pairs(resp: &reqwest::Response) -> Vec<String> {
    set_cookies(resp)
}

/// Signs `username` in to the console; returns the cookies the browser then holds and
/// the raw `Set-Cookie` of the console session.
async fn sign_in(s: &TestServer, username: &str) -> (Vec<String>, String) {
    let resp = s.http.get(s.url("/console/")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), s.url("/console/signin"));
    let resp = s.http.get(s.url("/console/signin")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let signin_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        signin_cookie.contains("HttpOnly") && signin_cookie.contains("SameSite=Lax"),
        "{signin_cookie}"
    );
    let mut cookies = cookie_pairs(&resp);
    let authorize = location(&resp);
    let q = query(&authorize);
    assert_eq!(q["client_id"], "pixie-console");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q.contains_key("state") && q.contains_key("nonce"));
    let resp = s.http.get(&authorize).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    cookies.extend(cookie_pairs(&resp));
    let flow = query(&location(&resp))["flowId"].clone();
    let signed = s.flow_sign_on("default", &flow, username, PASSWORD).await;
    let body: Value = signed.json().await.unwrap();
    assert_eq!(body["status"], "COMPLETED", "{body}");
    let resp = s
        .http
        .get(s.local(body["resumeUrl"].as_str().unwrap()))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    cookies.extend(cookie_pairs(&resp));
    let callback = location(&resp);
    assert!(callback.starts_with(&s.url("/console/callback?")), "{callback}");
    let resp = s
        .http
        .get(&callback)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    assert_eq!(location(&resp), s.url("/console/"));
    let session = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("pixie_console="))
        .expect("a console session cookie");
    cookies.extend(cookie_pairs(&resp));
    cookies.retain(|c| !c.ends_with('=') && !c.starts_with("pixie_console_signin="));
    (cookies, session)
}

async fn get_console(s: &TestServer, cookies: &[String]) -> reqwest::Response {
    s.http
        .get(s.url("/console/"))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn no_console_without_console_env() {
    let s = TestServer::start().await;
    for path in ["/console/", "/console", "/console/signin", "/console/callback"] {
        assert_eq!(s.http.get(s.url(path)).send().await.unwrap().status(), 404, "{path}");
    }
}

#[tokio::test]
async fn an_admin_signs_in_with_pkce_and_out_with_csrf() {
    let s = console_server().await;
    // The console is a public client of its environment, S256 required.
    let (st, app) = s
        .admin(
            Method::GET,
            "/admin/environments/default/applications/pixie-console",
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(app["token_endpoint_auth_method"], "none");
    assert_eq!(app["code_challenge_method"], "S256");
    assert_eq!(app["redirect_uris"], json!([s.url("/console/callback")]));

    let (cookies, session) = sign_in(&s, "root").await;
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "plain http here; Secure and __Host- under https"
    );
    let resp = get_console(&s, &cookies).await;
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let html = resp.text().await.unwrap();
    assert!(html.contains("Signed in as root (default)"), "{html}");
    assert!(html.contains(">default</a> ("), "{html}");

    // Signing out needs the form's CSRF token.
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let csrf = &html[start..start + html[start..].find('"').unwrap()];
    let post = |form: Vec<(&'static str, String)>| {
        s.http
            .post(s.url("/console/signout"))
            .header("cookie", cookies.join("; "))
            .form(&form)
            .send()
    };
    assert_eq!(post(vec![]).await.unwrap().status(), 403);
    assert_eq!(post(vec![("csrf", "forged".into())]).await.unwrap().status(), 403);
    let resp = post(vec![("csrf", csrf.to_owned())]).await.unwrap();
    assert_eq!(resp.status(), 200);
    let cleared = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("pixie_console=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // A copy of the cookie kept from before the sign-out is no session any more.
    let resp = get_console(&s, &cookies).await;
    assert_eq!(resp.status(), 303, "a copied console cookie outlived the sign-out");
    // And the environment's sign-on session of this browser ended too: signing in
    // again asks for the password (the authorization goes to the sign-on page).
    let resp = s.http.get(s.url("/console/signin")).send().await.unwrap();
    let authorize = location(&resp);
    let resp = s
        .http
        .get(&authorize)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert!(
        location(&resp).contains("flowId="),
        "signed straight back in: {}",
        location(&resp)
    );
}

#[tokio::test]
async fn a_user_without_the_admin_role_is_told_so() {
    let s = console_server().await;
    let (cookies, _) = sign_in(&s, "tom").await;
    let resp = get_console(&s, &cookies).await;
    assert_eq!(resp.status(), 403);
    let html = resp.text().await.unwrap();
    assert!(html.contains("lack the admin role") && html.contains("tom"), "{html}");
    assert!(
        html.contains("/console/signout") && html.contains("name=\"csrf\""),
        "a way out: {html}"
    );
    assert!(!html.contains(">default</a> ("), "no data for a non-admin");
}

#[tokio::test]
async fn the_console_session_ends_when_the_operator_changes() {
    let s = console_server().await;
    let (cookies, _) = sign_in(&s, "root").await;
    assert_eq!(get_console(&s, &cookies).await.status(), 200);
    let (_, found) = s
        .admin(Method::GET, "/admin/environments/default/users?username=root", None)
        .await;
    let id = found["items"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/admin/environments/default/users/{id}");
    // The role taken away: refused at once.
    s.admin(Method::PATCH, &path, Some(json!({"roles": []}))).await;
    assert_eq!(get_console(&s, &cookies).await.status(), 403);
    s.admin(Method::PATCH, &path, Some(json!({"roles": ["admin"]}))).await;
    assert_eq!(get_console(&s, &cookies).await.status(), 200);
    // Disabled: the session is over (back to sign-in), even re-enabled.
    s.admin(Method::PATCH, &path, Some(json!({"disabled": true}))).await;
    s.admin(Method::PATCH, &path, Some(json!({"disabled": false}))).await;
    let resp = get_console(&s, &cookies).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), s.url("/console/signin"));
}

#[tokio::test]
async fn a_callback_not_started_here_or_tampered_is_refused() {
    let s = console_server().await;
    // No sign-in cookie: a code planted from elsewhere is not taken.
    let resp = s
        .http
        .get(s.url("/console/callback?code=abc&state=xyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // This browser's sign-in, another state.
    let resp = s.http.get(s.url("/console/signin")).send().await.unwrap();
    let cookies = cookie_pairs(&resp);
    let resp = s
        .http
        .get(s.url("/console/callback?code=abc&state=not-the-state"))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("state"));
    // A response naming another issuer (RFC 9207 mix-up) is refused.
    let resp = s.http.get(s.url("/console/signin")).send().await.unwrap();
    let cookies = cookie_pairs(&resp);
    let state = query(&location(&resp))["state"].clone();
    let url = s.url(&format!(
        "/console/callback?code=abc&state={state}&iss=https%3A%2F%2Fevil.example"
    ));
    let resp = s
        .http
        .get(url)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("(iss)"));
    // A forged session cookie is no session.
    let resp = get_console(&s, &["pixie_console=AAAA".to_owned()]).await;
    assert_eq!(resp.status(), 303);
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// A signed-in console session: its pages, and its forms posted with (or without) the
/// CSRF token its pages carry.
struct Console<'a> {
    s: &'a TestServer,
    cookies: String,
    csrf: String,
}

impl<'a> Console<'a> {
    async fn sign_in(s: &'a TestServer, username: &str) -> Console<'a> {
        let cookies = sign_in(s, username).await.0.join("; ");
        let mut console = Console {
            s,
            cookies,
            csrf: String::new(),
        };
        console.csrf = csrf_of(&console.page("/console/").await);
        console
    }

    /// The page at `path`, as text.
    async fn page(&self, path: &str) -> String {
        let req = self.s.http.get(self.s.url(path)).header("cookie", &self.cookies);
        req.send().await.unwrap().text().await.unwrap()
    }

    /// Posts `form` to `path` with the session's CSRF token.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut form = form.to_vec();
        form.push(("csrf", &self.csrf));
        self.post_without_csrf(path, &form).await
    }

    /// Posts `form` as it is.
    async fn post_without_csrf(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let req = self.s.http.post(self.s.url(path)).header("cookie", &self.cookies);
        req.form(form).send().await.unwrap()
    }
}

#[tokio::test]
async fn the_report_page_draws_requests_per_day_and_says_what_to_do() {
    let s = console_server().await;
    let (cookies, _) = sign_in(&s, "root").await;
    // The console's own sign-in was an S256 request; a legacy request joins it.
    let legacy = s.env_with_public_client("default", json!({}), json!({})).await;
    let resp = s
        .authorize(
            "default",
            &[
                ("response_type", "code"),
                ("client_id", &legacy),
                ("redirect_uri", REDIRECT),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status(), 302);
    let page = |path: &str| {
        let url = s.url(path);
        let cookies = cookies.join("; ");
        let http = s.http.clone();
        async move { http.get(url).header("cookie", cookies).send().await.unwrap() }
    };
    let resp = page("/console/environments/default/report").await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("<svg") && html.contains("id=\"chart\"") && html.contains("role=\"img\""),
        "{html}"
    );
    assert!(
        html.contains("S256 accepted: "),
        "the console's own S256 request is drawn"
    );
    assert!(html.contains("pixie console") && html.contains("Test app"), "{html}");
    assert!(
        html.contains("refused now: 1 request(s) without S256 were rejected"),
        "{html}"
    );
    assert!(!html.contains("<script"));
    assert_eq!(page("/console/environments/nope/report").await.status(), 404);
}

#[tokio::test]
async fn keys_are_listed_and_rotated_from_the_console_with_csrf() {
    let s = console_server().await;
    let (cookies, _) = sign_in(&s, "root").await;
    let get = || async {
        s.http
            .get(s.url("/console/environments/default/keys"))
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap()
    };
    let html = get().await.text().await.unwrap();
    assert_eq!(html.matches("<td>active</td>").count(), 2, "{html}");
    assert!(html.contains("<label for=\"alg\">"), "every input has a label");
    let csrf = csrf_of(&html);
    let post = |form: Vec<(&'static str, String)>| {
        s.http
            .post(s.url("/console/environments/default/keys/rotate"))
            .header("cookie", cookies.join("; "))
            .form(&form)
            .send()
    };
    assert_eq!(
        post(vec![("alg", "ES256".into())]).await.unwrap().status(),
        403,
        "no CSRF token"
    );
    let resp = post(vec![("alg", "ES256".into()), ("csrf", csrf)]).await.unwrap();
    assert_eq!(resp.status(), 303);
    let html = get().await.text().await.unwrap();
    assert_eq!(html.matches("<td>retiring</td>").count(), 1, "{html}");
    let (_, keys) = s.admin(Method::GET, "/admin/environments/default/keys", None).await;
    assert_eq!(keys["items"].as_array().unwrap().len(), 3);
    // A non-admin gets neither the page nor the rotation.
    let (tom, _) = sign_in(&s, "tom").await;
    let resp = s
        .http
        .get(s.url("/console/environments/default/keys"))
        .header("cookie", tom.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn users_are_managed_from_the_console() {
    let s = console_server().await;
    let (cookies, _) = sign_in(&s, "root").await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let get = |path: String| {
        let (http, cookies) = (s.http.clone(), cookies.join("; "));
        let url = s.url(&path);
        async move { http.get(url).header("cookie", cookies).send().await.unwrap() }
    };
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let (http, cookies) = (s.http.clone(), cookies.join("; "));
        let url = s.url(&path);
        async move {
            http.post(url)
                .header("cookie", cookies)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let html = get("/console/environments/default/users".into())
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(">root</a>") && html.contains(">tom</a>"), "{html}");
    for id in [
        "new-username",
        "new-password",
        "new-email",
        "new-name",
        "new-roles",
        "find",
    ] {
        assert!(html.contains(&format!("<label for=\"{id}\">")), "a label for {id}");
    }
    let csrf = csrf_of(&html);
    // Create, without and with the CSRF token.
    let form = |csrf: Option<&str>| {
        let mut f = vec![
            ("username", "ann".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("email", "ann@example.com".to_owned()),
            ("roles", "ops, admin".to_owned()),
        ];
        if let Some(c) = csrf {
            f.push(("csrf", c.to_owned()));
        }
        f
    };
    assert_eq!(
        post("/console/environments/default/users".into(), form(None))
            .await
            .status(),
        403
    );
    let resp = post("/console/environments/default/users".into(), form(Some(&csrf))).await;
    assert_eq!(resp.status(), 303);
    let user_page = location(&resp);
    let id = user_page.rsplit('/').next().unwrap().to_owned();
    let (_, ann) = s
        .admin(Method::GET, &format!("/admin/environments/default/users/{id}"), None)
        .await;
    assert_eq!(ann["roles"], json!(["ops", "admin"]));
    // A refused change names the field.
    let resp = post(
        "/console/environments/default/users".into(),
        vec![
            ("username", "bad name".into()),
            ("password", PASSWORD.into()),
            ("csrf", csrf.clone()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("username"));
    // tom: signed on and holding tokens; disabled from the console, they die.
    let tok = s.tokens("default", &client).await;
    let access = tok["access_token"].as_str().unwrap();
    let (_, found) = s
        .admin(Method::GET, "/admin/environments/default/users?username=tom", None)
        .await;
    let tom = found["items"][0]["id"].as_str().unwrap().to_owned();
    let page = format!("/console/environments/default/users/{tom}");
    let html = get(page.clone()).await.text().await.unwrap();
    assert!(html.contains("Active"), "{html}");
    let resp = post(page.clone(), vec![("action", "disable".into()), ("csrf", csrf.clone())]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        s.userinfo("default", access).await.0,
        401,
        "disabled from the console: tokens revoked"
    );
    assert!(get(page.clone()).await.text().await.unwrap().contains("Disabled"));
    // Password and roles; then delete.
    let resp = post(
        page.clone(),
        vec![
            ("action", "password".into()),
            ("password", "a brand new one".into()),
            ("csrf", csrf.clone()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let resp = post(
        page.clone(),
        vec![
            ("action", "profile".into()),
            ("email", "".into()),
            ("name", "Tom T".into()),
            ("roles", "auditor".into()),
            ("csrf", csrf.clone()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let (_, t) = s
        .admin(Method::GET, &format!("/admin/environments/default/users/{tom}"), None)
        .await;
    assert_eq!(
        (t["name"].clone(), t["roles"].clone(), t["email"].clone()),
        (json!("Tom T"), json!(["auditor"]), Value::Null)
    );
    let resp = post(page.clone(), vec![("action", "delete".into()), ("csrf", csrf)]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        s.admin(Method::GET, &format!("/admin/environments/default/users/{tom}"), None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn applications_are_managed_from_the_console_and_a_secret_is_shown_once() {
    let s = console_server().await;
    let (cookies, _) = sign_in(&s, "root").await;
    let get = |path: String| {
        let (http, cookies) = (s.http.clone(), cookies.join("; "));
        let url = s.url(&path);
        async move { http.get(url).header("cookie", cookies).send().await.unwrap() }
    };
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let (http, cookies) = (s.http.clone(), cookies.join("; "));
        let url = s.url(&path);
        async move {
            http.post(url)
                .header("cookie", cookies)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let html = get("/console/environments/default/applications".into())
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("pixie console"),
        "the console's own client is listed: {html}"
    );
    let csrf = csrf_of(&html);
    let resp = post(
        "/console/environments/default/applications".into(),
        vec![
            ("client_name", "Backend".into()),
            (
                "redirect_uris",
                "https://backend.example/cb\r\nhttps://backend.example/cb2".into(),
            ),
            ("kind", "confidential".into()),
            ("csrf", csrf.clone()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let grab = |html: &str, marker: &str| {
        let start = html.find(marker).unwrap() + marker.len();
        html[start..start + html[start..].find('<').unwrap()].to_owned()
    };
    let secret = grab(&html, "Client secret, shown once: <code>");
    let id = grab(&html, "<code id=\"client-id\">");
    let token = |secret: String| {
        let id = id.clone();
        let s = &s;
        async move {
            // client_secret_basic, the registration default.
            s.http
                .post(s.url("/default/as/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The secret is real (client_credentials needs the grant type: 400 unauthorized
    // grant, not 401), and later pages never show it.
    assert_ne!(token(secret.clone()).await, 401);
    let page = format!("/console/environments/default/applications/{id}");
    let html = get(page.clone()).await.text().await.unwrap();
    assert!(!html.contains(&secret) && !html.contains("shown once"));
    // Rotated from the console: the old secret stops working.
    let resp = post(page.clone(), vec![("action", "secret".into()), ("csrf", csrf.clone())]).await;
    let html = resp.text().await.unwrap();
    let new_secret = grab(&html, "Client secret, shown once: <code>");
    assert_ne!(new_secret, secret);
    assert_eq!(token(secret).await, 401, "the old secret stops working");
    assert_ne!(token(new_secret).await, 401);
    // Edited: a redirect URI dropped, S256 pinned.
    let resp = post(
        page.clone(),
        vec![
            ("action", "edit".into()),
            ("client_name", "Backend 2".into()),
            ("redirect_uris", "https://backend.example/cb".into()),
            ("code_challenge_method", "S256".into()),
            ("csrf", csrf.clone()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let (_, app) = s
        .admin(
            Method::GET,
            &format!("/admin/environments/default/applications/{id}"),
            None,
        )
        .await;
    assert_eq!(app["client_name"], "Backend 2");
    assert_eq!(app["redirect_uris"], json!(["https://backend.example/cb"]));
    assert_eq!(app["code_challenge_method"], "S256");
    // A refused edit names the field; a form without its token is refused.
    let resp = post(
        page.clone(),
        vec![
            ("action", "edit".into()),
            ("client_name", "x".into()),
            ("redirect_uris", "javascript:alert(1)".into()),
            ("csrf", csrf.clone()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("redirect_uris"));
    assert_eq!(
        post(page.clone(), vec![("action", "delete".into())]).await.status(),
        403
    );
    let resp = post(page.clone(), vec![("action", "delete".into()), ("csrf", csrf)]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        s.admin(
            Method::GET,
            &format!("/admin/environments/default/applications/{id}"),
            None
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn a_policy_changed_in_the_console_shows_in_discovery() {
    let s = console_server().await;
    let (cookies, _) = sign_in(&s, "root").await;
    s.admin(Method::POST, "/admin/environments", Some(json!({"id": "acme"})))
        .await;
    let page = s.url("/console/environments/acme");
    let html = s
        .http
        .get(&page)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("id=\"allowed-s256\" name=\"allowed\" value=\"S256\" checked"),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let post = |form: Vec<(&'static str, &'static str)>, csrf: Option<String>| {
        let mut form: Vec<(&str, String)> = form.into_iter().map(|(k, v)| (k, v.to_owned())).collect();
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        s.http
            .post(&page)
            .header("cookie", cookies.join("; "))
            .form(&form)
            .send()
    };
    let report_mode = vec![
        ("allowed", "S256"),
        ("allowed", "plain"),
        ("required", "S256"),
        ("mode", "report"),
        ("require_for_public_clients", "on"),
        ("access_token", "900"),
    ];
    assert_eq!(post(report_mode.clone(), None).await.unwrap().status(), 403);
    assert_eq!(post(report_mode, Some(csrf.clone())).await.unwrap().status(), 303);
    let (_, discovery) = s.get_json("/acme/.well-known/openid-configuration").await;
    assert_eq!(discovery["code_challenge_methods_supported"], json!(["plain", "S256"]));
    let (_, env) = s.admin(Method::GET, "/admin/environments/acme", None).await;
    assert_eq!(env["pkce"]["mode"], "report");
    assert_eq!(env["lifetimes"]["access_token"], 900);
    // An invalid policy is refused with the API's words: required not within allowed.
    let resp = post(vec![("allowed", "S256"), ("required", "plain")], Some(csrf))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("pkce.required"));
}

#[tokio::test]
async fn resources_are_registered_and_removed_from_the_console() {
    let s = console_server().await;
    let (cookies, _) = sign_in(&s, "root").await;
    let page = s.url("/console/environments/default/resources");
    let get = || async {
        s.http
            .get(&page)
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let csrf = csrf_of(&get().await);
    let post = |url: String, form: Vec<(&'static str, String)>| {
        s.http.post(url).header("cookie", cookies.join("; ")).form(&form).send()
    };
    let create = vec![
        ("uri", "https://api.example/mcp".to_owned()),
        ("scopes", "files:read files:write".to_owned()),
        ("name", "Files <b>API</b>".to_owned()),
    ];
    assert_eq!(post(page.clone(), create.clone()).await.unwrap().status(), 403);
    let mut with = create.clone();
    with.push(("csrf", csrf.clone()));
    assert_eq!(post(page.clone(), with).await.unwrap().status(), 303);
    let html = get().await;
    assert!(
        html.contains("https://api.example/mcp") && html.contains("files:read files:write"),
        "{html}"
    );
    assert!(html.contains("Files &#60;b&#62;API&#60;/b&#62;"), "escaped: {html}");
    let (_, d) = s.get_json("/default/.well-known/openid-configuration").await;
    assert!(d["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "files:write"));
    let del = format!("{page}/delete");
    let resp = post(del, vec![("uri", "https://api.example/mcp".into()), ("csrf", csrf)])
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(!get().await.contains("https://api.example/mcp"));
}

#[tokio::test]
async fn a_users_consents_are_shown_and_withdrawn_from_the_console() {
    let s = console_server().await;
    let (cookies, _) = sign_in(&s, "root").await;
    let (_, found) = s
        .admin(Method::GET, "/admin/environments/default/users?username=tom", None)
        .await;
    let tom = found["items"][0]["id"].as_str().unwrap().to_owned();
    let svc = s.running.as_ref().unwrap().service().clone();
    svc.store
        .insert_consent(&pixie_store::ConsentRow {
            env_id: "default".into(),
            user_id: tom.clone(),
            client_id: "some-client".into(),
            scopes: "openid profile".into(),
            resources: "".into(),
            created_at: s.now(),
        })
        .await
        .unwrap();
    let page = s.url(&format!("/console/environments/default/users/{tom}"));
    let get = || async {
        s.http
            .get(&page)
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let html = get().await;
    assert!(
        html.contains("<code>some-client</code>") && html.contains("openid profile"),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let withdraw = |csrf: Option<String>| {
        let mut form = vec![
            ("action", "withdraw_consent".to_owned()),
            ("client_id", "some-client".to_owned()),
        ];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        s.http
            .post(&page)
            .header("cookie", cookies.join("; "))
            .form(&form)
            .send()
    };
    assert_eq!(withdraw(None).await.unwrap().status(), 403);
    assert_eq!(withdraw(Some(csrf)).await.unwrap().status(), 303);
    let html = get().await;
    assert!(html.contains("No consents.") && !html.contains("some-client"), "{html}");
}

#[tokio::test]
async fn the_console_will_not_lose_its_last_admin() {
    let s = console_server().await;
    let console = Console::sign_in(&s, "root").await;
    let (_, found) = s
        .admin(Method::GET, "/admin/environments/default/users?username=root", None)
        .await;
    let root = found["items"][0]["id"].as_str().unwrap().to_owned();
    let page = format!("/console/environments/default/users/{root}");
    let post = |form: Vec<(&'static str, &'static str)>| {
        let (console, page) = (&console, page.clone());
        async move { console.post(&page, &form).await }
    };
    // root is the only admin: disabling, deleting or dropping the role is refused.
    for form in [
        vec![("action", "disable")],
        vec![("action", "delete")],
        vec![("action", "profile"), ("roles", "auditor")],
    ] {
        let resp = post(form.clone()).await;
        assert_eq!(resp.status(), 409, "{form:?}");
        assert!(resp.text().await.unwrap().contains("last active admin"));
    }
    let (_, user) = s
        .admin(Method::GET, &format!("/admin/environments/default/users/{root}"), None)
        .await;
    assert_eq!(user["roles"], json!(["admin"]));
    assert_eq!(user["disabled"], false);
    // A disabled admin does not count; an active one does.
    let (_, other) = s
        .admin(
            Method::POST,
            "/admin/environments/default/users",
            Some(json!({"username": "ada", "password": PASSWORD, "roles": ["admin"]})),
        )
        .await;
    let other = other["id"].as_str().unwrap().to_owned();
    let other_path = format!("/admin/environments/default/users/{other}");
    s.admin(Method::PATCH, &other_path, Some(json!({"disabled": true})))
        .await;
    assert_eq!(post(vec![("action", "disable")]).await.status(), 409);
    s.admin(Method::PATCH, &other_path, Some(json!({"disabled": false})))
        .await;
    let resp = post(vec![("action", "profile"), ("roles", "auditor")]).await;
    assert_eq!(resp.status(), 303);
    let (_, user) = s
        .admin(Method::GET, &format!("/admin/environments/default/users/{root}"), None)
        .await;
    assert_eq!(user["roles"], json!(["auditor"]));
}

#[tokio::test]
async fn environments_are_created_changed_and_deleted_from_the_console() {
    let s = console_server().await;
    let console = Console::sign_in(&s, "root").await;
    let post = |path: &'static str, form: Vec<(&'static str, &'static str)>, with_csrf: bool| {
        let console = &console;
        async move {
            match with_csrf {
                true => console.post(path, &form).await,
                false => console.post_without_csrf(path, &form).await,
            }
        }
    };
    // Created from the home page, with the API's checks and defaults.
    assert_eq!(
        post("/console/environments", vec![("id", "acme")], false)
            .await
            .status(),
        403
    );
    let resp = post("/console/environments", vec![("id", "Not An Id")], true).await;
    assert_eq!(resp.status(), 400);
    let resp = post("/console/environments", vec![("id", "acme")], true).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), s.url("/console/environments/acme"));
    assert_eq!(
        post("/console/environments", vec![("id", "acme")], true).await.status(),
        409
    );
    let (st, _) = s.get_json("/acme/.well-known/openid-configuration").await;
    assert_eq!(st, 200);
    // Every setting of the API's PATCH is on the page: PAR, DPoP nonces, every lifetime.
    let form = vec![
        ("allowed", "S256"),
        ("required", "S256"),
        ("require_for_public_clients", "on"),
        ("require_par", "on"),
        ("dpop_nonce", "on"),
        ("profile", "none"),
        ("flow", "300"),
        ("refresh_token_idle", "3600"),
        ("refresh_token_absolute", "7200"),
    ];
    assert_eq!(post("/console/environments/acme", form, true).await.status(), 303);
    let (_, env) = s.admin(Method::GET, "/admin/environments/acme", None).await;
    assert_eq!(env["require_par"], true);
    assert_eq!(env["dpop_nonce"], true);
    assert_eq!(env["lifetimes"]["flow"], 300);
    assert_eq!(env["lifetimes"]["refresh_token_idle"], 3600);
    assert_eq!(env["lifetimes"]["refresh_token_absolute"], 7200);
    let (_, discovery) = s.get_json("/acme/.well-known/openid-configuration").await;
    assert_eq!(discovery["require_pushed_authorization_requests"], true);
    // Deleted once its id is typed again; never the console's own environment.
    let resp = post("/console/environments/acme/delete", vec![("confirm", "acm")], true).await;
    assert_eq!(resp.status(), 400);
    let resp = post(
        "/console/environments/default/delete",
        vec![("confirm", "default")],
        true,
    )
    .await;
    assert_eq!(resp.status(), 409);
    assert!(resp.text().await.unwrap().contains("own environment"));
    assert_eq!(
        post("/console/environments/acme/delete", vec![("confirm", "acme")], false)
            .await
            .status(),
        403
    );
    let resp = post("/console/environments/acme/delete", vec![("confirm", "acme")], true).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(s.admin(Method::GET, "/admin/environments/acme", None).await.0, 404);
    let page = console.page("/console/environments/default").await;
    assert!(
        !page.contains("/delete\""),
        "no delete form for the console's own environment"
    );
}

#[tokio::test]
async fn every_registered_setting_of_an_application_is_edited_from_the_console() {
    let s = console_server().await;
    let console = Console::sign_in(&s, "root").await;
    let (_, app) = s
        .admin(
            Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "Agent", "redirect_uris": ["https://agent.example/cb"], "token_endpoint_auth_method": "none"})),
        )
        .await;
    let id = app["client_id"].as_str().unwrap().to_owned();
    let page = format!("/console/environments/default/applications/{id}");
    let html = console.page(&page).await;
    assert!(
        html.contains("id=\"gt-code\" name=\"grant_types\" value=\"authorization_code\" checked"),
        "{html}"
    );
    let jwks = r#"{"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "kid": "k1"}]}"#;
    let post = |form: Vec<(&'static str, &'static str)>| {
        let (console, page) = (&console, page.clone());
        async move { console.post(&page, &form).await }
    };
    let base = vec![
        ("action", "edit"),
        ("more", "1"),
        ("client_name", "Agent"),
        ("redirect_uris", "https://agent.example/cb"),
        ("grant_types", "authorization_code"),
        ("grant_types", "refresh_token"),
        ("scope", "openid profile"),
        ("token_endpoint_auth_method", "private_key_jwt"),
        ("id_token_signed_response_alg", "ES256"),
        ("require_pkce", "on"),
        ("require_consent", "on"),
        ("require_pushed_authorization_requests", "on"),
        ("dpop_bound_access_tokens", "on"),
    ];
    // Keys that are not JSON are refused in words; then the whole set is saved.
    let mut bad = base.clone();
    bad.push(("jwks", "{not json"));
    let resp = post(bad).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("jwks: not JSON"));
    let mut good = base.clone();
    good.push(("jwks", jwks));
    let resp = post(good).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let (_, app) = s
        .admin(
            Method::GET,
            &format!("/admin/environments/default/applications/{id}"),
            None,
        )
        .await;
    assert_eq!(app["grant_types"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(app["scope"], "openid profile");
    assert_eq!(app["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(app["id_token_signed_response_alg"], "ES256");
    assert_eq!(app["require_pkce"], true);
    assert_eq!(app["require_consent"], true);
    assert_eq!(app["require_pushed_authorization_requests"], true);
    assert_eq!(app["dpop_bound_access_tokens"], true);
    assert_eq!(app["jwks"]["keys"][0]["kid"], "k1");
    // Unchecked boxes turn settings off; an emptied key set is removed.
    let off = vec![
        ("action", "edit"),
        ("more", "1"),
        ("client_name", "Agent"),
        ("redirect_uris", "https://agent.example/cb"),
        ("grant_types", "authorization_code"),
        ("scope", "openid"),
        ("token_endpoint_auth_method", "none"),
        ("id_token_signed_response_alg", "RS256"),
        ("jwks", ""),
    ];
    assert_eq!(post(off).await.status(), 200);
    let (_, app) = s
        .admin(
            Method::GET,
            &format!("/admin/environments/default/applications/{id}"),
            None,
        )
        .await;
    assert_eq!(app["grant_types"], json!(["authorization_code"]));
    assert_eq!(app["token_endpoint_auth_method"], "none");
    assert!(app["require_consent"] != true && app["require_pkce"] != true, "{app}");
    assert!(app.get("jwks").is_none() || app["jwks"].is_null(), "{app}");
    assert!(app["require_pushed_authorization_requests"] != true && app["dpop_bound_access_tokens"] != true);
}

#[tokio::test]
async fn two_admins_removed_at_once_leave_the_console_an_admin() {
    let s = console_server().await;
    let (_, ada) = s
        .admin(
            Method::POST,
            "/admin/environments/default/users",
            Some(json!({"username": "ada", "password": PASSWORD, "roles": ["admin"]})),
        )
        .await;
    let (_, found) = s
        .admin(Method::GET, "/admin/environments/default/users?username=root", None)
        .await;
    let root = found["items"][0]["id"].as_str().unwrap().to_owned();
    let ada = ada["id"].as_str().unwrap().to_owned();
    // The race is one of timing: ten rounds of each change give it its chances.
    let rounds = [vec![("action", "profile"), ("roles", "")], vec![("action", "disable")]];
    for (round, action) in rounds.iter().cycle().take(20).enumerate() {
        // Signed in afresh: disabling root in the round before ended the session.
        let console = Console::sign_in(&s, "root").await;
        let (a, b) = (
            format!("/console/environments/default/users/{root}"),
            format!("/console/environments/default/users/{ada}"),
        );
        let (ra, rb) = tokio::join!(console.post(&a, action), console.post(&b, action));
        // Made: a 303 back to the user's page. The later one is refused: 409 if it
        // passed the role check before the earlier one's change, 403 if after.
        let made = |r: &reqwest::Response, page: &str| r.status() == 303 && location(r).ends_with(page);
        let made = [made(&ra, &a), made(&rb, &b)];
        let statuses = [ra.status().as_u16(), rb.status().as_u16()];
        assert!(!(made[0] && made[1]), "round {round}: both made: {statuses:?}");
        let (_, users) = s.admin(Method::GET, "/admin/environments/default/users", None).await;
        let admins = users["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["disabled"] == false && u["roles"].as_array().unwrap().contains(&json!("admin")))
            .count();
        assert!(admins >= 1, "round {round}: no admin left: {users}");
        // Both admins again, for the next round.
        for id in [&root, &ada] {
            let path = format!("/admin/environments/default/users/{id}");
            s.admin(
                Method::PATCH,
                &path,
                Some(json!({"roles": ["admin"], "disabled": false})),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn the_consoles_own_environment_keeps_a_policy_the_console_can_sign_in_with() {
    let s = console_server().await;
    let console = Console::sign_in(&s, "root").await;
    let page = "/console/environments/default";
    let fine = [("allowed", "S256"), ("required", "S256"), ("mode", "enforce")];
    for extra in [vec![("require_par", "on")], vec![("profile", "fapi2")]] {
        let mut form = fine.to_vec();
        form.extend(extra.clone());
        let resp = console.post(page, &form).await;
        assert_eq!(resp.status(), 409, "{extra:?}");
        assert!(resp.text().await.unwrap().contains("own environment"));
    }
    let plain_only = [("allowed", "plain")];
    assert_eq!(console.post(page, &plain_only).await.status(), 409);
    let plain_required = [("allowed", "S256"), ("allowed", "plain"), ("required", "plain")];
    assert_eq!(console.post(page, &plain_required).await.status(), 409);
    let (_, env) = s.admin(Method::GET, "/admin/environments/default", None).await;
    assert_eq!(env["require_par"], false);
    // A setting the console's sign-in survives is saved, and sign-in still works.
    assert_eq!(console.post(page, &fine).await.status(), 303);
    Console::sign_in(&s, "root").await;
    // Another environment takes any of them.
    s.admin(Method::POST, "/admin/environments", Some(json!({"id": "acme"})))
        .await;
    let mut form = fine.to_vec();
    form.push(("require_par", "on"));
    assert_eq!(console.post("/console/environments/acme", &form).await.status(), 303);
}

//! Security review, part one (issue 13): each test is the attack an outside reviewer ran
//! against a live server, and each failed before the fix it covers. SECURITY.md names
//! them. (The throttle's memory and the data files' modes are attacked on the real
//! binary, in `crates/pixie/tests/serve_cli.rs`.)

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pixie_testkit::*;
use serde_json::{json, Value};

/// The value of a hidden form field, if the page has one.
fn maybe_field(page: &str, name: &str) -> Option<String> {
    let m = format!("name=\"{name}\" value=\"");
    let i = page.find(&m)? + m.len();
    Some(page[i..i + page[i..].find('"')?].to_owned())
}

/// The value of `name=value` among cookies.
fn cookie_value(cookies: &[String], prefix: &str) -> String {
    cookies
        .iter()
        .find_map(|c| c.strip_prefix(prefix)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {prefix} in {cookies:?}"))
        .to_owned()
}

/// Starts an authorization without a session: the flow id and its cookies.
async fn start_flow(s: &TestServer, client: &str, cookies: &[String]) -> (String, Vec<String>) {
    let resp = s.authorize("default", &TestServer::pairs(client), cookies).await;
    assert_eq!(resp.status(), 302);
    (query(&location(&resp))["flowId"].clone(), set_cookies(&resp))
}

async fn resume(s: &TestServer, flow_id: &str, cookies: &[String]) -> reqwest::Response {
    s.http
        .get(s.url(&format!("/default/as/resume?flowId={flow_id}")))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap()
}

// --- 1. Sign-on flow hijack -------------------------------------------------------

/// The attacker starts a flow in his browser and sends the victim its sign-on link. The
/// victim's browser (with a flow cookie of its own) must not be shown the form, its
/// POST must be refused, and the attacker's resume must get nothing.
#[tokio::test]
async fn a_flow_started_in_another_browser_cannot_be_signed_on() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (flow, attacker) = start_flow(&s, &client, &[]).await;
    let (_, victim) = start_flow(&s, &client, &[]).await;
    let link = s.url(&format!("/default/signon?flowId={flow}"));
    let resp = s
        .http
        .get(&link)
        .header("cookie", victim.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    assert!(page.contains("another browser"), "{page}");
    assert!(!page.contains("name=\"password\""), "no form for a foreign flow");
    // The form the old page handed out: a CSRF token derived from the victim's cookie.
    let v = cookie_value(&victim, "pixie_flow_default");
    let csrf = URL_SAFE_NO_PAD.encode(pixie_server::crypto::sha256(
        format!("pixie csrf\0{v}\0{flow}").as_bytes(),
    ));
    let resp = s.signon_form("default", &victim, &flow, &csrf, "tom", PASSWORD).await;
    assert_eq!(resp.status(), 400, "the victim's sign-on on a foreign flow is refused");
    let resp = resume(&s, &flow, &attacker).await;
    assert_eq!(resp.status(), 400, "the attacker gets no code");
    let (_, f) = s.get_json(&format!("/default/flows/{flow}")).await;
    assert_eq!(f["status"], "USERNAME_PASSWORD_REQUIRED");
}

/// A flow cookie planted in the victim's browser (a sibling subdomain can set one) is
/// never reused: the victim's flow gets a fresh value the attacker does not know.
#[tokio::test]
async fn a_planted_flow_cookie_is_replaced() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let planted = "planted-by-the-attacker-0123456789abcdef".to_owned();
    let planted_cookie = format!("pixie_flow_default={planted}");
    let (flow, set) = start_flow(&s, &client, std::slice::from_ref(&planted_cookie)).await;
    assert_ne!(cookie_value(&set, "pixie_flow_default"), planted, "never echoed back");
    // The victim signs on; the attacker, holding the planted value, cannot resume.
    let resp = s.flow_sign_on("default", &flow, "tom", PASSWORD).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resume(&s, &flow, &[planted_cookie]).await.status(), 400);
    assert_eq!(
        resume(&s, &flow, &set).await.status(),
        302,
        "the victim's own browser resumes"
    );
}

/// Two different users sign on to one flow at once: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sign_ons_racing_on_one_flow_have_one_winner() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (st, _) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/users",
            Some(json!({"username": "ann", "password": PASSWORD})),
        )
        .await;
    assert_eq!(st, 201);
    for _ in 0..5 {
        let (flow, _) = start_flow(&s, &client, &[]).await;
        let (a, b) = tokio::join!(
            s.flow_sign_on("default", &flow, "tom", PASSWORD),
            s.flow_sign_on("default", &flow, "ann", PASSWORD)
        );
        let mut completed = 0;
        for resp in [a, b] {
            let body: Value = resp.json().await.unwrap();
            completed += usize::from(body["status"] == "COMPLETED");
        }
        assert_eq!(completed, 1, "exactly one sign-on completes a flow");
    }
}

// --- 2. Throttle race, per-flow failures, shared counters --------------------------

/// 40 wrong passwords for one user, all at once: no more than the budget are checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_outrun_the_throttle() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let mut flows = Vec::new();
    for _ in 0..40 {
        flows.push(start_flow(&s, &client, &[]).await.0);
    }
    let tasks: Vec<_> = flows
        .into_iter()
        .map(|f| {
            let (http, url) = (s.http.clone(), s.url(&format!("/default/flows/{f}")));
            tokio::spawn(async move {
                let resp = http
                    .post(url)
                    .header("content-type", "application/vnd.pixie.usernamePassword.check+json")
                    .json(&json!({"username": "tom", "password": "wrong guess"}))
                    .send()
                    .await
                    .unwrap();
                resp.status().as_u16()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let checked = answers.iter().filter(|st| **st == 400).count();
    let throttled = answers.iter().filter(|st| **st == 429).count();
    assert_eq!(checked + throttled, 40, "{answers:?}");
    assert!(
        checked <= pixie_server::throttle::PER_USER_ADDRESS as usize,
        "{checked} guesses were checked; the budget is {}",
        pixie_server::throttle::PER_USER_ADDRESS
    );
}

/// A flow takes a few failures (whichever usernames), then it is spent: even the right
/// password is refused there, and the user starts a new authorization.
#[tokio::test]
async fn a_flow_is_spent_after_its_failures() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (flow, _) = start_flow(&s, &client, &[]).await;
    for i in 0..pixie_server::throttle::PER_FLOW {
        let resp = s.flow_sign_on("default", &flow, &format!("user{i}"), "guess").await;
        assert_eq!(resp.status(), 400);
    }
    let resp = s.flow_sign_on("default", &flow, "tom", PASSWORD).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "TOO_MANY_FAILURES", "{body}");
    let (flow, _) = start_flow(&s, &client, &[]).await;
    assert_eq!(s.flow_sign_on("default", &flow, "tom", PASSWORD).await.status(), 200);
}

/// Two instances on one store spend one budget: guesses split between them are counted
/// together.
#[tokio::test]
async fn two_instances_share_the_throttle() {
    let a = TestServer::start().await;
    let client = a.env_with_public_client("default", json!({}), json!({})).await;
    let b = TestServer::start_with(tempfile::tempdir().unwrap(), config(a.dir.path())).await;
    let per_user = pixie_server::throttle::PER_USER_ADDRESS;
    for i in 0..per_user {
        let s = if i % 2 == 0 { &a } else { &b };
        let (flow, _) = start_flow(s, &client, &[]).await;
        assert_eq!(s.flow_sign_on("default", &flow, "tom", "guess").await.status(), 400);
    }
    for s in [&a, &b] {
        let (flow, _) = start_flow(s, &client, &[]).await;
        assert_eq!(
            s.flow_sign_on("default", &flow, "tom", PASSWORD).await.status(),
            429,
            "the budget is spent at every instance"
        );
    }
}

// --- 3. Sign-off ------------------------------------------------------------------

/// Signs off through the page, as a browser does.
async fn sign_off(s: &TestServer, session: &[String], origin: Option<&str>) -> reqwest::Response {
    let page = s
        .http
        .get(s.url("/default/as/signoff"))
        .header("cookie", session.join("; "))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut req = s
        .http
        .post(s.url("/default/as/signoff"))
        .header("cookie", session.join("; "))
        .form(&[("csrf", maybe_field(&page, "csrf").unwrap_or_default())]);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

/// A code obtained from a session before sign-off is dead after it, and so is every
/// refresh token of the session, however long it would have lived.
#[tokio::test]
async fn sign_off_kills_the_codes_and_tokens_of_its_session() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (q, cookies) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    let session: Vec<String> = cookies
        .into_iter()
        .filter(|c| c.starts_with("pixie_session_"))
        .collect();
    // A second code from the live session, kept for later.
    let resp = s.authorize("default", &TestServer::pairs(&client), &session).await;
    let later = query(&location(&resp))["code"].clone();
    let exchange = |code: String| {
        let client = client.clone();
        let s = &s;
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("client_id", client.as_str()),
                ("code_verifier", VERIFIER),
            ];
            s.token("default", &form).await
        }
    };
    let (st, tokens, _) = exchange(q["code"].clone()).await;
    assert_eq!(st, 200);
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let resp = sign_off(&s, &session, Some(s.base.as_str())).await;
    assert_eq!(resp.status(), 200);
    let (st, body, _) = exchange(later).await;
    assert_eq!(st, 400, "a code from before sign-off: {body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(s.refresh("default", &client, &rt, None).await.0, 400);
    // Days later, after every sweep, still dead.
    s.advance(3 * 86_400);
    let svc = s.running.as_ref().unwrap().service().clone();
    svc.sweep_expired(100).await.unwrap();
    assert_eq!(s.refresh("default", &client, &rt, None).await.0, 400);
    assert_eq!(s.introspect("default", &client, &rt).await["active"], false);
}

/// A sign-off POST from another site (a foreign `Origin`) ends no session, even with
/// the right form token; nor does one without the form token.
#[tokio::test]
async fn sign_off_from_a_foreign_origin_ends_nothing() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (_, cookies) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    let session: Vec<String> = cookies
        .into_iter()
        .filter(|c| c.starts_with("pixie_session_"))
        .collect();
    let resp = sign_off(&s, &session, Some("https://evil.example")).await;
    assert_eq!(resp.status(), 400);
    let bare = s
        .http
        .post(s.url("/default/as/signoff"))
        .header("cookie", session.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 400, "no form token");
    let resp = s.authorize("default", &TestServer::pairs(&client), &session).await;
    assert!(
        query(&location(&resp)).contains_key("code"),
        "the session is still alive"
    );
}

// --- 4. Connections that never time out -------------------------------------------

fn quick_timeouts(dir: &std::path::Path) -> pixie_server::ServeConfig {
    let mut cfg = config(dir);
    cfg.header_read_timeout = Duration::from_secs(1);
    cfg.idle_timeout = Duration::from_secs(2);
    cfg
}

/// Reads until the server closes the connection; the time it took, or `None` when it
/// was still open after `limit`.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(sock: &mut S, limit: Duration) -> Option<Duration> {
    use tokio::io::AsyncReadExt as _;
    let start = std::time::Instant::now();
    let mut buf = vec![0u8; 4096];
    loop {
        match tokio::time::timeout_at(tokio::time::Instant::from_std(start + limit), sock.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

/// On the plain listener: a connection that sends nothing is closed after the head
/// timeout; one that sent a request and went quiet, after the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_plain_connections_are_closed() {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_timeouts(dir.path());
    let s = TestServer::start_with(dir, cfg).await;
    let addr = s.running.as_ref().unwrap().addr;
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(6)).await.is_some(),
        "a connection that sends nothing is closed"
    );
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(8)).await.is_some(),
        "an idle keep-alive connection is closed"
    );
}

/// On the TLS listener: the same timeouts: a client that never starts the handshake, one
/// that sends nothing after it, one that dribbles its head, and one idle after a
/// request are all cut off. Responses carry `Strict-Transport-Security`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_and_slow_tls_connections_are_closed() {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = self_signed_cert(dir.path()) else {
        return;
    };
    let mut cfg = quick_timeouts(dir.path());
    cfg.tls = Some((cert.clone(), key));
    let s = TestServer::start_with(dir, cfg).await;
    let addr = s.running.as_ref().unwrap().addr;
    let connector = tls_connector(&cert);
    let tls = || async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        connector.connect(name, tcp).await.unwrap()
    };
    let mut no_handshake = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_within(&mut no_handshake, Duration::from_secs(6)).await.is_some(),
        "no handshake"
    );
    let mut silent = tls().await;
    assert!(
        closed_within(&mut silent, Duration::from_secs(6)).await.is_some(),
        "nothing after the handshake"
    );
    let mut slow = tls().await;
    let started = std::time::Instant::now();
    let mut cut = false;
    for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" {
        if slow.write_all(&[*b]).await.is_err() || slow.flush().await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if !cut {
        cut = closed_within(&mut slow, Duration::from_secs(3)).await.is_some();
    }
    assert!(
        cut,
        "a head sent one byte at a time is cut off ({:?})",
        started.elapsed()
    );
    // HSTS on an https response.
    let mut c = tls().await;
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut head = vec![0u8; 2048];
    let n = tokio::io::AsyncReadExt::read(&mut c, &mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("strict-transport-security: max-age="), "{head}");
    assert!(
        closed_within(&mut c, Duration::from_secs(8)).await.is_some(),
        "idle after a request"
    );
}

fn tls_connector(cert: &std::path::Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

// --- 5. Unbounded work from unauthenticated requests ------------------------------

/// Each authorization request without a session stores a flow: one address may start
/// only so many; then 429 with `Retry-After`, and no row is stored.
#[tokio::test]
async fn flows_one_address_may_start_are_bounded() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let big = "s".repeat(4096);
    let mut pairs = TestServer::pairs(&client);
    pairs.retain(|(k, _)| *k != "state");
    pairs.push(("state", &big));
    for _ in 0..pixie_server::throttle::FLOWS_PER_ADDRESS {
        assert_eq!(s.authorize("default", &pairs, &[]).await.status(), 302);
    }
    let resp = s.authorize("default", &pairs, &[]).await;
    assert_eq!(resp.status(), 429);
    let wait: i64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= pixie_server::throttle::FLOW_WINDOW);
    assert!(resp.text().await.unwrap().contains("Too many sign-ons"));
}

// --- 6. OIDC and hygiene ----------------------------------------------------------

/// `max_age=0` (and a `max_age` shorter than the session's age) signs on again, even
/// with a live session; the new ID token's `auth_time` is the new sign-on.
#[tokio::test]
async fn max_age_makes_the_user_sign_on_again() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (_, cookies) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    let session: Vec<String> = cookies
        .into_iter()
        .filter(|c| c.starts_with("pixie_session_"))
        .collect();
    let with = |max_age: &'static str| {
        let mut p = TestServer::pairs(&client);
        p.push(("max_age", max_age));
        p
    };
    let resp = s.authorize("default", &with("0"), &session).await;
    assert!(location(&resp).contains("/signon?flowId="), "max_age=0 signs on again");
    s.advance(600);
    let resp = s.authorize("default", &with("300"), &session).await;
    assert!(location(&resp).contains("/signon?flowId="), "older than max_age");
    let resp = s.authorize("default", &with("3600"), &session).await;
    assert!(query(&location(&resp)).contains_key("code"), "fresh enough");
    // Signing on again through max_age gives an ID token with the new auth_time.
    let (q, _) = s.code_via_flows("default", &with("0")).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (st, tok, _) = s.token("default", &form).await;
    assert_eq!(st, 200, "{tok}");
    let payload = tok["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let now = s.running.as_ref().unwrap().service().now();
    assert!((now - claims["auth_time"].as_i64().unwrap()).abs() <= 5, "{claims}");
}

/// A user the admin API accepted can sign on, whatever script the name is in.
#[tokio::test]
async fn a_long_non_latin_username_signs_on() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let name = "日".repeat(100);
    let (st, body) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/users",
            Some(json!({"username": name, "password": PASSWORD})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let (flow, _) = start_flow(&s, &client, &[]).await;
    let resp = s.flow_sign_on("default", &flow, &name, PASSWORD).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
}

/// Redirect URIs that would run in the browser are refused at registration.
#[tokio::test]
async fn script_redirect_uris_are_refused() {
    let s = TestServer::start().await;
    for uri in [
        "javascript:alert(document.cookie)//",
        "data:text/html,<script>alert(1)</script>",
        "JaVaScRiPt:x",
    ] {
        let (st, body) = s
            .admin(
                reqwest::Method::POST,
                "/admin/environments/default/applications",
                Some(json!({"client_name": "x", "redirect_uris": [uri]})),
            )
            .await;
        assert_eq!(st, 400, "{uri}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().contains("redirect_uris"),
            "{body}"
        );
    }
}

/// A JSON array where the admin API wants an object is a 400 that names the field,
/// never a silently applied default policy.
#[tokio::test]
async fn arrays_where_objects_belong_are_refused() {
    let s = TestServer::start().await;
    let (st, _) = s
        .admin(
            reqwest::Method::PATCH,
            "/admin/environments/default",
            Some(json!({"pkce": {"allowed": ["plain", "S256"], "required": []}})),
        )
        .await;
    assert_eq!(st, 200);
    for body in [json!({"pkce": []}), json!({"pkce": [["plain"], ["plain"]]}), json!([])] {
        let (st, err) = s
            .admin(
                reqwest::Method::PATCH,
                "/admin/environments/default",
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, 400, "{body}: {err}");
        let d = err["error_description"].as_str().unwrap();
        assert!(d.contains("pkce") || d.starts_with("body"), "{d}");
    }
    let (_, env) = s.admin(reqwest::Method::GET, "/admin/environments/default", None).await;
    assert_eq!(env["pkce"]["allowed"], json!(["plain", "S256"]), "unchanged");
}

// --- Found by an attacker's review of the fixed server ----------------------------

/// A sign-on POST with these credentials and (optionally) a forwarded address.
async fn guess(s: &TestServer, flow: &str, user: &str, pw: &str, xff: Option<&str>) -> u16 {
    let mut req = s
        .http
        .post(s.url(&format!("/default/flows/{flow}")))
        .header("content-type", "application/vnd.pixie.usernamePassword.check+json")
        .json(&json!({"username": user, "password": pw}));
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    req.send().await.unwrap().status().as_u16()
}

/// Someone guessing a user's password from one address locks that user out from that
/// address only: the user, elsewhere, still signs on.
#[tokio::test]
async fn a_guesser_cannot_lock_the_user_out_from_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.trusted_proxies = "127.0.0.1".into();
    let s = TestServer::start_with(dir, cfg).await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let attacker = Some("203.0.113.66");
    let mut flow = String::new();
    for i in 0..pixie_server::throttle::PER_USER_ADDRESS {
        if i % pixie_server::throttle::PER_FLOW == 0 {
            flow = start_flow(&s, &client, &[]).await.0;
        }
        assert_eq!(guess(&s, &flow, "tom", "guess", attacker).await, 400);
    }
    let flow = start_flow(&s, &client, &[]).await.0;
    assert_eq!(
        guess(&s, &flow, "tom", PASSWORD, attacker).await,
        429,
        "the guesser waits"
    );
    assert_eq!(
        guess(&s, &flow, "tom", PASSWORD, Some("198.51.100.7")).await,
        200,
        "the user, elsewhere, signs on"
    );
}

/// The audit log stays bounded under a flood of throttled sign-ons with 60 KB
/// usernames, and never holds what was typed as a username (a password typed into
/// the username box would land there).
#[tokio::test]
async fn audit_lines_stay_small_and_hold_nothing_typed() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let mut cfg = config(dir.path());
    cfg.audit = pixie_server::observe::AuditTarget::File(audit.clone());
    let s = TestServer::start_with(dir, cfg).await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let mut flow = String::new();
    for i in 0..pixie_server::throttle::PER_ADDRESS {
        if i % pixie_server::throttle::PER_FLOW == 0 {
            flow = start_flow(&s, &client, &[]).await.0;
        }
        let typed = if i == 0 {
            "hunter2-my-password".to_owned()
        } else {
            format!("u{i}")
        };
        assert_eq!(guess(&s, &flow, &typed, "guess", None).await, 400);
    }
    let flushed = || s.running.as_ref().unwrap().service().obs.flush_audit();
    flushed();
    let before = std::fs::metadata(&audit).map(|m| m.len()).unwrap_or(0);
    let huge = "A".repeat(60_000);
    for _ in 0..200 {
        assert_eq!(guess(&s, &flow, &huge, "guess", None).await, 429);
    }
    flushed();
    let text = std::fs::read_to_string(&audit).unwrap_or_default();
    let grown = text.len() as u64 - before;
    assert!(grown < 200 * 1024, "200 throttled sign-ons wrote {grown} bytes");
    assert!(!text.contains("hunter2-my-password"), "nothing typed reaches the log");
    assert!(!text.contains("AAAAAAAAAA"));
    assert!(text.contains("username_digest"), "{text:.400}");
}

/// Login CSRF: whoever learns a browser's flow id completes it through the flows API as
/// himself; the victim's browser must not then resume it (that would sign the victim
/// on as the attacker). The page's own double submit still goes on.
#[tokio::test]
async fn a_flow_completed_elsewhere_does_not_resume_in_the_browser() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (_, body) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/users",
            Some(json!({"username": "eve", "password": "eve's own password"})),
        )
        .await;
    assert!(body["id"].is_string());
    let (flow, victim) = start_flow(&s, &client, &[]).await;
    let page_url = s.url(&format!("/default/signon?flowId={flow}"));
    let get_page = || async {
        s.http
            .get(&page_url)
            .header("cookie", victim.join("; "))
            .send()
            .await
            .unwrap()
    };
    let page = get_page().await.text().await.unwrap();
    let csrf = maybe_field(&page, "csrf").expect("the victim's form");
    // The attacker, with the flow id only.
    let resp = s.flow_sign_on("default", &flow, "eve", "eve's own password").await;
    assert_eq!(resp.status(), 200);
    let resp = get_page().await;
    assert_eq!(resp.status(), 400, "no redirect to resume from the page");
    let resp = s.signon_form("default", &victim, &flow, &csrf, "tom", PASSWORD).await;
    assert_eq!(resp.status(), 400, "nor from the form");
    // A flow the page's own form completed: a second submit goes on to resume.
    let (flow, mine) = start_flow(&s, &client, &[]).await;
    let page = s
        .http
        .get(s.url(&format!("/default/signon?flowId={flow}")))
        .header("cookie", mine.join("; "))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = maybe_field(&page, "csrf").unwrap();
    for _ in 0..2 {
        let resp = s.signon_form("default", &mine, &flow, &csrf, "tom", PASSWORD).await;
        assert_eq!(resp.status(), 302);
        assert!(location(&resp).contains("/as/resume?flowId="));
    }
}

/// Behind a trusted proxy that appends to `X-Forwarded-Host`/`-Proto`, the value the
/// client wrote (on the left) never becomes the issuer.
#[tokio::test]
async fn a_client_cannot_choose_the_issuer_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.public_url = None;
    cfg.trusted_proxies = "127.0.0.1".into();
    let s = TestServer::start_with(dir, cfg).await;
    let d: Value = s
        .http
        .get(s.url("/default/.well-known/openid-configuration"))
        .header("x-forwarded-host", "evil.example, login.example.com")
        .header("x-forwarded-proto", "http, https")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], "https://login.example.com/default");
}

// --- Security review, part two (issue 14) ----------------------------------------

/// Two refreshes of one token at once, 25 times, at one instance and at two on one
/// store: whoever wins, no token of the family is live afterwards, nor days later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_reuse_races_leave_no_live_token() {
    let a = TestServer::start().await;
    let client = a.env_with_public_client("default", json!({}), json!({})).await;
    let b = TestServer::start_with(tempfile::tempdir().unwrap(), config(a.dir.path())).await;
    let mut issued = Vec::new();
    for i in 0..25 {
        let t = a.tokens("default", &client).await;
        let rt = t["refresh_token"].as_str().unwrap().to_owned();
        let other = if i % 2 == 0 { &a } else { &b };
        let (r1, r2) = tokio::join!(
            a.refresh("default", &client, &rt, None),
            other.refresh("default", &client, &rt, None)
        );
        for (st, body) in [r1, r2] {
            if st == 200 {
                issued.push(body);
            }
        }
    }
    for body in &issued {
        let rt = body["refresh_token"].as_str().unwrap();
        let at = body["access_token"].as_str().unwrap();
        assert_eq!(
            a.refresh("default", &client, rt, None).await.0,
            400,
            "a reused family's token"
        );
        assert_eq!(a.introspect("default", &client, at).await["active"], false);
    }
    a.advance(3 * 86_400);
    a.running.as_ref().unwrap().service().sweep_expired(1000).await.unwrap();
    for body in &issued {
        let rt = body["refresh_token"].as_str().unwrap();
        assert_eq!(a.refresh("default", &client, rt, None).await.0, 400, "still dead");
    }
}

/// Makes a confidential client; its id and secret.
async fn confidential(s: &TestServer, name: &str) -> (String, String) {
    let (st, app) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": name, "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_post"})),
        )
        .await;
    assert_eq!(st, 201, "{app}");
    (
        app["client_id"].as_str().unwrap().to_owned(),
        app["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn introspect_as(s: &TestServer, form: &[(&str, &str)]) -> Value {
    let resp = s
        .http
        .post(s.url("/default/as/introspect"))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// A public client (anyone can present its id) learns nothing about another client's
/// tokens; a confidential client (a resource server) does.
#[tokio::test]
async fn public_clients_introspect_only_their_own_tokens() {
    let s = TestServer::start().await;
    let owner = s.env_with_public_client("default", json!({}), json!({})).await;
    let other = s.env_with_public_client("default", json!({}), json!({})).await;
    let t = s.tokens("default", &owner).await;
    for token in ["access_token", "refresh_token"] {
        let tok = t[token].as_str().unwrap();
        let seen = introspect_as(&s, &[("token", tok), ("client_id", &other)]).await;
        assert_eq!(seen, json!({"active": false}), "{token}");
        assert_eq!(s.introspect("default", &owner, tok).await["active"], true, "{token}");
    }
    let (rs, secret) = confidential(&s, "resource server").await;
    let tok = t["access_token"].as_str().unwrap();
    let seen = introspect_as(&s, &[("token", tok), ("client_id", &rs), ("client_secret", &secret)]).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["client_id"], owner.as_str());
}

/// Deleting an application revokes everything issued to it.
#[tokio::test]
async fn deleting_an_application_kills_its_tokens() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let t = s.tokens("default", &client).await;
    let (rs, secret) = confidential(&s, "resource server").await;
    let at = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(s.userinfo("default", at).await.0, 200);
    let (st, _) = s
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/environments/default/applications/{client}"),
            None,
        )
        .await;
    assert_eq!(st, 204);
    assert_eq!(s.userinfo("default", at).await.0, 401);
    for tok in [at, rt] {
        let seen = introspect_as(&s, &[("token", tok), ("client_id", &rs), ("client_secret", &secret)]).await;
        assert_eq!(seen["active"], false);
    }
}

/// Client authentication: Basic credentials decode exactly (no `&junk` tail), the
/// scheme is case-insensitive, a non-ASCII `Authorization` is refused rather than
/// ignored, and every failure gets one answer that tells nothing.
#[tokio::test]
async fn client_authentication_is_strict_and_tells_nothing() {
    let s = TestServer::start().await;
    let (id, secret) = confidential(&s, "basic").await;
    let (st, _) = s
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/environments/default/applications/{id}"),
            Some(json!({"token_endpoint_auth_method": "client_secret_basic", "grant_types": ["client_credentials"]})),
        )
        .await;
    assert_eq!(st, 200);
    let post = |auth: Vec<u8>, body: &'static str| {
        let s = &s;
        async move {
            let resp = s
                .http
                .post(s.url("/default/as/token"))
                .header(
                    "authorization",
                    reqwest::header::HeaderValue::from_bytes(&auth).unwrap(),
                )
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            let st = resp.status().as_u16();
            (st, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let basic = |raw: String| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)).into_bytes();
    let grant = "grant_type=client_credentials";
    assert_eq!(post(basic(format!("{id}:{secret}")), grant).await.0, 200);
    assert_eq!(
        post(
            format!(
                "BASIC {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
            )
            .into_bytes(),
            grant
        )
        .await
        .0,
        200,
        "scheme names are case-insensitive"
    );
    let (st, junk) = post(basic(format!("{id}:{secret}&junk=1")), grant).await;
    assert_eq!(st, 401, "{junk}");
    let mut non_ascii = basic(format!("{id}:{secret}"));
    non_ascii.extend_from_slice(b"\xe9");
    let (st, _) = post(non_ascii, "grant_type=client_credentials").await;
    assert_eq!(st, 401, "a header that is not ASCII is refused, not skipped");
    // Unknown client, wrong method, wrong secret: one answer.
    let public = s.env_with_public_client("default", json!({}), json!({})).await;
    let mut answers = Vec::new();
    for raw in [
        format!("nobody:{secret}"),
        format!("{public}:{secret}"),
        format!("{id}:wrong"),
    ] {
        let (st, body) = post(basic(raw), grant).await;
        assert_eq!(st, 401);
        answers.push(body);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
}

/// Guessing the admin token: after a few failures from one address, even the right
/// token waits.
#[tokio::test]
async fn admin_token_guesses_are_throttled() {
    let s = TestServer::start().await;
    let wrong = TestServer {
        token: "not-the-admin-token-at-all".into(),
        ..TestServer::remote(&s.base, "x")
    };
    for _ in 0..pixie_server::throttle::ADMIN_PER_ADDRESS {
        assert_eq!(
            wrong
                .admin(reqwest::Method::GET, "/admin/environments/default", None)
                .await
                .0,
            401
        );
    }
    let resp = s
        .http
        .get(s.url("/admin/environments/default"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
}

/// One person, one username: the same name in two Unicode encodings is one user, and
/// names with invisible or direction-changing characters are refused.
#[tokio::test]
async fn confusable_usernames_and_names_are_refused() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let user = |name: &str| json!({"username": name, "password": PASSWORD});
    let path = "/admin/environments/default/users";
    assert_eq!(
        s.admin(reqwest::Method::POST, path, Some(user("t\u{f3}m"))).await.0,
        201
    );
    assert_eq!(
        s.admin(reqwest::Method::POST, path, Some(user("to\u{301}m"))).await.0,
        409,
        "the same name, decomposed"
    );
    for bad in [
        "t\u{200b}om",
        "\u{202e}mot",
        "tom\u{2066}",
        "\u{430}lice",
        "alice\u{fe0f}",
        "alice\u{3164}",
    ] {
        let (st, body) = s.admin(reqwest::Method::POST, path, Some(user(bad))).await;
        assert_eq!(st, 400, "{bad:?}: {body}");
    }
    let (st, _) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "Bank \u{202e}ppA", "redirect_uris": [REDIRECT]})),
        )
        .await;
    assert_eq!(st, 400, "a client name shown on the sign-on page");
    for name in ["Goog\u{3164}le", "Pay\u{fe0f}Pal", "My App\u{2028}Line2"] {
        let (st, _) = s
            .admin(
                reqwest::Method::POST,
                "/admin/environments/default/applications",
                Some(json!({"client_name": name, "redirect_uris": [REDIRECT]})),
            )
            .await;
        assert_eq!(st, 400, "{name:?}");
    }
    // Signing on with either encoding finds the one user.
    let (flow, _) = start_flow(&s, &client, &[]).await;
    assert_eq!(
        s.flow_sign_on("default", &flow, "to\u{301}m", PASSWORD).await.status(),
        200
    );
}

/// TLS material is checked before anything else: a junk certificate or a key that does
/// not fit is a clear error, and the store is not touched.
#[tokio::test]
async fn bad_tls_material_is_refused_before_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = self_signed_cert(dir.path()) else {
        return;
    };
    let other = tempfile::tempdir().unwrap();
    let Some((_, other_key)) = self_signed_cert(other.path()) else {
        return;
    };
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "this is not a certificate\n").unwrap();
    for (c, k, says) in [
        (&junk, &key, "no certificate"),
        (&cert, &other_key, "do not fit together"),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut cfg = config(data.path());
        cfg.tls = Some((c.clone(), k.clone()));
        let e = pixie_server::start(cfg).await.expect_err("refused").to_string();
        assert!(e.contains(says), "{e}");
        assert!(!data.path().join("pixie.db").exists(), "the store was not touched");
    }
}

// --- Found by an attacker's review of part two -------------------------------------

/// Deleting an application while its flows and token requests are in flight: whatever
/// was issued around the deletion is dead afterwards (a refresh token stored while the
/// delete ran introspects inactive and does not refresh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_issued_around_a_deletion_are_dead() {
    let s = TestServer::start().await;
    let (rs, secret) = confidential(&s, "resource server").await;
    for _ in 0..30 {
        let client = s.env_with_public_client("default", json!({}), json!({})).await;
        let (flow, cookies) = start_flow(&s, &client, &[]).await;
        assert_eq!(s.flow_sign_on("default", &flow, "tom", PASSWORD).await.status(), 200);
        // Keep the client in the cache while it is deleted: requests that read it keep
        // arriving until the deletion has answered and the code has been tried.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let warm: Vec<_> = (0..8)
            .map(|_| {
                let (http, url, client) = (s.http.clone(), s.url("/default/as/introspect"), client.clone());
                let stop = stop.clone();
                tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = http
                            .post(&url)
                            .form(&[("token", "x"), ("client_id", client.as_str())])
                            .send()
                            .await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let path = format!("/admin/environments/default/applications/{client}");
        assert_eq!(s.admin(reqwest::Method::DELETE, &path, None).await.0, 204);
        let resp = resume(&s, &flow, &cookies).await;
        let code = (resp.status() == 302)
            .then(|| query(&location(&resp)).get("code").cloned())
            .flatten();
        if let Some(code) = code {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("client_id", client.as_str()),
                ("code_verifier", VERIFIER),
            ];
            let (st, body, _) = s.token("default", &form).await;
            if st == 200 {
                for kind in ["access_token", "refresh_token"] {
                    let tok = body[kind].as_str().unwrap();
                    let seen =
                        introspect_as(&s, &[("token", tok), ("client_id", &rs), ("client_secret", &secret)]).await;
                    assert_eq!(seen["active"], false, "{kind} of a deleted client");
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in warm {
            w.await.unwrap();
        }
    }
}

/// Revoking another client's token answers exactly as for an unknown token (a 200), and
/// revokes nothing: revocation must not tell a public client which tokens are live.
#[tokio::test]
async fn revocation_is_no_oracle_for_other_clients_tokens() {
    let s = TestServer::start().await;
    let owner = s.env_with_public_client("default", json!({}), json!({})).await;
    let other = s.env_with_public_client("default", json!({}), json!({})).await;
    let t = s.tokens("default", &owner).await;
    let revoke = |token: String| {
        let s = &s;
        let other = other.clone();
        async move {
            s.http
                .post(s.url("/default/as/revoke"))
                .form(&[("token", token.as_str()), ("client_id", other.as_str())])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for kind in ["access_token", "refresh_token"] {
        let tok = t[kind].as_str().unwrap().to_owned();
        assert_eq!(revoke(tok.clone()).await, 200, "{kind}");
        assert_eq!(
            s.introspect("default", &owner, &tok).await["active"],
            true,
            "{kind} still live"
        );
    }
    assert_eq!(revoke("no-such-token".into()).await, 200);
}

/// The per-user budget counts the canonical name: a fullwidth or decomposed spelling of
/// a throttled username is the same user, throttled too.
#[tokio::test]
async fn another_spelling_of_a_throttled_name_is_throttled() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let mut flow = String::new();
    for i in 0..pixie_server::throttle::PER_USER_ADDRESS {
        if i % pixie_server::throttle::PER_FLOW == 0 {
            flow = start_flow(&s, &client, &[]).await.0;
        }
        assert_eq!(guess(&s, &flow, "tom", "guess", None).await, 400);
    }
    let flow = start_flow(&s, &client, &[]).await.0;
    assert_eq!(guess(&s, &flow, "\u{ff54}om", "guess", None).await, 429, "fullwidth t");
}

/// Admin requests without a token are refused without counting against the address:
/// they guess nothing, and must not lock the operator out.
#[tokio::test]
async fn admin_requests_without_a_token_lock_nobody_out() {
    let s = TestServer::start().await;
    for _ in 0..(pixie_server::throttle::ADMIN_PER_ADDRESS + 5) {
        let st = s
            .http
            .get(s.url("/admin/environments/default"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(st, 401);
    }
    let (st, _) = s.admin(reqwest::Method::GET, "/admin/environments/default", None).await;
    assert_eq!(st, 200);
}

/// A user created before usernames had today's rules (a name they would refuse, as a
/// store from an older version holds) still signs on: tightening the rules locks no one
/// out.
#[tokio::test]
async fn users_from_before_the_name_rules_still_sign_on() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let svc = s.running.as_ref().unwrap().service().clone();
    let name = "snow\u{2603}man";
    assert!(pixie_core::names::canonical_username(name).is_err(), "refused today");
    let user = pixie_store::UserRow {
        env_id: "default".into(),
        id: "legacy-user-1".into(),
        username: name.into(),
        password_hash: pixie_server::crypto::hash_password(PASSWORD).unwrap(),
        email: None,
        name: None,
        created_at: 1,
        roles: vec![],
        disabled_at: None,
        generation: 0,
    };
    svc.store.insert_user(&user).await.unwrap();
    let (flow, _) = start_flow(&s, &client, &[]).await;
    assert_eq!(s.flow_sign_on("default", &flow, name, PASSWORD).await.status(), 200);
}

/// Codes start with the time they were made (so that the store keeps them together);
/// the time is no part of the secret. Against the live server: a code forged on a real
/// code's time prefix, the real prefix with another tail, one character of the tail
/// changed, a string of a code's length in multibyte characters, and a code of the
/// earlier 43-character form are each `invalid_grant` (never a 5xx), and none of them
/// spends or revokes the real code, which is then exchanged once.
#[tokio::test]
async fn a_codes_time_prefix_gives_a_forger_nothing() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (q, _) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    let code = q["code"].clone();
    assert_eq!(code.len(), 51, "{code}");
    let (prefix, tail) = code.split_at(8);
    let mut changed = tail.to_owned().into_bytes();
    changed[20] = if changed[20] == b'A' { b'B' } else { b'A' };
    let forged = [
        format!("{prefix}{}", "A".repeat(43)),
        format!("{prefix}{}", URL_SAFE_NO_PAD.encode([7u8; 32])),
        format!("{prefix}{}", String::from_utf8(changed).unwrap()),
        "é".repeat(25) + "x",
        URL_SAFE_NO_PAD.encode([9u8; 32]),
    ];
    for f in &forged {
        let (st, body, _) = s.token("default", &TestServer::code_exchange(&client, f)).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{f}: {body}"
        );
    }
    let (st, body, _) = s.token("default", &TestServer::code_exchange(&client, &code)).await;
    assert_eq!(st, 200, "the real code, after the forgeries: {body}");
    let (st, _, _) = s.token("default", &TestServer::code_exchange(&client, &code)).await;
    assert_eq!(st, 400, "a code is good once");
}

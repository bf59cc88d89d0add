//! No secret reaches a log: every event, at TRACE level, over a full run of flows, is
//! captured and searched for every password, secret, code, verifier, cookie and token
//! the run used. (Its own test binary: the capturing subscriber is process-wide.)

use std::io::Write;
use std::sync::{Arc, Mutex};

use pixie_testkit::*;
use serde_json::{json, Value};

fn collect(secrets: &mut Vec<String>, v: &Value) {
    for k in ["access_token", "refresh_token", "id_token"] {
        if let Some(x) = v[k].as_str() {
            secrets.push(x.to_owned());
        }
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(capture.clone())
        .with_ansi(false)
        .init();
    let s = TestServer::start().await;
    let mut secrets: Vec<String> = vec![PASSWORD.into(), VERIFIER.into(), s.token.clone()];
    let public = s.env_with_public_client("default", json!({}), json!({})).await;

    // Public client: flows API, wrong password, then the flow; refresh; userinfo.
    let resp = s.authorize("default", &TestServer::pairs(&public), &[]).await;
    let cookies = set_cookies(&resp);
    secrets.extend(cookies.iter().map(|c| c.split_once('=').unwrap().1.to_owned()));
    let flow_id = query(&location(&resp))["flowId"].clone();
    for pw in ["wrong-password-123", PASSWORD] {
        s.flow_sign_on("default", &flow_id, "tom", pw).await;
    }
    secrets.push("wrong-password-123".into());
    let resp = s
        .http
        .get(s.url(&format!("/default/as/resume?flowId={flow_id}")))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    secrets.extend(
        set_cookies(&resp)
            .iter()
            .map(|c| c.split_once('=').unwrap().1.to_owned()),
    );
    let code = query(&location(&resp))["code"].clone();
    secrets.push(code.clone());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", public.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (_, t, _) = s.token("default", &form).await;
    s.token("default", &form).await; // replay
    collect(&mut secrets, &t);
    let t = s.tokens("default", &public).await;
    collect(&mut secrets, &t);
    let (_, t2) = s
        .refresh("default", &public, t["refresh_token"].as_str().unwrap(), None)
        .await;
    collect(&mut secrets, &t2);
    s.userinfo("default", t2["access_token"].as_str().unwrap()).await;
    s.introspect("default", &public, t2["access_token"].as_str().unwrap())
        .await;

    // Confidential client: Basic and a wrong secret; the sign-on page with a password.
    let (_, app) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"redirect_uris": [REDIRECT]})),
        )
        .await;
    let (id, secret) = (
        app["client_id"].as_str().unwrap().to_owned(),
        app["client_secret"].as_str().unwrap().to_owned(),
    );
    secrets.push(secret.clone());
    let resp = s.authorize("default", &TestServer::pairs(&id), &[]).await;
    let cookies = set_cookies(&resp);
    let page = s
        .http
        .get(location(&resp))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf_start = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &page[csrf_start..csrf_start + page[csrf_start..].find('"').unwrap()];
    let flow_start = page.find("name=\"flowId\" value=\"").unwrap() + 21;
    let flow = &page[flow_start..flow_start + page[flow_start..].find('"').unwrap()];
    secrets.push(csrf.to_owned());
    let resp = s
        .http
        .post(s.url("/default/signon"))
        .header("cookie", cookies.join("; "))
        .form(&[
            ("flowId", flow),
            ("csrf", csrf),
            ("username", "tom"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let resp = s
        .http
        .get(location(&resp))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    let code = query(&location(&resp))["code"].clone();
    secrets.push(code.clone());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    s.http
        .post(s.url("/default/as/token"))
        .basic_auth(&id, Some("not-the-secret-xyz"))
        .form(&form)
        .send()
        .await
        .unwrap();
    secrets.push("not-the-secret-xyz".into());
    let t: Value = s
        .http
        .post(s.url("/default/as/token"))
        .basic_auth(&id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    collect(&mut secrets, &t);
    s.http
        .post(s.url("/default/as/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", t["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    let (st, _) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/users",
            Some(json!({"username": "ann", "password": "ann-secret-pw-9"})),
        )
        .await;
    assert_eq!(st, 201);
    secrets.push("ann-secret-pw-9".into());

    s.running.unwrap().shutdown().await;
    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.lines().count() > 50,
        "the capture works: {} lines",
        log.lines().count()
    );
    assert!(log.contains("/{env}/as/token"), "request lines are there");
    for secret in &secrets {
        assert!(secret.len() >= 8, "a weak probe: {secret}");
        assert!(
            !log.contains(secret.as_str()),
            "a secret reached the log: {:.10}…",
            secret
        );
        // Percent-encoded forms too (a query string logged by mistake).
        let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        assert!(
            !log.contains(&encoded),
            "a secret reached the log, encoded: {:.10}…",
            secret
        );
    }
}

//! PKCE migration and observability (CONTRACT §3 report mode, §5 pkce-report, §6
//! metrics): report mode end to end, the readiness report after a scripted mix, the
//! metrics after known traffic, and the audit log.

use pixie_testkit::*;
use serde_json::{json, Value};

fn strict_report_mode() -> Value {
    json!({"allowed": ["plain", "S256"], "required": ["S256"], "mode": "report"})
}

async fn authorize_outcome(s: &TestServer, env: &str, pairs: &[(&str, &str)]) -> Result<(), String> {
    let resp = s.authorize(env, pairs, &[]).await;
    assert_eq!(resp.status(), 302);
    let loc = location(&resp);
    if loc.contains("/signon?flowId=") {
        Ok(())
    } else {
        Err(query(&loc)["error_description"].clone())
    }
}

fn without_pkce<'a>(pairs: Vec<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    pairs
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect()
}

#[tokio::test]
async fn report_mode_lets_requirements_through_and_enforces_the_rest() {
    let s = TestServer::start().await;
    let client: &'static str = Box::leak(
        s.env_with_public_client("mig", strict_report_mode(), json!({}))
            .await
            .into_boxed_str(),
    );
    // Check 3 (required) and check 4 (public clients) are recorded, not enforced.
    assert_eq!(
        authorize_outcome(&s, "mig", &without_pkce(TestServer::pairs(client))).await,
        Ok(())
    );
    let mut plain = without_pkce(TestServer::pairs(client));
    plain.extend([("code_challenge", VERIFIER), ("code_challenge_method", "plain")]);
    assert_eq!(
        authorize_outcome(&s, "mig", &plain).await,
        Ok(()),
        "plain is allowed here, only not required"
    );
    // Checks 1, 2 and 5 always apply.
    let mut malformed = without_pkce(TestServer::pairs(client));
    malformed.extend([("code_challenge", "short"), ("code_challenge_method", "S256")]);
    assert!(authorize_outcome(&s, "mig", &malformed)
        .await
        .unwrap_err()
        .contains("malformed"));
    let mut unknown = without_pkce(TestServer::pairs(client));
    unknown.extend([("code_challenge", CHALLENGE), ("code_challenge_method", "S512")]);
    assert!(authorize_outcome(&s, "mig", &unknown).await.is_err());
    // A code let through without PKCE is exchanged without a verifier; the token
    // endpoint's checks always apply (a verifier would be a downgrade).
    let (q, _) = s.code_via_flows("mig", &without_pkce(TestServer::pairs(client))).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client),
    ];
    assert_eq!(s.token("mig", &form).await.0, 200);
    // Switching to enforce turns the same request into a rejection.
    let (st, _) = s
        .admin(
            reqwest::Method::PATCH,
            "/admin/environments/mig",
            Some(json!({"pkce": {"allowed": ["plain", "S256"], "required": ["S256"]}})),
        )
        .await;
    assert_eq!(st, 200);
    let err = authorize_outcome(&s, "mig", &without_pkce(TestServer::pairs(client)))
        .await
        .unwrap_err();
    assert!(err.contains("code_challenge is required"), "{err}");
}

#[tokio::test]
async fn the_readiness_report_after_a_scripted_mix() {
    let s = TestServer::start().await;
    let ready: &'static str = Box::leak(
        s.env_with_public_client("mig", strict_report_mode(), json!({}))
            .await
            .into_boxed_str(),
    );
    let legacy: &'static str = Box::leak(
        s.env_with_public_client("mig", strict_report_mode(), json!({}))
            .await
            .into_boxed_str(),
    );
    for _ in 0..3 {
        authorize_outcome(&s, "mig", &TestServer::pairs(ready)).await.unwrap();
    }
    for _ in 0..2 {
        authorize_outcome(&s, "mig", &without_pkce(TestServer::pairs(legacy)))
            .await
            .unwrap();
    }
    let mut plain = without_pkce(TestServer::pairs(legacy));
    plain.extend([("code_challenge", VERIFIER), ("code_challenge_method", "plain")]);
    authorize_outcome(&s, "mig", &plain).await.unwrap();
    let mut bad = without_pkce(TestServer::pairs(legacy));
    bad.extend([("code_challenge", "x"), ("code_challenge_method", "S256")]);
    authorize_outcome(&s, "mig", &bad).await.unwrap_err();

    let (st, report) = s
        .admin(reqwest::Method::GET, "/admin/environments/mig/pkce-report", None)
        .await;
    assert_eq!(st, 200, "{report}");
    assert_eq!(report["env"], "mig");
    let clients = report["clients"].as_array().unwrap();
    let find = |id: &str| {
        clients
            .iter()
            .find(|c| c["client_id"] == id)
            .unwrap_or_else(|| panic!("{id} in {report}"))
    };
    let r = find(ready);
    assert_eq!(
        r["counts"]["S256"],
        json!({"accepted": 3, "rejected": 0, "would_reject": 0})
    );
    assert_eq!(
        r["counts"]["none"],
        json!({"accepted": 0, "rejected": 0, "would_reject": 0})
    );
    assert_eq!(r["verdict"], "ready for S256-required");
    assert!(r["first_seen"].as_i64().unwrap() <= r["last_seen"].as_i64().unwrap());
    let l = find(legacy);
    assert_eq!(
        l["counts"]["none"],
        json!({"accepted": 0, "rejected": 0, "would_reject": 2})
    );
    assert_eq!(
        l["counts"]["plain"],
        json!({"accepted": 0, "rejected": 0, "would_reject": 1})
    );
    assert_eq!(
        l["counts"]["S256"],
        json!({"accepted": 0, "rejected": 1, "would_reject": 0})
    );
    assert_eq!(l["rules"]["required_missing"], 2);
    assert_eq!(l["rules"]["method_not_required"], 1);
    assert_eq!(l["rules"]["malformed_challenge"], 1);
    let verdict = l["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("not ready")
            && verdict.contains("2 request(s) without PKCE")
            && verdict.contains("1 request(s) with plain"),
        "{verdict}"
    );
    // The report survives a restart: observations are in the store.
    let s = s.restart().await;
    let (_, again) = s
        .admin(reqwest::Method::GET, "/admin/environments/mig/pkce-report?days=1", None)
        .await;
    assert_eq!(again["clients"], report["clients"]);
    assert_eq!(
        s.admin(reqwest::Method::GET, "/admin/environments/mig/pkce-report?days=0", None)
            .await
            .0,
        400
    );
    assert_eq!(
        s.admin(reqwest::Method::GET, "/admin/environments/nope/pkce-report", None)
            .await
            .0,
        404
    );
    assert_eq!(
        s.http
            .get(s.url("/admin/environments/mig/pkce-report"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

fn metric(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_after_known_traffic() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    for _ in 0..2 {
        s.tokens("default", &client).await;
    }
    authorize_outcome(&s, "default", &without_pkce(TestServer::pairs(&client)))
        .await
        .unwrap_err();
    let resp = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    // Prometheus text 0.0.4: a counter's TYPE names its `_total` series; no `# EOF`.
    assert!(text.contains("# TYPE pixie_pkce_checks_total counter\n"), "{text}");
    assert!(text.contains("# TYPE pixie_http_request_duration_seconds histogram\n"));
    assert!(!text.contains("# EOF"));
    // OpenMetrics for a scraper that asks (Prometheus does): the same samples.
    let resp = s
        .http
        .get(s.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let open = resp.text().await.unwrap();
    assert!(open.ends_with("# EOF\n") && open.contains("# TYPE pixie_pkce_checks counter\n"));
    let samples = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("pixie_pkce_checks_total"))
            .map(String::from)
            .collect()
    };
    assert_eq!(samples(&open), samples(&text));
    let pkce = |method: &str, outcome: &str| {
        metric(&text, &format!("pixie_pkce_checks_total{{env=\"default\",client=\"{client}\",method=\"{method}\",outcome=\"{outcome}\"}}"))
    };
    assert_eq!(pkce("S256", "accepted"), Some(2.0), "{text}");
    assert_eq!(pkce("none", "rejected"), Some(1.0));
    assert_eq!(pkce("plain", "accepted"), None);
    assert_eq!(
        metric(
            &text,
            "pixie_tokens_issued_total{env=\"default\",grant_type=\"authorization_code\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &text,
            "pixie_http_requests_total{route=\"/{env}/as/token\",status=\"200\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &text,
            "pixie_http_requests_total{route=\"/{env}/as/authorize\",status=\"302\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        metric(
            &text,
            "pixie_http_request_duration_seconds_count{route=\"/{env}/as/token\"}"
        ),
        Some(2.0)
    );
    assert!(
        metric(
            &text,
            "pixie_store_operation_duration_seconds_count{op=\"consume_code\"}"
        )
        .unwrap()
            >= 2.0
    );
    // Labels stay bounded: unknown paths and bad clients add no label values.
    s.http.get(s.url("/default/no/such/path/123")).send().await.unwrap();
    s.authorize("default", &[("client_id", "made-up-client")], &[]).await;
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("no/such/path") && !text.contains("made-up-client"));
    assert!(text.contains("route=\"unmatched\""));
}

#[tokio::test]
async fn the_audit_log_records_rejections_and_issuance_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let mut cfg = config(dir.path());
    cfg.audit = pixie_server::observe::AuditTarget::File(log.clone());
    let s = TestServer::start_with(dir, cfg).await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let tok = s.tokens("default", &client).await;
    authorize_outcome(&s, "default", &without_pkce(TestServer::pairs(&client)))
        .await
        .unwrap_err();
    let (q, _) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client.as_str()),
        ("code_verifier", "wrong-wrong-wrong-wrong-wrong-wrong-wrong-wrong"),
    ];
    s.token("default", &form).await;
    s.flow_sign_on("default", "nope", "tom", "guess").await;
    // Audit lines are written off the request path: wait until they are on disk.
    s.running.as_ref().unwrap().service().obs.flush_audit();
    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for k in ["token.issued", "pkce.rejected", "pkce.token_rejected", "token.rejected"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let rejected = events.iter().find(|e| e["event"] == "pkce.rejected").unwrap();
    assert_eq!(
        (rejected["rule"].as_str(), rejected["method"].as_str()),
        (Some("required_missing"), Some("none"))
    );
    assert_eq!(rejected["client"], client.as_str());
    let issued = events.iter().find(|e| e["event"] == "token.issued").unwrap();
    assert!(issued["user"].is_string() && issued["ts"].is_i64());
    for secret in [
        tok["access_token"].as_str().unwrap(),
        tok["refresh_token"].as_str().unwrap(),
        q["code"].as_str(),
        VERIFIER,
        PASSWORD,
        "wrong-wrong-wrong",
    ] {
        assert!(!text.contains(secret), "the audit log holds a secret: {secret:.12}…");
    }
}

//! The sign-on and consent pages as a person uses them: headless Chromium through
//! WebDriver (Debian's `chromium` and `chromium-driver`), a wrong password, then the
//! right one, the code exchanged with the verifier; then an application that asks for
//! consent, approved, remembered, and denied.
//!
//! Runs when `chromedriver` is installed; CI sets `PIXIE_REQUIRE_BROWSER=1`, which turns
//! a missing browser into a failure instead of a skip.

use fantoccini::Locator;
use pixie_testkit::chromium::Chromium;
use pixie_testkit::*;
use serde_json::json;

/// A tiny client application: the redirect URI answers with a page.
async fn callback_app() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><title>app</title><p id=done>signed in</p>")
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{}/cb", addr.port())
}

#[tokio::test]
async fn a_person_signs_on_in_chromium() {
    let Some(chromium) = Chromium::start(420, 800).await else {
        return;
    };
    let browser = chromium.client.clone();
    let s = TestServer::start().await;
    s.env_with_public_client("default", json!({}), json!({})).await;
    let callback = callback_app().await;
    let (_, app) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "Photo Album", "redirect_uris": [callback], "token_endpoint_auth_method": "none"})),
        )
        .await;
    let client_id = app["client_id"].as_str().unwrap().to_owned();

    let mut url = reqwest::Url::parse(&s.url("/default/as/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", &callback)
        .append_pair("scope", "openid profile")
        .append_pair("state", "browser-state")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    browser.goto(url.as_str()).await.unwrap();
    assert!(browser.current_url().await.unwrap().path().ends_with("/default/signon"));
    let heading = browser.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(heading, "Sign on");
    let body = browser.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(body.contains("Photo Album"), "the page names the application: {body}");
    let shot = browser.screenshot().await.unwrap();
    let _ = std::fs::write(std::env::temp_dir().join("pixie-signon.png"), shot);

    // A wrong password: the page says so and the person can try again.
    browser
        .find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("tom")
        .await
        .unwrap();
    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("not the password")
        .await
        .unwrap();
    browser
        .find(Locator::Id("submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The click returns before the POST (an Argon2 check) has navigated: wait for it.
    let error = browser
        .wait()
        .for_element(Locator::Id("error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("Wrong username or password"), "{error}");
    let username = browser.find(Locator::Id("username")).await.unwrap();
    assert_eq!(
        username.prop("value").await.unwrap().as_deref(),
        Some("tom"),
        "the username is kept"
    );
    let _ = std::fs::write(
        std::env::temp_dir().join("pixie-signon-error.png"),
        browser.screenshot().await.unwrap(),
    );

    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    browser
        .find(Locator::Id("submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait().for_element(Locator::Id("done")).await.unwrap();
    let landed = browser.current_url().await.unwrap();
    assert!(landed.as_str().starts_with(&callback), "{landed}");
    let q = query(landed.as_str());
    assert_eq!(q["state"], "browser-state");
    assert_eq!(q["iss"], s.url("/default"));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", callback.as_str()),
        ("client_id", client_id.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (st, tok, _) = s.token("default", &form).await;
    assert_eq!(st, 200, "{tok}");
    assert!(tok["id_token"].is_string());

    // The browser now has a session: a second authorization skips the page.
    browser.goto(url.as_str()).await.unwrap();
    browser.wait().for_element(Locator::Id("done")).await.unwrap();
    assert!(query(browser.current_url().await.unwrap().as_str()).contains_key("code"));

    // An application that asks for consent: with the session, straight to the consent
    // page, which names it, the host its answer goes to and what it asks for.
    let (_, app) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(
                json!({"client_name": "Files Agent", "redirect_uris": [callback], "token_endpoint_auth_method": "none",
                        "require_consent": true}),
            ),
        )
        .await;
    let consenting = app["client_id"].as_str().unwrap().to_owned();
    let consent_url = |scope: &str| {
        let mut u = reqwest::Url::parse(&s.url("/default/as/authorize")).unwrap();
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &consenting)
            .append_pair("redirect_uri", &callback)
            .append_pair("scope", scope)
            .append_pair("state", "consent-state")
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256");
        u
    };
    browser.goto(consent_url("openid profile").as_str()).await.unwrap();
    browser.wait().for_element(Locator::Id("approve")).await.unwrap();
    assert!(browser
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/default/consent"));
    let client = browser.find(Locator::Id("client")).await.unwrap().text().await.unwrap();
    assert_eq!(client, "Files Agent");
    let host = browser.find(Locator::Id("host")).await.unwrap().text().await.unwrap();
    assert!(host.starts_with("127.0.0.1:"), "{host}");
    let scopes = browser.find(Locator::Id("scopes")).await.unwrap().text().await.unwrap();
    assert!(scopes.contains("openid") && scopes.contains("profile"), "{scopes}");
    let _ = std::fs::write(
        std::env::temp_dir().join("pixie-consent.png"),
        browser.screenshot().await.unwrap(),
    );
    browser
        .find(Locator::Id("approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait().for_element(Locator::Id("done")).await.unwrap();
    let q = query(browser.current_url().await.unwrap().as_str());
    assert!(q.contains_key("code"), "{q:?}");
    assert_eq!(q["state"], "consent-state");
    // Remembered: the same request goes through at once. Other scopes: asked; Deny.
    browser.goto(consent_url("profile openid").as_str()).await.unwrap();
    browser.wait().for_element(Locator::Id("done")).await.unwrap();
    assert!(query(browser.current_url().await.unwrap().as_str()).contains_key("code"));
    browser.goto(consent_url("openid").as_str()).await.unwrap();
    browser
        .wait()
        .for_element(Locator::Id("deny"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait().for_element(Locator::Id("done")).await.unwrap();
    let q = query(browser.current_url().await.unwrap().as_str());
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"), "{q:?}");
    chromium.close().await;
}

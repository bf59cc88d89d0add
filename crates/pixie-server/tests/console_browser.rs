//! The admin console (issue 20) as an operator uses it, in headless Chromium: an admin
//! signs in through pixie's own sign-on page, works every page at desktop and phone
//! widths (screenshots saved under `target/tmp/console-screenshots/`), changes the PKCE
//! policy (discovery shows it), rotates a secret (the old one stops working), posts a
//! form stripped of its CSRF token (refused), signs out (the sign-on page asks again),
//! and a user without the admin role is turned away.
//!
//! Each page also gets an accessibility pass: axe-core (from the npm registry, pinned in
//! `interop/axe`) finds no WCAG 2.1 A/AA or best-practice violation, and our own checks
//! find a label on every input, headings in order, no sideways scrolling on a phone and
//! a visible focus ring on whatever the keyboard reaches.

use std::path::{Path, PathBuf};

use fantoccini::{key::Key, Client, Locator};
use pixie_testkit::chromium::Chromium;
use pixie_testkit::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A laptop's window and a phone's (CSS pixels).
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// axe-core's source (`npm ci` in `interop/axe`); `None` when it is not installed and
/// the browser tests are not required.
fn axe_source() -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/axe/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(_) => {
            assert!(
                std::env::var_os("PIXIE_REQUIRE_BROWSER").is_none(),
                "PIXIE_REQUIRE_BROWSER is set but {} is missing (npm ci in interop/axe)",
                path.display()
            );
            eprintln!("SKIPPED axe-core: run npm ci in interop/axe");
            None
        }
    }
}

/// The page's accessibility, by axe-core and by our own checks, at the current width.
async fn accessibility(browser: &Client, axe: Option<&str>, page: &str) {
    if let Some(axe) = axe {
        browser.execute(axe, vec![]).await.unwrap();
        let violations = browser
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
                   .then(r => done({passes: r.passes.length, violations: r.violations.map(v => ({id: v.id, impact: v.impact,
                                    help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))}))
                   .catch(e => done({passes: 0, violations: [{id: 'axe failed', help: String(e)}]}));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(violations["violations"], json!([]), "axe-core on the {page} page");
        assert!(
            violations["passes"].as_u64().unwrap() >= 10,
            "axe-core ran its rules: {violations}"
        );
    }
    let own = browser
        .execute(
            "const unlabelled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
               .map(el => el.outerHTML);
             const headings = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => +h.tagName[1]);
             return {unlabelled, headings, sideways: document.documentElement.scrollWidth - window.innerWidth,
                     lang: document.documentElement.lang, title: document.title};",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        own["unlabelled"],
        json!([]),
        "every input has a label on the {page} page"
    );
    let headings: Vec<i64> = own["headings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_i64().unwrap())
        .collect();
    assert_eq!(
        headings.first(),
        Some(&1),
        "the {page} page starts with its h1: {headings:?}"
    );
    assert_eq!(
        headings.iter().filter(|&&h| h == 1).count(),
        1,
        "one h1 on the {page} page"
    );
    assert!(
        headings.windows(2).all(|w| w[1] <= w[0] + 1),
        "headings skip no level on the {page} page: {headings:?}"
    );
    assert!(
        own["sideways"].as_i64().unwrap() <= 0,
        "the {page} page does not scroll sideways: {own}"
    );
    assert_eq!(own["lang"], "en");
    assert!(!own["title"].as_str().unwrap().is_empty());
}

/// Renders the current page at desktop and phone widths: screenshots and the checks at
/// each width.
async fn look_at(browser: &Client, axe: Option<&str>, name: &str) {
    for (label, (w, h)) in [("desktop", DESKTOP), ("phone", PHONE)] {
        browser.set_window_size(w, h).await.unwrap();
        let inner = browser.execute("return window.innerWidth;", vec![]).await.unwrap();
        assert!(
            inner.as_u64().unwrap() <= u64::from(w),
            "the window is {label}-sized: {inner}"
        );
        let png = browser.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG of the {name} page");
        std::fs::write(screenshots().join(format!("{name}-{label}.png")), png).unwrap();
        accessibility(browser, axe, &format!("{name} ({label})")).await;
    }
    browser.set_window_size(DESKTOP.0, DESKTOP.1).await.unwrap();
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits (up to 10 s) for the page's h1 to read `expected`: a click that posts a form
/// returns before the answer has replaced the page.
async fn heading_becomes(browser: &Client, expected: &str) {
    let mut seen = String::new();
    for _ in 0..100 {
        if let Ok(h1) = browser.find(Locator::Css("h1")).await {
            seen = h1.text().await.unwrap_or_default();
            if seen == expected {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the page's heading is {seen:?}, not {expected:?}");
}

/// Types into the input with this id.
async fn fill(browser: &Client, id: &str, value: &str) {
    let input = browser.find(Locator::Id(id)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

/// Clicks the button whose text starts with `label`.
async fn press(browser: &Client, label: &str) {
    browser
        .find(Locator::XPath(&format!(
            "//button[starts-with(normalize-space(.), '{label}')]"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Signs in at the environment's sign-on page (the console sends the browser there) and
/// waits for the page after it.
async fn sign_in(browser: &Client, s: &TestServer, username: &str, then: &str) {
    browser.goto(&s.url("/console/")).await.unwrap();
    let url = browser.current_url().await.unwrap();
    assert!(url.path().ends_with("/default/signon"), "the sign-on page asks: {url}");
    assert_eq!(text(browser, "h1").await, "Sign on");
    fill(browser, "username", username).await;
    fill(browser, "password", PASSWORD).await;
    browser
        .find(Locator::Id("submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait().for_element(Locator::Css(then)).await.unwrap();
}

/// The focus ring: each of the first controls the Tab key reaches is outlined.
async fn focus_is_visible(browser: &Client, page: &str) {
    let tab: char = Key::Tab.into();
    let controls = browser
        .execute(
            "return document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea').length;",
            vec![],
        )
        .await
        .unwrap();
    let controls = controls.as_u64().unwrap().min(6);
    assert!(controls >= 3, "the {page} page has controls to reach");
    for _ in 0..controls {
        let active = browser.active_element().await.unwrap();
        active.send_keys(&tab.to_string()).await.unwrap();
        let focused = browser
            .execute(
                "const el = document.activeElement, cs = getComputedStyle(el);
                 return {tag: el.tagName, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth),
                         visible: el.matches(':focus-visible')};",
                vec![],
            )
            .await
            .unwrap();
        assert_ne!(focused["tag"], "BODY", "Tab reaches a control on the {page} page");
        assert_eq!(focused["visible"], true, "{focused}");
        assert!(
            focused["style"] != "none" && focused["width"].as_f64().unwrap() >= 2.0,
            "keyboard focus is outlined on the {page} page: {focused}"
        );
    }
}

#[tokio::test]
async fn an_operator_works_the_console_in_chromium() {
    let Some(chromium) = Chromium::start(DESKTOP.0, DESKTOP.1).await else {
        return;
    };
    let axe = axe_source();
    let axe = axe.as_deref();
    let browser = chromium.client.clone();

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.console_env = Some("default".into());
    let s = TestServer::start_with(dir, cfg).await;
    let mut ids = Vec::new();
    for (name, roles) in [("root", json!(["admin"])), ("tom", json!([]))] {
        let user =
            json!({"username": name, "password": PASSWORD, "roles": roles, "email": format!("{name}@example.com")});
        let (st, user) = s
            .admin(Method::POST, "/admin/environments/default/users", Some(user))
            .await;
        assert_eq!(st, 201);
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let (st, billing) = s
        .admin(
            Method::POST,
            "/admin/environments/default/applications",
            Some(
                json!({"client_name": "Billing", "redirect_uris": ["https://billing.example/cb"],
                        "grant_types": ["authorization_code", "client_credentials"]}),
            ),
        )
        .await;
    assert_eq!(st, 201, "{billing}");
    let billing_id = billing["client_id"].as_str().unwrap().to_owned();
    let old_secret = billing["client_secret"].as_str().unwrap().to_owned();
    let secret_works = |secret: String| {
        let (http, url, id) = (s.http.clone(), s.url("/default/as/token"), billing_id.clone());
        async move {
            let resp = http
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            resp.status() == 200
        }
    };
    assert!(secret_works(old_secret.clone()).await);
    let resource = json!({"uri": "https://api.example/", "name": "Orders API", "scopes": ["orders:read"]});
    let (st, _) = s
        .admin(Method::POST, "/admin/environments/default/resources", Some(resource))
        .await;
    assert_eq!(st, 201);
    // A legacy client's request without PKCE, for the report's table and chart.
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

    // Signing in: the console sends the browser to pixie's own sign-on page.
    sign_in(&browser, &s, "root", "#who").await;
    assert_eq!(text(&browser, "h1").await, "pixie console");
    assert!(text(&browser, "#who").await.contains("Signed in as root"));
    focus_is_visible(&browser, "home").await;
    look_at(&browser, axe, "home").await;

    let env = s.url("/console/environments/default");
    let pages = [
        ("environment", env.clone(), "Environment default"),
        ("report", format!("{env}/report"), "PKCE readiness: default"),
        ("keys", format!("{env}/keys"), "Signing keys: default"),
        ("users", format!("{env}/users"), "Users: default"),
        ("user", format!("{env}/users/{}", ids[0]), "root"),
        ("applications", format!("{env}/applications"), "Applications: default"),
        ("application", format!("{env}/applications/{billing_id}"), "Billing"),
        ("resources", format!("{env}/resources"), "Resource servers: default"),
    ];
    for (name, url, heading) in &pages {
        browser.goto(url).await.unwrap();
        assert_eq!(&text(&browser, "h1").await, heading, "{url}");
        look_at(&browser, axe, name).await;
    }
    // The report draws the day's requests and tells the legacy client's owner what to do.
    browser.goto(&pages[1].1).await.unwrap();
    let chart = browser.find(Locator::Css("svg#chart")).await.unwrap();
    assert!(chart.find(Locator::Css("rect")).await.is_ok());
    assert!(text(&browser, "#clients").await.contains("Test app"));
    focus_is_visible(&browser, "report").await;

    // The PKCE policy, changed in the console, shows in discovery.
    let (_, before) = s.get_json("/default/.well-known/openid-configuration").await;
    assert_eq!(before["code_challenge_methods_supported"], json!(["S256"]));
    browser.goto(&env).await.unwrap();
    browser
        .find(Locator::Id("allowed-plain"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    press(&browser, "Save").await;
    let mut after = Value::Null;
    for _ in 0..100 {
        after = s.get_json("/default/.well-known/openid-configuration").await.1;
        if after["code_challenge_methods_supported"] != before["code_challenge_methods_supported"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(after["code_challenge_methods_supported"], json!(["plain", "S256"]));
    heading_becomes(&browser, "Environment default").await;
    assert!(browser.find(Locator::Css("#allowed-plain:checked")).await.is_ok());

    // A secret rotated in the console is shown once, works, and the old one does not.
    browser.goto(&pages[6].1).await.unwrap();
    press(&browser, "Rotate the secret").await;
    let new_secret = text(&browser, "#secret code").await;
    assert_ne!(new_secret, old_secret);
    assert!(!secret_works(old_secret).await, "the old secret stops working");
    assert!(secret_works(new_secret.clone()).await);
    look_at(&browser, axe, "secret-shown-once").await;
    browser.refresh().await.unwrap();
    let page = browser.source().await.unwrap();
    assert!(!page.contains(&new_secret), "shown once only");

    // A form posted without its CSRF token is refused, and nothing is created.
    browser.goto(&pages[3].1).await.unwrap();
    fill(&browser, "new-username", "mallory").await;
    fill(&browser, "new-password", "correct horse battery").await;
    browser
        .execute(
            "document.querySelector('form[method=post] input[name=csrf]').remove();",
            vec![],
        )
        .await
        .unwrap();
    press(&browser, "Create").await;
    heading_becomes(&browser, "Refused").await;
    assert!(text(&browser, "#message").await.contains("CSRF"));
    let (_, found) = s
        .admin(Method::GET, "/admin/environments/default/users?username=mallory", None)
        .await;
    assert_eq!(found["items"], json!([]), "{found}");
    // The same form with its token goes through.
    browser.goto(&pages[3].1).await.unwrap();
    fill(&browser, "new-username", "mallory").await;
    fill(&browser, "new-password", "correct horse battery").await;
    press(&browser, "Create").await;
    heading_becomes(&browser, "mallory").await;

    // Signing out ends the console session and the sign-on session behind it.
    browser.goto(&s.url("/console/")).await.unwrap();
    press(&browser, "Sign out").await;
    heading_becomes(&browser, "Signed out").await;
    look_at(&browser, axe, "signed-out").await;

    // A user without the admin role signs in and is told why they cannot go on.
    sign_in(&browser, &s, "tom", "#message").await;
    heading_becomes(&browser, "You lack the admin role").await;
    assert!(text(&browser, "#message").await.contains("signed in as tom"));
    look_at(&browser, axe, "not-an-admin").await;
    browser.goto(&pages[3].1).await.unwrap();
    heading_becomes(&browser, "You lack the admin role").await;
    chromium.close().await;
}

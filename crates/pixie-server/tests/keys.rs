//! Signing keys over time (CONTRACT §9) against a running server: a rotation makes a
//! new key that signs at once, the previous one stays in the JWKS and verifies the
//! tokens it signed until they have all expired, and then leaves; the listing says
//! which is which.

use pixie_testkit::*;
use reqwest::Method;
use serde_json::{json, Value};

fn kid_of(jwt: &str) -> String {
    use base64::Engine as _;
    let h = jwt.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn jwks_kids(s: &TestServer) -> Vec<String> {
    let (_, jwks) = s.get_json("/default/as/jwks").await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_rotated_key_signs_and_the_old_one_retires() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let before = s.tokens("default", &client).await;
    let old_at = before["access_token"].as_str().unwrap().to_owned();
    let old_kid = kid_of(&old_at);
    assert_eq!(jwks_kids(&s).await.len(), 2, "one RS256 and one ES256 key");

    let (st, key) = s
        .admin(
            Method::POST,
            "/admin/environments/default/keys/rotate",
            Some(json!({"alg": "ES256"})),
        )
        .await;
    assert_eq!(st, 201, "{key}");
    assert_eq!(
        (key["alg"].as_str(), key["status"].as_str()),
        (Some("ES256"), Some("active"))
    );
    let new_kid = key["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);

    // The new key signs from now on; the old one's tokens still verify.
    let after = s.tokens("default", &client).await;
    let new_at = after["access_token"].as_str().unwrap();
    assert_eq!(kid_of(new_at), new_kid);
    assert_eq!(s.userinfo("default", &old_at).await.0, 200, "a token of the old key");
    assert_eq!(s.userinfo("default", new_at).await.0, 200);
    let kids = jwks_kids(&s).await;
    assert!(kids.contains(&old_kid) && kids.contains(&new_kid), "{kids:?}");

    let (st, list) = s.admin(Method::GET, "/admin/environments/default/keys", None).await;
    assert_eq!(st, 200);
    let items = list["items"].as_array().unwrap();
    let find = |kid: &str| items.iter().find(|k| k["kid"] == kid).unwrap().clone();
    let old = find(&old_kid);
    assert_eq!(old["status"], "retiring", "{list}");
    let retire_at = old["retire_at"].as_i64().unwrap();
    assert!(
        retire_at >= key["created_at"].as_i64().unwrap() + 86_400,
        "after the longest token lifetime"
    );
    assert_eq!(find(&new_kid)["status"], "active");
    assert!(find(&new_kid).get("retire_at").is_none());
    assert!(items
        .iter()
        .all(|k| k.get("d").is_none() && k.get("private_enc").is_none()));

    // Once every token it signed has expired, the old key leaves the JWKS.
    s.advance(retire_at - s.now() + 1);
    let kids = jwks_kids(&s).await;
    assert!(!kids.contains(&old_kid) && kids.contains(&new_kid), "{kids:?}");
    let (_, list) = s.admin(Method::GET, "/admin/environments/default/keys", None).await;
    let old = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == old_kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(old["status"], "retired");

    // RS256 too: ID tokens of an RS256 client are signed by the new RS256 key.
    let (st, rs) = s
        .admin(
            Method::POST,
            "/admin/environments/default/keys/rotate",
            Some(json!({"alg": "RS256"})),
        )
        .await;
    assert_eq!(st, 201);
    let t = s.tokens("default", &client).await;
    assert_eq!(kid_of(t["id_token"].as_str().unwrap()), rs["kid"].as_str().unwrap());
    // A bad algorithm, an unknown environment.
    let (st, _) = s
        .admin(
            Method::POST,
            "/admin/environments/default/keys/rotate",
            Some(json!({"alg": "HS256"})),
        )
        .await;
    assert_eq!(st, 400);
    let (st, _) = s
        .admin(Method::POST, "/admin/environments/nope/keys/rotate", Some(json!({})))
        .await;
    assert_eq!(st, 404);
}

/// `--key-rotation-days`: nothing is due while keys are young; once they are, one
/// rotation per algorithm happens however many passes (instances) find it due at once,
/// and the old keys retire as after a rotation by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_rotation_rotates_once_when_due() {
    let s = TestServer::start().await;
    let svc = s.running.as_ref().unwrap().service().clone();
    assert!(
        svc.rotate_due_keys(30).await.unwrap().is_empty(),
        "fresh keys are not due"
    );
    let before = jwks_kids(&s).await;
    s.advance(31 * 86_400);
    // Four passes at once (as four instances on one store would run them).
    let mut passes = Vec::new();
    for _ in 0..4 {
        let svc = svc.clone();
        passes.push(tokio::spawn(async move { svc.rotate_due_keys(30).await.unwrap() }));
    }
    let mut rotated = Vec::new();
    for p in passes {
        rotated.extend(p.await.unwrap());
    }
    rotated.sort_by_key(|(_, alg, _)| alg.as_str());
    let algs: Vec<&str> = rotated.iter().map(|(_, alg, _)| alg.as_str()).collect();
    assert_eq!(algs, ["ES256", "RS256"], "one rotation per algorithm: {rotated:?}");
    assert!(rotated.iter().all(|(env, _, _)| env == "default"));
    let (_, keys) = s.admin(Method::GET, "/admin/environments/default/keys", None).await;
    let status = |kid: &str| {
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (_, _, kid) in &rotated {
        assert_eq!(status(kid), "active");
    }
    for kid in &before {
        assert_eq!(status(kid), "retiring");
    }
    let now = jwks_kids(&s).await;
    assert_eq!(now.len(), 4, "old and new keys are published");
    // A new token is signed by the new ES256 key.
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let tok = s.tokens("default", &client).await;
    let es = rotated.iter().find(|(_, alg, _)| alg.as_str() == "ES256").unwrap();
    assert_eq!(kid_of(tok["access_token"].as_str().unwrap()), es.2);
    // Not due again until another 30 days have passed.
    assert!(svc.rotate_due_keys(30).await.unwrap().is_empty());
    s.advance(31 * 86_400);
    assert_eq!(svc.rotate_due_keys(30).await.unwrap().len(), 2);
}

/// The key listing pages like every list: `?limit` is checked, `next` leads on.
#[tokio::test]
async fn the_key_listing_pages() {
    let s = TestServer::start().await;
    for _ in 0..3 {
        let (st, _) = s
            .admin(Method::POST, "/admin/environments/default/keys/rotate", Some(json!({})))
            .await;
        assert_eq!(st, 201);
    }
    let (st, body) = s
        .admin(Method::GET, "/admin/environments/default/keys?limit=0", None)
        .await;
    assert_eq!(st, 400, "{body}");
    let mut seen = Vec::new();
    let mut path = "/admin/environments/default/keys?limit=2".to_owned();
    loop {
        let (st, page) = s.admin(Method::GET, &path, None).await;
        assert_eq!(st, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|k| k["kid"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(c) => path = format!("/admin/environments/default/keys?limit=2&after={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "two first keys and three rotations: {seen:?}");
    let unique: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 5);
    // Rotations in one second are dated one after another, each after its own kind only.
    let (_, all) = s.admin(Method::GET, "/admin/environments/default/keys", None).await;
    let newest = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["created_at"].as_i64().unwrap())
        .max();
    assert!(newest.unwrap() <= s.now() + 3, "no key dated far in the future: {all}");
}

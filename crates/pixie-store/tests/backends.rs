//! The store's contract, run against SQLite always and PostgreSQL when
//! `PIXIE_TEST_DATABASE_URL` is set (required when `PIXIE_REQUIRE_POSTGRES` is).

use pixie_core::report::Observation;
use pixie_store::*;

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    (store, dir)
}

async fn postgres() -> Option<Store> {
    let url = postgres_url().await?;
    Some(Store::connect(&url).await.unwrap())
}

/// A fresh database on the test server, or `None` when there is none.
async fn postgres_url() -> Option<String> {
    use sqlx::Connection as _;
    let Some(admin) = std::env::var("PIXIE_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        assert!(
            std::env::var_os("PIXIE_REQUIRE_POSTGRES").is_none(),
            "PIXIE_REQUIRE_POSTGRES is set but PIXIE_TEST_DATABASE_URL is not"
        );
        eprintln!("SKIPPED: PostgreSQL (set PIXIE_TEST_DATABASE_URL)");
        return None;
    };
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("pixie_s_{}_{}", std::process::id(), nanos % 1_000_000_000);
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    Some(format!("{}/{name}", admin.rsplit_once('/').unwrap().0))
}

/// A client `id` of environment `env` with one redirect URI.
fn client_of(env: &str, id: &str) -> ClientRow {
    ClientRow {
        env_id: env.into(),
        client_id: id.into(),
        secret_hash: None,
        metadata: serde_json::from_str(r#"{"redirect_uris":["https://a.example/cb"]}"#).unwrap(),
        created_at: 1,
        updated_at: 1,
        document_expires_at: None,
    }
}

fn env(id: &str) -> EnvironmentRow {
    EnvironmentRow {
        id: id.into(),
        pkce: Default::default(),
        settings: Default::default(),
        created_at: 1,
    }
}

async fn battery(store: Store) {
    // Environments, clients, users: conflicts and not-found.
    store.insert_environment(&env("e"), &[]).await.unwrap();
    assert!(matches!(
        store.insert_environment(&env("e"), &[]).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.get_environment("nope").await.unwrap().is_none());
    assert!(
        store.get_environment("e\0x").await.unwrap().is_none(),
        "NUL: not found, not an error"
    );
    let metadata = serde_json::from_str(r#"{"redirect_uris":["https://a.example/cb"]}"#).unwrap();
    let client = ClientRow {
        env_id: "e".into(),
        client_id: "c".into(),
        secret_hash: Some(vec![1, 2, 3]),
        metadata,
        created_at: 1,
        updated_at: 1,
        document_expires_at: None,
    };
    store.insert_client(&client).await.unwrap();
    assert_eq!(store.get_client("e", "c").await.unwrap().unwrap(), client);
    assert!(store.get_client("e", "c\0").await.unwrap().is_none());
    store.delete_client("e", "c", 1).await.unwrap();
    assert!(matches!(
        store.delete_client("e", "c", 1).await,
        Err(StoreError::NotFound)
    ));
    // Back, for the codes below (a code needs its client).
    store.insert_client(&client).await.unwrap();
    let user = UserRow {
        env_id: "e".into(),
        id: "u1".into(),
        username: "tom".into(),
        password_hash: "h".into(),
        email: None,
        name: Some("Tom".into()),
        created_at: 1,
        roles: vec!["admin".into()],
        disabled_at: None,
        generation: 0,
    };
    store.insert_user(&user).await.unwrap();
    assert_eq!(store.get_user("e", "u1").await.unwrap().unwrap().roles, ["admin"]);
    let dup = UserRow {
        id: "u2".into(),
        ..user.clone()
    };
    assert!(matches!(
        store.insert_user(&dup).await,
        Err(StoreError::Conflict("username"))
    ));
    assert_eq!(store.get_user_by_username("e", "tom").await.unwrap().unwrap().id, "u1");
    assert!(store.get_user_by_username("e", "to\0m").await.unwrap().is_none());

    // A code: ten concurrent consumers, one winner; replay marks.
    let code = CodeRow {
        code_hash: vec![9; 32],
        env_id: "e".into(),
        client_id: "c".into(),
        user_id: "u1".into(),
        grant_id: "g".into(),
        data: "{}".into(),
        created_at: 100,
        expires_at: 160,
        used_at: None,
    };
    let grant = |id: &str, sid: &str| GrantRow {
        env_id: "e".into(),
        id: id.into(),
        client_id: "c".into(),
        user_id: Some("u1".into()),
        sid: Some(sid.into()),
        created_at: 100,
        expires_at: 1000,
    };
    let session = |hash: u8| SessionRow {
        id_hash: vec![hash; 32],
        env_id: "e".into(),
        user_id: "u1".into(),
        auth_time: 100,
        created_at: 100,
        expires_at: 10_000,
        user_generation: 0,
    };
    assert!(store.insert_session(&session(3)).await.unwrap());
    assert!(
        !store
            .insert_code(&code, &grant("g", "s0"), &[4; 32], None)
            .await
            .unwrap(),
        "no code from a session that is not there"
    );
    assert!(store
        .insert_code(&code, &grant("g", "s0"), &[3; 32], None)
        .await
        .unwrap());
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.consume_code("e", &[9; 32], "c", 120).await.unwrap().is_some()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert!(store.consume_code("e", &[9; 32], "c", 121).await.unwrap().is_none());
    // A code whose session ended is not exchanged.
    let code2 = CodeRow {
        code_hash: vec![8; 32],
        grant_id: "g2".into(),
        ..code.clone()
    };
    assert!(store
        .insert_code(&code2, &grant("g2", "s1"), &[3; 32], None)
        .await
        .unwrap());

    // Tokens: refresh rotation once, grant revocation.
    let token = |id: &str, kind: &str, hash: Option<Vec<u8>>| TokenRow {
        id: id.into(),
        env_id: "e".into(),
        kind: kind.into(),
        token_hash: hash,
        grant_id: "g".into(),
        client_id: "c".into(),
        user_id: Some("u1".into()),
        scope: "openid".into(),
        data: "{}".into(),
        created_at: 100,
        expires_at: 10_000,
        used_at: None,
        revoked_at: None,
        sid: None,
    };
    assert!(store
        .insert_refresh_token(&token("r1", "refresh", Some(vec![7; 32])), 20_000)
        .await
        .unwrap());
    assert!(
        store
            .consume_refresh_token("e", &[7; 32], "other", 200)
            .await
            .unwrap()
            .is_none(),
        "another client"
    );
    assert!(store
        .consume_refresh_token("e", &[7; 32], "c", 200)
        .await
        .unwrap()
        .is_some());
    assert!(
        store
            .consume_refresh_token("e", &[7; 32], "c", 201)
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    assert!(!store.access_token_revoked("e", "j1", Some("g"), None).await.unwrap());
    assert!(store
        .insert_refresh_token(&token("r2", "refresh", Some(vec![6; 32])), 20_000)
        .await
        .unwrap());
    assert_eq!(store.revoke_grant("e", "g", 300).await.unwrap(), 2);
    assert!(store.get_token("e", "r1").await.unwrap().unwrap().revoked_at.is_some());
    // A revoked grant gets no live refresh token, ever (not even one racing the revocation).
    assert!(!store
        .insert_refresh_token(&token("r3", "refresh", Some(vec![5; 32])), 20_000)
        .await
        .unwrap());
    assert!(store.get_token("e", "r3").await.unwrap().unwrap().revoked_at.is_some());
    assert!(store
        .consume_refresh_token("e", &[5; 32], "c", 301)
        .await
        .unwrap()
        .is_none());
    // Access tokens (not stored) are revoked by their grant, their session, or their jti;
    // only in their own environment; recording a revocation twice is no error.
    assert!(store.access_token_revoked("e", "j1", Some("g"), None).await.unwrap());
    assert!(!store
        .access_token_revoked("other", "j1", Some("g"), None)
        .await
        .unwrap());
    assert!(!store
        .access_token_revoked("e", "j1", Some("g2"), Some("s1"))
        .await
        .unwrap());
    store.revoke_grant("e", "g", 301).await.unwrap();
    store.revoke_access_token("e", "j2", 500).await.unwrap();
    store.revoke_access_token("e", "j2", 500).await.unwrap();
    assert!(store.access_token_revoked("e", "j2", None, None).await.unwrap());
    assert_eq!(store.end_session("e", &[1; 32], "s1", 302).await.unwrap(), 0);
    assert!(
        store.consume_code("e", &[8; 32], "c", 303).await.unwrap().is_none(),
        "the code of an ended session"
    );
    assert!(store
        .access_token_revoked("e", "j3", Some("g3"), Some("s1"))
        .await
        .unwrap());
    assert_eq!(
        store.sweep_batch(SweepTable::Revocations, 501, 10).await.unwrap(),
        1,
        "j2 only"
    );

    // Shared counters: atomic counts in a window that starts over once passed.
    let key = [3u8; 32];
    for n in 1..=3 {
        let c = store.count_event(&key, 1000, 60).await.unwrap();
        assert_eq!((c.count, c.window_start), (n, 1000));
    }
    store.uncount_event(&key).await.unwrap();
    assert_eq!(store.count_event(&key, 1010, 60).await.unwrap().count, 3);
    let c = store.count_event(&key, 1061, 60).await.unwrap();
    assert_eq!((c.count, c.window_start), (1, 1061), "a new window");
    store.clear_events(&key).await.unwrap();
    assert_eq!(store.count_event(&key, 1062, 60).await.unwrap().count, 1);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.count_event(&[4; 32], 5000, 60).await.unwrap().count
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<_>>(), "concurrent counts never repeat");

    // PKCE observations add up across batches.
    let obs = |n: i64, t: i64| PkceStatDelta {
        env_id: "e".into(),
        day: 1,
        observation: Observation {
            client_id: "c".into(),
            method: "S256".into(),
            outcome: "accepted".into(),
            rule: String::new(),
            count: n,
            first_seen: t,
            last_seen: t,
        },
    };
    store.add_pkce_stats(&[obs(2, 50)]).await.unwrap();
    store.add_pkce_stats(&[obs(3, 40), obs(1, 90)]).await.unwrap();
    let rows = store.pkce_stats("e", 0).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].count, rows[0].first_seen, rows[0].last_seen), (6, 40, 90));

    // The sweep removes what expired, in batches.
    assert_eq!(store.sweep_batch(SweepTable::Tokens, 20_000, 1).await.unwrap(), 1);
    assert_eq!(store.sweep_batch(SweepTable::Tokens, 20_000, 10).await.unwrap(), 2);
    assert_eq!(store.sweep_batch(SweepTable::Counters, 10_000, 10).await.unwrap(), 2);
    assert_eq!(
        store
            .sweep_batch(SweepTable::Codes, 160 + USED_CODE_GRACE + 1, 10)
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    store.close().await;
}

/// Operators' calls (CONTRACT §5): paging, changing and removing users with what that
/// ends, removing a whole environment.
async fn management(store: Store) {
    for id in ["m1", "m2", "m3"] {
        store.insert_environment(&env(id), &[]).await.unwrap();
    }
    let ids = |v: Vec<EnvironmentRow>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(store.list_environments(None, 2).await.unwrap()), ["m1", "m2"]);
    assert_eq!(ids(store.list_environments(Some("m2"), 2).await.unwrap()), ["m3"]);
    let user = |id: &str, name: &str| UserRow {
        env_id: "m1".into(),
        id: id.into(),
        username: name.into(),
        password_hash: "h".into(),
        email: None,
        name: None,
        created_at: 1,
        roles: vec![],
        disabled_at: None,
        generation: 0,
    };
    for (id, name) in [("u1", "carol"), ("u2", "alice"), ("u3", "bob")] {
        store.insert_user(&user(id, name)).await.unwrap();
    }
    store.insert_client(&client_of("m1", "c")).await.unwrap();
    let names = |v: Vec<UserRow>| v.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(names(store.list_users("m1", None, 2).await.unwrap()), ["alice", "bob"]);
    assert_eq!(names(store.list_users("m1", Some("bob"), 2).await.unwrap()), ["carol"]);
    // A session and a grant with an access token's revocation pending.
    let session = |hash: u8, user: &str, generation: i64| SessionRow {
        id_hash: vec![hash; 32],
        env_id: "m1".into(),
        user_id: user.into(),
        auth_time: 10,
        created_at: 10,
        expires_at: 10_000,
        user_generation: generation,
    };
    assert!(store.insert_session(&session(1, "u1", 0)).await.unwrap());
    let code = CodeRow {
        code_hash: vec![1; 32],
        env_id: "m1".into(),
        client_id: "c".into(),
        user_id: "u1".into(),
        grant_id: "g1".into(),
        data: "{}".into(),
        created_at: 10,
        expires_at: 100,
        used_at: None,
    };
    let grant = GrantRow {
        env_id: "m1".into(),
        id: "g1".into(),
        client_id: "c".into(),
        user_id: Some("u1".into()),
        sid: Some("s1".into()),
        created_at: 10,
        expires_at: 1000,
    };
    assert!(store.insert_code(&code, &grant, &[1; 32], None).await.unwrap());
    // A profile change ends nothing.
    let email = UserUpdate {
        email: Some(Some("c@example.com")),
        ..Default::default()
    };
    store
        .update_user("m1", "u1", &email, UserChange::Profile, 20)
        .await
        .unwrap();
    let u1 = store.get_user("m1", "u1").await.unwrap().unwrap();
    assert_eq!(u1.email.as_deref(), Some("c@example.com"));
    assert!(store.get_session("m1", &[1; 32], 20).await.unwrap().is_some());
    assert!(!store.access_token_revoked("m1", "j", Some("g1"), None).await.unwrap());
    // A new password ends the session and revokes the grant; the old generation can
    // start no session any more, the new one can.
    let password = UserUpdate {
        password_hash: Some("h2"),
        ..Default::default()
    };
    store
        .update_user("m1", "u1", &password, UserChange::Credentials, 30)
        .await
        .unwrap();
    let u1 = store.get_user("m1", "u1").await.unwrap().unwrap();
    assert_eq!(
        (u1.password_hash.as_str(), u1.generation, u1.email.as_deref()),
        ("h2", 1, Some("c@example.com"))
    );
    assert!(store.get_session("m1", &[1; 32], 30).await.unwrap().is_none());
    assert!(store.access_token_revoked("m1", "j", Some("g1"), None).await.unwrap());
    assert!(store.consume_code("m1", &[1; 32], "c", 31).await.unwrap().is_none());
    assert!(!store.insert_session(&session(2, "u1", 0)).await.unwrap());
    assert!(store.insert_session(&session(2, "u1", 1)).await.unwrap());
    // Disabled: no session, no code, whatever the generation.
    let disable = UserUpdate {
        disabled: Some(true),
        ..Default::default()
    };
    store
        .update_user("m1", "u1", &disable, UserChange::Credentials, 40)
        .await
        .unwrap();
    store
        .update_user("m1", "u1", &disable, UserChange::Credentials, 45)
        .await
        .unwrap();
    let u1 = store.get_user("m1", "u1").await.unwrap().unwrap();
    assert_eq!(u1.disabled_at, Some(40), "disabled since the first time");
    assert_eq!(u1.password_hash, "h2", "untouched");
    assert!(!store.insert_session(&session(3, "u1", 2)).await.unwrap());
    let code2 = CodeRow {
        code_hash: vec![2; 32],
        grant_id: "g2".into(),
        ..code.clone()
    };
    let grant2 = GrantRow {
        id: "g2".into(),
        ..grant.clone()
    };
    assert!(!store.insert_code(&code2, &grant2, &[2; 32], None).await.unwrap());
    assert!(store.get_code("m1", &[2; 32]).await.unwrap().is_none());
    // Removal.
    store.delete_user("m1", "u1", 50).await.unwrap();
    assert!(store.get_user("m1", "u1").await.unwrap().is_none());
    assert!(matches!(
        store.delete_user("m1", "u1", 50).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.update_user("m1", "u1", &email, UserChange::Profile, 50).await,
        Err(StoreError::NotFound)
    ));
    // The whole environment.
    store.delete_environment("m1").await.unwrap();
    assert!(store.get_environment("m1").await.unwrap().is_none());
    assert!(store.get_user("m1", "u2").await.unwrap().is_none());
    assert!(store.list_users("m1", None, 10).await.unwrap().is_empty());
    assert!(matches!(
        store.delete_environment("m1").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(ids(store.list_environments(None, 10).await.unwrap()), ["m2", "m3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_management() {
    let (store, _dir) = sqlite().await;
    management(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_management() {
    let Some(store) = postgres().await else { return };
    management(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_backend() {
    let (store, _dir) = sqlite().await;
    assert_eq!(store.backend(), Backend::Sqlite);
    battery(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_backend() {
    let Some(store) = postgres().await else { return };
    assert_eq!(store.backend(), Backend::Postgres);
    battery(store).await;
}

#[tokio::test]
async fn migrations_are_idempotent_and_urls_checked() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/m.db", dir.path().display());
    Store::connect(&url).await.unwrap().close().await;
    Store::connect(&url).await.unwrap().close().await;
    assert!(matches!(
        Store::connect("mysql://x").await,
        Err(StoreError::UnsupportedUrl)
    ));
}

/// The attack on `insert_code`'s one-statement form (PostgreSQL, where a code can be
/// stored while a change to its user commits): a change of credentials, a disabling or
/// a removal holds the user's row, a code for one of the user's sessions is asked for
/// meanwhile (and waits), then the change commits. No code may be stored for the ended
/// session or the disabled or removed user. Here the change's statements are run by
/// hand in a transaction held open, so that the code's request is known to wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_code_waiting_for_a_user_change_is_refused() {
    let Some((store, url)) = race_store().await else { return };
    let cases: [(&str, &[&str]); 3] = [
        (
            "credentials",
            &[
                "UPDATE users SET generation = generation + 1, password_hash = 'h2' WHERE env_id = 'r' AND id = $1",
                "DELETE FROM sessions WHERE env_id = 'r' AND user_id = $1",
            ],
        ),
        (
            "disabling",
            &["UPDATE users SET disabled_at = 5 WHERE env_id = 'r' AND id = $1"],
        ),
        (
            "removal",
            &[
                "UPDATE users SET generation = generation + 1 WHERE env_id = 'r' AND id = $1",
                "DELETE FROM sessions WHERE env_id = 'r' AND user_id = $1",
                "DELETE FROM users WHERE env_id = 'r' AND id = $1",
            ],
        ),
    ];
    for (n, (case, change)) in cases.into_iter().enumerate() {
        let user_id = format!("u{n}");
        let hash = vec![n as u8 + 1; 32];
        user_with_session(&store, &user_id, &hash).await;
        let mut changer = held_transaction(&url).await;
        for sql in change {
            sqlx::query(sql).bind(&user_id).execute(&mut changer).await.unwrap();
        }
        let asked = ask_for_code(&store, &hash, &user_id, &format!("g{n}"), &format!("s{n}"), None);
        until_a_statement_waits_for_a_lock(&url, case).await;
        sqlx::Executor::execute(&mut changer, "COMMIT").await.unwrap();
        let stored = asked.await.unwrap().unwrap();
        assert!(!stored, "{case}: a code was stored for a session the change ended");
        assert!(store.get_code("r", &hash).await.unwrap().is_none(), "{case}");
    }
}

/// Returns once a statement on the database waits for a row lock (within 10 s).
async fn until_a_statement_waits_for_a_lock(url: &str, case: &str) {
    use sqlx::Connection as _;
    let mut watcher = sqlx::PgConnection::connect(url).await.unwrap();
    for _ in 0..1000 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{case}: the request never waited for the other transaction's lock");
}

/// For a race test: a store on a fresh PostgreSQL database with environment `r`, and
/// the database's URL; `None` when there is no PostgreSQL.
async fn race_store() -> Option<(Store, String)> {
    let url = postgres_url().await?;
    let store = Store::connect(&url).await.unwrap();
    store.insert_environment(&env("r"), &[]).await.unwrap();
    store.insert_client(&client_of("r", "c")).await.unwrap();
    Some((store, url))
}

/// A connection of its own with a transaction begun, to hold locks by hand.
async fn held_transaction(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::Executor::execute(&mut conn, "BEGIN").await.unwrap();
    conn
}

/// `insert_code` of [`code_of`]'s code and grant, asked for on a task of its own (so
/// that the test can go on while it waits for a lock).
fn ask_for_code(
    store: &Store,
    hash: &[u8],
    user: &str,
    grant: &str,
    sid: &str,
    consent: Option<(&'static str, &'static str)>,
) -> tokio::task::JoinHandle<StoreResult<bool>> {
    let (store, hash) = (store.clone(), hash.to_vec());
    let (code, grant) = code_of(&hash, user, grant, sid);
    tokio::spawn(async move { store.insert_code(&code, &grant, &hash, consent).await })
}

/// What `insert_code` of [`code_of`]'s code and grant inserts, by hand on `conn` (to
/// hold it open with the locks the test took before).
async fn insert_code_by_hand(conn: &mut sqlx::PgConnection, hash: &[u8], user: &str, grant: &str, sid: &str) {
    sqlx::query(
        "INSERT INTO grants (env_id, id, client_id, user_id, sid, created_at, expires_at) \
         VALUES ('r', $1, 'c', $2, $3, 2, 1000)",
    )
    .bind(grant)
    .bind(user)
    .bind(sid)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO codes (code_hash, env_id, client_id, user_id, grant_id, data, created_at, expires_at) \
         VALUES ($1, 'r', 'c', $2, $3, '{}', 2, 100)",
    )
    .bind(hash)
    .bind(user)
    .bind(grant)
    .execute(&mut *conn)
    .await
    .unwrap();
}

/// `user`'s consent to client `c` of environment `r` for scope `openid`, for the tests.
fn consent_of(user: &str) -> ConsentRow {
    ConsentRow {
        env_id: "r".into(),
        user_id: user.into(),
        client_id: "c".into(),
        scopes: "openid".into(),
        resources: String::new(),
        created_at: 1,
    }
}

/// A code (`hash`) of client `c` in environment `r` for `user`, and the grant (`grant`,
/// session id `sid`) it starts, for the race tests.
fn code_of(hash: &[u8], user: &str, grant: &str, sid: &str) -> (CodeRow, GrantRow) {
    let code = CodeRow {
        code_hash: hash.to_vec(),
        env_id: "r".into(),
        client_id: "c".into(),
        user_id: user.into(),
        grant_id: grant.into(),
        data: "{}".into(),
        created_at: 2,
        expires_at: 100,
        used_at: None,
    };
    let grant = GrantRow {
        env_id: "r".into(),
        id: grant.into(),
        client_id: "c".into(),
        user_id: Some(user.into()),
        sid: Some(sid.into()),
        created_at: 2,
        expires_at: 1000,
    };
    (code, grant)
}

/// A user `id` of environment `r` with one session (`hash`), for the race tests.
async fn user_with_session(store: &Store, id: &str, hash: &[u8]) {
    store
        .insert_user(&UserRow {
            env_id: "r".into(),
            id: id.into(),
            username: id.into(),
            password_hash: "h".into(),
            email: None,
            name: None,
            created_at: 1,
            roles: vec![],
            disabled_at: None,
            generation: 0,
        })
        .await
        .unwrap();
    let session = SessionRow {
        id_hash: hash.to_vec(),
        env_id: "r".into(),
        user_id: id.into(),
        auth_time: 1,
        created_at: 1,
        expires_at: 10_000,
        user_generation: 0,
    };
    assert!(store.insert_session(&session).await.unwrap());
}

/// The attack on a sign-out racing a code for the same session (PostgreSQL): whichever
/// goes first, no code of the signed-out session can be exchanged afterwards.
/// 1. The sign-out's deletion of the session is held open (by hand) while the code is
///    asked for: the code's statement waits, then stores nothing.
/// 2. A code's statement is held open (by hand: the session's row share-locked, as the
///    statement does, and the grant and code inserted) while the sign-out runs: the
///    sign-out waits, then revokes the new grant, so the code is not exchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_sign_out_racing_a_code_leaves_no_live_grant() {
    let Some((store, url)) = race_store().await else { return };

    // 1. The sign-out first.
    user_with_session(&store, "u1", &[1; 32]).await;
    let mut sign_out = held_transaction(&url).await;
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(vec![1u8; 32])
        .execute(&mut sign_out)
        .await
        .unwrap();
    let asked = ask_for_code(&store, &[1; 32], "u1", "g1", "s1", None);
    until_a_statement_waits_for_a_lock(&url, "sign-out first").await;
    sqlx::Executor::execute(&mut sign_out, "COMMIT").await.unwrap();
    assert!(
        !asked.await.unwrap().unwrap(),
        "a code was stored for a session signed out meanwhile"
    );

    // 2. The code first.
    user_with_session(&store, "u2", &[2; 32]).await;
    let mut coder = held_transaction(&url).await;
    sqlx::query("SELECT 1 FROM sessions WHERE id_hash = $1 FOR SHARE")
        .bind(vec![2u8; 32])
        .execute(&mut coder)
        .await
        .unwrap();
    insert_code_by_hand(&mut coder, &[2; 32], "u2", "g2", "s2").await;
    let signed_out = tokio::spawn({
        let store = store.clone();
        async move { store.end_session("r", &[2; 32], "s2", 3).await }
    });
    until_a_statement_waits_for_a_lock(&url, "code first").await;
    sqlx::Executor::execute(&mut coder, "COMMIT").await.unwrap();
    signed_out.await.unwrap().unwrap();
    assert!(
        store.consume_code("r", &[2; 32], "c", 4).await.unwrap().is_none(),
        "the code of a grant made while its session was signed out is still exchanged"
    );
    assert!(store.get_session("r", &[2; 32], 4).await.unwrap().is_none());
}

/// The attack on the writers' lock order (PostgreSQL): a grant's revocation (a replayed
/// code, say) holds the grant's row and then records its revocation, while an
/// administrator changes the user's password, which revokes the same grant among all
/// of the user's. With one order for both (grants, then revocations) the change waits
/// and both succeed; with the revocations first in the change, the two wait for each
/// other and PostgreSQL aborts one (a failed password change).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_revocation_and_a_password_change_never_deadlock() {
    let Some((store, url)) = race_store().await else { return };
    user_with_session(&store, "u1", &[1; 32]).await;
    let (code, grant) = code_of(&[1; 32], "u1", "g1", "s1");
    assert!(store.insert_code(&code, &grant, &[1; 32], None).await.unwrap());
    // `revoke_grant`'s statements, held open around the change.
    neither_is_aborted(
        &url,
        "the revocation",
        "UPDATE grants SET revoked_at = 3 WHERE env_id = 'r' AND id = 'g1' AND revoked_at IS NULL",
        "INSERT INTO revocations (what, env_id, expires_at) VALUES ('grant:g1', 'r', 1000) \
         ON CONFLICT (what) DO NOTHING",
        || {
            let store = store.clone();
            tokio::spawn(async move {
                let password = UserUpdate {
                    password_hash: Some("h2"),
                    ..Default::default()
                };
                store
                    .update_user("r", "u1", &password, UserChange::Credentials, 4)
                    .await
            })
        },
    )
    .await;
    assert!(store.access_token_revoked("r", "j", Some("g1"), None).await.unwrap());
}

/// For the lock-order tests: a writer's first statement (`first`) is held open on a
/// transaction of its own while another writer (`other`, started then) runs into
/// its locks; then the held writer's next statement (`then`) and its commit. Neither
/// may be aborted: with two lock orders PostgreSQL finds a deadlock and aborts one.
async fn neither_is_aborted(
    url: &str,
    held: &str,
    first: &str,
    then: &str,
    other: impl FnOnce() -> tokio::task::JoinHandle<StoreResult<()>>,
) {
    let mut conn = held_transaction(url).await;
    sqlx::Executor::execute(&mut conn, first).await.unwrap();
    let other = other();
    until_a_statement_waits_for_a_lock(url, held).await;
    let done = sqlx::Executor::execute(&mut conn, then).await;
    assert!(done.is_ok(), "{held} was aborted: {done:?}");
    sqlx::Executor::execute(&mut conn, "COMMIT").await.unwrap();
    other.await.unwrap().expect("the other writer was aborted");
}

/// An environment removed while a code is being stored in it (PostgreSQL): the
/// removal locks the environment's row, then deletes its sessions; the code's
/// statement waits for the environment first, holding nothing, so the removal goes
/// through and the code finds no session. (Locking the session first, and the
/// environment last through the foreign keys, made the two wait for each other.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_removing_an_environment_while_a_code_is_stored_never_deadlocks() {
    let Some((store, url)) = race_store().await else { return };
    user_with_session(&store, "u1", &[1; 32]).await;
    // `delete_environment`'s first statement, held open.
    let mut remover = held_transaction(&url).await;
    sqlx::Executor::execute(&mut remover, "SELECT 1 FROM environments WHERE id = 'r' FOR UPDATE")
        .await
        .unwrap();
    let asked = ask_for_code(&store, &[1; 32], "u1", "g1", "s1", None);
    until_a_statement_waits_for_a_lock(&url, "the code").await;
    // The rest of the removal, then its commit.
    for sql in [
        "DELETE FROM sessions WHERE env_id = 'r'",
        "DELETE FROM users WHERE env_id = 'r'",
        "DELETE FROM environments WHERE id = 'r'",
    ] {
        let done = sqlx::Executor::execute(&mut remover, sql).await;
        assert!(done.is_ok(), "{sql}: {done:?}");
    }
    sqlx::Executor::execute(&mut remover, "COMMIT").await.unwrap();
    let stored = asked.await.unwrap();
    assert!(matches!(stored, Ok(false)), "{stored:?}");
}

/// A code needs its client, and a code that rests on the user's consent needs that
/// consent, exactly (both backends; the races with a removal are below).
async fn codes_rest_on_their_client_and_consent(store: Store) {
    store.insert_environment(&env("r"), &[]).await.unwrap();
    user_with_session(&store, "u1", &[1; 32]).await;
    let (code, grant) = code_of(&[1; 32], "u1", "g1", "s1");
    let consent = Some(("openid", ""));
    assert!(
        !store.insert_code(&code, &grant, &[1; 32], None).await.unwrap(),
        "a code for a client that is not there"
    );
    store.insert_client(&client_of("r", "c")).await.unwrap();
    assert!(
        !store.insert_code(&code, &grant, &[1; 32], consent).await.unwrap(),
        "a code resting on a consent never given"
    );
    store.insert_consent(&consent_of("u1")).await.unwrap();
    assert!(
        !store
            .insert_code(&code, &grant, &[1; 32], Some(("openid profile", "")))
            .await
            .unwrap(),
        "a consent to other scopes is not this one"
    );
    assert!(store.get_code("r", &[1; 32]).await.unwrap().is_none());
    assert!(store.insert_code(&code, &grant, &[1; 32], consent).await.unwrap());
    assert!(store.get_code("r", &[1; 32]).await.unwrap().is_some());
    store.delete_consents("r", "u1", "c", 3).await.unwrap();
    let (code2, grant2) = code_of(&[2; 32], "u1", "g2", "s1");
    assert!(
        !store.insert_code(&code2, &grant2, &[1; 32], consent).await.unwrap(),
        "a code resting on a withdrawn consent"
    );
    assert!(
        store.insert_code(&code2, &grant2, &[1; 32], None).await.unwrap(),
        "a client that needs no consent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_codes_rest_on_their_client_and_consent() {
    let (store, _dir) = sqlite().await;
    codes_rest_on_their_client_and_consent(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_codes_rest_on_their_client_and_consent() {
    let Some(store) = postgres().await else { return };
    codes_rest_on_their_client_and_consent(store).await;
}

/// The attack on a removal racing a code that rests on what it removes (PostgreSQL):
/// whichever goes first, no code stored meanwhile can be exchanged afterwards, and
/// neither is aborted.
/// 1. The removal's statements (`held_removal`, by hand) are held open after the first
///    while a code (user `u1`, resting on its consent) is asked for: the code's
///    statement waits, the removal's other statements go on (the code's statement holds
///    nothing they need while it waits), and after the commit no code is stored.
/// 2. A code's statement is held open (by hand: `held_lock` for user `u2`, the lock the
///    statement takes on what is removed, and the grant and code inserted) while the
///    removal (`remove`) runs: the removal waits, then revokes the new grant, so the
///    code is not exchanged. This half checks the removal's side (that it deletes the
///    locked row before it revokes); the first half checks the statement's.
async fn no_live_grant_when_a_removal_races_a_code(
    case: &str,
    held_removal: &[&str],
    held_lock: &str,
    remove: impl FnOnce(Store) -> tokio::task::JoinHandle<StoreResult<()>>,
) {
    let Some((store, url)) = race_store().await else { return };
    for (user, n) in [("u1", 1), ("u2", 2)] {
        user_with_session(&store, user, &[n; 32]).await;
        store.insert_consent(&consent_of(user)).await.unwrap();
    }

    // 1. The removal first.
    let mut removal = held_transaction(&url).await;
    let (first, rest) = held_removal.split_first().unwrap();
    sqlx::Executor::execute(&mut removal, *first).await.unwrap();
    let asked = ask_for_code(&store, &[1; 32], "u1", "g1", "s1", Some(("openid", "")));
    until_a_statement_waits_for_a_lock(&url, case).await;
    for sql in rest {
        let done = sqlx::Executor::execute(&mut removal, *sql).await;
        assert!(done.is_ok(), "{case}: the removal was aborted: {done:?}");
    }
    sqlx::Executor::execute(&mut removal, "COMMIT").await.unwrap();
    let stored = asked.await.unwrap().expect("the code's statement was aborted");
    assert!(!stored, "{case}: a code was stored for what was removed meanwhile");

    // 2. The code first (what the first removal took is put back).
    let _ = store.insert_client(&client_of("r", "c")).await;
    store.insert_consent(&consent_of("u2")).await.unwrap();
    let mut coder = held_transaction(&url).await;
    sqlx::Executor::execute(&mut coder, held_lock).await.unwrap();
    insert_code_by_hand(&mut coder, &[2; 32], "u2", "g2", "s2").await;
    let removed = remove(store.clone());
    until_a_statement_waits_for_a_lock(&url, case).await;
    sqlx::Executor::execute(&mut coder, "COMMIT").await.unwrap();
    removed.await.unwrap().unwrap();
    assert!(
        store.consume_code("r", &[2; 32], "c", 4).await.unwrap().is_none(),
        "{case}: the code of a grant made while it was removed is still exchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_client_removed_while_a_code_is_stored_leaves_no_live_grant() {
    no_live_grant_when_a_removal_races_a_code(
        "client removed",
        &[
            "DELETE FROM clients WHERE env_id = 'r' AND client_id = 'c'",
            "DELETE FROM consents WHERE env_id = 'r' AND client_id = 'c'",
            "UPDATE grants SET revoked_at = 3 WHERE env_id = 'r' AND client_id = 'c' AND revoked_at IS NULL",
        ],
        "SELECT 1 FROM clients WHERE env_id = 'r' AND client_id = 'c' FOR KEY SHARE",
        |store| tokio::spawn(async move { store.delete_client("r", "c", 3).await }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_consent_withdrawn_while_a_code_is_stored_leaves_no_live_grant() {
    no_live_grant_when_a_removal_races_a_code(
        "consent withdrawn",
        &[
            "DELETE FROM consents WHERE env_id = 'r' AND user_id = 'u1' AND client_id = 'c'",
            "UPDATE grants SET revoked_at = 3 WHERE env_id = 'r' AND user_id = 'u1' AND client_id = 'c' \
             AND revoked_at IS NULL",
        ],
        "SELECT 1 FROM consents WHERE env_id = 'r' AND user_id = 'u2' AND client_id = 'c' FOR KEY SHARE",
        |store| tokio::spawn(async move { store.delete_consents("r", "u2", "c", 3).await }),
    )
    .await;
}

/// The attack on the removal writers' lock order (PostgreSQL): a user's consent to a
/// client is withdrawn (its first statement held open by hand: the consent's row
/// deleted) while an administrator removes the user, who holds a live grant with that
/// client. The removal takes the user, the sessions, then the consents (and waits),
/// so the withdrawal's revocation of the grant goes on and both succeed; with the
/// consents after the grants in the removal, each waits for the other and PostgreSQL
/// aborts one (found by a review).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_user_removal_and_a_consent_withdrawal_never_deadlock() {
    let Some((store, url)) = race_store().await else { return };
    user_with_session(&store, "u1", &[1; 32]).await;
    store.insert_consent(&consent_of("u1")).await.unwrap();
    let (code, grant) = code_of(&[1; 32], "u1", "g1", "s1");
    let consent = Some(("openid", ""));
    assert!(store.insert_code(&code, &grant, &[1; 32], consent).await.unwrap());
    // `delete_consents`'s statements, held open around the removal.
    neither_is_aborted(
        &url,
        "the withdrawal",
        "DELETE FROM consents WHERE env_id = 'r' AND user_id = 'u1' AND client_id = 'c'",
        "UPDATE grants SET revoked_at = 3 WHERE env_id = 'r' AND user_id = 'u1' AND client_id = 'c' \
         AND revoked_at IS NULL",
        || {
            let store = store.clone();
            tokio::spawn(async move { store.delete_user("r", "u1", 4).await })
        },
    )
    .await;
    assert!(store.get_user("r", "u1").await.unwrap().is_none());
    assert!(store.consume_code("r", &[1; 32], "c", 5).await.unwrap().is_none());
}

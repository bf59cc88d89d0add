//! Power loss: pixie under load on a disk that keeps only what was synced, cut off
//! mid-write, restarted on what the disk kept.
//!
//! `power_loss/unsynced.c`, preloaded into the server, copies each file of the data
//! dir aside at every `fsync`/`fdatasync`; after `kill -9`, each file is put back as
//! its last synced copy (a file never synced is gone): the worst a power cut can do
//! when no unsynced write reached the disk. With `--sqlite-durability full` every
//! acknowledged code, refresh rotation, user and application must survive; with
//! `normal`, what was acknowledged before the last checkpoint (every 250 ms) must, and
//! the test reports how much of the rest was lost.
//!
//! Needs gcc to build the shim; without it the tests say SKIPPED, unless
//! `PIXIE_REQUIRE_POWERLOSS` is set (CI sets it).

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{pixie, serve, Server};
use pixie_testkit::{TestServer, PASSWORD, REDIRECT, VERIFIER};
use serde_json::json;

/// Builds the shim into `dir`; `None` without gcc (and not required).
fn shim(dir: &Path) -> Option<PathBuf> {
    let out = dir.join("unsynced.so");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/power_loss/unsynced.c");
    let built = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status()
        .is_ok_and(|s| s.success());
    if !built {
        assert!(
            std::env::var_os("PIXIE_REQUIRE_POWERLOSS").is_none(),
            "PIXIE_REQUIRE_POWERLOSS is set but gcc could not build the shim"
        );
        eprintln!("SKIPPED: gcc is needed to build tests/power_loss/unsynced.c");
        return None;
    }
    Some(out)
}

/// What the power cut leaves: each file as last synced, or gone if never synced.
fn cut_power(data: &Path) {
    let names: Vec<PathBuf> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    for path in &names {
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.contains(".synced") {
            continue;
        }
        let synced = data.join(format!("{name}.synced"));
        if synced.exists() {
            std::fs::rename(&synced, path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }
    for path in names {
        if path.to_str().unwrap().contains(".synced") && path.exists() {
            std::fs::remove_file(path).unwrap();
        }
    }
}

/// What was acknowledged to the clients before the cut.
#[derive(Default, Clone)]
struct Acknowledged {
    /// Codes issued (in a redirect) and not yet redeemed.
    codes: Vec<String>,
    /// Refresh tokens last issued by a rotation, with the one each replaced.
    rotations: Vec<(String, String)>,
    users: Vec<String>,
    apps: Vec<String>,
}

fn start(data: &str, durability: &str, shim: Option<&Path>) -> Server {
    let mut cmd = pixie();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--sqlite-durability",
        durability,
    ]);
    if let Some(shim) = shim {
        cmd.env("LD_PRELOAD", shim).env("PIXIE_POWERLOSS_DIR", data);
    }
    serve(cmd)
}

/// Runs load against a shimmed server, cuts the power while writes are in flight,
/// restarts on what the disk kept; returns what was acknowledged before the cut, what
/// was acknowledged before `settled` (the checkpoint-interval test's mark), and a
/// server on the kept store.
fn load_and_cut(
    durability: &str,
    pause_before_cut: Option<Duration>,
) -> Option<(Acknowledged, Acknowledged, Server, String, String, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let shim = shim(dir.path())?;
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap().to_owned();
    let mut server = start(&data, durability, Some(&shim));
    let token = std::fs::read_to_string(data_dir.join("admin-token")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let s = Arc::new(TestServer::remote(&server.url, token.trim()));
    let client = rt.block_on(s.env_with_public_client("default", json!({}), json!({})));
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..3 {
        let (s, client, acked, stop) = (s.clone(), client.clone(), acked.clone(), stop.clone());
        workers.push(rt.spawn(async move {
            let mut unredeemed: Option<String> = None;
            let mut refresh: Option<String> = None;
            for i in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                // A code, acknowledged by its redirect; redeemed in the next round.
                let Ok((q, _)) = tokio::spawn({
                    let (s, client) = (s.clone(), client.clone());
                    async move { s.code_via_flows("default", &TestServer::pairs(&client)).await }
                })
                .await
                else {
                    return;
                };
                let code = q["code"].clone();
                acked.lock().unwrap().codes.push(code.clone());
                if let Some(previous) = unredeemed.replace(code) {
                    // Sent for redemption, it is no longer an unused code the client
                    // holds: if the cut comes while the answer is on its way, the
                    // server may well have used it.
                    acked.lock().unwrap().codes.retain(|c| c != &previous);
                    let form = [
                        ("grant_type", "authorization_code"),
                        ("code", previous.as_str()),
                        ("redirect_uri", REDIRECT),
                        ("client_id", client.as_str()),
                        ("code_verifier", VERIFIER),
                    ];
                    let Ok(resp) = s.http.post(s.url("/default/as/token")).form(&form).send().await else {
                        return;
                    };
                    if resp.status() != 200 {
                        return;
                    }
                    let Ok(t) = resp.json::<serde_json::Value>().await else {
                        return;
                    };
                    refresh = t["refresh_token"].as_str().map(str::to_owned).or(refresh);
                }
                // A refresh rotation: the new token works, the old one no longer does.
                if let Some(old) = refresh.clone() {
                    // Likewise a token sent for rotation: its outcome is unknown until
                    // the answer comes.
                    acked.lock().unwrap().rotations.retain(|(n, _)| n != &old);
                    let form = [
                        ("grant_type", "refresh_token"),
                        ("refresh_token", old.as_str()),
                        ("client_id", client.as_str()),
                    ];
                    let Ok(resp) = s.http.post(s.url("/default/as/token")).form(&form).send().await else {
                        return;
                    };
                    if resp.status() != 200 {
                        return;
                    }
                    let Ok(t) = resp.json::<serde_json::Value>().await else {
                        return;
                    };
                    let new = t["refresh_token"].as_str().unwrap().to_owned();
                    acked.lock().unwrap().rotations.push((new.clone(), old));
                    refresh = Some(new);
                }
                let meta = json!({"client_name": format!("w{w}-{i}"), "redirect_uris": ["https://a.example/cb"]});
                let Ok(resp) = s
                    .http
                    .post(s.url("/admin/environments/default/applications"))
                    .bearer_auth(&s.token)
                    .json(&meta)
                    .send()
                    .await
                else {
                    return;
                };
                if resp.status() != 201 {
                    return;
                }
                let Ok(app) = resp.json::<serde_json::Value>().await else {
                    return;
                };
                acked
                    .lock()
                    .unwrap()
                    .apps
                    .push(app["client_id"].as_str().unwrap().to_owned());
                let name = format!("user-{w}-{i}");
                let body = json!({"username": name, "password": PASSWORD});
                let Ok(resp) = s
                    .http
                    .post(s.url("/admin/environments/default/users"))
                    .bearer_auth(&s.token)
                    .json(&body)
                    .send()
                    .await
                else {
                    return;
                };
                if resp.status() == 201 {
                    acked.lock().unwrap().users.push(name);
                }
            }
        }));
    }
    let enough = || {
        let a = acked.lock().unwrap();
        a.rotations.len() >= 6 && a.users.len() >= 6
    };
    while !enough() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // For `normal`: the load pauses, a few checkpoints pass, then it resumes and the
    // power is cut mid-write. What was acknowledged before the pause is the mark.
    let settled = match pause_before_cut {
        Some(pause) => {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for w in workers.drain(..) {
                let _ = rt.block_on(w);
            }
            let settled = acked.lock().unwrap().clone();
            std::thread::sleep(pause);
            stop.store(false, std::sync::atomic::Ordering::Relaxed);
            let before = acked.lock().unwrap().users.len();
            let (s, late) = (s.clone(), acked.clone());
            workers.push(rt.spawn(async move {
                for i in 0.. {
                    let body = json!({"username": format!("late-{i}"), "password": PASSWORD});
                    let resp = s
                        .http
                        .post(s.url("/admin/environments/default/users"))
                        .bearer_auth(&s.token)
                        .json(&body)
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status() == 201 => late.lock().unwrap().users.push(format!("late-{i}")),
                        _ => return,
                    }
                }
            }));
            while acked.lock().unwrap().users.len() < before + 3 {
                std::thread::sleep(Duration::from_millis(5));
            }
            settled
        }
        None => Acknowledged::default(),
    };
    // The cut: the process dies; the disk keeps what was synced.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for w in workers {
        let _ = rt.block_on(w);
    }
    assert!(
        data_dir.join("pixie.db-wal.synced").exists() || data_dir.join("pixie.db.synced").exists(),
        "the shim saw the store's syncs"
    );
    cut_power(&data_dir);
    let acked = acked.lock().unwrap().clone();
    let server = start(&data, durability, None);
    Some((acked, settled, server, token.trim().to_owned(), client, dir))
}

/// Which of `acked` the restarted server still has: (codes, rotations, users, apps) lost.
fn lost(rt: &tokio::runtime::Runtime, s: &TestServer, client: &str, acked: &Acknowledged) -> [Vec<String>; 4] {
    rt.block_on(async {
        let mut lost: [Vec<String>; 4] = Default::default();
        for code in &acked.codes {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("client_id", client),
                ("code_verifier", VERIFIER),
            ];
            let (st, _, _) = s.token("default", &form).await;
            if st != 200 {
                lost[0].push(code.clone());
            }
        }
        for (new, old) in &acked.rotations {
            // The rotation happened: the old token is refused (its reuse would also
            // revoke the grant, so the new one is tried first).
            let (st_new, _) = s.refresh("default", client, new, None).await;
            let (st_old, _) = s.refresh("default", client, old, None).await;
            if st_new != 200 || st_old == 200 {
                lost[1].push(format!("{new} (new {st_new}, old {st_old})"));
            }
        }
        for user in &acked.users {
            let path = format!("/admin/environments/default/users?username={user}");
            let (_, found) = s.admin(reqwest::Method::GET, &path, None).await;
            if found["items"].as_array().is_none_or(|a| a.is_empty()) {
                lost[2].push(user.clone());
            }
        }
        for app in &acked.apps {
            let path = format!("/admin/environments/default/applications/{app}");
            if s.admin(reqwest::Method::GET, &path, None).await.0 != 200 {
                lost[3].push(app.clone());
            }
        }
        lost
    })
}

#[cfg(unix)]
#[test]
fn with_full_durability_a_power_cut_loses_nothing_acknowledged() {
    let Some((acked, _, server, token, client, _dir)) = load_and_cut("full", None) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = TestServer::remote(&server.url, &token);
    let lost = lost(&rt, &s, &client, &acked);
    assert_eq!(
        lost,
        <[Vec<String>; 4]>::default(),
        "lost (codes, rotations, users, applications) of {} codes, {} rotations, {} users, {} applications",
        acked.codes.len(),
        acked.rotations.len(),
        acked.users.len(),
        acked.apps.len()
    );
    eprintln!(
        "full: a power cut kept all {} codes, {} rotations, {} users, {} applications",
        acked.codes.len(),
        acked.rotations.len(),
        acked.users.len(),
        acked.apps.len()
    );
}

#[cfg(unix)]
#[test]
fn with_normal_durability_a_power_cut_loses_at_most_the_last_checkpoint_interval() {
    // A second of quiet: four checkpoint rounds (250 ms each) sync what came before.
    let Some((acked, settled, server, token, client, _dir)) = load_and_cut("normal", Some(Duration::from_secs(1)))
    else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = TestServer::remote(&server.url, &token);
    // Codes and rotations before the mark may have been redeemed or rotated after it;
    // users and applications are only ever added.
    let settled_only = Acknowledged {
        codes: Vec::new(),
        rotations: Vec::new(),
        ..settled.clone()
    };
    let lost_settled = lost(&rt, &s, &client, &settled_only);
    assert_eq!(
        lost_settled,
        <[Vec<String>; 4]>::default(),
        "what was acknowledged a checkpoint interval before the cut survives"
    );
    let late = Acknowledged {
        codes: Vec::new(),
        rotations: Vec::new(),
        users: acked.users[settled.users.len()..].to_vec(),
        apps: Vec::new(),
    };
    let lost_late = lost(&rt, &s, &client, &late);
    eprintln!(
        "normal: a power cut kept all {} users and {} applications acknowledged before the last checkpoint; \
         of the {} users acknowledged after it, {} were lost",
        settled.users.len(),
        settled.apps.len(),
        late.users.len(),
        lost_late[2].len()
    );
}

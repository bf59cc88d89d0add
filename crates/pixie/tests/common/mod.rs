//! Running `pixie` as a process: the binary, a server child, JSON output.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// reqwest is built with rustls but no provider of its own: use aws-lc-rs (idempotent).
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub fn pixie() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pixie"));
    // The tests set what they need; nothing leaks in from the caller's environment.
    for var in [
        "PIXIE_LISTEN",
        "PIXIE_PUBLIC_URL",
        "PIXIE_DATA_DIR",
        "PIXIE_DATABASE_URL",
        "PIXIE_ADMIN_TOKEN",
        "PIXIE_CONFIG",
        "PIXIE_MASTER_KEY",
    ] {
        c.env_remove(var);
    }
    c
}

/// A `pixie serve` child; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(mut cmd: Command) -> Server {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pixie serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("pixie listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    Server { child, url }
}

pub fn run_json(cmd: &mut Command, stdin: Option<&str>) -> serde_json::Value {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits for a child to exit, at most `secs` seconds; kills it and returns `None` when
/// it is still running then (a command that should have refused to start, say).
pub fn exit_within(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if started.elapsed() > std::time::Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

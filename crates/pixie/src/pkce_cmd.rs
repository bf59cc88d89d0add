//! `pixie pkce generate` and `pixie pkce verify`.

use std::process::ExitCode;

use clap::Subcommand;
use pixie_core::pkce::{DEFAULT_VERIFIER_LEN, MAX_LEN, MIN_LEN};
use pixie_core::{ChallengeMethod, CodeChallenge, CodeVerifier};

/// The `pixie pkce` subcommands.
#[derive(Subcommand)]
pub enum PkceCommand {
    /// Prints a fresh verifier and its challenge as JSON.
    Generate {
        /// `S256` (default) or `plain`.
        #[arg(long, default_value = "S256", value_parser = parse_method)]
        method: ChallengeMethod,
        /// Verifier length in characters, 43 to 128.
        #[arg(long, default_value_t = DEFAULT_VERIFIER_LEN as u16, value_parser = clap::value_parser!(u16).range(MIN_LEN as i64..=MAX_LEN as i64))]
        length: u16,
    },
    /// Exits 0 when the verifier transforms to the challenge, 1 with a reason otherwise.
    Verify {
        /// The `code_verifier` (may start with `-`: base64url's alphabet has it).
        #[arg(long, allow_hyphen_values = true)]
        verifier: String,
        /// The `code_challenge`.
        #[arg(long, allow_hyphen_values = true)]
        challenge: String,
        /// The `code_challenge_method`: `S256` or `plain`.
        #[arg(long, default_value = "S256", value_parser = parse_method)]
        method: ChallengeMethod,
        /// Print `{"ok": …, "reason": …}` instead of a line (the exit code is the same).
        #[arg(long)]
        json: bool,
    },
    /// Prints an environment's PKCE readiness report: per client, what it sent, what
    /// happened, and whether it is ready for S256-required.
    Report {
        /// The environment.
        #[arg(long)]
        env: String,
        /// The window, in days.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=366))]
        days: i64,
        /// Print the JSON of the admin API instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: crate::StoreArgs,
    },
}

fn parse_method(s: &str) -> Result<ChallengeMethod, String> {
    ChallengeMethod::parse(s).ok_or_else(|| {
        match ChallengeMethod::ALL.iter().find(|m| m.as_str().eq_ignore_ascii_case(s)) {
            // RFC 7636 §4.3: method names are case-sensitive.
            Some(m) => format!("unknown method '{s}': method names are case-sensitive; did you mean {m}?"),
            None => format!("unknown method '{s}': use S256 or plain"),
        }
    })
}

/// Runs a `pixie pkce` subcommand.
pub fn run(cmd: PkceCommand) -> ExitCode {
    match cmd {
        PkceCommand::Report { env, days, json, store } => {
            let result = crate::runtime().and_then(|rt| {
                rt.block_on(async {
                    let svc = crate::store_cmd::open(&store).await?;
                    svc.pkce_report(&env, days).await.map_err(|e| e.to_string())
                })
            });
            match result {
                Ok(report) if json => {
                    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Ok(report) => {
                    print!("{}", report_table(&report));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("pixie: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        PkceCommand::Generate { method, length } => {
            let verifier = match CodeVerifier::generate(&mut rand_core::OsRng, usize::from(length)) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("pixie: --length: {e}");
                    return ExitCode::from(2);
                }
            };
            let challenge = CodeChallenge::from_verifier(&verifier, method);
            let out = serde_json::json!({
                "code_verifier": verifier.as_str(),
                "code_challenge": challenge.value(),
                "code_challenge_method": method.as_str(),
            });
            println!("{out}");
            ExitCode::SUCCESS
        }
        PkceCommand::Verify {
            verifier,
            challenge,
            method,
            json,
        } => {
            let checked = verify(&verifier, &challenge, method);
            match (&checked, json) {
                (Ok(()), false) => println!("ok: the verifier transforms to the challenge ({method})"),
                (Err(reason), false) => println!("mismatch: {reason}"),
                (Ok(()), true) => println!("{}", serde_json::json!({"ok": true, "method": method.as_str()})),
                (Err(reason), true) => println!(
                    "{}",
                    serde_json::json!({"ok": false, "method": method.as_str(), "reason": reason})
                ),
            }
            match checked {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(1),
            }
        }
    }
}

fn verify(verifier: &str, challenge: &str, method: ChallengeMethod) -> Result<(), String> {
    let v = CodeVerifier::parse(verifier).map_err(|e| format!("the verifier is malformed: {e}"))?;
    let c =
        CodeChallenge::parse(method, challenge).map_err(|e| format!("the challenge is malformed for {method}: {e}"))?;
    if c.verify(&v) {
        Ok(())
    } else {
        Err(format!(
            "the verifier does not transform to the challenge under {method}"
        ))
    }
}

/// The report as an aligned text table, then what to do about each client.
fn report_table(r: &pixie_core::report::Report) -> String {
    let rows = r
        .clients
        .iter()
        .map(|c| {
            let cell = |m: &str| {
                let o = c.counts.get(m).cloned().unwrap_or_default();
                format!("{}/{}/{}", o.accepted, o.rejected, o.would_reject)
            };
            let rules: Vec<String> = c.rules.iter().map(|(rule, n)| format!("{rule}={n}")).collect();
            vec![
                c.client_name.clone().unwrap_or_else(|| "(removed)".into()),
                c.client_id.clone(),
                cell("none"),
                cell("plain"),
                cell("S256"),
                rules.join(","),
                crate::output::date(c.last_seen),
                c.verdict.clone(),
            ]
        })
        .collect();
    let header = [
        "CLIENT",
        "CLIENT ID",
        "none a/r/w",
        "plain a/r/w",
        "S256 a/r/w",
        "REFUSED BY",
        "LAST SEEN (UTC)",
        "VERDICT",
    ];
    let mut out = format!(
        "PKCE report for {} over {} day(s) (a/r/w: accepted/rejected/would_reject)\n",
        r.env, r.window_days
    );
    for line in crate::output::table(&header, rows) {
        out.push_str(&line);
        out.push('\n');
    }
    if r.clients.is_empty() {
        out.push_str("(no authorization requests in the window)\n");
        return out;
    }
    out.push_str("\nWhat to do:\n");
    for c in &r.clients {
        let name = c.client_name.as_deref().unwrap_or("(removed)");
        let line = format!("{name} ({}): {}", c.client_id, c.action);
        for (i, part) in crate::output::wrap(&line, 96).iter().enumerate() {
            out.push_str(if i == 0 { "  " } else { "    " });
            out.push_str(part);
            out.push('\n');
        }
    }
    out
}

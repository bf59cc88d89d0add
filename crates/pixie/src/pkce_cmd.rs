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
        #[arg(long, value_parser = parse_method)]
        method: ChallengeMethod,
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
    ChallengeMethod::parse(s).ok_or_else(|| format!("unknown method '{s}': use S256 or plain"))
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
        } => match verify(&verifier, &challenge, method) {
            Ok(()) => {
                println!("ok: the verifier transforms to the challenge ({method})");
                ExitCode::SUCCESS
            }
            Err(reason) => {
                println!("mismatch: {reason}");
                ExitCode::from(1)
            }
        },
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

/// `YYYY-MM-DD HH:MM` (UTC) from seconds since the epoch.
fn utc(ts: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let (days, secs) = (ts.div_euclid(86_400), ts.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// The report as an aligned text table.
fn report_table(r: &pixie_core::report::Report) -> String {
    let mut rows = vec![[
        "CLIENT".to_owned(),
        "none a/r/w".to_owned(),
        "plain a/r/w".to_owned(),
        "S256 a/r/w".to_owned(),
        "LAST SEEN (UTC)".to_owned(),
        "VERDICT".to_owned(),
    ]];
    for c in &r.clients {
        let cell = |m: &str| {
            let o = c.counts.get(m).cloned().unwrap_or_default();
            format!("{}/{}/{}", o.accepted, o.rejected, o.would_reject)
        };
        rows.push([
            c.client_id.clone(),
            cell("none"),
            cell("plain"),
            cell("S256"),
            utc(c.last_seen),
            c.verdict.clone(),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = format!(
        "PKCE report for {} over {} day(s) (a/r/w: accepted/rejected/would_reject)\n",
        r.env, r.window_days
    );
    for row in &rows {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if r.clients.is_empty() {
        out.push_str("(no authorization requests in the window)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(1_795_319_924), "2026-11-22 03:58");
    }
}

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
}

fn parse_method(s: &str) -> Result<ChallengeMethod, String> {
    ChallengeMethod::parse(s).ok_or_else(|| format!("unknown method '{s}': use S256 or plain"))
}

/// Runs a `pixie pkce` subcommand.
pub fn run(cmd: PkceCommand) -> ExitCode {
    match cmd {
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

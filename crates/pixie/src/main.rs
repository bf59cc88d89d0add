//! `pixie`: the command-line front of the pixie authorization server.

mod pkce_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// pixie: an OAuth 2.1 / OpenID Connect authorization server with PKCE done right.
#[derive(Parser)]
#[command(name = "pixie", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// PKCE tools: generate and verify verifier/challenge pairs.
    #[command(subcommand)]
    Pkce(pkce_cmd::PkceCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Pkce(cmd) => pkce_cmd::run(cmd),
    }
}

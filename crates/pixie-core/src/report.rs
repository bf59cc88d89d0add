//! The PKCE readiness report: per client, what it sent and what happened, and whether
//! it would survive the strict policy (S256 required).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a request's PKCE looked like, for counting: `none`, `plain` or `S256`.
pub fn method_label(m: Option<crate::ChallengeMethod>) -> &'static str {
    match m {
        None => "none",
        Some(crate::ChallengeMethod::Plain) => "plain",
        Some(crate::ChallengeMethod::S256) => "S256",
    }
}

/// The outcome of one PKCE check at the authorization endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Passed every check.
    Accepted,
    /// Refused.
    Rejected,
    /// Let through by report mode; enforce mode would have refused it.
    WouldReject,
}

impl Outcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::WouldReject => "would_reject",
        }
    }
}

/// One aggregated row of observations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The client.
    pub client_id: String,
    /// `none`, `plain` or `S256`.
    pub method: String,
    /// `accepted`, `rejected` or `would_reject`.
    pub outcome: String,
    /// The rule for `rejected` and `would_reject`; empty for `accepted`.
    pub rule: String,
    /// How many.
    pub count: i64,
    /// First seen (seconds since the epoch).
    pub first_seen: i64,
    /// Last seen.
    pub last_seen: i64,
}

/// Counts of one method.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    /// Passed.
    pub accepted: i64,
    /// Refused.
    pub rejected: i64,
    /// Let through by report mode only.
    pub would_reject: i64,
}

/// One client's line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientReport {
    /// The client.
    pub client_id: String,
    /// Counts by method (`none`, `plain`, `S256`), each by outcome.
    pub counts: BTreeMap<String, OutcomeCounts>,
    /// Counts by the rule that rejected, or would have rejected.
    pub rules: BTreeMap<String, i64>,
    /// First request in the window.
    pub first_seen: i64,
    /// Last request in the window.
    pub last_seen: i64,
    /// "ready for S256-required", or why not.
    pub verdict: String,
    /// Whether the verdict is "ready".
    pub ready: bool,
}

/// The report for an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The environment.
    pub env: String,
    /// The window, in days back from now.
    pub window_days: i64,
    /// One line per client seen in the window, by client id.
    pub clients: Vec<ClientReport>,
}

/// The verdict when every request used S256.
pub const READY: &str = "ready for S256-required";

/// Builds the report from aggregated observations.
pub fn build(env: &str, window_days: i64, rows: &[Observation]) -> Report {
    let mut by_client: BTreeMap<&str, ClientReport> = BTreeMap::new();
    for r in rows {
        let c = by_client.entry(&r.client_id).or_insert_with(|| ClientReport {
            client_id: r.client_id.clone(),
            counts: ["none", "plain", "S256"]
                .iter()
                .map(|m| ((*m).to_owned(), OutcomeCounts::default()))
                .collect(),
            rules: BTreeMap::new(),
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            verdict: String::new(),
            ready: false,
        });
        let counts = c.counts.entry(r.method.clone()).or_default();
        match r.outcome.as_str() {
            "accepted" => counts.accepted += r.count,
            "rejected" => counts.rejected += r.count,
            _ => counts.would_reject += r.count,
        }
        if !r.rule.is_empty() {
            *c.rules.entry(r.rule.clone()).or_default() += r.count;
        }
        c.first_seen = c.first_seen.min(r.first_seen);
        c.last_seen = c.last_seen.max(r.last_seen);
    }
    let clients = by_client
        .into_values()
        .map(|mut c| {
            (c.verdict, c.ready) = verdict(&c);
            c
        })
        .collect();
    Report {
        env: env.to_owned(),
        window_days,
        clients,
    }
}

fn verdict(c: &ClientReport) -> (String, bool) {
    let total = |m: &str| c.counts.get(m).map_or(0, |o| o.accepted + o.rejected + o.would_reject);
    let s256 = c.counts.get("S256").cloned().unwrap_or_default();
    let (none, plain) = (total("none"), total("plain"));
    let mut why = Vec::new();
    if none > 0 {
        why.push(format!("{none} request(s) without PKCE"));
    }
    if plain > 0 {
        why.push(format!("{plain} request(s) with plain"));
    }
    if s256.rejected + s256.would_reject > 0 {
        why.push(format!(
            "{} S256 request(s) refused by another rule",
            s256.rejected + s256.would_reject
        ));
    }
    if why.is_empty() {
        (READY.into(), true)
    } else {
        (format!("not ready: {}", why.join(", ")), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(client: &str, method: &str, outcome: &str, rule: &str, count: i64, t: i64) -> Observation {
        Observation {
            client_id: client.into(),
            method: method.into(),
            outcome: outcome.into(),
            rule: rule.into(),
            count,
            first_seen: t,
            last_seen: t + 10,
        }
    }

    #[test]
    fn verdicts() {
        let rows = vec![
            obs("good", "S256", "accepted", "", 5, 100),
            obs("legacy", "none", "would_reject", "required_missing", 3, 50),
            obs("legacy", "S256", "accepted", "", 2, 200),
            obs("legacy", "plain", "rejected", "method_not_allowed", 1, 300),
        ];
        let r = build("acme", 30, &rows);
        assert_eq!(r.clients.len(), 2);
        let good = &r.clients[0];
        assert_eq!(
            (good.client_id.as_str(), good.ready, good.verdict.as_str()),
            ("good", true, READY)
        );
        assert_eq!(good.counts["S256"].accepted, 5);
        assert_eq!(good.counts["none"], OutcomeCounts::default());
        let legacy = &r.clients[1];
        assert!(!legacy.ready);
        assert_eq!(
            legacy.verdict,
            "not ready: 3 request(s) without PKCE, 1 request(s) with plain"
        );
        assert_eq!(legacy.counts["none"].would_reject, 3);
        assert_eq!(legacy.rules["required_missing"], 3);
        assert_eq!((legacy.first_seen, legacy.last_seen), (50, 310));
    }
}

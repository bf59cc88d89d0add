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
    /// The name the operator gave it (`client_name`), when it still exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Counts by method (`none`, `plain`, `S256`), each by outcome.
    pub counts: BTreeMap<String, OutcomeCounts>,
    /// Counts by the rule that rejected, or would have rejected.
    pub rules: BTreeMap<String, i64>,
    /// First request in the window.
    pub first_seen: i64,
    /// Last request in the window.
    pub last_seen: i64,
    /// "ready for S256-required", "refused now: …" or "not ready: …".
    pub verdict: String,
    /// Whether the verdict is "ready".
    pub ready: bool,
    /// What the operator should do about this client, in words.
    pub action: String,
}

/// What the report needs to know beyond the observations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportContext {
    /// Client names by client id (clients that still exist).
    pub names: BTreeMap<String, String>,
    /// The environment's policy: what its verdicts are measured against.
    pub policy: crate::EnvPkcePolicy,
}

/// Rules that refuse a request for its form (a malformed challenge, a method without a
/// challenge, an unknown method), not for the policy: a client bug or someone probing,
/// refused under every policy; they say nothing of readiness for S256-required.
const MALFORMED_RULES: [&str; 3] = ["malformed_challenge", "method_without_challenge", "unknown_method"];

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
pub fn build(env: &str, window_days: i64, rows: &[Observation], ctx: &ReportContext) -> Report {
    let mut by_client: BTreeMap<&str, ClientReport> = BTreeMap::new();
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    for r in rows {
        let t = tallies.entry(&r.client_id).or_default();
        let malformed = MALFORMED_RULES.contains(&r.rule.as_str());
        match (r.outcome.as_str(), r.method.as_str(), malformed) {
            (_, _, true) => t.malformed += r.count,
            ("rejected", "S256", false) => t.s256_refused += r.count,
            ("rejected", _, false) => t.weak_refused += r.count,
            _ => {}
        }
        let c = by_client.entry(&r.client_id).or_insert_with(|| ClientReport {
            client_id: r.client_id.clone(),
            client_name: ctx.names.get(&r.client_id).cloned(),
            counts: ["none", "plain", "S256"]
                .iter()
                .map(|m| ((*m).to_owned(), OutcomeCounts::default()))
                .collect(),
            rules: BTreeMap::new(),
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            verdict: String::new(),
            ready: false,
            action: String::new(),
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
            let t = tallies.get(c.client_id.as_str()).cloned().unwrap_or_default();
            (c.verdict, c.ready, c.action) = verdict(&c, &t, &ctx.policy);
            c
        })
        .collect();
    Report {
        env: env.to_owned(),
        window_days,
        clients,
    }
}

/// A client's requests refused, by why (computed from the rows, which keep method and
/// rule together).
#[derive(Debug, Clone, Default)]
struct Tally {
    /// Refused for their form, whatever the method.
    malformed: i64,
    /// Without S256 (none or plain), refused by the policy.
    weak_refused: i64,
    /// With S256, refused by the policy (a client's registered method, say).
    s256_refused: i64,
}

/// The verdict, whether it is "ready", and what to do. Requests refused for their form
/// (see [`MALFORMED_RULES`]) are set aside; of the rest, requests without S256 that got
/// through (or would have, in report mode) make a client "not ready", and requests
/// without S256 that the policy refuses today make it "refused now".
fn verdict(c: &ClientReport, t: &Tally, policy: &crate::EnvPkcePolicy) -> (String, bool, String) {
    let get = |m: &str| c.counts.get(m).cloned().unwrap_or_default();
    let (none, plain, s256) = (get("none"), get("plain"), get("S256"));
    let (malformed, weak_refused) = (t.malformed, t.weak_refused);
    let weak_live = none.accepted + none.would_reject + plain.accepted + plain.would_reject;
    let s256_refused = s256.would_reject + t.s256_refused;
    let enforcing = policy.mode == crate::PolicyMode::Enforce;
    let s256_required = policy.required == crate::MethodSet::S256;
    let mut why = Vec::new();
    if none.accepted + none.would_reject > 0 {
        why.push(format!("{} request(s) without PKCE", none.accepted + none.would_reject));
    }
    if plain.accepted + plain.would_reject > 0 {
        why.push(format!("{} request(s) with plain", plain.accepted + plain.would_reject));
    }
    if s256_refused > 0 {
        why.push(format!("{s256_refused} S256 request(s) refused by another rule"));
    }
    if weak_refused > 0 {
        why.push(format!("{weak_refused} request(s) without S256 refused now"));
    }
    let aside = match malformed {
        0 => String::new(),
        n => format!(
            " ({n} malformed request(s) were refused as under any policy: a client bug or probing, not a readiness problem)"
        ),
    };
    if weak_live > 0 || s256_refused > 0 {
        let verdict = format!("not ready: {}", why.join(", "));
        let action = if enforcing {
            "update the client to send S256 before requiring it; until then its requests without S256 are accepted"
        } else {
            "update the client to send S256 before switching the environment to enforce: report mode lets these through, enforce would refuse them"
        };
        return (verdict, false, format!("{action}{aside}"));
    }
    if weak_refused > 0 {
        let verdict = format!("refused now: {weak_refused} request(s) without S256 were rejected");
        let action =
            "this client fails today: update it to send S256 (or allow its method for now; see the PKCE policy)";
        return (verdict, false, format!("{action}{aside}"));
    }
    let action = match (s256_required && enforcing, malformed) {
        (true, 0) => "nothing to do: it sends S256 and S256 is required".to_owned(),
        (false, 0) => "nothing to do: it already sends S256 on every request".to_owned(),
        (_, n) => format!(
            "nothing to do for readiness; {n} malformed request(s) were refused (a client bug or probing: check its logs)"
        ),
    };
    (READY.into(), true, action)
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
        let r = build("acme", 30, &rows, &ReportContext::default());
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
            "not ready: 3 request(s) without PKCE, 1 request(s) without S256 refused now"
        );
        assert_eq!(legacy.counts["none"].would_reject, 3);
        assert_eq!(legacy.rules["required_missing"], 3);
        assert_eq!((legacy.first_seen, legacy.last_seen), (50, 310));
        assert!(legacy.action.contains("before requiring it"), "{}", legacy.action);
    }

    #[test]
    fn names_and_what_to_do() {
        let strict = crate::EnvPkcePolicy::strict();
        let report_mode = crate::EnvPkcePolicy {
            mode: crate::PolicyMode::Report,
            ..strict
        };
        let rows = vec![
            obs("refused", "none", "rejected", "required_missing", 3, 100),
            obs("sloppy", "S256", "accepted", "", 9, 100),
            obs("sloppy", "S256", "rejected", "malformed_challenge", 1, 100),
            obs("gone", "S256", "accepted", "", 1, 100),
            obs("legacy", "none", "would_reject", "required_missing", 2, 100),
        ];
        let ctx = ReportContext {
            names: [("refused", "Old iOS app"), ("sloppy", "Web"), ("legacy", "CLI")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
            policy: strict,
        };
        let r = build("acme", 30, &rows, &ctx);
        let by = |id: &str| r.clients.iter().find(|c| c.client_id == id).unwrap().clone();
        let refused = by("refused");
        assert_eq!(refused.client_name.as_deref(), Some("Old iOS app"));
        assert!(!refused.ready);
        assert_eq!(refused.verdict, "refused now: 3 request(s) without S256 were rejected");
        assert!(refused.action.contains("fails today"), "{}", refused.action);
        let sloppy = by("sloppy");
        assert!(sloppy.ready, "one malformed request is not a readiness problem");
        assert_eq!(sloppy.verdict, READY);
        assert!(sloppy.action.contains("1 malformed request(s)"), "{}", sloppy.action);
        assert_eq!(by("gone").client_name, None);
        assert!(by("gone").action.contains("S256 is required"));
        let legacy = by("legacy");
        assert_eq!(legacy.verdict, "not ready: 2 request(s) without PKCE");
        let r = build(
            "acme",
            30,
            &rows,
            &ReportContext {
                policy: report_mode,
                ..ctx
            },
        );
        let legacy = r.clients.iter().find(|c| c.client_id == "legacy").unwrap();
        assert!(
            legacy.action.contains("before switching the environment to enforce"),
            "{}",
            legacy.action
        );
    }
}

//! Observability: Prometheus metrics, PKCE observations for the readiness report, and
//! the audit log. Label values are only route templates, registered env and client
//! ids, and fixed words, so no request can grow the label set.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use pixie_core::report::{Observation, Outcome};
use pixie_store::metrics::prometheus_client::encoding::EncodeLabelSet;
use pixie_store::metrics::prometheus_client::metrics::counter::Counter;
use pixie_store::metrics::prometheus_client::metrics::family::Family;
use pixie_store::metrics::prometheus_client::registry::Registry;
use pixie_store::metrics::LatencyFamily;
use pixie_store::{PkceStatDelta, Store};
use serde_json::{json, Value};

tokio::task_local! {
    /// The request id of the request being answered (CONTRACT §10): set around each
    /// request by the HTTP layer, read by the audit log.
    pub static REQUEST_ID: String;
}

/// Fresh request ids: this process's random prefix and a counter. Unique across
/// instances and restarts (the prefix is 72 random bits), and no system call per
/// request: a request id names a request, it guards nothing.
#[derive(Debug)]
pub struct RequestIds {
    prefix: String,
    next: std::sync::atomic::AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        Self {
            prefix: crate::crypto::random_token::<9>(),
            next: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl RequestIds {
    /// Whether a caller's `X-Request-Id` is taken as is: 1-64 characters of
    /// `[A-Za-z0-9._-]` (CONTRACT §10).
    pub fn is_well_formed(id: &str) -> bool {
        (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }

    /// A fresh request id.
    pub fn fresh(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{n:x}", self.prefix)
    }
}

/// Where audit events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// Nowhere.
    Off,
    /// Standard output, one JSON object per line.
    Stdout,
    /// Appended to a file, one JSON object per line.
    File(std::path::PathBuf),
}

impl AuditTarget {
    /// Parses `off`, `stdout`, or a file path.
    pub fn parse(s: &str) -> Self {
        match s {
            "" | "off" | "none" => Self::Off,
            "stdout" | "-" => Self::Stdout,
            path => Self::File(path.into()),
        }
    }
}

/// Labels of `pixie_pkce_checks_total` (CONTRACT §6).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PkceLabels {
    env: String,
    client: String,
    method: &'static str,
    outcome: &'static str,
}

/// Labels of `pixie_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatusLabels {
    route: String,
    status: u16,
}

/// Labels of `pixie_http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// Labels of `pixie_tokens_issued_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    env: String,
    grant_type: &'static str,
}

type StatKey = (String, i64, String, &'static str, &'static str, &'static str);

/// Counters, histograms, pending observations and the audit sink.
pub struct Observability {
    registry: Registry,
    pkce_checks: Family<PkceLabels, Counter>,
    http_requests: Family<RouteStatusLabels, Counter>,
    http_latency: LatencyFamily<RouteLabels>,
    tokens_issued: Family<TokenLabels, Counter>,
    pending_stats: Mutex<HashMap<StatKey, (i64, i64, i64)>>,
    audit: Option<AuditWriter>,
    /// Where fresh request ids come from.
    pub request_ids: RequestIds,
}

impl std::fmt::Debug for Observability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observability")
            .field("audit", &self.audit.is_some())
            .finish_non_exhaustive()
    }
}

/// What the audit writer thread is sent.
enum AuditMessage {
    /// One event, as its JSON line.
    Line(String),
    /// Answer once everything sent before is written and flushed.
    Flush(std::sync::mpsc::Sender<()>),
}

/// Audit events at most queued for the writer; past this, events are counted as
/// dropped rather than holding up requests.
const AUDIT_QUEUE: usize = 10_000;

/// The audit log's writer: a thread of its own, so no request waits for a disk write
/// (or holds a lock across one). Lines are written in the order they were sent and
/// flushed whenever the queue runs empty.
struct AuditWriter {
    queue: std::sync::mpsc::SyncSender<AuditMessage>,
    dropped: Counter,
}

impl AuditWriter {
    fn start(mut out: Box<dyn std::io::Write + Send>) -> std::io::Result<Self> {
        let (queue, rx) = std::sync::mpsc::sync_channel::<AuditMessage>(AUDIT_QUEUE);
        std::thread::Builder::new().name("pixie-audit".into()).spawn(move || {
            let mut waiting = Vec::new();
            while let Ok(first) = rx.recv() {
                let mut next = Some(first);
                while let Some(message) = next {
                    match message {
                        AuditMessage::Line(line) => {
                            let _ = writeln!(out, "{line}");
                        }
                        AuditMessage::Flush(reply) => waiting.push(reply),
                    }
                    next = rx.try_recv().ok();
                }
                let _ = out.flush();
                for reply in waiting.drain(..) {
                    let _ = reply.send(());
                }
            }
        })?;
        Ok(Self {
            queue,
            dropped: Counter::default(),
        })
    }
}

impl Observability {
    /// Builds with no audit log; the store's metrics are served beside pixie's own.
    pub fn without_audit(store: &Store) -> Self {
        let mut registry = Registry::default();
        let pkce_checks = Family::<PkceLabels, Counter>::default();
        registry.register(
            "pixie_pkce_checks",
            "PKCE checks at the authorization endpoint",
            pkce_checks.clone(),
        );
        let http_requests = Family::<RouteStatusLabels, Counter>::default();
        registry.register(
            "pixie_http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        let http_latency = pixie_store::metrics::latency_family::<RouteLabels>();
        registry.register(
            "pixie_http_request_duration_seconds",
            "HTTP request latency by route",
            http_latency.clone(),
        );
        let tokens_issued = Family::<TokenLabels, Counter>::default();
        registry.register(
            "pixie_tokens_issued",
            "Token responses by grant type",
            tokens_issued.clone(),
        );
        store.register_metrics(&mut registry);
        Self {
            registry,
            pkce_checks,
            http_requests,
            http_latency,
            tokens_issued,
            pending_stats: Mutex::default(),
            audit: None,
            request_ids: RequestIds::default(),
        }
    }

    /// Builds with an audit target; a file that cannot be opened is an error.
    pub fn new(audit: &AuditTarget, store: &Store) -> std::io::Result<Self> {
        let audit: Option<Box<dyn std::io::Write + Send>> = match audit {
            AuditTarget::Off => None,
            AuditTarget::Stdout => Some(Box::new(std::io::stdout())),
            AuditTarget::File(p) => {
                // 0600: it names the usernames typed at failed sign-ons.
                let mut options = std::fs::OpenOptions::new();
                options.create(true).append(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                Some(Box::new(options.open(p)?))
            }
        };
        let mut obs = Self::without_audit(store);
        obs.audit = audit.map(AuditWriter::start).transpose()?;
        if let Some(writer) = &obs.audit {
            obs.registry.register(
                "pixie_audit_dropped",
                "Audit events dropped because the audit writer could not keep up",
                writer.dropped.clone(),
            );
        }
        Ok(obs)
    }

    /// Waits (at most 5 s) until every audit event sent so far is written and flushed:
    /// at shutdown, and for tests that read the log.
    pub fn flush_audit(&self) {
        let Some(writer) = &self.audit else { return };
        let (tx, rx) = std::sync::mpsc::channel();
        if writer.queue.send(AuditMessage::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(5));
        }
    }

    /// Audit events dropped because the writer could not keep up.
    pub fn audit_dropped(&self) -> u64 {
        self.audit.as_ref().map_or(0, |w| w.dropped.get())
    }

    /// Writes one audit event (a JSON object) as a line, with a timestamp. Never pass a
    /// secret: events name who, which client, which rule, never a credential.
    pub fn audit(&self, now: i64, event: &str, mut fields: Value) {
        let Some(sink) = &self.audit else { return };
        fields["ts"] = json!(now);
        fields["event"] = json!(event);
        if let Ok(id) = REQUEST_ID.try_with(Clone::clone) {
            fields["request_id"] = json!(id);
        }
        // Handed to the writer thread; never waited for. A full queue (a disk that
        // stalls) drops the event and counts it, rather than stalling requests.
        if sink.queue.try_send(AuditMessage::Line(fields.to_string())).is_err() {
            sink.dropped.inc();
        }
    }

    /// Records one PKCE check at the authorization endpoint.
    pub fn pkce_check(
        &self,
        now: i64,
        env: &str,
        client: &str,
        method: &'static str,
        outcome: Outcome,
        rule: &'static str,
    ) {
        self.pkce_checks
            .get_or_create(&PkceLabels {
                env: env.to_owned(),
                client: client.to_owned(),
                method,
                outcome: outcome.as_str(),
            })
            .inc();
        let key = (
            env.to_owned(),
            now.div_euclid(86_400),
            client.to_owned(),
            method,
            outcome.as_str(),
            rule,
        );
        if let Ok(mut p) = self.pending_stats.lock() {
            let e = p.entry(key).or_insert((0, now, now));
            e.0 += 1;
            e.1 = e.1.min(now);
            e.2 = e.2.max(now);
        }
        if outcome != Outcome::Accepted {
            let event = if outcome == Outcome::Rejected {
                "pkce.rejected"
            } else {
                "pkce.would_reject"
            };
            self.audit(
                now,
                event,
                json!({"env": env, "client": client, "method": method, "rule": rule}),
            );
        }
    }

    /// Records an issued token response.
    pub fn token_issued(&self, now: i64, env: &str, client: &str, user: Option<&str>, grant: &'static str) {
        self.tokens_issued
            .get_or_create(&TokenLabels {
                env: env.to_owned(),
                grant_type: grant,
            })
            .inc();
        self.audit(
            now,
            "token.issued",
            json!({"env": env, "client": client, "user": user, "grant_type": grant}),
        );
    }

    /// Records an HTTP request by route template and status.
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .get_or_create(&RouteStatusLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Moves pending PKCE observations to the store, in one transaction.
    pub async fn flush(&self, store: &Store) -> Result<(), pixie_store::StoreError> {
        let batch: Vec<PkceStatDelta> = match self.pending_stats.lock() {
            Ok(mut p) => p
                .drain()
                .map(
                    |((env_id, day, client_id, method, outcome, rule), (count, first, last))| PkceStatDelta {
                        env_id,
                        day,
                        observation: Observation {
                            client_id,
                            method: method.into(),
                            outcome: outcome.into(),
                            rule: rule.into(),
                            count,
                            first_seen: first,
                            last_seen: last,
                        },
                    },
                )
                .collect(),
            Err(_) => return Ok(()),
        };
        if batch.is_empty() {
            return Ok(());
        }
        if let Err(e) = store.add_pkce_stats(&batch).await {
            // Put them back: a later flush retries.
            if let Ok(mut p) = self.pending_stats.lock() {
                for d in batch {
                    let o = d.observation;
                    let key = (
                        d.env_id,
                        d.day,
                        o.client_id,
                        leak_label(&o.method),
                        leak_label(&o.outcome),
                        leak_label(&o.rule),
                    );
                    let e = p.entry(key).or_insert((0, o.first_seen, o.last_seen));
                    e.0 += o.count;
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// The metrics in the OpenMetrics text format, which Prometheus asks for.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        if let Err(e) = pixie_store::metrics::prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        out
    }

    /// The metrics in the Prometheus text format 0.0.4, for scrapers that do not ask for
    /// OpenMetrics: the same samples, with counters' `# HELP`/`# TYPE` lines naming the
    /// `_total` series (as that format has it) and no `# EOF`.
    pub fn render_prometheus_text(&self) -> String {
        to_prometheus_text(&self.render_openmetrics())
    }
}

/// Rewrites OpenMetrics text as Prometheus text 0.0.4 (see
/// [`Observability::render_prometheus_text`]).
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let comment = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?)));
        match comment {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let total = if counters.contains(name) { "_total" } else { "" };
                out.push_str(&format!("{prefix}{name}{total} {tail}\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Maps a stored label back to its static spelling (labels come from fixed sets).
fn leak_label(s: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "none",
        "plain",
        "S256",
        "accepted",
        "rejected",
        "would_reject",
        "",
        "method_without_challenge",
        "unknown_method",
        "method_not_allowed",
        "required_missing",
        "method_not_required",
        "client_method_mismatch",
        "client_requires_pkce",
        "public_client_requires_pkce",
        "malformed_challenge",
    ];
    KNOWN.iter().find(|k| **k == s).copied().unwrap_or("other")
}

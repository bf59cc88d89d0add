//! The console's pages beyond the home page: per environment, its signing keys (list,
//! rotate) and its PKCE readiness report (a table per client, and a chart of requests
//! by method and outcome per day, drawn as SVG on the server).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::console::{html, redirect_to, Admin, AdminForm};
use super::state::{AppState, Base};

/// Requests of one day, method and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// Days since the epoch.
    pub day: i64,
    /// `none`, `plain` or `S256`.
    pub method: String,
    /// `accepted`, `rejected` or `would_reject`.
    pub outcome: String,
    /// How many.
    pub count: i64,
}

/// The series of the chart, in the order they stack, with their colours.
const SERIES: [(&str, &str, &str); 9] = [
    ("S256", "accepted", "#1a7f37"),
    ("S256", "would_reject", "#8fd19e"),
    ("S256", "rejected", "#0b4f1f"),
    ("plain", "accepted", "#bf8700"),
    ("plain", "would_reject", "#f2cc60"),
    ("plain", "rejected", "#7d4e00"),
    ("none", "accepted", "#cf222e"),
    ("none", "would_reject", "#ff8182"),
    ("none", "rejected", "#82071e"),
];

/// A stacked bar per day (the last `days` days up to `today`), a segment per method
/// and outcome, with a title and a legend: an accessible image, no script.
pub fn chart_svg(counts: &[DayCount], today: i64, days: i64) -> String {
    let (w, h, left, bottom) = (640.0_f64, 220.0_f64, 40.0_f64, 24.0_f64);
    let first = today - days + 1;
    let total = |day: i64| counts.iter().filter(|c| c.day == day).map(|c| c.count).sum::<i64>();
    let max = (first..=today).map(total).max().unwrap_or(0).max(1) as f64;
    let slot = (w - left) / days as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-labelledby=\"chart-title\" id=\"chart\">\
         <title id=\"chart-title\">Authorization requests per day by PKCE method and outcome, last {days} days (at most {} a day)</title>",
        h + 60.0,
        max as i64
    );
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{w}\" y2=\"{}\" stroke=\"#888\"/>",
        h - bottom,
        h - bottom
    ));
    svg.push_str(&format!(
        "<text x=\"2\" y=\"12\" font-size=\"10\">{}</text><text x=\"2\" y=\"{}\" font-size=\"10\">0</text>",
        max as i64,
        h - bottom
    ));
    for (i, day) in (first..=today).enumerate() {
        let x = left + slot * i as f64 + slot * 0.15;
        let mut y = h - bottom;
        for (method, outcome, colour) in SERIES {
            let n: i64 = counts
                .iter()
                .filter(|c| c.day == day && c.method == method && c.outcome == outcome)
                .map(|c| c.count)
                .sum();
            if n == 0 {
                continue;
            }
            let height = (h - bottom - 16.0) * n as f64 / max;
            y -= height;
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"{colour}\"><title>{} {method} {outcome}: {n}</title></rect>",
                slot * 0.7,
                crate::http::console::day_label(day)
            ));
        }
        if days <= 14 || i % 7 == 0 {
            svg.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{}\" font-size=\"9\">{}</text>",
                h - 8.0,
                &crate::http::console::day_label(day)[5..]
            ));
        }
    }
    for (i, (method, outcome, colour)) in SERIES.iter().enumerate() {
        let (col, row) = (i % 3, i / 3);
        let (x, y) = (left + col as f64 * 200.0, h + 10.0 + row as f64 * 16.0);
        svg.push_str(&format!(
            "<rect x=\"{x}\" y=\"{y}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\" font-size=\"10\">{method} {}</text>",
            x + 14.0,
            y + 9.0,
            outcome.replace('_', " ")
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// One client's line in the report page.
struct ClientLine {
    name: String,
    client_id: String,
    none: String,
    plain: String,
    s256: String,
    verdict: String,
    action: String,
}

#[derive(Template)]
#[template(path = "console_report.html")]
struct ReportPage<'a> {
    public_url: &'a str,
    env: &'a str,
    username: &'a str,
    chart: &'a str,
    clients: Vec<ClientLine>,
}

/// `GET /console/environments/<env>/report`.
pub(super) async fn report(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    op: Admin,
    Path(env): Path<String>,
) -> Response {
    let report = match s.svc.pkce_report(&env, 30).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let today = s.svc.now().div_euclid(86_400);
    let daily = match s.svc.store.pkce_daily(&env, today - 13).await {
        Ok(d) => d,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let counts: Vec<DayCount> = daily
        .into_iter()
        .map(|(day, method, outcome, count)| DayCount {
            day,
            method,
            outcome,
            count,
        })
        .collect();
    let chart = chart_svg(&counts, today, 14);
    let cell = |c: &pixie_core::report::ClientReport, m: &str| {
        let o = c.counts.get(m).cloned().unwrap_or_default();
        format!("{}/{}/{}", o.accepted, o.rejected, o.would_reject)
    };
    let clients = report
        .clients
        .iter()
        .map(|c| ClientLine {
            name: c.client_name.clone().unwrap_or_else(|| "(removed)".into()),
            client_id: c.client_id.clone(),
            none: cell(c, "none"),
            plain: cell(c, "plain"),
            s256: cell(c, "S256"),
            verdict: c.verdict.clone(),
            action: c.action.clone(),
        })
        .collect();
    html(&ReportPage {
        public_url: base.url(),
        env: &env,
        username: &op.username,
        chart: &chart,
        clients,
    })
}

/// One key's line.
struct KeyLine {
    kid: String,
    alg: String,
    status: String,
    created: String,
    retire_at: String,
}

#[derive(Template)]
#[template(path = "console_keys.html")]
struct KeysPage<'a> {
    public_url: &'a str,
    env: &'a str,
    username: &'a str,
    csrf: &'a str,
    keys: Vec<KeyLine>,
}

/// `GET /console/environments/<env>/keys`.
pub(super) async fn keys(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    op: Admin,
    Path(env): Path<String>,
) -> Response {
    let page = match s.svc.list_signing_keys(&env, Some("500"), None).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let keys = page
        .items
        .into_iter()
        .map(|k| KeyLine {
            created: crate::http::console::time_label(k.created_at),
            retire_at: k.retire_at.map(crate::http::console::time_label).unwrap_or_default(),
            kid: k.kid,
            alg: k.alg,
            status: k.status,
        })
        .collect();
    html(&KeysPage {
        public_url: base.url(),
        env: &env,
        username: &op.username,
        csrf: &op.csrf,
        keys,
    })
}

/// `POST /console/environments/<env>/keys/rotate`: with the CSRF token, audited with
/// the operator.
pub(super) async fn rotate_key(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    Path(env): Path<String>,
    AdminForm(op, form): AdminForm,
) -> Response {
    let alg = match form.get("alg") {
        Some("RS256") => pixie_core::client::SigningAlg::RS256,
        _ => pixie_core::client::SigningAlg::ES256,
    };
    match s.svc.rotate_signing_key(&env, alg).await {
        Ok(key) => {
            op.audit(
                &s,
                "console.key_rotated",
                serde_json::json!({"env": env, "kid": key.kid}),
            );
            redirect_to(&format!("{}/console/environments/{env}/keys", base.url()))
        }
        Err(e) => e.into_response(),
    }
}

#[allow(dead_code)]
fn _unused(_: header::HeaderName, _: StatusCode) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_bar_per_day_with_its_segments_and_a_legend() {
        let counts = vec![
            DayCount {
                day: 100,
                method: "S256".into(),
                outcome: "accepted".into(),
                count: 8,
            },
            DayCount {
                day: 100,
                method: "none".into(),
                outcome: "would_reject".into(),
                count: 2,
            },
            DayCount {
                day: 98,
                method: "plain".into(),
                outcome: "rejected".into(),
                count: 1,
            },
        ];
        let svg = chart_svg(&counts, 100, 7);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("role=\"img\"") && svg.contains("<title id=\"chart-title\">"));
        assert_eq!(
            svg.matches("<rect x=").count(),
            3 + 9,
            "three segments and nine legend keys"
        );
        assert!(svg.contains("S256 accepted: 8") && svg.contains("none would_reject: 2"));
        assert!(!svg.contains("<script"));
    }
}

//! Logs and traces (CONTRACT §6, §10): log lines on stderr as text or JSON, and, when an
//! OTLP endpoint is set, request spans exported over OTLP/HTTP (protobuf).
//!
//! Spans meant for tracing only use the target [`TRACE_TARGET`]: the log layer filters
//! that target out, so log lines look the same with or without a collector, and with no
//! collector those spans are never created (no cost on the request path).

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// The target of request spans and their children (store calls, password checks,
/// signing): exported to the collector, never written as log lines.
pub const TRACE_TARGET: &str = pixie_store::TRACE_TARGET;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One line of text per event.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `message`, `target` and the
    /// event's fields at the top level.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("log format '{other}': use text or json")),
        }
    }
}

/// The installed logging and tracing; [`Telemetry::shutdown`] sends the spans still
/// queued.
#[derive(Debug, Default)]
pub struct Telemetry {
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still queued (waiting at most the exporter's timeout) and stops
    /// the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.traces {
            let _ = provider.shutdown();
        }
    }
}

/// How long one export may take; the exporter runs on a thread of its own, so a slow
/// or absent collector delays only that thread, never a request.
const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs logging to stderr (`PIXIE_LOG` or `RUST_LOG` sets the filter) and, with an
/// endpoint, OTLP trace export to `<endpoint>/v1/traces`.
///
/// An endpoint that is not an absolute http(s) URL is an error; one that does not answer
/// is not (spans queued for it are dropped when the queue is full).
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> Result<Telemetry, String> {
    let filter = std::env::var("PIXIE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let endpoint = otlp_endpoint.filter(|e| !e.is_empty());
    // One global filter, so that what no layer wants is never built (callsites are
    // disabled once, statically): trace spans are on only with an exporter.
    let spans = if endpoint.is_some() { "info" } else { "off" };
    let directive = format!("{TRACE_TARGET}={spans}").parse().map_err(|e| format!("{e}"))?;
    let global = tracing_subscriber::EnvFilter::new(filter).add_directive(directive);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let log_layer = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .boxed(),
    };
    let Some(endpoint) = endpoint else {
        let _ = tracing_subscriber::registry().with(global).with(log_layer).try_init();
        return Ok(Telemetry::default());
    };
    let provider = tracer_provider(endpoint)?;
    let tracer = provider.tracer("pixie");
    // Trace spans go to the exporter only; log lines to the log only.
    let only_spans = tracing_subscriber::filter::Targets::new().with_target(TRACE_TARGET, tracing::Level::INFO);
    let no_spans = tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::TRACE)
        .with_target(TRACE_TARGET, tracing_subscriber::filter::LevelFilter::OFF);
    let _ = tracing_subscriber::registry()
        .with(global)
        .with(log_layer.with_filter(no_spans))
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(only_spans),
        )
        .try_init();
    Ok(Telemetry { traces: Some(provider) })
}

fn tracer_provider(endpoint: &str) -> Result<opentelemetry_sdk::trace::SdkTracerProvider, String> {
    use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
    let base = endpoint.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!("--otlp-endpoint {endpoint}: use an http:// or https:// URL"));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("{base}/v1/traces"))
        .with_timeout(EXPORT_TIMEOUT)
        .with_headers(Default::default())
        .build()
        .map_err(|e| format!("--otlp-endpoint {endpoint}: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("pixie")
        .build();
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Names the client on the current request span (no-op without a collector).
pub fn record_client(client_id: &str) {
    tracing::Span::current().record("client", client_id);
}

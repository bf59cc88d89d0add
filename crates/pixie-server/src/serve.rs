//! One serving stack for the plain and the TLS listener: the same connection handling,
//! the same timeouts (CONTRACT §10), the same graceful stop.
//!
//! - A new connection must complete its TLS handshake and its first request head
//!   within the head timeout; a connection that sends nothing is closed then.
//! - An http/1 request head that dribbles in is cut off by hyper's head timer.
//! - A connection with no request in flight for the idle timeout is closed, whatever
//!   bytes it sends meanwhile (HTTP/2 pings and empty frames do not keep it open).
//! - A whole request (body included) has the request timeout (`observe_request`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tower::ServiceExt as _;

/// The connection timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A new connection's TLS handshake and first request head; any request head.
    pub head: Duration,
    /// A connection with no request in flight.
    pub idle: Duration,
}

/// What a connection's watchdog reads: requests in flight and when the last one began
/// or ended (or the connection was accepted).
struct Activity {
    born: Instant,
    last_change_ms: AtomicU64,
    in_flight: AtomicUsize,
    started: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            born: Instant::now(),
            last_change_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            started: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        self.last_change_ms
            .store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.started.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// How long the connection has had nothing in flight, if it has nothing in flight.
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.last_change_ms.load(Ordering::Relaxed));
        Some(self.born.elapsed().saturating_sub(since))
    }
}

/// A request in flight; ends when dropped (however the request ends).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// Resolves when the connection has been quiet too long: before its first request,
/// the head timeout; after, the idle timeout.
async fn watchdog(activity: &Activity, t: Timeouts) {
    let tick = (t.head.min(t.idle) / 4).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(tick).await;
        let limit = if activity.started.load(Ordering::Relaxed) == 0 {
            t.head
        } else {
            t.idle
        };
        if activity.idle_for().is_some_and(|idle| idle >= limit) {
            return;
        }
    }
}

/// Serves `router` on `listener` until `stop`, then lets requests in flight finish
/// (10 s at most). With `tls`, every connection is TLS.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    timeouts: Timeouts,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.head);
    let builder = Arc::new(builder);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (router, builder, watcher, tls) = (router.clone(), builder.clone(), graceful.watcher(), tls.clone());
                tokio::spawn(async move {
                    let activity = Activity::new();
                    match tls {
                        None => connection(stream, peer, router, &builder, watcher, activity, timeouts).await,
                        Some(acceptor) => {
                            // The handshake counts against the head timeout.
                            match tokio::time::timeout(timeouts.head, acceptor.accept(stream)).await {
                                Ok(Ok(tls_stream)) => {
                                    connection(tls_stream, peer, router, &builder, watcher, activity, timeouts).await
                                }
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        }
                    }
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}

/// Serves one connection until it ends, or its watchdog closes it.
async fn connection<I>(
    io: I,
    peer: SocketAddr,
    router: axum::Router,
    builder: &hyper_util::server::conn::auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    activity: Arc<Activity>,
    timeouts: Timeouts,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let app = router.layer(axum::Extension(axum::extract::ConnectInfo(peer)));
    let counted = activity.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let in_flight = counted.begin();
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await;
            drop(in_flight);
            resp
        }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let conn = watcher.watch(conn.into_owned());
    tokio::select! {
        _ = conn => {}
        _ = watchdog(&activity, timeouts) => tracing::debug!(%peer, "closed a quiet connection"),
    }
}

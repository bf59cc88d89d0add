//! The TLS listener's configuration: a PEM certificate chain and private key, checked
//! at start (before the store is touched) with a message that says what is wrong.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Reads the certificate chain and key, and checks that they belong together.
pub fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("TLS certificate {}: not a PEM certificate chain ({e})", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "TLS certificate {}: no certificate found (expected PEM \"BEGIN CERTIFICATE\" blocks)",
            cert.display()
        ));
    }
    warn_about_validity(cert, &certs[0]);
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("TLS key {}: not a PEM private key ({e})", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| {
            format!(
                "TLS certificate {} and key {} do not fit together: {e}",
                cert.display(),
                key.display()
            )
        })?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Warns at start when the certificate has expired or is not valid yet: clients will
/// refuse every handshake, and the log should say why before anyone asks.
fn warn_about_validity(path: &Path, cert: &CertificateDer<'_>) {
    use x509_cert::der::Decode as _;
    let Ok(parsed) = x509_cert::Certificate::from_der(cert.as_ref()) else {
        tracing::warn!(certificate = %path.display(), "the TLS certificate could not be read to check its dates");
        return;
    };
    let validity = &parsed.tbs_certificate.validity;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (from, until) = (
        validity.not_before.to_unix_duration(),
        validity.not_after.to_unix_duration(),
    );
    if now > until {
        tracing::warn!(
            certificate = %path.display(),
            expired_days_ago = (now - until).as_secs() / 86_400,
            "the TLS certificate has EXPIRED: clients will refuse to connect; renew it"
        );
    } else if now < from {
        tracing::warn!(certificate = %path.display(), "the TLS certificate is not valid yet: check the clock");
    } else if until - now < std::time::Duration::from_secs(14 * 86_400) {
        tracing::warn!(
            certificate = %path.display(),
            days_left = (until - now).as_secs() / 86_400,
            "the TLS certificate expires soon: renew it"
        );
    }
}

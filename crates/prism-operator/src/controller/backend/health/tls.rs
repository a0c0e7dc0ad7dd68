//! TLS for health checks with rustls (ring): a client config trusting the TLS Secret's `ca.crt`
//! (or the system roots when no CA is given), with the client certificate for mutual TLS when the
//! Secret has `tls.crt` and `tls.key`.

use std::sync::Arc;

use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::TlsMaterial;

/// A byte stream, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection to a backend.
pub type Stream = Box<dyn Io>;

/// The certificates of a PEM bundle; an error when it holds none or is malformed.
pub fn parse_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("malformed PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM certificate found".to_owned());
    }
    Ok(certs)
}

/// The rustls client configuration of a check.
pub fn client_config(material: &TlsMaterial) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    match &material.ca_pem {
        Some(pem) => {
            for cert in parse_certs(pem)? {
                roots.add(cert).map_err(|e| format!("unusable CA certificate: {e}"))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // Skip the odd unparseable system certificate, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match (&material.client_cert_pem, &material.client_key_pem) {
        (Some(cert), Some(key)) => {
            let chain = parse_certs(cert)?;
            let key = PrivateKeyDer::from_pem_slice(key.expose().as_bytes())
                .map_err(|_| "malformed client key (tls.key)".to_owned())?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("unusable client certificate: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// Wraps `tcp` in TLS to `host`.
pub async fn wrap(tcp: tokio::net::TcpStream, host: &str, material: &TlsMaterial) -> Result<Stream, String> {
    let config = client_config(material)?;
    let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    Ok(Box::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_is_rejected() {
        assert!(parse_certs("").is_err());
        assert!(parse_certs("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n").is_err());
        let material = TlsMaterial { ca_pem: Some("nothing".into()), ..Default::default() };
        assert!(client_config(&material).is_err());
        assert!(client_config(&TlsMaterial::default()).is_ok());
    }
}

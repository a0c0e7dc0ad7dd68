//! The control plane's PKI, generated fresh for every control plane: the cluster CA that signs
//! the apiserver's serving certificate and every client certificate, the front-proxy CA for the
//! aggregation layer's request-header authentication, and the service-account signing key. Keys are ECDSA P-256, which etcd, Kubernetes and kwok all accept. This module only makes
//! PEM text; writing files is the caller's business.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

use crate::Error;

/// Names the apiserver's serving certificate is valid for: loopback, and the in-cluster names of
/// the `kubernetes` Service (with its ClusterIP, the first address of the service range).
pub(crate) fn apiserver_sans(service_ip: &str) -> Vec<String> {
    [
        "127.0.0.1",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        service_ip,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub(crate) struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The cluster CA; signs everything else.
pub(crate) struct Ca {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

/// The service-account token signing key: the private key for the apiserver and the
/// controller-manager, the public key (PKIX "PUBLIC KEY", which the apiserver's key-file parser
/// accepts) for verification.
#[derive(Clone, Debug)]
pub(crate) struct ServiceAccountKey {
    pub private_pem: String,
    pub public_pem: String,
}

fn generate_error(what: &str) -> impl FnOnce(rcgen::Error) -> Error {
    let what = what.to_owned();
    move |source| Error::GenerateCertificate { what, source }
}

impl Ca {
    /// A self-signed CA with the given common name.
    pub(crate) fn generate(common_name: &str) -> Result<Self, Error> {
        let err = || generate_error(common_name);
        let key = KeyPair::generate().map_err(err())?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err())?;
        params.distinguished_name.push(DnType::CommonName, "prism-testkit-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).map_err(err())?;
        Ok(Self { cert_pem: cert.pem(), issuer: Issuer::new(params, key) })
    }

    /// A TLS serving certificate for the given DNS names and IP addresses.
    pub(crate) fn serving_cert(&self, common_name: &str, sans: Vec<String>) -> Result<CertPair, Error> {
        let what = format!("serving certificate for {common_name}");
        let mut params = CertificateParams::new(sans).map_err(generate_error(&what))?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, &what)
    }

    /// A certificate for both ends of a mutual-TLS link (KEDA's operator and its metrics server
    /// use one certificate each way).
    pub(crate) fn peer_cert(&self, common_name: &str, sans: Vec<String>) -> Result<CertPair, Error> {
        let what = format!("peer certificate for {common_name}");
        let mut params = CertificateParams::new(sans).map_err(generate_error(&what))?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, &what)
    }

    /// A client certificate: Kubernetes takes the user name from the CN and the groups from O.
    pub(crate) fn client_cert(&self, user: &str, groups: &[&str]) -> Result<CertPair, Error> {
        let what = format!("client certificate for {user}");
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(generate_error(&what))?;
        params.distinguished_name.push(DnType::CommonName, user);
        for group in groups {
            params.distinguished_name.push(DnType::OrganizationName, *group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, &what)
    }

    fn sign(&self, mut params: CertificateParams, what: &str) -> Result<CertPair, Error> {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(generate_error(what))?;
        let cert = params.signed_by(&key, &self.issuer).map_err(generate_error(what))?;
        Ok(CertPair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

impl ServiceAccountKey {
    pub(crate) fn generate() -> Result<Self, Error> {
        let key = KeyPair::generate().map_err(generate_error("service-account signing key"))?;
        Ok(Self { private_pem: key.serialize_pem(), public_pem: key.public_key_pem() })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn generates_pem_for_every_piece() {
        let ca = Ca::generate("test-ca").unwrap();
        assert!(ca.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let serving = ca.serving_cert("kube-apiserver", apiserver_sans("10.96.0.1")).unwrap();
        assert!(serving.key_pem.contains("PRIVATE KEY"));
        let admin = ca.client_cert("prism-admin", &["system:masters"]).unwrap();
        assert!(admin.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let sa = ServiceAccountKey::generate().unwrap();
        assert!(sa.public_pem.contains("BEGIN PUBLIC KEY"));
    }
}

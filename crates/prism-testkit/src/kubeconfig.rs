//! Kubeconfig files for the admin user and each component, and turning the admin one into a
//! `kube::Config`. Kubeconfigs are written as JSON (valid YAML, so every Kubernetes client reads
//! it) with the certificates embedded, so a copied kubeconfig keeps working.

use base64::{Engine, engine::general_purpose::STANDARD};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::{Error, certs::CertPair};

/// The cluster and context name in every kubeconfig we write.
pub const CLUSTER_NAME: &str = "prism-testkit";

/// Renders a kubeconfig for one client certificate.
pub(crate) fn render(server: &str, ca_pem: &str, user: &str, cert: &CertPair) -> String {
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": CLUSTER_NAME,
            "cluster": {
                "server": server,
                "certificate-authority-data": STANDARD.encode(ca_pem),
            },
        }],
        "users": [{
            "name": user,
            "user": {
                "client-certificate-data": STANDARD.encode(&cert.cert_pem),
                "client-key-data": STANDARD.encode(&cert.key_pem),
            },
        }],
        "contexts": [{
            "name": CLUSTER_NAME,
            "context": { "cluster": CLUSTER_NAME, "user": user },
        }],
        "current-context": CLUSTER_NAME,
    });
    // A json! value always serializes; the pretty form is kinder to people reading the file.
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
}

/// Builds a `kube::Config` from kubeconfig text.
pub(crate) async fn to_kube_config(kubeconfig: &str) -> Result<kube::Config, Error> {
    let parsed = Kubeconfig::from_yaml(kubeconfig).map_err(Error::ParseKubeconfig)?;
    kube::Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default()).await.map_err(Error::ParseKubeconfig)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::certs::Ca;

    #[tokio::test]
    async fn rendered_kubeconfig_loads_into_kube_config() {
        let ca = Ca::generate("test-ca").unwrap();
        let admin = ca.client_cert("prism-admin", &["system:masters"]).unwrap();
        let text = render("https://127.0.0.1:6443", &ca.cert_pem, "prism-admin", &admin);
        let config = to_kube_config(&text).await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:6443/");
    }
}

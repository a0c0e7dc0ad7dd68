//! Renders the CustomResourceDefinitions generated from the Rust types as YAML.
//!
//! The output is committed under `config/crd/bases/` (`make manifests`) and a test fails when the
//! committed files differ from what the types generate, so the two never drift apart.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Header written above every generated CRD.
const HEADER: &str = "# Generated from the Rust types in crates/prism-api by `prism-operator crd`; do not edit.\n# Regenerate with `make manifests`.\n";

/// Failure to render a CRD.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CRD could not be serialized to YAML.
    #[error("failed to serialize CRD {name} to YAML")]
    Serialize {
        /// The CRD's name.
        name: String,
        /// The serializer's error.
        #[source]
        source: serde_saphyr::SerializeError,
    },
}

/// The file name of a CRD under `config/crd/bases/`, kubebuilder style: `<group>_<plural>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// One CRD as a YAML document with the generated-file header.
pub fn render(crd: &CustomResourceDefinition) -> Result<String, Error> {
    let body = serde_saphyr::to_string(crd)
        .map_err(|source| Error::Serialize { name: crd.metadata.name.clone().unwrap_or_default(), source })?;
    Ok(format!("{HEADER}{body}"))
}

/// Every CRD as one multi-document YAML stream.
pub fn render_all() -> Result<String, Error> {
    let docs = prism_api::crds().iter().map(render).collect::<Result<Vec<_>, _>>()?;
    Ok(docs.join("---\n"))
}

/// The operator's ClusterRole (see [`crate::rbac`]) as YAML, for `config/rbac/role.yaml`.
pub fn render_cluster_role() -> Result<String, Error> {
    generated(&crate::rbac::cluster_role(), crate::rbac::CLUSTER_ROLE, "rbac")
}

/// The namespaced install's Role (bound in each watched namespace), for
/// `config/namespaced/role/role.yaml`.
pub fn render_namespaced_role() -> Result<String, Error> {
    generated(&crate::rbac::namespaced_role(), crate::rbac::CLUSTER_ROLE, "rbac --namespaced-role")
}

/// The namespaced install's ClusterRole (reads of cluster-scoped kinds only), for
/// `config/namespaced/cluster_reader.yaml`.
pub fn render_cluster_reader_role() -> Result<String, Error> {
    generated(&crate::rbac::cluster_reader_role(), crate::rbac::CLUSTER_READER_ROLE, "rbac --cluster-reader-role")
}

fn generated(object: &impl serde::Serialize, name: &str, command: &str) -> Result<String, Error> {
    let body = serde_saphyr::to_string(object).map_err(|source| Error::Serialize { name: name.to_owned(), source })?;
    Ok(format!(
        "# Generated from crates/prism-operator/src/rbac.rs by `prism-operator {command}`; do not edit.\n# Regenerate with `make manifests`.\n{body}"
    ))
}

/// Every CRD with its file name.
pub fn render_files() -> Result<Vec<(String, String)>, Error> {
    prism_api::crds().iter().map(|crd| Ok((file_name(crd), render(crd)?))).collect()
}

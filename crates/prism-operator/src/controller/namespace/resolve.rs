//! Reads for a PrismNamespace reconcile (GETs only): the PrismStack behind `proxyRef`, the
//! PrismPatterns of `spec.patterns`, and the rendered connections of their PrismBackends (read
//! at call time so the admin gets the current credentials; never logged or stored).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client, Resource};
use prism_api::v1alpha1::{PrismNamespace, PrismPattern, PrismStack};
use serde::de::DeserializeOwned;

use super::validate::{self, BackendConnection, Inputs, PatternSummary};
use crate::{credentials::SecretValues, error::Error, naming, naming::connection};

async fn get<K>(client: &Client, ns: &str, kind: &'static str, name: &str) -> Result<Option<K>, Error>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), ns).get_opt(name).await.map_err(|source| Error::ResolveReference {
        kind,
        name: name.to_owned(),
        source,
    })
}

/// The PrismStack `proxyRef` names (directly or as `<stack>-proxy`), with its namespace.
pub async fn stack(client: &Client, obj: &PrismNamespace, ns: &str) -> Result<Option<(String, PrismStack)>, Error> {
    let stack_ns = obj.spec.proxy_ref.namespace_or(ns).to_owned();
    for name in validate::stack_candidates(&obj.spec.proxy_ref.name) {
        if let Some(stack) = get::<PrismStack>(client, &stack_ns, "PrismStack", &name).await? {
            return Ok(Some((stack_ns, stack)));
        }
    }
    Ok(None)
}

/// The admin endpoint of `obj` (see [`validate::admin_endpoint`]); reads the stack only when no
/// override applies.
pub async fn endpoint(
    client: &Client,
    obj: &PrismNamespace,
    ns: &str,
    operator_override: Option<&str>,
) -> Result<Result<String, crate::conditions::Invalid>, Error> {
    if let Ok(endpoint) = validate::admin_endpoint(obj, operator_override, None) {
        return Ok(Ok(endpoint));
    }
    let stack = stack(client, obj, ns).await?;
    Ok(validate::admin_endpoint(obj, operator_override, stack.as_ref().map(|(n, s)| (n.as_str(), s))))
}

/// The patterns and backend connections the request is built from.
pub async fn inputs(client: &Client, obj: &PrismNamespace, ns: &str) -> Result<Inputs, Error> {
    let mut out = Inputs::default();
    for name in obj.spec.patterns.iter().flatten() {
        let pattern = get::<PrismPattern>(client, ns, "PrismPattern", name).await?;
        let summary = pattern.map(|p| PatternSummary {
            pattern_type: p.spec.pattern.clone(),
            backend: p.spec.backend.clone(),
            backend_config: p.spec.backend_config.as_ref().filter(|r| r.namespace_or(ns) == ns).map(|r| r.name.clone()),
            settings: p.spec.config.iter().flatten().map(|(k, v)| (k.clone(), v.to_string())).collect(),
        });
        if let Some(backend) = summary.as_ref().and_then(|s| s.backend_config.clone())
            && !out.backends.contains_key(&backend)
        {
            let connection = connection(client, ns, &backend).await?;
            out.backends.insert(backend, connection);
        }
        out.patterns.push((name.clone(), summary));
    }
    Ok(out)
}

/// A PrismBackend's rendered ConfigMap and Secret, when both exist.
async fn connection(client: &Client, ns: &str, backend: &str) -> Result<Option<BackendConnection>, Error> {
    let cm_name = naming::backend_config_map(backend);
    let Some(cm) = get::<ConfigMap>(client, ns, "ConfigMap", &cm_name).await? else {
        return Ok(None);
    };
    let secret_name = naming::backend_secret(backend);
    let Some(secret) = get::<Secret>(client, ns, "Secret", &secret_name).await? else {
        return Ok(None);
    };
    let values = SecretValues::from_secret(secret);
    Ok(Some(BackendConnection {
        facts: cm.data.unwrap_or_else(BTreeMap::new),
        url: values.get(connection::KEY_URL).cloned(),
        username: values.get(connection::KEY_USERNAME).cloned(),
        password: values.get(connection::KEY_PASSWORD).cloned(),
    }))
}

//! Pure: a PrismPattern and what `resolve` found -> the validated model the builders use, with
//! every documented default applied; or the reason it cannot be reconciled.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{ConfigMapEnvSource, EnvFromSource, EnvVar, SecretEnvSource},
    apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use prism_api::v1alpha1::{PrismPattern, ServiceType};

use crate::conditions::Invalid;
use crate::{
    autoscaling::{KedaRefs, Scaling},
    config::Defaults,
    naming,
    placement::{self, PlacementError},
    workload::{ContainerSpec, Exposure, HealthCheck, Workload},
};

/// What `resolve` found about the pattern's `backendConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendConfig {
    /// No `backendConfig` given.
    None,
    /// The referenced PrismBackend exists; `hash` is its rendered connection's hash, if rendered.
    Found {
        /// PrismBackend name.
        name: String,
        /// `status.configHash` of the PrismBackend.
        hash: Option<String>,
    },
    /// The referenced PrismBackend does not exist.
    Missing {
        /// PrismBackend name.
        name: String,
    },
    /// The reference points to another namespace, which pods cannot mount from.
    OtherNamespace {
        /// The namespace referenced.
        namespace: String,
    },
}

/// What the reconcile read from the cluster before validating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The backend connection.
    pub backend: BackendConfig,
    /// KEDA's presence and what its triggers reference.
    pub keda: KedaRefs,
}

/// A pattern that can be reconciled, with defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedPattern {
    /// The runner Deployment.
    pub workload: Workload,
    /// The Service, when `spec.service` is set.
    pub exposure: Option<Exposure>,
    /// The autoscaler the spec asks for, and whether it can run.
    pub scaling: Scaling,
}

/// Validates `pattern` (which must have a namespace and uid, see `owner`).
pub fn validate(
    pattern: &PrismPattern,
    namespace: &str,
    owner: OwnerReference,
    resolved: &Resolved,
    defaults: &Defaults,
) -> Result<ValidatedPattern, Invalid> {
    let spec = &pattern.spec;
    let name = owner.name.clone();
    let mut labels = naming::pattern_labels(&name, &spec.pattern, &spec.backend);
    // Runners of a stack carry its label too (`kubectl get pods -l stack=<name>`).
    if let Some(stack) = pattern.metadata.labels.as_ref().and_then(|l| l.get(prism_api::labels::STACK)) {
        labels.insert(prism_api::labels::STACK.to_owned(), stack.clone());
    }
    let selector = naming::pattern_selector(&name);

    let mut pod_annotations = BTreeMap::new();
    let mut env_from = Vec::new();
    match &resolved.backend {
        BackendConfig::None => {}
        BackendConfig::Missing { name } => {
            return Err(Invalid {
                reason: "BackendConfigNotFound",
                message: format!(
                    "spec.backendConfig names PrismBackend {name:?}, which does not exist in namespace {namespace:?}"
                ),
            });
        }
        BackendConfig::OtherNamespace { namespace: other } => {
            return Err(Invalid {
                reason: "BackendConfigNamespace",
                message: format!(
                    "spec.backendConfig.namespace is {other:?}, but a runner can only use a PrismBackend in its own namespace {namespace:?}"
                ),
            });
        }
        BackendConfig::Found { name, hash } => {
            env_from.push(EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource { name: naming::backend_config_map(name), optional: None }),
                ..Default::default()
            });
            env_from.push(EnvFromSource {
                secret_ref: Some(SecretEnvSource { name: naming::backend_secret(name), optional: None }),
                ..Default::default()
            });
            if let Some(hash) = hash {
                pod_annotations.insert(naming::BACKEND_CONFIG_HASH_ANNOTATION.to_owned(), hash.clone());
            }
        }
    }

    let placement = placement::with_defaults(spec.placement.as_ref(), None, &selector)
        .map_err(|e: PlacementError| Invalid { reason: e.reason(), message: format!("spec.placement: {e}") })?;

    let port = spec.port();
    let container = ContainerSpec {
        name: format!("{}-runner", spec.pattern),
        image: spec.image.clone().unwrap_or_else(|| defaults.runner_image(&spec.pattern)),
        args: vec![format!("--pattern={}", spec.pattern), format!("--backend={}", spec.backend)],
        port_name: naming::RUNNER_PORT_NAME,
        port,
        health: HealthCheck::Http(naming::HEALTH_PATH),
        env: config_env(pattern)?,
        env_from,
        resources: placement::resources(spec.placement.as_ref(), spec.resources.as_ref()),
        observability: spec.observability.clone(),
    };
    let scaling = Scaling::plan(spec.autoscaling.as_ref(), spec.replicas(), &resolved.keda, &container, "spec");

    let exposure = spec.service.as_ref().map(|s| Exposure {
        type_: s.type_.unwrap_or(ServiceType::ClusterIP).as_str().to_owned(),
        ports: vec![(naming::RUNNER_PORT_NAME.to_owned(), port, port)],
        annotations: s.annotations.clone().unwrap_or_default(),
    });

    Ok(ValidatedPattern {
        workload: Workload {
            name,
            namespace: namespace.to_owned(),
            owner,
            labels,
            selector,
            replicas: scaling.replicas,
            container,
            pod_annotations,
            placement,
            image_pull_secrets: spec.image_pull_secrets.clone(),
            service_account: None,
        },
        exposure,
        scaling,
    })
}

/// `PRISM_CONFIG_<KEY>` variables for the pattern's `config`, in key order. Two keys that become
/// the same variable (`a-b` and `a_b`, `maxKeys` and `MAXKEYS`) are refused: the API server would
/// reject the Deployment, and the runner could see only one of the values.
fn config_env(pattern: &PrismPattern) -> Result<Vec<EnvVar>, Invalid> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut env = Vec::new();
    for (key, value) in pattern.spec.config.iter().flatten() {
        let name = naming::config_env_name(key);
        if let Some(first) = seen.insert(name.clone(), key) {
            return Err(Invalid {
                reason: "ConfigKeyConflict",
                message: format!(
                    "spec.config keys {first:?} and {key:?} both become the environment variable {name}: rename one"
                ),
            });
        }
        env.push(EnvVar { name, value: Some(value.to_string()), value_from: None });
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use prism_api::v1alpha1::{ConfigValue, PrismPatternSpec};

    use super::*;

    fn with_config(keys: &[&str]) -> PrismPattern {
        let config = keys.iter().map(|k| ((*k).to_owned(), ConfigValue::String("v".into()))).collect();
        let spec = PrismPatternSpec { config: Some(config), ..Default::default() };
        PrismPattern::new("kv", spec)
    }

    #[test]
    fn config_keys_that_become_one_variable_are_refused_naming_both() {
        let env = config_env(&with_config(&["maxKeys", "cache.ttl"])).expect("distinct");
        let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["PRISM_CONFIG_CACHE_TTL", "PRISM_CONFIG_MAXKEYS"]);
        for keys in [["a-b", "a_b"], ["MAXKEYS", "maxKeys"], ["a.b", "a-b"]] {
            let invalid = config_env(&with_config(&keys)).expect_err("collision");
            assert_eq!(invalid.reason, "ConfigKeyConflict");
            let env = naming::config_env_name(keys[0]);
            for part in [keys[0], keys[1], env.as_str(), "spec.config"] {
                assert!(invalid.message.contains(part), "{part}: {}", invalid.message);
            }
        }
    }
}

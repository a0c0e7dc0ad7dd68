//! Names and labels of the objects the operator creates. Every name, port and label key of a
//! child object is decided here, so builders and tests agree on them.

use std::collections::BTreeMap;

use prism_api::labels;

/// Name of the container port every pattern runner listens on (HTTP `/health` and its API).
pub const RUNNER_PORT_NAME: &str = "http";
/// HTTP path of the runners' health endpoint (the seed README's load generator calls it).
pub const HEALTH_PATH: &str = "/health";
/// Annotation holding the hash of what the operator last applied to a child; a change of the
/// desired object changes the hash, so fields the operator stopped setting are removed.
pub const APPLIED_HASH_ANNOTATION: &str = "prism.io/applied-hash";
/// Annotation the operator's caches put on a child whose body they dropped: the digest of the
/// fields the operator applied to it ([`crate::applied_fields`]), which stands in for the body when
/// deciding whether to apply. Only in memory: never sent, and stripped from what the API sends.
pub const APPLIED_FIELDS_ANNOTATION: &str = "prism.io/applied-fields";
/// Pod-template annotation with the hash of the backend connection a runner uses, so that runner
/// pods roll when the rendered connection changes.
pub const BACKEND_CONFIG_HASH_ANNOTATION: &str = "prism.io/backend-config-hash";
/// Prefix of the environment variables that carry a pattern's `config`.
pub const CONFIG_ENV_PREFIX: &str = "PRISM_CONFIG_";
/// `app.kubernetes.io/component` of pattern-runner objects.
pub const COMPONENT_RUNNER: &str = "pattern-runner";
/// `app.kubernetes.io/component` of the proxy's objects.
pub const COMPONENT_PROXY: &str = "proxy";
/// `app.kubernetes.io/component` of the admin's objects.
pub const COMPONENT_ADMIN: &str = "admin";

/// The label selector of everything the operator manages.
pub fn managed_selector() -> String {
    format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE)
}

/// The label selector of the pattern controller's children (runner Deployments, Services,
/// autoscalers); each controller watches only its own children.
pub fn runner_children_selector() -> String {
    format!("{},{}={COMPONENT_RUNNER}", managed_selector(), labels::COMPONENT)
}

/// The label selector of the stack controller's proxy and admin children.
pub fn stack_children_selector() -> String {
    format!("{},{} in ({COMPONENT_PROXY},{COMPONENT_ADMIN})", managed_selector(), labels::COMPONENT)
}

/// Default gRPC port of a stack's proxy.
pub const PROXY_PORT: i32 = 9090;
/// Default gRPC port of a stack's admin (and of the admin endpoint PrismNamespaces call).
pub const ADMIN_PORT: i32 = 8981;
/// Port of a stack pattern's Service when its entry gives none (`kubectl port-forward svc/<pattern> 8080`).
pub const PATTERN_SERVICE_PORT: i32 = 8080;
/// Name of the proxy's and admin's container port.
pub const GRPC_PORT_NAME: &str = "grpc";
/// Suffix of a stack's proxy name ([`proxy_name`]), also accepted in a PrismNamespace's `proxyRef.name`.
pub const PROXY_SUFFIX: &str = "-proxy";

/// The proxy's Deployment, Service, autoscaler and PDB.
pub fn proxy_name(stack: &str) -> String {
    format!("{stack}{PROXY_SUFFIX}")
}

/// The admin's Deployment, Service, PDB and ServiceAccount.
pub fn admin_name(stack: &str) -> String {
    format!("{stack}-admin")
}

/// The Role and RoleBinding of the admin's leader election.
pub fn admin_leader_election_role(stack: &str) -> String {
    format!("{stack}-admin-leader-election")
}

/// The Lease admins compete for when `leaderElection.leaseName` is not given.
pub fn default_lease_name(stack: &str) -> String {
    format!("{stack}-admin-leader")
}

/// Labels of a stack's proxy or admin objects: the standard ones plus the seeds' `app`,
/// `component` and `stack`.
pub fn stack_component_labels(stack: &str, seed_component: &str, component: &str) -> BTreeMap<String, String> {
    let mut l = common_labels(stack, seed_component, component);
    l.insert(labels::APP.into(), seed_component.into());
    l.insert(labels::SEED_COMPONENT.into(), seed_component.into());
    l.insert(labels::STACK.into(), stack.into());
    l
}

/// The immutable pod selector of a stack's proxy or admin.
pub fn stack_component_selector(stack: &str, seed_component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::STACK.to_owned(), stack.to_owned()),
        (labels::SEED_COMPONENT.to_owned(), seed_component.to_owned()),
    ])
}

/// Labels of a stack's child PrismPatterns and PrismBackends.
pub fn stack_child_labels(stack: &str, name: &str, component: &str) -> BTreeMap<String, String> {
    let mut l = common_labels(stack, name, component);
    l.insert(labels::STACK.into(), stack.into());
    l
}

/// ConfigMap a PrismBackend renders its non-secret connection facts into.
pub fn backend_config_map(backend: &str) -> String {
    format!("{backend}-prism-connection")
}

/// Secret a PrismBackend renders its credentials into.
pub fn backend_secret(backend: &str) -> String {
    format!("{backend}-prism-credentials")
}

/// KEDA TriggerAuthentication a PrismBackend renders for triggers with `backendRef`.
pub fn backend_trigger_authentication(backend: &str) -> String {
    format!("{backend}-prism-keda")
}

/// The labels every pattern-runner object carries (Deployment, pods, Service, autoscaler).
pub fn pattern_labels(instance: &str, pattern: &str, backend: &str) -> BTreeMap<String, String> {
    let mut l = common_labels(instance, "prism-pattern-runner", COMPONENT_RUNNER);
    l.insert(labels::APP.into(), "prism".into());
    l.insert(labels::PATTERN.into(), pattern.into());
    l.insert(labels::BACKEND.into(), backend.into());
    l.insert(labels::PATTERN_INSTANCE.into(), instance.into());
    l
}

/// The immutable Deployment selector (and Service selector) of one pattern runner.
pub fn pattern_selector(instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::APP.to_owned(), "prism".to_owned()),
        (labels::PATTERN_INSTANCE.to_owned(), instance.to_owned()),
    ])
}

/// The standard `app.kubernetes.io/*` labels.
pub fn common_labels(instance: &str, name: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_owned(), name.to_owned()),
        (labels::INSTANCE.to_owned(), instance.to_owned()),
        (labels::COMPONENT.to_owned(), component.to_owned()),
        (labels::PART_OF.to_owned(), "prism".to_owned()),
        (labels::MANAGED_BY.to_owned(), labels::MANAGED_BY_VALUE.to_owned()),
    ])
}

/// Keys of a PrismBackend's rendered connection ConfigMap and Secret: the environment variables
/// a runner with `backendConfig` gets, and what a PrismNamespace reads back for the admin.
pub mod connection {
    /// ConfigMap key: PrismBackend name.
    pub const KEY_NAME: &str = "PRISM_BACKEND_NAME";
    /// ConfigMap key: kind of backend (messaging, database, ...).
    pub const KEY_TYPE: &str = "PRISM_BACKEND_TYPE";
    /// ConfigMap key: backend software (redis, nats, ...).
    pub const KEY_PROVIDER: &str = "PRISM_BACKEND_PROVIDER";
    /// ConfigMap key: host name.
    pub const KEY_HOST: &str = "PRISM_BACKEND_HOST";
    /// ConfigMap key: port.
    pub const KEY_PORT: &str = "PRISM_BACKEND_PORT";
    /// ConfigMap key: `true` when TLS is on.
    pub const KEY_TLS: &str = "PRISM_BACKEND_TLS";
    /// ConfigMap key: the TLS Secret to mount, when named.
    pub const KEY_TLS_SECRET: &str = "PRISM_BACKEND_TLS_SECRET";
    /// ConfigMap key: database named by the URL.
    pub const KEY_DATABASE: &str = "PRISM_BACKEND_DATABASE";
    /// Secret key: the connection URL.
    pub const KEY_URL: &str = "PRISM_BACKEND_URL";
    /// Secret key: the user name.
    pub const KEY_USERNAME: &str = "PRISM_BACKEND_USERNAME";
    /// Secret key: the password.
    pub const KEY_PASSWORD: &str = "PRISM_BACKEND_PASSWORD";
}

/// The environment variable carrying one `config` key: `PRISM_CONFIG_` and the key upper-cased,
/// with every character that is not an ASCII letter or digit replaced by `_`
/// (`maxKeys` -> `PRISM_CONFIG_MAXKEYS`, `cache.ttl` -> `PRISM_CONFIG_CACHE_TTL`).
pub fn config_env_name(key: &str) -> String {
    let key: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("{CONFIG_ENV_PREFIX}{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest `metadata.name` admission allows for `kind` (its `size(self.metadata.name) <= N` rule).
    fn longest_name(kind: &str) -> usize {
        let crd = prism_api::crds().into_iter().find(|c| c.spec.names.kind == kind).expect("kind");
        let crd = serde_json::to_value(crd).expect("json");
        let rules = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"].clone();
        rules
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|r| r["rule"].as_str()?.strip_prefix("size(self.metadata.name) <= ")?.parse().ok())
            .unwrap_or_else(|| panic!("{kind} has no metadata.name length rule"))
    }

    /// `maxLength` of a field of `kind`'s spec (`path`: property names, `[]` for items).
    fn max_length(kind: &str, path: &[&str]) -> usize {
        let crd = prism_api::crds().into_iter().find(|c| c.spec.names.kind == kind).expect("kind");
        let crd = serde_json::to_value(crd).expect("json");
        let mut schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        for step in path {
            schema = if *step == "[]" { &schema["items"] } else { &schema["properties"][*step] };
        }
        let max =
            schema["maxLength"].as_u64().unwrap_or_else(|| panic!("{kind} spec.{} has no maxLength", path.join(".")));
        usize::try_from(max).expect("usize")
    }

    /// Every name and label value the operator derives from a user's name, built from the longest
    /// names admission lets through, fits its Kubernetes limit: 63 for Service names (DNS labels)
    /// and label values, 253 for other object names.
    #[test]
    fn derived_names_fit_their_kubernetes_limits() {
        let stack = "s".repeat(longest_name("PrismStack"));
        let pattern = "p".repeat(longest_name("PrismPattern"));
        let backend = "b".repeat(longest_name("PrismBackend"));
        let stack_pattern = "q".repeat(max_length("PrismStack", &["patterns", "[]", "name"]));
        let stack_backend = "c".repeat(max_length("PrismStack", &["backends", "[]", "name"]));
        let pattern_backend = "d".repeat(max_length("PrismPattern", &["backend"]));
        let names = [
            ("Service <stack>-proxy", proxy_name(&stack), 63),
            ("Service <stack>-admin", admin_name(&stack), 63),
            ("Role <stack>-admin-leader-election", admin_leader_election_role(&stack), 253),
            ("Lease <stack>-admin-leader", default_lease_name(&stack), 253),
            ("Service <pattern>", pattern.clone(), 63),
            ("PrismPattern <stack pattern>", stack_pattern.clone(), longest_name("PrismPattern")),
            ("PrismBackend <stack backend>", stack_backend.clone(), longest_name("PrismBackend")),
            ("ConfigMap <backend>-prism-connection", backend_config_map(&backend), 253),
            ("Secret <backend>-prism-credentials", backend_secret(&backend), 253),
            ("TriggerAuthentication <backend>-prism-keda", backend_trigger_authentication(&backend), 253),
        ];
        for (what, name, limit) in names {
            assert!(name.len() <= limit, "{what}: {} characters, limit {limit}", name.len());
        }
        let label_sets = [
            stack_component_labels(&stack, "prism-proxy", COMPONENT_PROXY),
            stack_component_labels(&stack, "prism-admin", COMPONENT_ADMIN),
            stack_child_labels(&stack, &stack_pattern, COMPONENT_RUNNER),
            stack_child_labels(&stack, &stack_backend, "backend-config"),
            pattern_labels(&pattern, "keyvalue", &pattern_backend),
            pattern_labels(&stack_pattern, "keyvalue", &stack_backend),
            common_labels(&backend, "prism-backend", "backend-config"),
        ];
        for labels in label_sets {
            for (key, value) in labels {
                assert!(value.len() <= 63, "label {key}: {} characters, limit 63", value.len());
            }
        }
    }

    #[test]
    fn config_keys_become_env_names() {
        assert_eq!(config_env_name("maxKeys"), "PRISM_CONFIG_MAXKEYS");
        assert_eq!(config_env_name("cache.ttl-seconds"), "PRISM_CONFIG_CACHE_TTL_SECONDS");
    }

    #[test]
    fn selector_is_a_subset_of_the_labels() {
        let labels = pattern_labels("orders", "consumer", "kafka");
        for (k, v) in pattern_selector("orders") {
            assert_eq!(labels.get(&k), Some(&v));
        }
        assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("prism-operator"));
    }
}

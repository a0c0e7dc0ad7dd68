//! Pure: a PrismStack -> the validated model of its proxy, admin, leader election, child
//! PrismPatterns and child PrismBackends, with every documented default applied.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector},
    apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use prism_api::v1alpha1::{
    AutoscalingSpec, BackendProvider, ConnectionSpec, ObjectReference, PlacementSpec, PrismBackendSpec,
    PrismPatternSpec, PrismStack, SecretKeysReference, ServiceSpec, ServiceType, StackBackendSpec, StackPatternSpec,
};

use super::{leader_election::LeaderElection, resolve::Resolved};
use crate::conditions::Invalid;
use crate::{
    autoscaling::{KedaRefs, Scaling},
    config::Defaults,
    naming, placement,
    workload::{ContainerSpec, Exposure, HealthCheck, Workload},
};

/// A replicated component of the stack (proxy or admin).
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// Its Deployment.
    pub workload: Workload,
    /// Its Service.
    pub exposure: Exposure,
    /// Its autoscaler, and whether it can run.
    pub scaling: Scaling,
    /// Whether it gets a PodDisruptionBudget (more than one replica).
    pub pdb: bool,
}

/// The stack with defaults applied.
#[derive(Clone, Debug)]
pub struct ValidatedStack {
    /// Name of the stack.
    pub name: String,
    /// The proxy, or why it cannot be deployed.
    pub proxy: Result<Component, Invalid>,
    /// The admin when enabled, or why it cannot be deployed.
    pub admin: Option<Result<Component, Invalid>>,
    /// Leader election of the admin replicas.
    pub leader_election: Option<LeaderElection>,
    /// Child PrismPatterns, with the stack's defaults applied.
    pub patterns: Vec<Child<PrismPatternSpec>>,
    /// Child PrismBackends, with their provider told.
    pub backends: Vec<Child<PrismBackendSpec>>,
    /// Problems with backend entries (skipped).
    pub problems: Vec<Invalid>,
    /// Namespace of the stack and its children.
    pub namespace: String,
    /// Controller owner reference of every child.
    pub owner: OwnerReference,
}

/// A child custom resource of the stack: its name and spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Child<S> {
    /// Name.
    pub name: String,
    /// Spec.
    pub spec: S,
}

/// Everything a builder needs about the owner.
struct Owner<'a> {
    stack: &'a PrismStack,
    name: String,
    ns: &'a str,
    reference: OwnerReference,
    keda: &'a KedaRefs,
}

/// Validates `stack` (namespace and owner reference resolved by the caller) against what
/// `resolve` read.
pub fn validate(
    stack: &PrismStack,
    ns: &str,
    reference: OwnerReference,
    resolved: &Resolved,
    defaults: &Defaults,
) -> ValidatedStack {
    let o = Owner { stack, name: reference.name.clone(), ns, reference, keda: &resolved.keda };
    let spec = &stack.spec;
    let admin_spec = spec.admin.as_ref().filter(|a| a.enabled == Some(true));
    let admin_port = admin_spec.and_then(|a| a.port).unwrap_or(naming::ADMIN_PORT);
    let leader_election = admin_spec
        .and_then(|a| a.leader_election.as_ref())
        .filter(|le| le.enabled == Some(true))
        .map(|le| LeaderElection {
            service_account: naming::admin_name(&o.name),
            role: naming::admin_leader_election_role(&o.name),
            lease_name: le.lease_name.clone().unwrap_or_else(|| naming::default_lease_name(&o.name)),
            lease_duration: le.lease_duration.clone().unwrap_or_else(|| "15s".to_owned()),
            renew_deadline: le.renew_deadline.clone().unwrap_or_else(|| "10s".to_owned()),
            retry_period: le.retry_period.clone().unwrap_or_else(|| "2s".to_owned()),
        });

    let proxy = spec.proxy.clone().unwrap_or_default();
    let proxy_port = proxy.port.unwrap_or(naming::PROXY_PORT);
    let mut proxy_env = vec![env("PRISM_PROXY_PORT", proxy_port.to_string())];
    if admin_spec.is_some() {
        proxy_env.push(env("PRISM_ADMIN_ENDPOINT", format!("{}:{admin_port}", naming::admin_name(&o.name))));
    }
    let proxy = component(
        &o,
        Role::Proxy,
        ComponentInput {
            image: proxy.image.clone().unwrap_or_else(|| defaults.proxy_image()),
            replicas: proxy.replicas.unwrap_or(1),
            port: proxy_port,
            env: proxy_env,
            placement: proxy.placement.as_ref(),
            resources: proxy.resources.as_ref(),
            autoscaling: proxy.autoscaling.as_ref(),
            service: None,
            service_account: None,
        },
    );

    let admin = admin_spec.map(|a| {
        let mut env_vars = vec![env("PRISM_ADMIN_PORT", admin_port.to_string())];
        if let Some(le) = &leader_election {
            env_vars.extend([
                env("PRISM_LEADER_ELECTION", "true".to_owned()),
                env("PRISM_LEADER_ELECTION_LEASE_NAME", le.lease_name.clone()),
                field_env("PRISM_LEADER_ELECTION_NAMESPACE", "metadata.namespace"),
                field_env("PRISM_LEADER_ELECTION_IDENTITY", "metadata.name"),
                env("PRISM_LEADER_ELECTION_LEASE_DURATION", le.lease_duration.clone()),
                env("PRISM_LEADER_ELECTION_RENEW_DEADLINE", le.renew_deadline.clone()),
                env("PRISM_LEADER_ELECTION_RETRY_PERIOD", le.retry_period.clone()),
            ]);
        }
        component(
            &o,
            Role::Admin,
            ComponentInput {
                image: a.image.clone().unwrap_or_else(|| defaults.admin_image()),
                replicas: a.replicas.unwrap_or(1),
                port: admin_port,
                env: env_vars,
                placement: a.placement.as_ref(),
                resources: a.resources.as_ref(),
                autoscaling: None,
                service: a.service.as_ref(),
                service_account: leader_election.as_ref().map(|le| le.service_account.clone()),
            },
        )
    });

    let mut problems = Vec::new();
    let backends = spec
        .backends
        .iter()
        .flatten()
        .filter_map(|b| match child_backend(b) {
            Ok(pb) => Some(pb),
            Err(p) => {
                problems.push(p);
                None
            }
        })
        .collect();
    let backend_names: Vec<&str> = spec.backends.iter().flatten().map(|b| b.name.as_str()).collect();
    let patterns = spec.patterns.iter().flatten().map(|p| child_pattern(&o, p, &backend_names)).collect();

    ValidatedStack {
        name: o.name.clone(),
        proxy,
        admin,
        leader_election,
        patterns,
        backends,
        problems,
        namespace: ns.to_owned(),
        owner: o.reference.clone(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Proxy,
    Admin,
}

struct ComponentInput<'a> {
    image: String,
    replicas: i32,
    port: i32,
    env: Vec<EnvVar>,
    placement: Option<&'a PlacementSpec>,
    resources: Option<&'a k8s_openapi::api::core::v1::ResourceRequirements>,
    autoscaling: Option<&'a AutoscalingSpec>,
    service: Option<&'a ServiceSpec>,
    service_account: Option<String>,
}

fn component(o: &Owner<'_>, role: Role, input: ComponentInput<'_>) -> Result<Component, Invalid> {
    let (name, seed_component, component_label, field) = match role {
        Role::Proxy => (naming::proxy_name(&o.name), "prism-proxy", naming::COMPONENT_PROXY, "spec.proxy"),
        Role::Admin => (naming::admin_name(&o.name), "prism-admin", naming::COMPONENT_ADMIN, "spec.admin"),
    };
    let labels = naming::stack_component_labels(&o.name, seed_component, component_label);
    let selector = naming::stack_component_selector(&o.name, seed_component);
    let placement = placement::with_defaults(input.placement, o.stack.spec.affinity.as_ref(), &selector)
        .map_err(|e| Invalid { reason: e.reason(), message: format!("{field}.placement: {e}") })?;
    let container = ContainerSpec {
        name: seed_component.to_owned(),
        image: input.image,
        args: Vec::new(),
        port_name: naming::GRPC_PORT_NAME,
        port: input.port,
        health: HealthCheck::Tcp,
        env: input.env,
        env_from: Vec::new(),
        resources: placement::resources(input.placement, input.resources),
        observability: o.stack.spec.observability.clone(),
    };
    let scaling = Scaling::plan(input.autoscaling, input.replicas, o.keda, &container, field);
    let pdb = match scaling.autoscaler.bounds() {
        Some((_, max)) => max > 1,
        None => input.replicas > 1,
    };
    let service = input.service.cloned().unwrap_or_default();
    let exposure = Exposure {
        type_: service.type_.unwrap_or(ServiceType::ClusterIP).as_str().to_owned(),
        ports: vec![(naming::GRPC_PORT_NAME.to_owned(), service.port.unwrap_or(input.port), input.port)],
        annotations: service.annotations.unwrap_or_default(),
    };
    Ok(Component {
        workload: Workload {
            name,
            namespace: o.ns.to_owned(),
            owner: o.reference.clone(),
            labels,
            selector,
            replicas: scaling.replicas,
            container,
            pod_annotations: BTreeMap::new(),
            placement,
            image_pull_secrets: o.stack.spec.image_pull_secrets.clone(),
            service_account: input.service_account,
        },
        exposure,
        scaling,
        pdb,
    })
}

/// The PrismPattern spec of one `spec.patterns` entry.
fn child_pattern(o: &Owner<'_>, entry: &StackPatternSpec, backend_names: &[&str]) -> Child<PrismPatternSpec> {
    let mut placement = entry.runner_spec.clone();
    if let Some(affinity) = &o.stack.spec.affinity {
        let p = placement.get_or_insert_with(PlacementSpec::default);
        p.affinity.get_or_insert_with(|| affinity.clone());
    }
    let spec = PrismPatternSpec {
        pattern: entry.type_.clone(),
        backend: entry.backend.clone(),
        image: entry.image.clone(),
        replicas: entry.replicas,
        resources: None,
        // A pattern whose backend is one of the stack's backends is wired to its connection.
        backend_config: backend_names
            .contains(&entry.backend.as_str())
            .then(|| ObjectReference { name: entry.backend.clone(), namespace: None }),
        config: entry.config.clone(),
        service: Some(
            entry
                .service
                .clone()
                .unwrap_or(ServiceSpec { port: Some(naming::PATTERN_SERVICE_PORT), ..Default::default() }),
        ),
        autoscaling: entry.autoscaling.clone(),
        placement,
        image_pull_secrets: o.stack.spec.image_pull_secrets.clone(),
        observability: o.stack.spec.observability.clone(),
    };
    Child { name: entry.name.clone(), spec }
}

/// The PrismBackend spec of one `spec.backends` entry, or why it cannot be made.
fn child_backend(entry: &StackBackendSpec) -> Result<Child<PrismBackendSpec>, Invalid> {
    let provider = entry
        .provider
        .or_else(|| entry.connection_string.as_deref().and_then(|c| c.split_once("://")).and_then(|(s, _)| BackendProvider::from_name(s)))
        .or_else(|| BackendProvider::from_name(&entry.name))
        .ok_or_else(|| Invalid {
            reason: "BackendProviderUnknown",
            message: format!(
                "spec.backends[{}]: set provider (redis, nats, kafka, postgres, rabbitmq or memstore); it cannot be told from the name or connectionString",
                entry.name
            ),
        })?;
    let connection = (entry.connection_string.is_some() || entry.secret_ref.is_some()).then(|| ConnectionSpec {
        url: entry.connection_string.clone(),
        secret_ref: entry.secret_ref.as_ref().map(|r| SecretKeysReference {
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            keys: None,
        }),
    });
    let spec = PrismBackendSpec { type_: entry.type_, provider, connection, tls: None, health_check: None };
    Ok(Child { name: entry.name.clone(), spec })
}

fn env(name: &str, value: String) -> EnvVar {
    EnvVar { name: name.to_owned(), value: Some(value), value_from: None }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: path.to_owned(), api_version: None }),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use prism_api::v1alpha1::BackendProvider;
    use serde_json::json;

    use super::*;

    /// What `resolve` finds with KEDA installed or not.
    pub(crate) fn unchecked(keda_installed: bool) -> Resolved {
        Resolved { keda: KedaRefs::unchecked(keda_installed) }
    }

    fn validated(yaml: &str) -> ValidatedStack {
        let stack: PrismStack = serde_saphyr::from_str(yaml).expect("sample parses");
        let owner = OwnerReference {
            api_version: "prism.io/v1alpha1".into(),
            kind: "PrismStack".into(),
            name: stack.metadata.name.clone().expect("name"),
            uid: "uid".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        validate(&stack, "ns", owner, &unchecked(false), &Defaults::default())
    }

    #[test]
    fn full_example_maps_every_section() {
        let v = validated(include_str!("../../../../../config/samples/prismstack_full_example.yaml"));
        let proxy = v.proxy.expect("proxy valid");
        assert_eq!(proxy.workload.name, "prism-dev-proxy");
        assert_eq!(proxy.workload.replicas, Some(2));
        assert_eq!(proxy.exposure.ports, [("grpc".to_owned(), 9090, 9090)]);
        assert!(proxy.pdb, "two replicas get a PodDisruptionBudget");
        let admin = v.admin.expect("admin enabled").expect("admin valid");
        assert_eq!(admin.exposure.ports[0].1, 8981);
        assert!(!admin.pdb);
        let providers: Vec<(String, BackendProvider)> =
            v.backends.iter().map(|b| (b.name.clone(), b.spec.provider)).collect();
        assert_eq!(
            providers,
            [("nats".to_owned(), BackendProvider::Nats), ("postgres".to_owned(), BackendProvider::Postgres)]
        );
        let nats = &v.backends[0].spec.connection.as_ref().expect("connection");
        assert_eq!(nats.url.as_deref(), Some("nats://nats.prism-system.svc.cluster.local:4222"));
        let pubsub = v.patterns.iter().find(|p| p.name == "pubsub-nats").expect("pattern");
        assert_eq!(
            pubsub.spec.backend_config.as_ref().map(|r| r.name.as_str()),
            Some("nats"),
            "wired to the stack backend"
        );
        assert_eq!(pubsub.spec.service.as_ref().and_then(|s| s.port), Some(naming::PATTERN_SERVICE_PORT));
        let memstore = v.patterns.iter().find(|p| p.name == "keyvalue-memstore").expect("pattern");
        assert!(memstore.spec.backend_config.is_none(), "memstore is not a declared backend");
        assert!(proxy.workload.container.observability.is_some(), "the stack's observability reaches the proxy");
    }

    #[test]
    fn runner_spec_becomes_pattern_placement() {
        let v = validated(include_str!("../../../../../config/samples/prismstack_runnerspec_example.yaml"));
        let large = v.patterns.iter().find(|p| p.name == "cache-redis-large").expect("pattern");
        let placement = large.spec.placement.as_ref().expect("placement");
        assert_eq!(placement.node_selector.as_ref().expect("selector")["memory-optimized"], "true");
        let admin = v.admin.expect("admin").expect("valid");
        let le = v.leader_election.expect("leader election");
        assert_eq!(
            (le.lease_duration.as_str(), le.renew_deadline.as_str(), le.retry_period.as_str()),
            ("15s", "10s", "2s")
        );
        assert_eq!(admin.workload.service_account.as_deref(), Some("prism-production-admin"));
        assert_eq!(admin.exposure.type_, "LoadBalancer");
        assert_eq!(admin.exposure.annotations["service.beta.kubernetes.io/aws-load-balancer-type"], "nlb");
    }

    #[test]
    fn unknown_backend_provider_is_a_problem_not_a_child() {
        let stack: PrismStack = serde_json::from_value(json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
            "metadata": {"name": "s"}, "spec": {"backends": [{"name": "store", "type": "database", "connectionString": "mysql://db"}]}}))
        .expect("stack");
        let owner = OwnerReference { name: "s".into(), uid: "u".into(), ..Default::default() };
        let v = validate(&stack, "ns", owner, &unchecked(false), &Defaults::default());
        assert!(v.backends.is_empty());
        assert_eq!(v.problems[0].reason, "BackendProviderUnknown");
    }

    #[test]
    fn dedicated_nodes_without_selector_leave_the_proxy_out() {
        let stack: PrismStack = serde_json::from_value(json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
            "metadata": {"name": "s"}, "spec": {"proxy": {"placement": {"strategy": "DedicatedNodes"}}}}))
        .expect("stack");
        let owner = OwnerReference { name: "s".into(), uid: "u".into(), ..Default::default() };
        let v = validate(&stack, "ns", owner, &unchecked(false), &Defaults::default());
        assert_eq!(v.proxy.expect_err("invalid").reason, "DedicatedNodesUnspecified");
    }
}

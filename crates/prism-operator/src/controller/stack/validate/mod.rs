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
        .map(|le| LeaderElection::with_defaults(&o.name, le));

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
pub(crate) mod tests;

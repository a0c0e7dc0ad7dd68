//! Pure: the validated stack -> every child object, grouped by kind.

use k8s_openapi::api::{
    apps::v1::Deployment,
    autoscaling::v2::HorizontalPodAutoscaler,
    core::v1::{Service, ServiceAccount},
    policy::v1::PodDisruptionBudget,
    rbac::v1::{Role, RoleBinding},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;
use prism_api::v1alpha1::{PrismBackend, PrismBackendSpec, PrismPattern, PrismPatternSpec};

use super::{
    leader_election,
    validate::{Child, Component, ValidatedStack},
};
use crate::{
    autoscaling::{self, Target},
    naming, workload,
};

/// The children of one PrismStack, by kind.
#[derive(Clone, Debug, Default)]
pub struct Children {
    /// Proxy and admin Deployments.
    pub deployments: Vec<Deployment>,
    /// Proxy and admin Services.
    pub services: Vec<Service>,
    /// PodDisruptionBudgets of components with more than one replica.
    pub pdbs: Vec<PodDisruptionBudget>,
    /// The proxy's HPA.
    pub hpas: Vec<HorizontalPodAutoscaler>,
    /// The proxy's ScaledObject.
    pub scaled_objects: Vec<DynamicObject>,
    /// The admin's ServiceAccount (leader election).
    pub service_accounts: Vec<ServiceAccount>,
    /// The admin's leader-election Role.
    pub roles: Vec<Role>,
    /// The admin's leader-election RoleBinding.
    pub role_bindings: Vec<RoleBinding>,
    /// Child PrismPatterns.
    pub patterns: Vec<PrismPattern>,
    /// Child PrismBackends.
    pub backends: Vec<PrismBackend>,
    /// Names of children to leave as they are (components whose spec cannot be honoured now).
    pub retain: Vec<String>,
    /// Name of the proxy Deployment.
    pub proxy_name: String,
    /// Name of the admin Deployment.
    pub admin_name: String,
}

/// Builds every child of a validated stack.
pub fn build(v: &ValidatedStack) -> Children {
    let mut out = Children {
        proxy_name: naming::proxy_name(&v.name),
        admin_name: naming::admin_name(&v.name),
        ..Children::default()
    };
    match &v.proxy {
        Ok(c) => add_component(&mut out, c),
        Err(_) => out.retain.push(out.proxy_name.clone()),
    }
    match &v.admin {
        Some(Ok(c)) => {
            add_component(&mut out, c);
            if let Some(le) = &v.leader_election {
                let r = leader_election::build(le, &c.workload.namespace, &c.workload.labels, &c.workload.owner);
                out.service_accounts.push(r.service_account);
                out.roles.push(r.role);
                out.role_bindings.push(r.role_binding);
            }
        }
        Some(Err(_)) => {
            out.retain.push(out.admin_name.clone());
            if let Some(le) = &v.leader_election {
                out.retain.extend([le.service_account.clone(), le.role.clone()]);
            }
        }
        None => {}
    }
    out.patterns = v.patterns.iter().map(|c| child_pattern(v, c)).collect();
    out.backends = v.backends.iter().map(|c| child_backend(v, c)).collect();
    out
}

/// The child PrismPattern of one `spec.patterns` entry.
fn child_pattern(v: &ValidatedStack, child: &Child<PrismPatternSpec>) -> PrismPattern {
    let mut pattern = PrismPattern::new(&child.name, child.spec.clone());
    pattern.metadata = child_metadata(v, &child.name, "prism-pattern", "pattern");
    pattern
}

/// The child PrismBackend of one `spec.backends` entry.
fn child_backend(v: &ValidatedStack, child: &Child<PrismBackendSpec>) -> PrismBackend {
    let mut backend = PrismBackend::new(&child.name, child.spec.clone());
    backend.metadata = child_metadata(v, &child.name, "prism-backend", "backend");
    backend
}

fn child_metadata(v: &ValidatedStack, name: &str, seed_component: &str, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(v.namespace.clone()),
        labels: Some(naming::stack_child_labels(&v.name, seed_component, component)),
        owner_references: Some(vec![v.owner.clone()]),
        ..Default::default()
    }
}

fn add_component(out: &mut Children, c: &Component) {
    let w = &c.workload;
    out.deployments.push(workload::build_deployment(w));
    out.services.push(workload::build_service(w, &c.exposure));
    if c.pdb {
        out.pdbs.push(workload::build_pdb(w));
    }
    let target = Target { name: &w.name, namespace: &w.namespace, labels: &w.labels, owner: &w.owner };
    out.hpas.extend(c.scaling.hpa().map(|h| autoscaling::build_hpa(&target, h)));
    out.scaled_objects.extend(c.scaling.keda().map(|k| autoscaling::build_scaled_object(&target, k)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::stack::validate::tests::validated;

    fn children(yaml: &str) -> Children {
        build(&validated(yaml))
    }

    #[test]
    fn children_are_owned_labelled_and_wired() {
        let c = children(include_str!("../../../../../config/samples/prismstack_full_example.yaml"));
        let pubsub = c.patterns.iter().find(|p| p.metadata.name.as_deref() == Some("pubsub-nats")).expect("pattern");
        assert_eq!(pubsub.metadata.labels.as_ref().expect("labels")["stack"], "prism-dev");
        assert_eq!(pubsub.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(pubsub.metadata.owner_references.as_ref().expect("owner")[0].uid, "uid");
        let nats = c.backends.iter().find(|b| b.metadata.name.as_deref() == Some("nats")).expect("backend");
        assert_eq!(nats.metadata.labels.as_ref().expect("labels")["stack"], "prism-dev");
        assert_eq!(nats.metadata.owner_references.as_ref().expect("owner")[0].controller, Some(true));
        // Observability reaches the proxy (metrics on the gRPC port: no duplicate port entry).
        let proxy =
            c.deployments.iter().find(|d| d.metadata.name.as_deref() == Some("prism-dev-proxy")).expect("proxy");
        let pod = proxy.spec.as_ref().and_then(|s| s.template.spec.as_ref()).expect("pod");
        let container = &pod.containers[0];
        assert_eq!(container.ports.as_ref().expect("ports").len(), 1);
        assert!(container.env.iter().flatten().any(|e| e.name == "OTEL_EXPORTER_OTLP_ENDPOINT"));
        assert!(
            container.readiness_probe.as_ref().and_then(|p| p.tcp_socket.as_ref()).is_some(),
            "gRPC is probed over TCP"
        );
    }
}

//! Pure: the validated stack -> every child object, grouped by kind.

use k8s_openapi::api::{
    apps::v1::Deployment,
    autoscaling::v2::HorizontalPodAutoscaler,
    core::v1::{Service, ServiceAccount},
    policy::v1::PodDisruptionBudget,
    rbac::v1::{Role, RoleBinding},
};
use kube::api::DynamicObject;
use prism_api::v1alpha1::{PrismBackend, PrismPattern};

use super::{
    leader_election,
    validate::{Component, ValidatedStack},
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
    out.patterns.clone_from(&v.patterns);
    out.backends.clone_from(&v.backends);
    out
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

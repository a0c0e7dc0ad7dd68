//! Deployment and Service builders shared by every component (pattern runners, proxy, admin).
//!
//! Pure: a [`Workload`] describes one replicated container ([`ContainerSpec`]) with its placement,
//! as the validate steps decide it; the builders turn it into the exact objects the operator
//! applies (the container with its ports, probes and observability wiring, the Deployment, its
//! Service and PodDisruptionBudget). Only fields the operator owns are set, so a
//! re-apply of the same workload is a no-op (and `replicas` is left out while an autoscaler owns
//! it).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec},
        core::v1::{
            Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction, LocalObjectReference, PodSpec,
            PodTemplateSpec, Probe, ResourceRequirements, Service, ServicePort, ServiceSpec, TCPSocketAction,
        },
        policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference},
        util::intstr::IntOrString,
    },
};

use prism_api::v1alpha1::ObservabilitySpec;

use crate::{observability, placement::PodPlacement};

/// One replicated container and where it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Name of the Deployment (and of its Service).
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Controller owner reference (the custom resource).
    pub owner: OwnerReference,
    /// Labels of the Deployment, its pods and its Service.
    pub labels: BTreeMap<String, String>,
    /// The immutable pod selector (a subset of `labels`).
    pub selector: BTreeMap<String, String>,
    /// Replicas, or `None` while an autoscaler owns them.
    pub replicas: Option<i32>,
    /// The container.
    pub container: ContainerSpec,
    /// Pod-template annotations (besides those of the observability wiring).
    pub pod_annotations: BTreeMap<String, String>,
    /// Scheduling fields.
    pub placement: PodPlacement,
    /// Image pull secrets.
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// Service account of the pods.
    pub service_account: Option<String>,
}

/// The one container of a workload, as validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerSpec {
    /// Container name (also the service name its traces carry).
    pub name: String,
    /// Image.
    pub image: String,
    /// Arguments.
    pub args: Vec<String>,
    /// The serving port's name (probes check it).
    pub port_name: &'static str,
    /// The serving port.
    pub port: i32,
    /// How the readiness and liveness probes check the serving port.
    pub health: HealthCheck,
    /// Environment variables (the observability wiring adds its own).
    pub env: Vec<EnvVar>,
    /// Environment from ConfigMaps and Secrets.
    pub env_from: Vec<EnvFromSource>,
    /// Resource requests and limits.
    pub resources: Option<ResourceRequirements>,
    /// Tracing and metrics settings.
    pub observability: Option<ObservabilitySpec>,
}

/// How a container's serving port is probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthCheck {
    /// An HTTP GET of this path.
    Http(&'static str),
    /// A TCP connect.
    Tcp,
}

/// Seconds the liveness probe waits after the container starts.
const LIVENESS_INITIAL_DELAY_SECONDS: i32 = 10;

/// The container of a workload, and the pod annotations its observability wiring adds to
/// `pod_annotations`.
pub fn build_container(c: &ContainerSpec, pod_annotations: &mut BTreeMap<String, String>) -> Container {
    let port = IntOrString::String(c.port_name.to_owned());
    let probe = match c.health {
        HealthCheck::Http(path) => Probe {
            http_get: Some(HTTPGetAction { path: Some(path.to_owned()), port, ..Default::default() }),
            ..Default::default()
        },
        HealthCheck::Tcp => Probe { tcp_socket: Some(TCPSocketAction { port, host: None }), ..Default::default() },
    };
    let mut container = Container {
        name: c.name.clone(),
        image: Some(c.image.clone()),
        args: Some(c.args.clone()).filter(|a| !a.is_empty()),
        ports: Some(vec![ContainerPort {
            name: Some(c.port_name.to_owned()),
            container_port: c.port,
            protocol: Some("TCP".to_owned()),
            ..Default::default()
        }]),
        env: Some(c.env.clone()).filter(|e| !e.is_empty()),
        env_from: Some(c.env_from.clone()).filter(|e| !e.is_empty()),
        resources: c.resources.clone(),
        readiness_probe: Some(probe.clone()),
        liveness_probe: Some(Probe { initial_delay_seconds: Some(LIVENESS_INITIAL_DELAY_SECONDS), ..probe }),
        ..Default::default()
    };
    observability::wire(c.observability.as_ref(), &c.name, &mut container, pod_annotations);
    container
}

/// How a workload is exposed.
#[derive(Clone, Debug, PartialEq)]
pub struct Exposure {
    /// Service type.
    pub type_: String,
    /// Ports: (name, port, target port).
    pub ports: Vec<(String, i32, i32)>,
    /// Service annotations.
    pub annotations: BTreeMap<String, String>,
}

impl Workload {
    fn metadata(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels.clone()),
            owner_references: Some(vec![self.owner.clone()]),
            ..Default::default()
        }
    }
}

/// The Deployment of a workload.
pub fn build_deployment(w: &Workload) -> Deployment {
    let p = &w.placement;
    let mut pod_annotations = w.pod_annotations.clone();
    let container = build_container(&w.container, &mut pod_annotations);
    Deployment {
        metadata: w.metadata(&w.name),
        spec: Some(DeploymentSpec {
            replicas: w.replicas,
            selector: LabelSelector { match_labels: Some(w.selector.clone()), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(w.labels.clone()),
                    annotations: Some(pod_annotations).filter(|a| !a.is_empty()),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    node_selector: p.node_selector.clone(),
                    affinity: p.affinity.clone(),
                    tolerations: p.tolerations.clone(),
                    topology_spread_constraints: p.topology_spread_constraints.clone(),
                    priority_class_name: p.priority_class_name.clone(),
                    runtime_class_name: p.runtime_class_name.clone(),
                    node_name: p.node_name.clone(),
                    image_pull_secrets: w.image_pull_secrets.clone().filter(|s| !s.is_empty()),
                    service_account_name: w.service_account.clone(),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// A PodDisruptionBudget letting voluntary disruptions (drains, spot reclaims) take at most one
/// of the workload's pods at a time.
pub fn build_pdb(w: &Workload) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: w.metadata(&w.name),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector { match_labels: Some(w.selector.clone()), ..Default::default() }),
            ..Default::default()
        }),
        status: None,
    }
}

/// The Service exposing a workload's pods.
pub fn build_service(w: &Workload, exposure: &Exposure) -> Service {
    let mut metadata = w.metadata(&w.name);
    metadata.annotations = Some(exposure.annotations.clone()).filter(|a| !a.is_empty());
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(exposure.type_.clone()),
            selector: Some(w.selector.clone()),
            ports: Some(
                exposure
                    .ports
                    .iter()
                    .map(|(name, port, target)| ServicePort {
                        name: Some(name.clone()),
                        port: *port,
                        target_port: Some(IntOrString::Int(*target)),
                        protocol: Some("TCP".to_owned()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(replicas: Option<i32>) -> Workload {
        Workload {
            name: "orders".into(),
            namespace: "ns".into(),
            owner: OwnerReference {
                api_version: "prism.io/v1alpha1".into(),
                kind: "PrismPattern".into(),
                name: "orders".into(),
                uid: "uid-1".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
            labels: BTreeMap::from([("a".into(), "b".into()), ("app".into(), "prism".into())]),
            selector: BTreeMap::from([("app".into(), "prism".into())]),
            replicas,
            container: ContainerSpec {
                name: "consumer-runner".into(),
                image: "img".into(),
                args: Vec::new(),
                port_name: "grpc",
                port: 8080,
                health: HealthCheck::Tcp,
                env: Vec::new(),
                env_from: Vec::new(),
                resources: None,
                observability: None,
            },
            pod_annotations: BTreeMap::new(),
            placement: PodPlacement::default(),
            image_pull_secrets: None,
            service_account: None,
        }
    }

    #[test]
    fn replicas_are_left_out_while_autoscaled() {
        let json = serde_json::to_value(build_deployment(&workload(None))).expect("json");
        assert!(json["spec"].get("replicas").is_none(), "{json}");
        let json = serde_json::to_value(build_deployment(&workload(Some(3)))).expect("json");
        assert_eq!(json["spec"]["replicas"], 3);
    }

    #[test]
    fn empty_optionals_are_not_sent() {
        let json = serde_json::to_value(build_deployment(&workload(Some(1)))).expect("json");
        let pod = &json["spec"]["template"]["spec"];
        for field in ["nodeSelector", "affinity", "tolerations", "imagePullSecrets", "topologySpreadConstraints"] {
            assert!(pod.get(field).is_none(), "{field} sent: {pod}");
        }
        assert!(json["spec"]["template"]["metadata"].get("annotations").is_none());
    }

    #[test]
    fn service_selects_the_pods_with_numeric_target_port() {
        let exposure = Exposure {
            type_: "ClusterIP".into(),
            ports: vec![("http".into(), 8080, 8080)],
            annotations: BTreeMap::new(),
        };
        let svc = build_service(&workload(Some(1)), &exposure);
        let spec = svc.spec.expect("spec");
        assert_eq!(spec.selector.expect("selector")["app"], "prism");
        let port = &spec.ports.expect("ports")[0];
        assert_eq!((port.port, port.target_port.clone()), (8080, Some(IntOrString::Int(8080))));
        assert_eq!(svc.metadata.owner_references.expect("owner")[0].uid, "uid-1");
    }
}

//! Simulated nodes: their description (`NodeSpec`), the default topology (2 regions, 3 zones,
//! 6 nodes), creating them as kwok-managed Node objects, and waiting until they are Ready and
//! schedulable.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::core::v1::{Node, NodeSpec as CoreNodeSpec, NodeStatus, Taint},
    apimachinery::pkg::api::resource::Quantity,
};
use kube::{
    Api, Client,
    api::{ListParams, ObjectMeta, PostParams},
};

use crate::{
    Error,
    components::{KWOK_NODE_ANNOTATION, KWOK_NODE_ANNOTATION_VALUE, RESOURCE_METRICS_PATH_ANNOTATION},
    ready::poll_until,
};

pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
pub const LABEL_OS: &str = "kubernetes.io/os";
pub const LABEL_ARCH: &str = "kubernetes.io/arch";
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
pub const LABEL_REGION: &str = "topology.kubernetes.io/region";
/// `type=kwok` marks every simulated node.
pub const LABEL_TYPE: &str = "type";
pub const LABEL_TYPE_VALUE: &str = "kwok";
/// Default topology: (region, zones), two nodes per zone.
pub const DEFAULT_TOPOLOGY: [(&str, &[&str]); 2] =
    [("us-east-1", &["us-east-1a", "us-east-1b"]), ("us-west-2", &["us-west-2a"])];
pub const DEFAULT_NODES_PER_ZONE: usize = 2;
/// Capacity (and allocatable) of a default node.
pub const DEFAULT_CPU: &str = "32";
pub const DEFAULT_MEMORY: &str = "256Gi";
pub const DEFAULT_PODS: &str = "110";
/// How long [`add_node`] waits for the node to become Ready.
pub const ADD_NODE_TIMEOUT: Duration = Duration::from_secs(60);
/// Taints the node lifecycle controller sets until a node is Ready; the scheduler avoids them.
const NOT_READY_TAINTS: [&str; 2] = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];

/// One simulated node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// Capacity, also used as allocatable.
    pub capacity: BTreeMap<String, Quantity>,
}

impl NodeSpec {
    /// A node with the standard labels (hostname, linux/amd64, `type=kwok`) and default
    /// capacity, in no zone.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let labels = [
            (LABEL_HOSTNAME, name.as_str()),
            (LABEL_OS, "linux"),
            (LABEL_ARCH, "amd64"),
            (LABEL_TYPE, LABEL_TYPE_VALUE),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let capacity = [("cpu", DEFAULT_CPU), ("memory", DEFAULT_MEMORY), ("pods", DEFAULT_PODS)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Quantity(v.to_owned())))
            .collect();
        Self { name, labels, taints: Vec::new(), capacity }
    }

    /// Sets the region and zone labels.
    pub fn in_zone(self, region: &str, zone: &str) -> Self {
        self.with_label(LABEL_REGION, region).with_label(LABEL_ZONE, zone)
    }

    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    pub fn with_taint(mut self, taint: Taint) -> Self {
        self.taints.push(taint);
        self
    }

    /// The Node object: kwok manages it because of the annotation, and keeps the status we give.
    pub fn to_node(&self) -> Node {
        let annotations = BTreeMap::from([
            (KWOK_NODE_ANNOTATION.to_owned(), KWOK_NODE_ANNOTATION_VALUE.to_owned()),
            // Where metrics-server finds this node's resource metrics on kwok's server.
            (RESOURCE_METRICS_PATH_ANNOTATION.to_owned(), format!("/metrics/nodes/{}/metrics/resource", self.name)),
        ]);
        Node {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(self.labels.clone()),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            },
            spec: Some(CoreNodeSpec {
                taints: (!self.taints.is_empty()).then(|| self.taints.clone()),
                ..CoreNodeSpec::default()
            }),
            status: Some(NodeStatus {
                allocatable: Some(self.capacity.clone()),
                capacity: Some(self.capacity.clone()),
                ..NodeStatus::default()
            }),
        }
    }
}

/// The default six nodes: `kwok-<zone>-<i>`, two per zone, zones as in [`DEFAULT_TOPOLOGY`].
pub fn default_nodes() -> Vec<NodeSpec> {
    DEFAULT_TOPOLOGY
        .iter()
        .flat_map(|(region, zones)| zones.iter().map(move |zone| (*region, *zone)))
        .flat_map(|(region, zone)| {
            (0..DEFAULT_NODES_PER_ZONE).map(move |i| NodeSpec::new(format!("kwok-{zone}-{i}")).in_zone(region, zone))
        })
        .collect()
}

/// Creates a node and waits (up to [`ADD_NODE_TIMEOUT`]) until it is Ready and schedulable.
pub async fn add_node(client: &Client, spec: &NodeSpec) -> Result<Node, Error> {
    create_nodes(client, std::slice::from_ref(spec)).await?;
    wait_nodes_ready(client, &[spec.name.as_str()], ADD_NODE_TIMEOUT, &mut || Ok(())).await?;
    Api::<Node>::all(client.clone())
        .get(&spec.name)
        .await
        .map_err(|source| Error::CreateNode { name: spec.name.clone(), source })
}

pub(crate) async fn create_nodes(client: &Client, specs: &[NodeSpec]) -> Result<(), Error> {
    let api = Api::<Node>::all(client.clone());
    for spec in specs {
        api.create(&PostParams::default(), &spec.to_node())
            .await
            .map_err(|source| Error::CreateNode { name: spec.name.clone(), source })?;
    }
    Ok(())
}

/// Whether the node reports Ready=True and carries none of the not-ready taints.
fn is_ready_and_schedulable(node: &Node) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let tainted = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|ts| ts.iter().any(|t| NOT_READY_TAINTS.contains(&t.key.as_str())));
    ready && !tainted
}

/// Polls until every named node is Ready and schedulable. `alive` runs on every poll and can
/// abort the wait (the control plane uses it to notice a component that died).
pub(crate) async fn wait_nodes_ready(
    client: &Client,
    names: &[&str],
    timeout: Duration,
    alive: &mut dyn FnMut() -> Result<(), Error>,
) -> Result<(), Error> {
    let api = Api::<Node>::all(client.clone());
    let deadline = Instant::now() + timeout;
    poll_until("nodes to become Ready", deadline, alive, async || {
        let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let pending: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| {
                !list.items.iter().any(|n| n.metadata.name.as_deref() == Some(*name) && is_ready_and_schedulable(n))
            })
            .collect();
        if pending.is_empty() { Ok(()) } else { Err(format!("not Ready or still tainted: {}", pending.join(", "))) }
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn default_topology_is_six_nodes_in_three_zones() {
        let nodes = default_nodes();
        let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "kwok-us-east-1a-0",
                "kwok-us-east-1a-1",
                "kwok-us-east-1b-0",
                "kwok-us-east-1b-1",
                "kwok-us-west-2a-0",
                "kwok-us-west-2a-1"
            ]
        );
        let west = &nodes[4];
        assert_eq!(west.labels[LABEL_REGION], "us-west-2");
        assert_eq!(west.labels[LABEL_ZONE], "us-west-2a");
        assert_eq!(west.labels[LABEL_HOSTNAME], "kwok-us-west-2a-0");
        assert_eq!(west.labels[LABEL_TYPE], "kwok");
    }

    #[test]
    fn node_object_is_annotated_for_kwok_and_has_capacity() {
        let node = NodeSpec::new("n").to_node();
        let ann = node.metadata.annotations.unwrap();
        assert_eq!(ann[KWOK_NODE_ANNOTATION], KWOK_NODE_ANNOTATION_VALUE);
        assert_eq!(ann[RESOURCE_METRICS_PATH_ANNOTATION], "/metrics/nodes/n/metrics/resource");
        let status = node.status.unwrap();
        assert_eq!(status.allocatable.unwrap()["memory"], Quantity("256Gi".into()));
        assert_eq!(node.spec.unwrap().taints, None);
    }
}

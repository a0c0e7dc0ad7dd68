//! Placement: turns a [`PlacementSpec`] (the seeds' RunnerSpec) into pod-spec scheduling fields.
//!
//! Pure. Everything the user gave is kept exactly; a strategy only fills fields left empty
//! (see `PlacementSpec::strategy` for the documented effect of each strategy).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{
        Affinity, PodAffinityTerm, PodAntiAffinity, ResourceRequirements, Toleration, TopologySpreadConstraint,
        WeightedPodAffinityTerm,
    },
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};
use prism_api::v1alpha1::{PlacementSpec, PlacementStrategy};

use crate::canonical;

/// Node label of the zone a node is in.
pub const ZONE_KEY: &str = "topology.kubernetes.io/zone";
/// Node label of the region a node is in.
pub const REGION_KEY: &str = "topology.kubernetes.io/region";
/// Node label of the node's host name.
pub const HOSTNAME_KEY: &str = "kubernetes.io/hostname";

/// Scheduling fields of a pod template.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodPlacement {
    /// `nodeSelector`.
    pub node_selector: Option<BTreeMap<String, String>>,
    /// `affinity`.
    pub affinity: Option<Affinity>,
    /// `tolerations`.
    pub tolerations: Option<Vec<Toleration>>,
    /// `topologySpreadConstraints`.
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    /// `priorityClassName`.
    pub priority_class_name: Option<String>,
    /// `runtimeClassName`.
    pub runtime_class_name: Option<String>,
    /// `nodeName`.
    pub node_name: Option<String>,
}

/// A placement the operator cannot honour.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// DedicatedNodes without a nodeSelector or tolerations naming the nodes.
    #[error(
        "placement strategy DedicatedNodes needs placement.nodeSelector or placement.tolerations to say which nodes are dedicated"
    )]
    DedicatedNodesUnspecified,
}

impl PlacementError {
    /// The condition reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::DedicatedNodesUnspecified => "DedicatedNodesUnspecified",
        }
    }
}

/// The placement for pods selected by `pod_selector`, with its strategy's defaults filled in. `default_affinity` (a stack's
/// top-level affinity) applies when the placement has no affinity of its own.
pub fn with_defaults(
    placement: Option<&PlacementSpec>,
    default_affinity: Option<&Affinity>,
    pod_selector: &BTreeMap<String, String>,
) -> Result<PodPlacement, PlacementError> {
    let p = placement.cloned().unwrap_or_default();
    let mut out = PodPlacement {
        node_selector: p.node_selector.filter(|m| !m.is_empty()),
        affinity: p.affinity.or_else(|| default_affinity.cloned()),
        tolerations: p.tolerations.filter(|t| !t.is_empty()),
        topology_spread_constraints: p.topology_spread_constraints.filter(|t| !t.is_empty()),
        priority_class_name: p.priority_class_name,
        runtime_class_name: p.runtime_class_name,
        node_name: p.node_name,
    };
    match p.strategy {
        None => {}
        Some(PlacementStrategy::MultiZone) => {
            out.topology_spread_constraints.get_or_insert_with(|| vec![spread(ZONE_KEY, pod_selector)]);
            prefer_distinct_hosts(&mut out.affinity, pod_selector);
        }
        Some(PlacementStrategy::MultiRegion) => {
            out.topology_spread_constraints
                .get_or_insert_with(|| vec![spread(REGION_KEY, pod_selector), spread(ZONE_KEY, pod_selector)]);
            prefer_distinct_hosts(&mut out.affinity, pod_selector);
        }
        Some(PlacementStrategy::DedicatedNodes) if out.node_selector.is_none() && out.tolerations.is_none() => {
            return Err(PlacementError::DedicatedNodesUnspecified);
        }
        Some(PlacementStrategy::DedicatedNodes) => {}
    }
    Ok(out)
}

/// The container resources: the placement's when given, else the component's; quantities in
/// canonical form.
pub fn resources(
    placement: Option<&PlacementSpec>,
    component: Option<&ResourceRequirements>,
) -> Option<ResourceRequirements> {
    let r = placement.and_then(|p| p.resources.as_ref()).or(component)?;
    Some(ResourceRequirements {
        limits: r.limits.as_ref().map(canonical::quantities),
        requests: r.requests.as_ref().map(canonical::quantities),
        claims: r.claims.clone(),
    })
}

fn spread(topology_key: &str, pod_selector: &BTreeMap<String, String>) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: 1,
        topology_key: topology_key.to_owned(),
        when_unsatisfiable: "DoNotSchedule".to_owned(),
        label_selector: Some(selector(pod_selector)),
        ..Default::default()
    }
}

fn prefer_distinct_hosts(affinity: &mut Option<Affinity>, pod_selector: &BTreeMap<String, String>) {
    let affinity = affinity.get_or_insert_with(Affinity::default);
    if affinity.pod_anti_affinity.is_some() {
        return;
    }
    affinity.pod_anti_affinity = Some(PodAntiAffinity {
        preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
            weight: 100,
            pod_affinity_term: PodAffinityTerm {
                label_selector: Some(selector(pod_selector)),
                topology_key: HOSTNAME_KEY.to_owned(),
                ..Default::default()
            },
        }]),
        ..Default::default()
    });
}

fn selector(labels: &BTreeMap<String, String>) -> LabelSelector {
    LabelSelector { match_labels: Some(labels.clone()), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    use super::*;

    fn sel() -> BTreeMap<String, String> {
        BTreeMap::from([("component".to_owned(), "prism-proxy".to_owned())])
    }

    #[test]
    fn no_strategy_keeps_exactly_what_was_given() {
        let p: PlacementSpec = serde_json::from_value(serde_json::json!({
            "nodeSelector": {"role": "prism-proxy"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "prism-proxy", "effect": "NoSchedule"}],
            "priorityClassName": "high-priority", "runtimeClassName": "gvisor"
        }))
        .expect("placement");
        let out = with_defaults(Some(&p), None, &sel()).expect("valid");
        assert_eq!(out.node_selector, p.node_selector);
        assert_eq!(out.tolerations, p.tolerations);
        assert_eq!(out.priority_class_name.as_deref(), Some("high-priority"));
        assert_eq!(out.runtime_class_name.as_deref(), Some("gvisor"));
        assert!(out.affinity.is_none() && out.topology_spread_constraints.is_none());
    }

    #[test]
    fn multi_zone_adds_zone_spread_and_host_preference() {
        let p = PlacementSpec { strategy: Some(PlacementStrategy::MultiZone), ..Default::default() };
        let out = with_defaults(Some(&p), None, &sel()).expect("valid");
        let tsc = out.topology_spread_constraints.expect("spread added");
        assert_eq!(tsc.len(), 1);
        assert_eq!((tsc[0].topology_key.as_str(), tsc[0].max_skew), (ZONE_KEY, 1));
        assert_eq!(tsc[0].when_unsatisfiable, "DoNotSchedule");
        let anti = out.affinity.and_then(|a| a.pod_anti_affinity).expect("anti-affinity added");
        let preferred = anti.preferred_during_scheduling_ignored_during_execution.expect("preferred");
        assert_eq!(preferred[0].pod_affinity_term.topology_key, HOSTNAME_KEY);
    }

    #[test]
    fn multi_region_spreads_regions_then_zones() {
        let p = PlacementSpec { strategy: Some(PlacementStrategy::MultiRegion), ..Default::default() };
        let out = with_defaults(Some(&p), None, &sel()).expect("valid");
        let keys: Vec<String> =
            out.topology_spread_constraints.expect("spread").into_iter().map(|c| c.topology_key).collect();
        assert_eq!(keys, [REGION_KEY, ZONE_KEY]);
    }

    #[test]
    fn strategy_never_overrides_user_rules() {
        let p: PlacementSpec = serde_json::from_value(serde_json::json!({
            "strategy": "MultiZone",
            "topologySpreadConstraints": [{"maxSkew": 2, "topologyKey": ZONE_KEY, "whenUnsatisfiable": "DoNotSchedule"}],
            "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"component": "prism-admin"}}, "topologyKey": HOSTNAME_KEY}]}}
        }))
        .expect("placement");
        let out = with_defaults(Some(&p), None, &sel()).expect("valid");
        assert_eq!(out.topology_spread_constraints, p.topology_spread_constraints);
        assert_eq!(out.affinity, p.affinity);
    }

    #[test]
    fn dedicated_nodes_need_a_selector_or_tolerations() {
        let p = PlacementSpec { strategy: Some(PlacementStrategy::DedicatedNodes), ..Default::default() };
        assert_eq!(with_defaults(Some(&p), None, &sel()), Err(PlacementError::DedicatedNodesUnspecified));
        let p =
            PlacementSpec { node_selector: Some(BTreeMap::from([("node-type".into(), "prism-proxy".into())])), ..p };
        assert!(with_defaults(Some(&p), None, &sel()).is_ok());
    }

    #[test]
    fn default_affinity_applies_only_without_own_affinity() {
        let stack_affinity = Affinity { pod_anti_affinity: Some(PodAntiAffinity::default()), ..Default::default() };
        let out = with_defaults(None, Some(&stack_affinity), &sel()).expect("valid");
        assert_eq!(out.affinity.as_ref(), Some(&stack_affinity));
    }

    #[test]
    fn placement_resources_win_and_are_canonical() {
        let own = ResourceRequirements {
            requests: Some(BTreeMap::from([("cpu".into(), Quantity("1".into()))])),
            ..Default::default()
        };
        let p = PlacementSpec {
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([("cpu".into(), Quantity("2000m".into()))])),
                limits: Some(BTreeMap::from([("memory".into(), Quantity("4096Mi".into()))])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = resources(Some(&p), Some(&own)).expect("resources");
        assert_eq!(r.requests.expect("requests")["cpu"].0, "2");
        assert_eq!(r.limits.expect("limits")["memory"].0, "4Gi");
        assert_eq!(resources(None, Some(&own)), Some(own));
    }
}

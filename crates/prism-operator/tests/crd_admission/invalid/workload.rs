//! Invalid PrismPattern service, replicas and placement (and a PrismStack proxy's placement).

use super::*;

/// The service and the replica count.
pub fn service_cases() -> Vec<Case> {
    vec![
        Case {
            what: "service port above 65535",
            kind: "PrismPattern",
            spec: pattern(json!({"service": {"port": 70000}})),
            expect: &["spec.service.port", "less than or equal to 65535"],
        },
        Case {
            what: "service port 0",
            kind: "PrismPattern",
            spec: pattern(json!({"service": {"port": 0}})),
            expect: &["spec.service.port", "greater than or equal to 1"],
        },
        Case {
            what: "negative replicas",
            kind: "PrismPattern",
            spec: pattern(json!({"replicas": -1})),
            expect: &["spec.replicas", "greater than or equal to 0"],
        },
        Case {
            what: "unknown service type",
            kind: "PrismPattern",
            spec: pattern(json!({"service": {"type": "Ingress"}})),
            expect: &["spec.service.type", "Unsupported value: \"Ingress\""],
        },
    ]
}

/// Tolerations, topology spread and affinity.
pub fn placement_cases() -> Vec<Case> {
    vec![
        Case {
            what: "toleration effect that does not exist",
            kind: "PrismPattern",
            spec: pattern(
                json!({"placement": {"tolerations": [{"key": "k", "operator": "Exists", "effect": "Sometimes"}]}}),
            ),
            expect: &["spec.placement.tolerations[0].effect", "Unsupported value: \"Sometimes\""],
        },
        Case {
            what: "toleration operator that does not exist",
            kind: "PrismPattern",
            spec: pattern(json!({"placement": {"tolerations": [{"key": "k", "operator": "Matches"}]}})),
            expect: &["spec.placement.tolerations[0].operator", "Unsupported value: \"Matches\""],
        },
        Case {
            what: "topology spread with maxSkew 0",
            kind: "PrismStack",
            spec: json!({"proxy": {"placement": {"topologySpreadConstraints": [{"maxSkew": 0,
                "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}]}}}),
            expect: &["spec.proxy.placement.topologySpreadConstraints[0].maxSkew", "greater than or equal to 1"],
        },
        Case {
            what: "topology spread whenUnsatisfiable that does not exist",
            kind: "PrismPattern",
            spec: pattern(json!({"placement": {"topologySpreadConstraints": [{"maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "Sometimes"}]}})),
            expect: &["spec.placement.topologySpreadConstraints[0].whenUnsatisfiable", "Unsupported value"],
        },
        Case {
            what: "node affinity operator that does not exist",
            kind: "PrismPattern",
            spec: pattern(
                json!({"placement": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Matches", "values": ["a"]}]}]}}}}}),
            ),
            expect: &[
                "spec.placement.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator",
                "Unsupported value: \"Matches\"",
            ],
        },
        Case {
            what: "pod anti-affinity label selector with a node-only operator, and weight 0",
            kind: "PrismPattern",
            spec: pattern(
                json!({"placement": {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
                [{"weight": 0, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]}}}]}}}}),
            ),
            expect: &[
                "preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0",
                "labelSelector.matchExpressions[0].operator: Unsupported value: \"Gt\"",
            ],
        },
    ]
}

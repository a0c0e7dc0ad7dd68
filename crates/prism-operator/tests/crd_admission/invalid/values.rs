//! Values that must be quantities, label keys and values, ConfigMap keys, or match a pattern
//! or an enum.

use super::*;

/// Resource quantities and HPA metric targets and policies.
pub fn quantity_cases() -> Vec<Case> {
    vec![
        Case {
            what: "a resource request that is no quantity",
            kind: "PrismPattern",
            spec: pattern(json!({"resources": {"requests": {"cpu": "lots"}}})),
            expect: &["spec.resources.requests.cpu", "should match"],
        },
        Case {
            what: "a stack proxy limit that is no quantity",
            kind: "PrismStack",
            spec: json!({"proxy": {"resources": {"limits": {"memory": "1 GB"}}}}),
            expect: &["spec.proxy.resources.limits.memory", "should match"],
        },
        Case {
            what: "an HPA metric target that is no quantity, and an unknown target type",
            kind: "PrismPattern",
            spec: pattern(json!({"autoscaling": {"enabled": true, "scaler": "hpa", "maxReplicas": 5,
                "metrics": [{"type": "Pods", "pods": {"metric": {"name": "rps"},
                    "target": {"type": "Average", "averageValue": "many"}}}]}})),
            expect: &[
                "spec.autoscaling.metrics[0].pods.target.averageValue",
                "spec.autoscaling.metrics[0].pods.target.type: Unsupported value: \"Average\"",
            ],
        },
        Case {
            what: "an HPA metric type and scaling policy that do not exist",
            kind: "PrismPattern",
            spec: pattern(json!({"autoscaling": {"enabled": true, "scaler": "hpa", "maxReplicas": 5,
                "metrics": [{"type": "Memory"}],
                "behavior": {"scaleUp": {"selectPolicy": "Fastest",
                    "policies": [{"type": "Replicas", "value": 0, "periodSeconds": 3600}]}}}})),
            expect: &[
                "spec.autoscaling.metrics[0].type: Unsupported value: \"Memory\"",
                "spec.autoscaling.behavior.scaleUp.selectPolicy: Unsupported value: \"Fastest\"",
                "spec.autoscaling.behavior.scaleUp.policies[0].type: Unsupported value: \"Replicas\"",
                "spec.autoscaling.behavior.scaleUp.policies[0].value",
                "spec.autoscaling.behavior.scaleUp.policies[0].periodSeconds",
            ],
        },
    ]
}

/// Label keys and values.
pub fn label_cases() -> Vec<Case> {
    vec![
        Case {
            what: "a nodeSelector key and value that are no label key and value",
            kind: "PrismPattern",
            spec: pattern(json!({"placement": {"nodeSelector": {"node pool": "a", "pool": "b/c"}}})),
            expect: &["spec.placement.nodeSelector", "keys must be label keys", "spec.placement.nodeSelector.pool"],
        },
        Case {
            what: "a matchLabels value longer than a label value",
            kind: "PrismStack",
            spec: json!({"proxy": {"placement": {"topologySpreadConstraints": [{"maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"component": "x".repeat(64)}}}]}}}),
            expect: &["spec.proxy.placement.topologySpreadConstraints[0].labelSelector.matchLabels.component", "63"],
        },
    ]
}

/// Config keys and values.
pub fn config_cases() -> Vec<Case> {
    vec![
        Case {
            what: "config keys that become the same environment variable",
            kind: "PrismPattern",
            spec: pattern(json!({"config": {"a-b": "1", "a_b": "2"}})),
            expect: &["spec.config", "become the same environment variable"],
        },
        Case {
            what: "config keys that differ only in case",
            kind: "PrismPattern",
            spec: pattern(json!({"config": {"maxKeys": 1, "MAXKEYS": 2}})),
            expect: &["spec.config", "become the same environment variable"],
        },
        Case {
            what: "config key that is no ConfigMap key",
            kind: "PrismPattern",
            spec: pattern(json!({"config": {"a/b": "1"}})),
            expect: &["spec.config", "only letters, digits"],
        },
        Case {
            what: "stack pattern config key that is no ConfigMap key",
            kind: "PrismStack",
            spec: json!({"patterns": [{"name": "kv", "type": "keyvalue", "backend": "memstore",
                "config": {"cache ttl": "1h"}}]}),
            expect: &["spec.patterns[0].config", "only letters, digits"],
        },
        Case {
            what: "config value that is an object",
            kind: "PrismPattern",
            spec: pattern(json!({"config": {"nested": {"a": 1}}})),
            expect: &["spec.config.nested"],
        },
    ]
}

/// The pattern type and the placement strategy.
pub fn format_cases() -> Vec<Case> {
    vec![
        Case {
            what: "pattern type with capitals",
            kind: "PrismPattern",
            spec: pattern(json!({"pattern": "KeyValue"})),
            expect: &["spec.pattern", "should match"],
        },
        Case {
            what: "unknown placement strategy",
            kind: "PrismPattern",
            spec: pattern(json!({"placement": {"strategy": "Everywhere"}})),
            expect: &["spec.placement.strategy", "Unsupported value: \"Everywhere\""],
        },
    ]
}

//! Invalid PrismPattern autoscaling: the HPA and KEDA rules, and KEDA triggers.

use super::*;

/// A pattern autoscaled by KEDA from one Kafka trigger, with `extra` merged into `autoscaling`.
fn keda(extra: Value) -> Value {
    let mut a = json!({"enabled": true, "scaler": "keda", "maxReplicas": 10,
        "triggers": [{"type": "kafka", "metadata": {"topic": "orders"}}]});
    merge(&mut a, extra);
    pattern(json!({ "autoscaling": a }))
}

/// A pattern autoscaled by the HPA on CPU, with `extra` merged into `autoscaling`.
fn hpa(extra: Value) -> Value {
    let mut a = json!({"enabled": true, "scaler": "hpa", "maxReplicas": 10, "targetCPUUtilizationPercentage": 75});
    merge(&mut a, extra);
    pattern(json!({ "autoscaling": a }))
}

/// The HPA and KEDA rules of `spec.autoscaling`.
pub fn autoscaling_cases() -> Vec<Case> {
    vec![
        Case {
            what: "minReplicas above maxReplicas",
            kind: "PrismPattern",
            spec: hpa(json!({"minReplicas": 10, "maxReplicas": 5})),
            expect: &["spec.autoscaling", "minReplicas must be less than or equal to autoscaling.maxReplicas"],
        },
        Case {
            what: "unknown scaler",
            kind: "PrismPattern",
            spec: hpa(json!({"scaler": "vpa"})),
            expect: &["spec.autoscaling.scaler", "Unsupported value: \"vpa\""],
        },
        Case {
            what: "keda without triggers",
            kind: "PrismPattern",
            spec: keda(json!({"triggers": []})),
            expect: &["spec.autoscaling", "triggers must list at least one trigger"],
        },
        Case {
            what: "hpa without any target",
            kind: "PrismPattern",
            spec: pattern(json!({"autoscaling": {"enabled": true, "scaler": "hpa", "maxReplicas": 4}})),
            expect: &[
                "spec.autoscaling",
                "needs targetCPUUtilizationPercentage, targetMemoryUtilizationPercentage or metrics",
            ],
        },
        Case {
            what: "enabled without maxReplicas",
            kind: "PrismPattern",
            spec: pattern(json!({"autoscaling": {"enabled": true, "targetCPUUtilizationPercentage": 50}})),
            expect: &["spec.autoscaling", "maxReplicas is required"],
        },
        Case {
            what: "triggers with hpa",
            kind: "PrismPattern",
            spec: hpa(json!({"triggers": [{"type": "kafka", "metadata": {}}]})),
            expect: &["spec.autoscaling", "triggers is only used with autoscaling.scaler keda"],
        },
        Case {
            what: "hpa scaling to zero",
            kind: "PrismPattern",
            spec: hpa(json!({"minReplicas": 0})),
            expect: &["spec.autoscaling", "minReplicas must be at least 1 with scaler hpa"],
        },
    ]
}

/// The rules of `spec.autoscaling.triggers`.
pub fn trigger_cases() -> Vec<Case> {
    vec![
        Case {
            what: "trigger without metadata",
            kind: "PrismPattern",
            spec: keda(json!({"triggers": [{"type": "kafka"}]})),
            expect: &["spec.autoscaling.triggers[0].metadata", "Required value"],
        },
        Case {
            what: "trigger with backendRef and authenticationRef",
            kind: "PrismPattern",
            spec: keda(json!({"triggers": [{"type": "redis", "metadata": {"listName": "jobs"},
                "backendRef": {"name": "cache"}, "authenticationRef": {"name": "redis-auth"}}]})),
            expect: &["spec.autoscaling.triggers[0]", "authenticationRef or from backendRef, not both"],
        },
        Case {
            what: "backendRef on a trigger type without a backend mapping",
            kind: "PrismPattern",
            spec: keda(
                json!({"triggers": [{"type": "kafka", "metadata": {"topic": "orders"}, "backendRef": {"name": "events"}}]}),
            ),
            expect: &[
                "spec.autoscaling.triggers[0]",
                "backendRef works with trigger types redis, postgresql and rabbitmq",
            ],
        },
    ]
}

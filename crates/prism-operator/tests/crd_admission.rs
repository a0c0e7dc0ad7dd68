//! The CRDs on a real API server: every seed sample is accepted and reads back unchanged, invalid
//! specs are rejected at admission with a message naming the field, and kubectl's category, short
//! names and `explain` work.

mod support;

use std::path::PathBuf;

use kube::{
    Api, Client, Resource,
    api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    core::NamespaceResourceScope,
};
use prism_api::v1alpha1::{PrismBackend, PrismNamespace, PrismPattern, PrismStack};
use serde_json::{Value, json};

async fn client() -> Client {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    client
}

fn api_resource(kind: &str) -> ApiResource {
    fn erase<K: Resource<DynamicType = (), Scope = NamespaceResourceScope>>() -> ApiResource {
        ApiResource::erase::<K>(&())
    }
    match kind {
        "PrismStack" => erase::<PrismStack>(),
        "PrismPattern" => erase::<PrismPattern>(),
        "PrismBackend" => erase::<PrismBackend>(),
        "PrismNamespace" => erase::<PrismNamespace>(),
        other => panic!("unexpected kind {other}"),
    }
}

fn dynamic_api(client: &Client, kind: &str, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &api_resource(kind))
}

fn samples() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/samples");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("config/samples")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .map(|p| {
            let doc = support::yaml(&std::fs::read_to_string(&p).expect("read sample"));
            (p.file_name().expect("name").to_string_lossy().into_owned(), doc)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

async fn ensure_namespace(client: &Client, name: &str) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    api.patch(name, &PatchParams::apply("prism-tests"), &Patch::Apply(&ns)).await.expect("ensure namespace");
}

/// `kubectl apply -f config/samples/` works on an empty cluster: every namespace a sample names
/// has its own sample, applied first (files apply in name order).
#[test]
fn every_namespace_the_samples_name_is_a_sample_applied_before_them() {
    let samples = samples();
    let namespaces: Vec<(&str, &str)> = samples
        .iter()
        .filter(|(_, doc)| doc["kind"] == "Namespace")
        .map(|(file, doc)| (file.as_str(), doc["metadata"]["name"].as_str().expect("name")))
        .collect();
    for (file, doc) in samples.iter().filter(|(_, doc)| doc["kind"] != "Namespace") {
        let Some(ns) = doc["metadata"]["namespace"].as_str().filter(|ns| *ns != "default") else { continue };
        let created = namespaces.iter().find(|(_, name)| *name == ns);
        assert!(
            created.is_some_and(|(ns_file, _)| *ns_file < file.as_str()),
            "{file}: namespace {ns} has no earlier sample"
        );
    }
}

#[tokio::test]
async fn every_sample_is_accepted_and_reads_back_unchanged() {
    let client = client().await;
    let (scratch, _guard) = prism_testkit::temp_namespace(prism_testkit::shared().await).await.expect("temp namespace");
    let samples: Vec<_> = samples().into_iter().filter(|(_, doc)| doc["kind"] != "Namespace").collect();
    assert!(samples.len() >= 20, "found only {} samples", samples.len());
    for (file, doc) in &samples {
        let kind = doc["kind"].as_str().expect("kind");
        let name = doc["metadata"]["name"].as_str().expect("name");
        // Samples without a namespace go to a scratch namespace, as `kubectl apply -n` would.
        let ns = match doc["metadata"]["namespace"].as_str() {
            Some(ns) if ns != "default" => {
                ensure_namespace(&client, ns).await;
                ns.to_owned()
            }
            _ => scratch.clone(),
        };
        let api = dynamic_api(&client, kind, &ns);
        let mut obj: DynamicObject = serde_json::from_value(doc.clone()).expect("dynamic object");
        obj.metadata.namespace = Some(ns.clone());
        api.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("{file}: the API server rejected the sample: {e}"));
        let back = api.get(name).await.expect("read back");
        assert_eq!(
            back.data["spec"], doc["spec"],
            "{file}: spec read back differs from the sample (pruned or altered fields)"
        );
        api.delete(name, &DeleteParams::default()).await.expect("delete sample");
    }
}

/// One invalid variant: the kind, a valid base spec, a JSON merge applied to it, and substrings
/// the API server's message must contain (the field path and what is wrong).
struct Case {
    what: &'static str,
    kind: &'static str,
    spec: Value,
    expect: &'static [&'static str],
}

fn pattern(extra: Value) -> Value {
    let mut spec = json!({"pattern": "consumer", "backend": "kafka"});
    merge(&mut spec, extra);
    spec
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

fn cases() -> Vec<Case> {
    let keda = |extra: Value| {
        let mut a = json!({"enabled": true, "scaler": "keda", "maxReplicas": 10,
            "triggers": [{"type": "kafka", "metadata": {"topic": "orders"}}]});
        merge(&mut a, extra);
        pattern(json!({ "autoscaling": a }))
    };
    let hpa = |extra: Value| {
        let mut a = json!({"enabled": true, "scaler": "hpa", "maxReplicas": 10, "targetCPUUtilizationPercentage": 75});
        merge(&mut a, extra);
        pattern(json!({ "autoscaling": a }))
    };
    let backend = |extra: Value| {
        let mut b = json!({"type": "messaging", "provider": "nats", "connection": {"url": "nats://nats:4222"}});
        merge(&mut b, extra);
        b
    };
    let namespace = |extra: Value| {
        let mut n = json!({"namespaceId": "acme-prod", "proxyRef": {"name": "prism-dev"}});
        merge(&mut n, extra);
        n
    };
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
        Case {
            what: "proxy port out of range",
            kind: "PrismStack",
            spec: json!({"proxy": {"port": 65536}}),
            expect: &["spec.proxy.port", "less than or equal to 65535"],
        },
        Case {
            what: "lease duration that does not parse",
            kind: "PrismStack",
            spec: json!({"admin": {"leaderElection": {"enabled": true, "leaseDuration": "15 seconds"}}}),
            expect: &["spec.admin.leaderElection.leaseDuration", "should match"],
        },
        Case {
            what: "leaseDuration not above renewDeadline",
            kind: "PrismStack",
            spec: json!({"admin": {"leaderElection": {"leaseDuration": "5s", "renewDeadline": "10s"}}}),
            expect: &["spec.admin.leaderElection", "leaseDuration must be longer than leaderElection.renewDeadline"],
        },
        Case {
            what: "renewDeadline not above retryPeriod",
            kind: "PrismStack",
            spec: json!({"admin": {"leaderElection": {"renewDeadline": "1s", "retryPeriod": "2s"}}}),
            expect: &["spec.admin.leaderElection", "renewDeadline must be longer than leaderElection.retryPeriod"],
        },
        Case {
            what: "duplicate pattern names",
            kind: "PrismStack",
            spec: json!({"patterns": [{"name": "kv", "type": "keyvalue", "backend": "memstore"},
                                      {"name": "kv", "type": "keyvalue", "backend": "memstore"}]}),
            expect: &["spec.patterns[1]", "Duplicate value"],
        },
        Case {
            what: "stack backend without connection",
            kind: "PrismStack",
            spec: json!({"backends": [{"name": "nats", "type": "messaging"}]}),
            expect: &["spec.backends[0]", "connectionString or backends[].secretRef is required"],
        },
        Case {
            what: "admin service port out of range",
            kind: "PrismStack",
            spec: json!({"admin": {"enabled": true, "service": {"port": 0}}}),
            expect: &["spec.admin.service.port", "greater than or equal to 1"],
        },
        Case {
            what: "connection without url or secretRef",
            kind: "PrismBackend",
            spec: backend(json!({"connection": {"url": null}})),
            expect: &["spec.connection", "connection.url or connection.secretRef is required"],
        },
        Case {
            what: "no connection for nats",
            kind: "PrismBackend",
            spec: json!({"type": "messaging", "provider": "nats"}),
            expect: &["spec", "connection is required for every provider except memstore"],
        },
        Case {
            what: "unknown provider",
            kind: "PrismBackend",
            spec: backend(json!({"provider": "mysql"})),
            expect: &["spec.provider", "Unsupported value: \"mysql\""],
        },
        Case {
            what: "health timeout not below interval",
            kind: "PrismBackend",
            spec: backend(json!({"healthCheck": {"interval": "5s", "timeout": "10s"}})),
            expect: &["spec.healthCheck", "timeout must be shorter than healthCheck.interval"],
        },
        Case {
            what: "ttl that does not parse",
            kind: "PrismNamespace",
            spec: namespace(json!({"ttl": "forever"})),
            expect: &["spec.ttl", "should match"],
        },
        Case {
            what: "namespaceId with capitals",
            kind: "PrismNamespace",
            spec: namespace(json!({"namespaceId": "Acme_Prod"})),
            expect: &["spec.namespaceId", "should match"],
        },
        Case {
            what: "burst below rate",
            kind: "PrismNamespace",
            spec: namespace(json!({"quotas": {"rateLimit": {"requestsPerSecond": 100, "burstSize": 10}}})),
            expect: &["spec.quotas.rateLimit", "burstSize must be at least quotas.rateLimit.requestsPerSecond"],
        },
        Case {
            what: "missing proxyRef",
            kind: "PrismNamespace",
            spec: json!({"namespaceId": "acme"}),
            expect: &["spec.proxyRef", "Required value"],
        },
        Case {
            what: "oidc issuer that is not a URL",
            kind: "PrismNamespace",
            spec: namespace(json!({"auth": {"oidcIssuer": "auth.acme.com"}})),
            expect: &["spec.auth.oidcIssuer", "must be an http(s) URL"],
        },
    ]
}

#[tokio::test]
async fn invalid_specs_are_rejected_naming_the_field() {
    let client = client().await;
    let (ns, _guard) = prism_testkit::temp_namespace(prism_testkit::shared().await).await.expect("temp namespace");
    let cases = cases();
    assert!(cases.len() >= 15);
    for case in cases {
        let api = dynamic_api(&client, case.kind, &ns);
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "prism.io/v1alpha1", "kind": case.kind,
            "metadata": {"name": "invalid", "namespace": ns}, "spec": case.spec,
        }))
        .expect("dynamic object");
        let params = PostParams { dry_run: true, ..PostParams::default() };
        match api.create(&params, &obj).await {
            Ok(_) => panic!("{}: accepted, expected a rejection", case.what),
            Err(kube::Error::Api(status)) => {
                assert!(
                    matches!(status.code, 400 | 422),
                    "{}: unexpected code {} ({})",
                    case.what,
                    status.code,
                    status.message
                );
                for needle in case.expect {
                    assert!(
                        status.message.contains(needle),
                        "{}: message {:?} does not contain {needle:?}",
                        case.what,
                        status.message
                    );
                }
            }
            Err(e) => panic!("{}: unexpected error {e}", case.what),
        }
    }
}

/// Names that would make a derived child name or label value too long are refused at admission,
/// and the longest allowed name is accepted.
#[tokio::test]
async fn names_too_long_for_their_children_are_rejected() {
    let client = client().await;
    let (ns, _guard) = prism_testkit::temp_namespace(prism_testkit::shared().await).await.expect("temp namespace");
    let kinds = [
        ("PrismPattern", pattern(json!({})), 63),
        ("PrismBackend", json!({"type": "memory", "provider": "memstore"}), 63),
        ("PrismStack", json!({}), 57),
    ];
    for (kind, spec, max) in kinds {
        let api = dynamic_api(&client, kind, &ns);
        let params = PostParams { dry_run: true, ..PostParams::default() };
        let object = |name: String| -> DynamicObject {
            serde_json::from_value(json!({"apiVersion": "prism.io/v1alpha1", "kind": kind,
                "metadata": {"name": name, "namespace": ns}, "spec": spec}))
            .expect("dynamic object")
        };
        api.create(&params, &object("n".repeat(max))).await.unwrap_or_else(|e| panic!("{kind}: {max} characters: {e}"));
        match api.create(&params, &object("n".repeat(max + 1))).await {
            Err(kube::Error::Api(status)) => assert!(
                status.code == 422
                    && status.message.contains(&format!("metadata.name must be at most {max} characters")),
                "{kind}: {}",
                status.message
            ),
            other => panic!("{kind}: {} characters: expected a rejection, got {other:?}", max + 1),
        }
    }
}

#[tokio::test]
async fn namespace_id_is_immutable() {
    let client = client().await;
    let (ns, _guard) = prism_testkit::temp_namespace(prism_testkit::shared().await).await.expect("temp namespace");
    let api = dynamic_api(&client, "PrismNamespace", &ns);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismNamespace",
        "metadata": {"name": "tenant", "namespace": ns},
        "spec": {"namespaceId": "acme", "proxyRef": {"name": "prism-dev"}},
    }))
    .expect("dynamic object");
    api.create(&PostParams::default(), &obj).await.expect("create");
    let err = api
        .patch("tenant", &PatchParams::default(), &Patch::Merge(json!({"spec": {"namespaceId": "other"}})))
        .await
        .expect_err("changing namespaceId must be rejected");
    assert!(err.to_string().contains("namespaceId is immutable"), "{err}");
    // Other fields stay editable.
    api.patch("tenant", &PatchParams::default(), &Patch::Merge(json!({"spec": {"displayName": "ACME"}})))
        .await
        .expect("displayName is editable");
}

#[tokio::test]
async fn kubectl_category_short_names_and_explain() {
    let client = client().await;
    let (ns, _guard) = prism_testkit::temp_namespace(prism_testkit::shared().await).await.expect("temp namespace");
    for (kind, spec) in [
        ("PrismStack", json!({})),
        ("PrismPattern", pattern(json!({}))),
        ("PrismBackend", json!({"type": "memory", "provider": "memstore"})),
        ("PrismNamespace", json!({"namespaceId": "t", "proxyRef": {"name": "s"}})),
    ] {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "prism.io/v1alpha1", "kind": kind,
            "metadata": {"name": "one", "namespace": ns}, "spec": spec,
        }))
        .expect("dynamic object");
        dynamic_api(&client, kind, &ns).create(&PostParams::default(), &obj).await.expect("create");
    }
    let cp = prism_testkit::shared().await;
    let run = |args: &[&str]| {
        let out = cp.kubectl().args(args).output().expect("run kubectl");
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        // Collapse kubectl's line wrapping so phrases can be matched.
        String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let listed = run(&["get", "prism", "-n", &ns, "-o", "name"]);
    for kind in ["prismstack", "prismpattern", "prismbackend", "prismnamespace"] {
        assert!(listed.contains(&format!("{kind}.prism.io/one")), "`kubectl get prism` misses {kind}: {listed}");
    }
    let short = run(&["get", "pstack,ppattern,pbackend,pns", "-n", &ns, "-o", "name"]);
    assert_eq!(short.matches(".prism.io/one").count(), 4, "{short}");
    let table = run(&["get", "ppattern", "-n", &ns]);
    for column in ["PATTERN", "BACKEND", "REPLICAS", "AVAILABLE", "PHASE", "AGE"] {
        assert!(table.contains(column), "printer column {column} missing: {table}");
    }
    let explain = run(&["explain", "prismstack.spec.admin.leaderElection.leaseDuration"]);
    assert!(explain.contains("Must be longer than renewDeadline"), "{explain}");
    let explain = run(&["explain", "prismpattern.spec.placement.strategy"]);
    assert!(explain.contains("MultiZone") && explain.contains("DedicatedNodes"), "{explain}");
}

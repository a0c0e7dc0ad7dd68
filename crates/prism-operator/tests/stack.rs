//! The PrismStack controller on the local control plane (simulated nodes in 3 zones and 2
//! regions): the seeds' stacks reconcile to what the text describes, the real scheduler honours
//! the placement, leader-election RBAC is least privilege, `kubectl wait --for=condition=Ready`
//! works, children follow the spec, and a converged stack sees no writes.

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Node, Pod, Service, ServiceAccount, Taint},
    policy::v1::PodDisruptionBudget,
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use prism_api::v1alpha1::{PrismPattern, PrismStack, StackPhase};
use prism_testkit::NodeSpec;
use serde_json::{Value, json};
use support::{Operator, eventually};

async fn setup() -> (Client, String, prism_testkit::NamespaceGuard, Operator) {
    support::operator_in_new_namespace(prism_testkit::shared().await).await
}

fn kubectl(cp: &prism_testkit::ControlPlane, args: &[&str]) -> String {
    let out = cp.kubectl().args(args).output().expect("kubectl");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Running pods of a stack component, once `want` of them run.
async fn running_pods(client: &Client, ns: &str, selector: &str, want: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{want} running pods {selector}"), async || {
        let list = pods.list(&ListParams::default().labels(selector)).await.map_err(|e| e.to_string())?;
        let running: Vec<Pod> = list
            .items
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .collect();
        (running.len() == want).then_some(running.clone()).ok_or(format!("{} running", running.len()))
    })
    .await
}

async fn node_labels(client: &Client) -> BTreeMap<String, BTreeMap<String, String>> {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items
        .into_iter()
        .map(|n| (n.metadata.name.clone().unwrap_or_default(), n.metadata.labels.unwrap_or_default()))
        .collect()
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_becomes_ready_and_children_follow_the_spec() {
    let (client, ns, _guard, _op) = setup().await;
    support::create_sample(&client, &ns, "prismstack_quickstart.yaml").await;
    // Exactly what the seed's quick start types.
    let cp = prism_testkit::shared().await;
    let waited = tokio::task::spawn_blocking({
        let ns = ns.clone();
        move || {
            kubectl(cp, &["wait", "--for=condition=Ready", "prismstack/prism-quickstart", "--timeout=60s", "-n", &ns])
        }
    })
    .await
    .expect("kubectl wait");
    assert!(waited.contains("condition met"), "{waited}");
    let pods = running_pods(&client, &ns, "stack=prism-quickstart", 3).await;
    let mut components: Vec<String> = pods
        .iter()
        .map(|p| {
            p.metadata.labels.as_ref().and_then(|l| l.get("app.kubernetes.io/component")).cloned().unwrap_or_default()
        })
        .collect();
    components.sort();
    assert_eq!(components, ["admin", "pattern-runner", "proxy"]);
    let stacks: Api<PrismStack> = Api::namespaced(client.clone(), &ns);
    let s = stacks.get("prism-quickstart").await.expect("stack").status.expect("status");
    assert_eq!(s.phase, Some(StackPhase::Running));
    assert_eq!(s.proxy.expect("proxy").summary, "1/1");
    assert_eq!(s.admin.expect("admin").summary, "1/1");
    assert_eq!(s.patterns.expect("patterns").summary, "1/1");
    let svc = Api::<Service>::namespaced(client.clone(), &ns).get("prism-quickstart-proxy").await.expect("proxy svc");
    assert_eq!(svc.spec.expect("spec").ports.expect("ports")[0].port, 9090);
    let svc = Api::<Service>::namespaced(client.clone(), &ns).get("prism-quickstart-admin").await.expect("admin svc");
    assert_eq!(svc.spec.expect("spec").ports.expect("ports")[0].port, 8981);

    // A second pattern appears, then the first is removed from the spec: its PrismPattern and
    // Deployment go, the other stays.
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let two = json!({"spec": {"patterns": [
        {"name": "kv-memstore", "type": "keyvalue", "backend": "memstore", "replicas": 1},
        {"name": "events", "type": "pubsub", "backend": "memstore", "replicas": 1}]}});
    stacks.patch("prism-quickstart", &PatchParams::default(), &Patch::Merge(&two)).await.expect("add pattern");
    eventually("second pattern's Deployment", async || {
        deployments.get_opt("events").await.map_err(|e| e.to_string())?.ok_or("absent".to_owned())
    })
    .await;
    let one =
        json!({"spec": {"patterns": [{"name": "events", "type": "pubsub", "backend": "memstore", "replicas": 1}]}});
    stacks.patch("prism-quickstart", &PatchParams::default(), &Patch::Merge(&one)).await.expect("remove pattern");
    eventually("removed pattern gone", async || {
        let p = patterns.get_opt("kv-memstore").await.map_err(|e| e.to_string())?;
        let d = deployments.get_opt("kv-memstore").await.map_err(|e| e.to_string())?;
        (p.is_none() && d.is_none()).then_some(()).ok_or("still there".to_owned())
    })
    .await;
    assert!(patterns.get_opt("events").await.expect("get").is_some());

    // A PrismPattern the stack does not own is never touched.
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern",
        "metadata": {"name": "independent"}, "spec": {"pattern": "keyvalue", "backend": "memstore"}}),
    )
    .await;

    // Deleting the stack removes everything it owns.
    stacks.delete("prism-quickstart", &DeleteParams::background()).await.expect("delete stack");
    eventually("stack children garbage-collected", async || {
        let left = deployments
            .list(&ListParams::default().labels("stack=prism-quickstart"))
            .await
            .map_err(|e| e.to_string())?;
        let p = patterns.get_opt("events").await.map_err(|e| e.to_string())?;
        (left.items.is_empty() && p.is_none()).then_some(()).ok_or(format!("{} deployments left", left.items.len()))
    })
    .await;
    assert!(patterns.get_opt("independent").await.expect("get").is_some(), "not the stack's: untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_spread_puts_three_proxies_in_each_zone() {
    let (client, ns, _guard, _op) = setup().await;
    // The seed's example also forbids two proxies per host: give each zone a third node.
    for (region, zone) in [("us-east-1", "us-east-1a"), ("us-east-1", "us-east-1b"), ("us-west-2", "us-west-2a")] {
        prism_testkit::add_node(&client, &NodeSpec::new(format!("kwok-{zone}-spread")).in_zone(region, zone))
            .await
            .expect("add node");
    }
    support::create_sample(&client, &ns, "prismstack_proxy_zone_spread.yaml").await;
    let pods = running_pods(&client, &ns, "stack=prism-zone-spread,component=prism-proxy", 9).await;
    let nodes = node_labels(&client).await;
    let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
    let mut hosts = std::collections::BTreeSet::new();
    for p in &pods {
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone()).expect("scheduled");
        *per_zone.entry(nodes[&node]["topology.kubernetes.io/zone"].clone()).or_default() += 1;
        hosts.insert(node);
    }
    assert_eq!(per_zone.values().copied().collect::<Vec<_>>(), [3, 3, 3], "{per_zone:?}");
    assert_eq!(hosts.len(), 9, "required anti-affinity: one proxy per host");
    let pdb =
        Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns).get("prism-zone-spread-proxy").await.expect("pdb");
    assert_eq!(json(&pdb.spec)["maxUnavailable"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedicated_proxies_land_only_on_dedicated_nodes() {
    let (client, ns, _guard, _op) = setup().await;
    let taint = Taint {
        key: "dedicated".into(),
        value: Some("prism-proxy".into()),
        effect: "NoSchedule".into(),
        time_added: None,
    };
    for i in 0..2 {
        let spec = NodeSpec::new(format!("kwok-dedicated-{i}"))
            .in_zone("us-east-1", "us-east-1a")
            .with_label("node-type", "prism-proxy")
            .with_label("instance-type", "c5.4xlarge")
            .with_taint(taint.clone());
        prism_testkit::add_node(&client, &spec).await.expect("add dedicated node");
    }
    support::create_sample(&client, &ns, "prismstack_proxy_dedicated_nodes.yaml").await;
    let pods = running_pods(&client, &ns, "stack=prism-dedicated-proxies,component=prism-proxy", 10).await;
    for p in &pods {
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone()).expect("scheduled");
        assert!(node.starts_with("kwok-dedicated-"), "proxy on {node}");
    }

    // DedicatedNodes without saying which nodes: a condition, and no proxy.
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
        "metadata": {"name": "vague"}, "spec": {"proxy": {"placement": {"strategy": "DedicatedNodes"}}}}),
    )
    .await;
    let stacks: Api<PrismStack> = Api::namespaced(client.clone(), &ns);
    eventually("PlacementValid=False", async || {
        let s = stacks.get("vague").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
        let c = s.conditions.iter().find(|c| c.type_ == "PlacementValid").cloned();
        match c {
            Some(c)
                if c.status == "False"
                    && c.reason == "DedicatedNodesUnspecified"
                    && s.phase == Some(StackPhase::Failed) =>
            {
                Ok(())
            }
            _ => Err(format!("{s:?}")),
        }
    })
    .await;
    assert!(Api::<Deployment>::namespaced(client.clone(), &ns).get_opt("vague-proxy").await.expect("get").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_admin_leader_election_rbac_is_least_privilege() {
    let (client, ns, _guard, _op) = setup().await;
    support::create_sample(&client, &ns, "prismstack_multi_admin_multi_region.yaml").await;
    let name = "prism-multi-region";
    let sa = format!("{name}-admin");
    let role = format!("{name}-admin-leader-election");
    let lease = format!("{name}-admin-leader");
    eventually("RBAC objects", async || {
        let a = Api::<ServiceAccount>::namespaced(client.clone(), &ns).get_opt(&sa).await.map_err(|e| e.to_string())?;
        let r = Api::<Role>::namespaced(client.clone(), &ns).get_opt(&role).await.map_err(|e| e.to_string())?;
        let b = Api::<RoleBinding>::namespaced(client.clone(), &ns).get_opt(&role).await.map_err(|e| e.to_string())?;
        (a.is_some() && r.is_some() && b.is_some()).then_some(()).ok_or("missing".to_owned())
    })
    .await;
    let user = format!("system:serviceaccount:{ns}:{sa}");
    let cp = prism_testkit::shared().await;
    let ns2 = ns.clone();
    let can = move |args: Vec<String>| {
        let mut all = vec!["auth".to_owned(), "can-i".to_owned()];
        all.extend(args);
        all.extend(["-n".to_owned(), ns2.clone(), "--as".to_owned(), user.clone()]);
        let out = cp.kubectl().args(&all).output().expect("kubectl");
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let checks = tokio::task::spawn_blocking({
        let lease = lease.clone();
        move || {
            [
                ("update", format!("leases.coordination.k8s.io/{lease}"), true),
                ("get", format!("leases.coordination.k8s.io/{lease}"), true),
                ("create", "leases.coordination.k8s.io".to_owned(), true),
                ("delete", format!("leases.coordination.k8s.io/{lease}"), false),
                ("update", "leases.coordination.k8s.io/someone-elses".to_owned(), false),
                ("list", "leases.coordination.k8s.io".to_owned(), false),
                ("get", "pods".to_owned(), false),
                ("get", "secrets".to_owned(), false),
            ]
            .into_iter()
            .map(|(verb, resource, want)| (verb, resource.clone(), want, can(s(&[verb, &resource]))))
            .collect::<Vec<_>>()
        }
    })
    .await
    .expect("can-i");
    for (verb, resource, want, got) in checks {
        assert_eq!(got, want, "can {verb} {resource}");
    }
    let d = Api::<Deployment>::namespaced(client.clone(), &ns).get(&format!("{name}-admin")).await.expect("admin");
    let pod = json(&d.spec.expect("spec").template.spec);
    assert_eq!(pod["serviceAccountName"], sa);
    let env: BTreeMap<String, Value> = pod["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| (e["name"].as_str().unwrap_or_default().to_owned(), e["value"].clone()))
        .collect();
    assert_eq!(env["PRISM_LEADER_ELECTION_LEASE_NAME"], lease.as_str());
    assert_eq!(env["PRISM_LEADER_ELECTION_LEASE_DURATION"], "30s");
    assert_eq!(env["PRISM_LEADER_ELECTION_RENEW_DEADLINE"], "10s");
    let tsc = pod["topologySpreadConstraints"].as_array().expect("spread").clone();
    assert_eq!(tsc.len(), 2, "the user's two constraints, kept exactly");
    let svc = Api::<Service>::namespaced(client.clone(), &ns).get(&format!("{name}-admin")).await.expect("admin svc");
    assert_eq!(svc.spec.as_ref().and_then(|s| s.type_.as_deref()), Some("LoadBalancer"));
    assert_eq!(
        svc.metadata.annotations.expect("annotations")["service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled"],
        "true"
    );
    Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns).get(&format!("{name}-admin")).await.expect("admin PDB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observability_and_pull_secrets_reach_every_pod_template() {
    let (client, ns, _guard, _op) = setup().await;
    support::create_sample(&client, &ns, "prismstack_production.yaml").await;
    // The seed's troubleshooting guide patches imagePullSecrets in with a JSON patch.
    let cp = prism_testkit::shared().await;
    let ns2 = ns.clone();
    tokio::task::spawn_blocking(move || {
        kubectl(
            cp,
            &[
                "patch",
                "prismstack",
                "prism-production",
                "-n",
                &ns2,
                "--type=json",
                r#"-p=[{"op": "add", "path": "/spec/imagePullSecrets", "value": [{"name": "ghcr-secret"}]}]"#,
            ],
        )
    })
    .await
    .expect("kubectl patch");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    for name in ["prism-production-proxy", "prism-production-admin", "cache-redis-cluster"] {
        let pod = eventually(&format!("{name} wired"), async || {
            let d = deployments.get_opt(name).await.map_err(|e| e.to_string())?.ok_or("absent")?;
            let pod = json(&d.spec.and_then(|s| s.template.spec));
            (pod["imagePullSecrets"] == json!([{"name": "ghcr-secret"}]))
                .then_some(pod)
                .ok_or("no pull secret yet".to_owned())
        })
        .await;
        let env = pod["containers"][0]["env"].as_array().expect("env").clone();
        assert!(
            env.iter().any(|e| e["name"] == "OTEL_EXPORTER_OTLP_ENDPOINT"
                && e["value"] == "http://jaeger-collector.observability.svc.cluster.local:14268"),
            "{name}: {env:?}"
        );
        let d = deployments.get(name).await.expect("get");
        let annotations = d.spec.and_then(|s| s.template.metadata).and_then(|m| m.annotations).unwrap_or_default();
        assert_eq!(annotations.get("prometheus.io/scrape").map(String::as_str), Some("true"), "{name}");
        assert_eq!(annotations.get("prometheus.io/port").map(String::as_str), Some("9090"), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converged_stack_causes_zero_writes() {
    let (client, ns, _guard, op) = setup().await;
    let cp = prism_testkit::shared().await;
    let patterns: Vec<Value> = (0..5)
        .map(|i| {
            json!({"name": format!("p{i}"), "type": "keyvalue", "backend": "memstore", "replicas": 1,
            "config": {"maxKeys": 100}})
        })
        .collect();
    support::create(&client, &ns, &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
        "metadata": {"name": "quiet"},
        "spec": {"proxy": {"replicas": 2, "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2000m", "memory": "2048Mi"}}},
            "admin": {"enabled": true, "replicas": 3, "leaderElection": {"enabled": true}},
            "observability": {"enabled": true, "tracing": {"endpoint": "http://otel:4317"}},
            "patterns": patterns}}))
    .await;
    let stacks: Api<PrismStack> = Api::namespaced(client.clone(), &ns);
    eventually("stack Running", async || {
        let s = stacks.get("quiet").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
        (s.phase == Some(StackPhase::Running)).then_some(()).ok_or(format!("{s:?}"))
    })
    .await;
    let baseline = support::writes_by(cp, &op.user_agent).len();
    for _ in 0..8 {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let writes = support::writes_by(cp, &op.user_agent);
        assert_eq!(writes.len(), baseline, "writes after convergence: {:?}", &writes[baseline..]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_the_stack_does_not_own_is_never_taken_over() {
    let (client, ns, _guard, _op) = setup().await;
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern",
        "metadata": {"name": "mine"}, "spec": {"pattern": "keyvalue", "backend": "memstore", "replicas": 3}}),
    )
    .await;
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
        "metadata": {"name": "grabby"},
        "spec": {"patterns": [{"name": "mine", "type": "pubsub", "backend": "nats", "replicas": 1}]}}),
    )
    .await;
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), &ns);
    eventually("a NameConflict Warning on the stack", async || {
        let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        list.items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("NameConflict")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("grabby")
            })
            .then_some(())
            .ok_or_else(|| "no event yet".to_owned())
    })
    .await;
    let mine = Api::<PrismPattern>::namespaced(client.clone(), &ns).get("mine").await.expect("get");
    assert_eq!((mine.spec.pattern.as_str(), mine.spec.replicas), ("keyvalue", Some(3)), "spec untouched");
    assert!(mine.metadata.owner_references.unwrap_or_default().is_empty(), "no owner added");
}

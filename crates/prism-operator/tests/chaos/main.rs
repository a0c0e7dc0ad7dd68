//! Chaos: the operator binary SIGKILLed at random moments during a rollout and during deletions;
//! its watches expired (410 Gone) by an etcd compaction and an API server restart while it could
//! not watch; a canary password in referenced Secrets searched for in TRACE logs (text and JSON),
//! Events and statuses. Each scenario ends with the exact children: every expected one, nothing
//! duplicated, nothing orphaned.

mod support;

use std::{
    collections::BTreeSet,
    path::Path,
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    autoscaling::v2::HorizontalPodAutoscaler,
    core::v1::{Secret, Service},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use prism_api::v1alpha1::{PrismPattern, PrismStack};
use serde_json::{Value, json};
use support::process::Proc;

/// How long a scenario may take to converge after its last disruption.
const CONVERGE: Duration = Duration::from_secs(120);

/// xorshift64*: the kill schedule, seeded from the clock and printed (`PRISM_CHAOS_SEED` replays
/// the same schedule).
struct Schedule(u64);

impl Schedule {
    fn new() -> Self {
        let seed = std::env::var("PRISM_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            u64::from(nanos.subsec_nanos()) ^ nanos.as_secs()
        });
        println!("kill schedule seed {seed} (PRISM_CHAOS_SEED={seed} replays it)");
        Self(seed | 1)
    }

    /// A delay drawn uniformly from `range` (milliseconds).
    fn delay(&mut self, range: std::ops::Range<u64>) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        Duration::from_millis(range.start + x % (range.end - range.start))
    }
}

/// PrismPattern `p<i>`: every second one with a Service, every third with an HPA.
fn pattern(i: usize) -> Value {
    let mut spec = json!({"pattern": "keyvalue", "backend": "memstore", "replicas": 1});
    if i.is_multiple_of(2) {
        spec["service"] = json!({"type": "ClusterIP"});
    }
    if i.is_multiple_of(3) {
        spec["resources"] = json!({"requests": {"cpu": "100m"}});
        spec["autoscaling"] = json!({"enabled": true, "scaler": "hpa", "minReplicas": 1, "maxReplicas": 3,
            "targetCPUUtilizationPercentage": 80});
    }
    json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": format!("p{i:03}")}, "spec": spec})
}

/// PrismStack `name`: proxy, admin and two patterns `<name>-kv` and `<name>-queue`.
fn stack(name: &str) -> Value {
    json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack", "metadata": {"name": name},
        "spec": {"proxy": {"replicas": 1}, "admin": {"enabled": true, "replicas": 1},
            "patterns": [
                {"name": format!("{name}-kv"), "type": "keyvalue", "backend": "memstore"},
                {"name": format!("{name}-queue"), "type": "consumer", "backend": "memstore"}]}})
}

/// Whether the pattern spec asks for an HPA.
fn wants_hpa(p: &PrismPattern) -> bool {
    let spec = serde_json::to_value(&p.spec).unwrap_or_default();
    spec["autoscaling"]["enabled"] == true && spec["autoscaling"]["scaler"] != "keda"
}

fn names<K: Resource>(items: &[K]) -> BTreeSet<String> {
    items.iter().filter_map(|o| o.meta().name.clone()).collect()
}

/// What one check saw.
#[derive(Debug, Default)]
struct Seen {
    objects: usize,
}

/// A stack's name and the names of the patterns in its spec.
type StackPatterns<'a> = (&'a str, &'a [&'a str]);

/// The exact children of `patterns` (standalone PrismPattern names) and `stacks` in `ns`: each
/// PrismPattern the stacks and the test asked for and no other; one Deployment per pattern and two
/// per stack (proxy, admin) and no other, each with one ReplicaSet (its template never flapped);
/// a Service exactly for each pattern asking for one and for each stack's proxy and admin; an HPA
/// exactly for each pattern asking for one; every child controlled by a live owner.
async fn exact_children(
    client: &Client,
    ns: &str,
    patterns: &BTreeSet<String>,
    stacks: &[StackPatterns<'_>],
) -> Result<Seen, String> {
    let live_patterns: Vec<PrismPattern> = list_all(client, ns).await?;
    let live_stacks: Vec<PrismStack> = list_all(client, ns).await?;
    let deployments: Vec<Deployment> = list_all(client, ns).await?;
    let replica_sets: Vec<ReplicaSet> = list_all(client, ns).await?;
    let services: Vec<Service> = list_all(client, ns).await?;
    let hpas: Vec<HorizontalPodAutoscaler> = list_all(client, ns).await?;

    let mut want_patterns = patterns.clone();
    let mut want_deployments = BTreeSet::new();
    let mut want_services = BTreeSet::new();
    for (s, stack_patterns) in stacks {
        want_patterns.extend(stack_patterns.iter().map(|p| (*p).to_owned()));
        want_deployments.extend([format!("{s}-proxy"), format!("{s}-admin")]);
        want_services.extend([format!("{s}-proxy"), format!("{s}-admin")]);
    }
    if names(&live_patterns) != want_patterns {
        return Err(format!("PrismPatterns {:?}, want {want_patterns:?}", names(&live_patterns)));
    }
    if names(&live_stacks) != stacks.iter().map(|(s, _)| (*s).to_owned()).collect() {
        return Err(format!("PrismStacks {:?}, want {stacks:?}", names(&live_stacks)));
    }
    want_deployments.extend(want_patterns.iter().cloned());
    let spec_of = |p: &PrismPattern| serde_json::to_value(&p.spec).unwrap_or_default();
    want_services.extend(live_patterns.iter().filter(|p| !spec_of(p)["service"].is_null()).map(ResourceExt::name_any));
    let want_hpas: BTreeSet<String> =
        live_patterns.iter().filter(|p| wants_hpa(p)).map(ResourceExt::name_any).collect();
    for (kind, got, want) in [
        ("Deployments", names(&deployments), &want_deployments),
        ("Services", names(&services), &want_services),
        ("HPAs", names(&hpas), &want_hpas),
    ] {
        if &got != want {
            let missing: Vec<_> = want.difference(&got).collect();
            let extra: Vec<_> = got.difference(want).collect();
            return Err(format!("{kind}: missing {missing:?}, unexpected {extra:?}"));
        }
    }
    // Owners: every child is controlled by exactly one live object, of the right kind.
    let uids: BTreeSet<String> = live_patterns
        .iter()
        .filter_map(|p| p.metadata.uid.clone())
        .chain(live_stacks.iter().filter_map(|s| s.metadata.uid.clone()))
        .collect();
    let metas = deployments
        .iter()
        .map(|d| ("Deployment", &d.metadata))
        .chain(services.iter().map(|s| ("Service", &s.metadata)))
        .chain(hpas.iter().map(|h| ("HPA", &h.metadata)))
        .chain(
            live_patterns.iter().filter(|p| !patterns.contains(&p.name_any())).map(|p| ("PrismPattern", &p.metadata)),
        );
    let mut objects = 0;
    for (kind, meta) in metas {
        objects += 1;
        let controllers: Vec<_> =
            meta.owner_references.iter().flatten().filter(|o| o.controller == Some(true)).collect();
        let name = meta.name.as_deref().unwrap_or_default();
        match controllers.as_slice() {
            [owner] if uids.contains(&owner.uid) => {}
            other => return Err(format!("{kind} {name} has controllers {other:?}, none live")),
        }
    }
    for d in &deployments {
        let uid = d.metadata.uid.as_deref().unwrap_or_default();
        let owned = replica_sets
            .iter()
            .filter(|rs| rs.metadata.owner_references.iter().flatten().any(|o| o.uid == uid))
            .count();
        if owned != 1 {
            return Err(format!("Deployment {} has {owned} ReplicaSets: its template changed", d.name_any()));
        }
    }
    Ok(Seen { objects: objects + replica_sets.len() })
}

async fn converge(
    client: &Client,
    ns: &str,
    patterns: &BTreeSet<String>,
    stacks: &[StackPatterns<'_>],
) -> (Seen, Duration) {
    let started = Instant::now();
    let seen = prism_testkit::wait_until("the exact children", CONVERGE, async || {
        exact_children(client, ns, patterns, stacks).await
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    (seen, started.elapsed())
}

fn operator(kubeconfig: &Path, ns: &str, log: &Path) -> Proc {
    Proc::start_logging(kubeconfig, &["--namespaces", ns], &[("LOG_LEVEL", "info,prism_operator=debug")], log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_rollout_and_deletion_leaves_exact_children() {
    const BATCHES: usize = 6;
    const PER_BATCH: usize = 10;
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let log = std::env::temp_dir().join(format!("prism-chaos-{ns}.log"));
    let mut schedule = Schedule::new();
    let mut op = operator(cp.kubeconfig_path(), &ns, &log);
    let stacks = ["alpha", "beta"];
    let (alpha, beta) = (["alpha-kv", "alpha-queue"], ["beta-kv", "beta-queue"]);

    // The rollout: a batch of patterns (and a stack in two of them), then a kill at a random
    // moment while the operator works on it, and a restart.
    let mut kills = 0;
    for batch in 0..BATCHES {
        for i in batch * PER_BATCH..(batch + 1) * PER_BATCH {
            support::create(&client, &ns, &pattern(i)).await;
        }
        if let Some(name) = stacks.get(batch) {
            support::create(&client, &ns, &stack(name)).await;
        }
        tokio::time::sleep(schedule.delay(200..1500)).await; // the random moment of the kill
        op.kill();
        kills += 1;
        op = operator(cp.kubeconfig_path(), &ns, &log);
    }
    let all: BTreeSet<String> = (0..BATCHES * PER_BATCH).map(|i| format!("p{i:03}")).collect();
    let (seen, took) = converge(&client, &ns, &all, &[("alpha", &alpha), ("beta", &beta)]).await;
    println!(
        "rollout: {} patterns and {} stacks, {kills} SIGKILLs; exact children {:.1} s after the last restart ({} objects checked)",
        all.len(),
        stacks.len(),
        took.as_secs_f64(),
        seen.objects
    );

    // Deletions: half of the patterns and one stack, with kills while they are processed.
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    let doomed: Vec<String> = all.iter().step_by(2).cloned().collect();
    let mut deletion_kills = 0;
    for (n, chunk) in doomed.chunks(doomed.len().div_ceil(3)).enumerate() {
        for name in chunk {
            patterns.delete(name, &DeleteParams::background()).await.expect("delete pattern");
        }
        if n == 0 {
            Api::<PrismStack>::namespaced(client.clone(), &ns)
                .delete("alpha", &DeleteParams::background())
                .await
                .expect("delete stack");
        }
        tokio::time::sleep(schedule.delay(100..1000)).await; // the random moment of the kill
        op.kill();
        deletion_kills += 1;
        op = operator(cp.kubeconfig_path(), &ns, &log);
    }
    let kept: BTreeSet<String> = all.iter().skip(1).step_by(2).cloned().collect();
    let (seen, took) = converge(&client, &ns, &kept, &[("beta", &beta)]).await;
    println!(
        "deletion: {} patterns and 1 stack deleted, {deletion_kills} SIGKILLs; exact children {:.1} s after the last restart ({} objects checked)",
        doomed.len(),
        took.as_secs_f64(),
        seen.objects
    );
    assert!(op.alive(), "the operator is running");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.lines().any(|l| l.contains("panicked")), "a panic in the operator log {}", log.display());
}

/// The operator paused (SIGSTOP) while objects change, etcd compacted past every revision it saw,
/// and the API server restarted (its watch cache starts again after the compaction): on resuming,
/// its watches get 410 Gone, re-list, and every change made meanwhile is reconciled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_expired_by_compaction_miss_nothing() {
    let mut cp = prism_testkit::ControlPlane::start(Default::default()).await.expect("control plane");
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let ns = "compaction";
    cp.kubectl().args(["create", "namespace", ns]).output().expect("kubectl");
    let log = cp.data_dir().join("operator.log");
    let op = operator(cp.kubeconfig_path(), ns, &log);
    let first: BTreeSet<String> = (0..8).map(|i| format!("p{i:03}")).collect();
    for i in 0..8 {
        support::create(&client, ns, &pattern(i)).await;
    }
    support::create(&client, ns, &stack("gamma")).await;
    converge(&client, ns, &first, &[("gamma", &["gamma-kv", "gamma-queue"])]).await;

    op.signal("STOP");
    // Changes it cannot see: new patterns, deleted patterns, a spec change, a deleted child, a
    // stack that drops a pattern.
    for i in 8..12 {
        support::create(&client, ns, &pattern(i)).await;
    }
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    for name in ["p000", "p001"] {
        patterns.delete(name, &DeleteParams::background()).await.expect("delete");
    }
    let scale = json!({"spec": {"replicas": 3}});
    patterns.patch("p005", &PatchParams::default(), &Patch::Merge(&scale)).await.expect("scale p005");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let old_uid = deployments.get("p004").await.expect("p004").metadata.uid;
    deployments.delete("p004", &DeleteParams::foreground()).await.expect("delete Deployment p004");
    prism_testkit::wait_until("Deployment p004 gone", Duration::from_secs(60), async || {
        match deployments.get_opt("p004").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".to_owned()),
        }
    })
    .await
    .expect("Deployment deleted");
    let drop_queue = json!({"spec": {"patterns": [{"name": "gamma-kv", "type": "keyvalue", "backend": "memstore"}]}});
    Api::<PrismStack>::namespaced(client.clone(), ns)
        .patch("gamma", &PatchParams::default(), &Patch::Merge(&drop_queue))
        .await
        .expect("shrink the stack");
    let revision = cp.compact_etcd().await.expect("compact etcd");
    cp.stop_apiserver().await;
    cp.start_apiserver().await.expect("restart the API server");
    op.signal("CONT");

    let client = cp.client().await.expect("client");
    let now: BTreeSet<String> = (2..12).map(|i| format!("p{i:03}")).collect();
    let started = Instant::now();
    prism_testkit::wait_until("every change made during the pause", CONVERGE, async || {
        exact_children(&client, ns, &now, &[("gamma", &["gamma-kv"])]).await?;
        let deployments = Api::<Deployment>::namespaced(client.clone(), ns);
        let replicas = deployments.get("p005").await.map_err(|e| e.to_string())?.spec.and_then(|s| s.replicas);
        let recreated = deployments.get("p004").await.map_err(|e| e.to_string())?.metadata.uid != old_uid;
        (replicas == Some(3) && recreated)
            .then_some(())
            .ok_or(format!("p005 replicas {replicas:?}; p004 recreated: {recreated}"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\noperator log: {}", log.display()));
    println!(
        "after compaction at revision {revision}: every change reconciled in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("too old resource version"),
        "no watch was expired (410 Gone), so this did not test a re-list; log {}",
        log.display()
    );
    drop(op);
    cp.stop().await;
}

/// A canary password and username in the Secrets a PrismBackend and a stack's backend reference,
/// the operator at TRACE in text and in JSON: the canary reaches the rendered connection Secret
/// (so it did flow through the operator) and nowhere else: not in either log, in any Event, or in
/// any status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_secret_never_leaves_the_secrets() {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let mut searched = Vec::new();
    for format in ["text", "json"] {
        let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
        let canary = format!("canary-{ns}-{format}-pw");
        let user = format!("canary-{ns}-{format}-user");
        let log = std::env::temp_dir().join(format!("prism-canary-{ns}.log"));
        let _op = Proc::start_logging(
            cp.kubeconfig_path(),
            &["--namespaces", &ns, "--log-format", format],
            &[("LOG_LEVEL", "trace")],
            &log,
        );
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-credentials"},
            "stringData": {"username": user, "password": canary, "url": format!("postgres://{user}:{canary}@127.0.0.1:1/db")}});
        let secret: Secret = serde_json::from_value(secret).expect("secret");
        Api::<Secret>::namespaced(client.clone(), &ns).create(&Default::default(), &secret).await.expect("secret");
        support::create(
            &client,
            &ns,
            &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismBackend",
            "metadata": {"name": "db"},
            "spec": {"type": "database", "provider": "postgres", "connection": {"secretRef": {"name": "db-credentials"}}}}),
        )
        .await;
        support::create(&client, &ns, &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
            "metadata": {"name": "st"},
            "spec": {"patterns": [{"name": "orders", "type": "keyvalue", "backend": "pg"}],
                "backends": [{"name": "pg", "type": "database", "provider": "postgres", "secretRef": {"name": "db-credentials"}}]}}))
        .await;
        support::create(
            &client,
            &ns,
            &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern",
            "metadata": {"name": "reader"}, "spec": {"pattern": "keyvalue", "backend": "db"}}),
        )
        .await;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
        let rendered = support::eventually("the rendered connection Secrets", async || {
            let list = secrets.list(&Default::default()).await.map_err(|e| e.to_string())?.items;
            let rendered: Vec<Secret> =
                list.into_iter().filter(|s| s.name_any().ends_with("-prism-credentials")).collect();
            (rendered.len() >= 2).then_some(rendered).ok_or("not yet".to_owned())
        })
        .await;
        let holds_canary = rendered
            .iter()
            .any(|s| s.data.iter().flatten().any(|(_, v)| String::from_utf8_lossy(&v.0).contains(&canary)));
        assert!(holds_canary, "the canary reached no rendered Secret, so nothing was tested");
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        support::eventually("the runners", async || {
            let n = deployments.list(&Default::default()).await.map_err(|e| e.to_string())?.items.len();
            (n >= 2).then_some(()).ok_or(format!("{n} Deployments"))
        })
        .await;
        drop(_op);

        // As a Secret's data holds it (base64), via k8s-openapi's own encoding.
        let b64 = |s: &str| {
            let v = serde_json::to_value(k8s_openapi::ByteString(s.as_bytes().to_vec())).expect("base64");
            v.as_str().unwrap_or_default().to_owned()
        };
        let needles = [canary.clone(), user.clone(), b64(&canary), b64(&user)];
        let text = std::fs::read_to_string(&log).expect("operator log");
        let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), &ns)
            .list(&Default::default())
            .await
            .expect("events");
        let events = serde_json::to_string(&events.items).expect("json");
        let statuses = [
            serde_json::to_string(&list_statuses::<prism_api::v1alpha1::PrismBackend>(&client, &ns).await),
            serde_json::to_string(&list_statuses::<PrismStack>(&client, &ns).await),
            serde_json::to_string(&list_statuses::<PrismPattern>(&client, &ns).await),
        ]
        .map(|s| s.expect("json"))
        .join("\n");
        for (place, haystack) in [("log", &text), ("Events", &events), ("statuses", &statuses)] {
            for needle in &needles {
                assert!(!haystack.contains(needle.as_str()), "the canary {needle} appears in the {format} {place}");
            }
        }
        assert!(text.lines().any(|l| l.contains("TRACE") || l.contains("\"level\":\"TRACE\"")), "the log is at TRACE");
        searched.push(format!("{format}: {} lines, {} bytes", text.lines().count(), text.len()));
    }
    println!("canary searched in the TRACE logs ({}), Events and statuses: not found", searched.join("; "));
}

/// Every `K` in `ns`.
async fn list_all<K>(client: &Client, ns: &str) -> Result<Vec<K>, String>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.list(&Default::default()).await.map(|l| l.items).map_err(|e| e.to_string())
}

/// The statuses of every `K` in `ns`, as JSON.
async fn list_statuses<K>(client: &Client, ns: &str) -> Vec<Value>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let items = api.list(&Default::default()).await.expect("list").items;
    items.iter().map(|o| serde_json::to_value(o).map(|v| v["status"].clone()).unwrap_or_default()).collect()
}

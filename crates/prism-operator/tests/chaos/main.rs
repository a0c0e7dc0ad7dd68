//! Chaos: the operator binary SIGKILLed at random moments during a rollout and during deletions;
//! its watches expired (410 Gone) by an etcd compaction and an API server restart while it could
//! not watch; a canary password in referenced Secrets searched for in TRACE logs (text and JSON),
//! Events and statuses. Each scenario ends with the exact children: every expected one, nothing
//! duplicated, nothing orphaned.

#[path = "../support/mod.rs"]
mod support;

mod canary;
mod compaction;
mod sigkill;

use std::{
    collections::BTreeSet,
    path::Path,
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    autoscaling::v2::HorizontalPodAutoscaler,
    core::v1::Service,
};
use kube::{Api, Client, Resource, ResourceExt};
use prism_api::v1alpha1::{PrismPattern, PrismStack};
use serde_json::{Value, json};
use support::process::Proc;

/// How long a scenario may take to converge after its last disruption.
const CONVERGE: Duration = Duration::from_secs(120);

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

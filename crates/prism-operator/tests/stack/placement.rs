//! The real scheduler honours the placement: zone spread with one proxy per host, and dedicated
//! nodes (or a condition when the stack does not say which).

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Taint, policy::v1::PodDisruptionBudget};
use kube::Api;
use prism_api::v1alpha1::{PrismStack, StackPhase};
use prism_testkit::NodeSpec;
use serde_json::json;

use super::*;

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

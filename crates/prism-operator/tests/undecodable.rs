//! One PrismPattern the operator's types cannot decode (stored while a looser schema was
//! installed: `replicas: "many"`) does not stall the pattern controller: it is reported (a
//! Warning Event on it and the gauge `prism_operator_undecodable_objects`) and skipped, every
//! other pattern reconciles, `/readyz` turns Ready, and once fixed it reconciles too. Its own
//! binary: the test changes the PrismPattern CRD, which other tests on the control plane use.

mod support;

use std::sync::Arc;

use k8s_openapi::{
    api::events::v1::Event,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceDefinition, CustomResourceValidation, JSONSchemaProps,
    },
};
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams, PostParams},
    runtime::{conditions, wait::await_condition},
};
use prism_api::v1alpha1::{PatternPhase, PrismPattern};
use prism_operator::{runtime::Services, server::Phase};
use serde_json::json;
use support::eventually;

/// Replaces the PrismPattern CRD's schema by one that takes anything.
async fn loosen_pattern_schema(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crd = prism_api::crds().into_iter().find(|c| c.spec.names.kind == "PrismPattern").expect("CRD");
    let name = crd.metadata.name.clone().expect("name");
    for version in &mut crd.spec.versions {
        version.schema = Some(CustomResourceValidation {
            open_api_v3_schema: Some(JSONSchemaProps {
                type_: Some("object".into()),
                x_kubernetes_preserve_unknown_fields: Some(true),
                ..Default::default()
            }),
        });
        version.additional_printer_columns = None;
    }
    api.patch(&name, &PatchParams::apply("prism-tests").force(), &Patch::Apply(&crd)).await.expect("loosen the CRD");
    await_condition(api, &name, conditions::is_crd_established()).await.expect("established");
}

fn running(p: &PrismPattern) -> Result<(), String> {
    let phase = p.status.as_ref().and_then(|s| s.phase);
    if phase == Some(PatternPhase::Running) { Ok(()) } else { Err(format!("{phase:?}")) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_pattern_is_reported_and_skipped_and_the_rest_reconcile() {
    prism_testkit::init_test_tracing();
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    loosen_pattern_schema(&client).await;
    let dynamic = support::dynamic_pattern_api(&client, &ns);
    let bad: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": "bad", "namespace": ns},
        "spec": {"pattern": "keyvalue", "backend": "memstore", "replicas": "many"}}))
    .expect("object");
    dynamic.create(&PostParams::default(), &bad).await.expect("store the bad pattern under the loose schema");
    support::install_crds(&client).await; // the real schema again; the stored object stays as it is
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": "good"},
            "spec": {"pattern": "keyvalue", "backend": "memstore"}}),
    )
    .await;

    let services = Services::default();
    let (metrics, readiness) = (Arc::clone(&services.metrics), Arc::clone(&services.readiness));
    let _operator = support::Operator::start_with_services(cp, &ns, services).await;
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    eventually("the good pattern Running", async || running(&patterns.get("good").await.map_err(|e| e.to_string())?))
        .await;
    eventually("/readyz Ready", async || {
        let phase = readiness.phase();
        if phase == Phase::Ready { Ok(()) } else { Err(format!("{phase:?}")) }
    })
    .await;
    let gauge = format!(r#"prism_operator_undecodable_objects{{kind="PrismPattern",namespace="{ns}",name="bad"}} 1"#);
    eventually("the gauge names the bad pattern", async || {
        let text = metrics.render();
        if text.contains(&gauge) { Ok(()) } else { Err(text) }
    })
    .await;
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let note = eventually("an Undecodable Event on the bad pattern", async || {
        let list = events.list(&Default::default()).await.map_err(|e| e.to_string())?;
        list.items
            .iter()
            .find(|e| {
                e.reason.as_deref() == Some("Undecodable")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("bad")
            })
            .and_then(|e| e.note.clone())
            .ok_or_else(|| format!("{:?}", list.items.iter().map(|e| &e.reason).collect::<Vec<_>>()))
    })
    .await;
    assert!(note.contains("many"), "the note says what cannot be read: {note}");

    // Fixed, it reconciles like any other, and the gauge forgets it.
    let fix = json!({"spec": {"replicas": 2}});
    dynamic.patch("bad", &PatchParams::default(), &Patch::Merge(&fix)).await.expect("fix the pattern");
    eventually("the fixed pattern Running", async || running(&patterns.get("bad").await.map_err(|e| e.to_string())?))
        .await;
    assert!(!metrics.render().contains("undecodable_objects{"), "{}", metrics.render());
}

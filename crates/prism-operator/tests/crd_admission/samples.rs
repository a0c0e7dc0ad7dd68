//! Every seed sample: the namespaces they name come first, and each is accepted and reads back
//! unchanged.

use std::path::PathBuf;

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};

use super::*;

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

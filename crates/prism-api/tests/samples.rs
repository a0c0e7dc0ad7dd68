//! Every sample under `config/samples/` deserializes into the Rust types and serializes back to
//! exactly the same document: no field of the seeds is unknown to the types, none is dropped.

use std::path::PathBuf;

use prism_api::v1alpha1::{PrismBackend, PrismNamespace, PrismPattern, PrismStack};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

fn samples() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/samples");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("config/samples exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read sample");
        let doc: Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
        out.push((path.file_name().expect("file name").to_string_lossy().into_owned(), doc));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn roundtrip<K: DeserializeOwned + Serialize>(name: &str, doc: &Value) {
    let typed: K = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&typed).expect("serialize");
    assert_eq!(back["spec"], doc["spec"], "{name}: spec changed through the Rust types");
}

#[test]
fn every_sample_roundtrips_through_the_types() {
    let samples = samples();
    assert!(samples.len() >= 20, "expected every seed example, found {}", samples.len());
    // The namespaces the samples live in are samples too (`kubectl apply -f config/samples/`).
    for (name, doc) in samples.iter().filter(|(_, doc)| doc["kind"] != "Namespace") {
        assert_eq!(doc["apiVersion"], "prism.io/v1alpha1", "{name}");
        match doc["kind"].as_str() {
            Some("PrismStack") => roundtrip::<PrismStack>(name, doc),
            Some("PrismPattern") => roundtrip::<PrismPattern>(name, doc),
            Some("PrismBackend") => roundtrip::<PrismBackend>(name, doc),
            Some("PrismNamespace") => roundtrip::<PrismNamespace>(name, doc),
            other => panic!("{name}: unexpected kind {other:?}"),
        }
    }
}

#[test]
fn readme_samples_are_present() {
    let names: Vec<String> = samples().into_iter().map(|(n, _)| n).collect();
    for required in [
        "prismpattern_hpa_example.yaml",
        "prismpattern_keda_kafka_example.yaml",
        "prismpattern_keda_multi_trigger_example.yaml",
        "prism_v1alpha1_prismstack.yaml",
    ] {
        assert!(names.iter().any(|n| n == required), "{required} is missing");
    }
}

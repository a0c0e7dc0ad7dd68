//! Snapshots of every child the operator builds from each sample in `config/samples/` (the pure
//! validate and build steps, no cluster). A change to what the operator applies, wanted or not,
//! shows up in review as a diff of `src/controller/snapshots/`: a field added by accident would
//! otherwise only show as a write on every reconcile. Update with `INSTA_UPDATE=always cargo
//! test -p prism-operator --lib snapshots` (or `cargo insta review`) after checking the diff.

use std::path::PathBuf;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use prism_api::v1alpha1::{PrismPattern, PrismStack};
use serde::Serialize;

use crate::{
    autoscaling::KedaRefs,
    config::Defaults,
    controller::{pattern, stack},
};

/// The samples of `kind`: (file stem, document).
fn samples(kind: &str) -> Vec<(String, serde_json::Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/samples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("config/samples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let doc: serde_json::Value =
                serde_saphyr::from_str(&std::fs::read_to_string(&path).expect("read sample")).expect("sample parses");
            let stem = path.file_stem()?.to_string_lossy().into_owned();
            (doc["kind"] == kind).then_some((stem, doc))
        })
        .collect()
}

fn owner(kind: &str, name: &str) -> OwnerReference {
    OwnerReference {
        api_version: "prism.io/v1alpha1".into(),
        kind: kind.into(),
        name: name.into(),
        uid: "00000000-0000-0000-0000-000000000000".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The objects as one YAML stream, in a stable order.
fn yaml<T: Serialize>(objects: &[T]) -> String {
    objects.iter().map(|o| serde_saphyr::to_string(o).expect("yaml")).collect::<Vec<_>>().join("---\n")
}

#[test]
fn pattern_children_of_every_sample() {
    let found = samples("PrismPattern");
    assert!(found.len() >= 5, "the PrismPattern samples: {}", found.len());
    for (stem, doc) in found {
        let p: PrismPattern = serde_json::from_value(doc).expect("PrismPattern");
        let name = p.metadata.name.clone().expect("name");
        // Its backendConfig, if any, exists and is rendered; KEDA is installed.
        let backend = match &p.spec.backend_config {
            Some(b) => {
                pattern::validate::BackendConfig::Found { name: b.name.clone(), hash: Some("0123456789abcdef".into()) }
            }
            None => pattern::validate::BackendConfig::None,
        };
        let resolved = pattern::validate::Resolved { backend, keda: KedaRefs::unchecked(true) };
        let v = pattern::validate::validate(&p, "ns", owner("PrismPattern", &name), &resolved, &Defaults::default())
            .unwrap_or_else(|e| panic!("{stem}: {}", e.message));
        let c = pattern::build::build(&v);
        let mut out = values(std::slice::from_ref(&c.deployment));
        out.extend(values(c.service.as_slice()));
        out.extend(values(c.hpa.as_slice()));
        out.extend(values(c.scaled_object.as_slice()));
        insta::assert_snapshot!(stem, yaml(&out));
    }
}

#[test]
fn stack_children_of_every_sample() {
    let found = samples("PrismStack");
    assert!(found.len() >= 10, "the PrismStack samples: {}", found.len());
    for (stem, doc) in found {
        let s: PrismStack = serde_json::from_value(doc).expect("PrismStack");
        let name = s.metadata.name.clone().expect("name");
        let v = stack::validate::validate(
            &s,
            "ns",
            owner("PrismStack", &name),
            &stack::validate::tests::unchecked(true),
            &Defaults::default(),
        );
        let c = stack::build::build(&v);
        let mut out = values(&c.deployments);
        out.extend(values(&c.services));
        out.extend(values(&c.pdbs));
        out.extend(values(&c.hpas));
        out.extend(values(&c.scaled_objects));
        out.extend(values(&c.service_accounts));
        out.extend(values(&c.roles));
        out.extend(values(&c.role_bindings));
        out.extend(values(&c.patterns));
        out.extend(values(&c.backends));
        insta::assert_snapshot!(stem, yaml(&out));
    }
}

fn values<T: Serialize>(items: &[T]) -> Vec<serde_json::Value> {
    items.iter().map(|o| serde_json::to_value(o).expect("json")).collect()
}

//! Invalid specs are rejected at admission with a message naming the field: schema rules
//! (ranges, enums, patterns, required fields) and the CEL rules across fields.

mod autoscaling;
mod backend;
mod namespace;
mod stack;
mod values;
mod workload;

use kube::api::{DynamicObject, PostParams};

use super::*;

/// One invalid variant: the kind, a valid base spec, a JSON merge applied to it, and substrings
/// the API server's message must contain (the field path and what is wrong).
struct Case {
    what: &'static str,
    kind: &'static str,
    spec: Value,
    expect: &'static [&'static str],
}

/// Every invalid variant, grouped by topic.
fn cases() -> Vec<Case> {
    [
        autoscaling::autoscaling_cases(),
        autoscaling::trigger_cases(),
        workload::service_cases(),
        workload::placement_cases(),
        values::quantity_cases(),
        values::label_cases(),
        values::config_cases(),
        values::format_cases(),
        stack::cases(),
        backend::cases(),
        namespace::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
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

//! Names too long for the objects derived from them are refused, and namespaceId is immutable.

use kube::api::{DynamicObject, Patch, PatchParams, PostParams};

use super::*;

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

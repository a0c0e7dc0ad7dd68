//! Time-based behaviour: a deletion while the admin is down completes after the grace period
//! with a Warning Event; `ttl` deletes (and revokes) the namespace when it runs out.

use std::time::Instant;

use support::Operator;

use super::{admin_double::AdminDouble, *};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_with_the_admin_down_completes_after_the_grace_period() {
    let (cp, client, ns, _guard) = setup().await;
    let mut admin = AdminDouble::start().await;
    // The operator-wide endpoint setting (no annotation on the object).
    let endpoint = admin.endpoint();
    let _op = Operator::start_with(cp, &ns, |s| {
        s.admin_endpoint = Some(endpoint);
        s.revoke_grace_period = GRACE;
    })
    .await;
    create_tenant(&client, &ns, "doomed", None, json!({"namespaceId": "doomed", "proxyRef": {"name": "s"}})).await;
    phase(&client, &ns, "doomed", NamespacePhase::Active).await;
    admin.stop().await;

    let started = Instant::now();
    delete(&client, &ns, "doomed").await;
    let o = phase(&client, &ns, "doomed", NamespacePhase::Terminating).await;
    assert_eq!(o.status.and_then(|s| s.proxy_status).as_deref(), Some("Unreachable"));
    event(&client, &ns, "doomed", "Warning", "AdminUnreachable").await;
    gone(&client, &ns, "doomed").await;
    let took = started.elapsed();
    eprintln!("deletion with the admin down completed after {took:?} (grace {GRACE:?})");
    assert!(took >= GRACE - Duration::from_millis(1100), "finalizer removed before the grace period: {took:?}");
    assert!(took <= GRACE + Duration::from_secs(8), "took {took:?}");
    let note = event(&client, &ns, "doomed", "Warning", "RevokeAbandoned").await;
    assert!(note.contains("doomed"), "{note}");
    admin.restart().await;
    assert!(admin.revokes("doomed").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_deletes_and_revokes_the_namespace_when_it_runs_out() {
    let (cp, client, ns, _guard) = setup().await;
    let admin = AdminDouble::start().await;
    let _op = Operator::start(cp, &ns).await;
    let spec = json!({"namespaceId": "ephemeral", "proxyRef": {"name": "s"}, "ttl": "6s"});
    create_tenant(&client, &ns, "ephemeral", Some(&admin.endpoint()), spec).await;
    let o = phase(&client, &ns, "ephemeral", NamespacePhase::Active).await;
    let created = o.metadata.creation_timestamp.clone().expect("created").0;
    gone(&client, &ns, "ephemeral").await;
    let lived = k8s_openapi::jiff::Timestamp::now().duration_since(created);
    eprintln!("ttl 6s: deleted {lived:?} after creation");
    // creationTimestamp has one-second resolution.
    assert!(lived.as_secs_f64() >= 5.0, "deleted early: {lived:?}");
    assert!(lived.as_secs_f64() <= 12.0, "deleted late: {lived:?}");
    assert_eq!(admin.revokes("ephemeral").len(), 1);
    event(&client, &ns, "ephemeral", "Normal", "Expired").await;
}

//! Tracks whether KEDA's ScaledObject CRD is installed, so that patterns with `scaler: keda`
//! recover by themselves once KEDA appears (and report `KEDANotInstalled` until then), and caches
//! KEDA's objects once it is.

use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client,
    runtime::{WatchStreamExt, watcher},
};
use tokio::sync::watch;

use crate::keda::SCALED_OBJECT_CRD;

/// Watches KEDA's CRD and keeps `tx` equal to "installed and established". Runs until the
/// receivers are gone.
pub async fn track(client: Client, tx: watch::Sender<bool>) {
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let config = watcher::Config::default().fields(&format!("metadata.name={SCALED_OBJECT_CRD}"));
    let mut events = std::pin::pin!(super::caches::summarized(
        "CustomResourceDefinition".to_owned(),
        watcher(api, config).backoff(crate::backoff::watch_backoff())
    ));
    while let Some(event) = events.next().await {
        let established = match event {
            Ok(watcher::Event::Apply(crd) | watcher::Event::InitApply(crd)) => Some(is_established(&crd)),
            Ok(watcher::Event::Delete(_)) => Some(false),
            Ok(watcher::Event::Init) => None,
            Ok(watcher::Event::InitDone) => Some(*tx.borrow()),
            // Logged by the watch's summary.
            Err(_) => None,
        };
        if let Some(value) = established {
            tx.send_if_modified(|current| std::mem::replace(current, value) != value);
        }
        if tx.is_closed() {
            return;
        }
    }
}

fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Established" && c.status == "True"))
}

/// Resolves once KEDA is installed.
pub async fn installed(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            // The tracker is gone: KEDA will never be reported; wait forever.
            futures::future::pending::<()>().await;
        }
    }
}

/// A cache of the KEDA objects (`resource`: ScaledObjects, TriggerAuthentications) in `api`
/// matching `config`, filled once KEDA's CRD exists (it may be installed after the operator
/// starts): the store, and the stream of changed objects that keeps it filled (objects trimmed
/// like every other cache).
pub fn cache(
    api: kube::Api<kube::api::DynamicObject>,
    config: watcher::Config,
    keda: watch::Receiver<bool>,
    resource: kube::api::ApiResource,
) -> (
    kube::runtime::reflector::Store<kube::api::DynamicObject>,
    impl Stream<Item = Result<kube::api::DynamicObject, watcher::Error>> + Send + 'static,
) {
    let kind = resource.kind.clone();
    let writer = kube::runtime::reflector::store::Writer::new(resource);
    let store = writer.as_reader();
    let events = futures::stream::once(async move {
        installed(keda).await;
        super::caches::summarized(kind, watcher(api, config).backoff(crate::backoff::watch_backoff()))
            .modify(super::caches::trim)
            .reflect(writer)
            .touched_objects()
    })
    .flatten();
    (store, events)
}

/// A stream that yields once per change of KEDA's presence (used to reconcile everything).
pub fn changes(rx: watch::Receiver<bool>) -> impl Stream<Item = ()> + Send {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        // Let the ScaledObject watch start before the reconciles that need it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some(((), rx))
    })
}

/// What the caches show of the autoscaler of the component `name` in `ns`: its HPA and its
/// ScaledObject (both named after the component).
pub fn live_autoscaler(
    hpas: &kube::runtime::reflector::Store<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>,
    scaled_objects: &kube::runtime::reflector::Store<kube::api::DynamicObject>,
    ns: &str,
    name: &str,
) -> crate::autoscaling::Live {
    use kube::runtime::reflector::ObjectRef;
    crate::autoscaling::Live {
        hpa: hpas.get(&ObjectRef::new(name).within(ns)),
        scaled_object: scaled_objects.get(&ObjectRef::new_with(name, crate::keda::scaled_object_resource()).within(ns)),
    }
}

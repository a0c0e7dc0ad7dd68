//! What every reconcile shares: the client, the Event recorder, the defaults, KEDA's presence,
//! and per-object error backoff.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::{
    Client, Resource,
    runtime::events::{Event, EventType, Recorder, Reporter},
};
use tokio::sync::watch;

use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};

use crate::{config::Defaults, error::Error, metrics::Metrics};

/// Resolves once a controller's caches have synced.
pub type Synced = Shared<BoxFuture<'static, ()>>;

/// First retry delay after a failed reconcile.
pub const BACKOFF_MIN: Duration = Duration::from_secs(5);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Longest Event note the API accepts.
const NOTE_MAX: usize = 1024;

/// State shared by all controllers.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Event recorder (one per operator; it aggregates repeated Events into series).
    pub recorder: Recorder,
    /// Defaults applied to specs.
    pub defaults: Defaults,
    /// Whether KEDA's ScaledObject CRD is installed; changes trigger reconciles.
    pub keda: watch::Receiver<bool>,
    /// The last status written per object.
    pub status_memo: crate::conditions::Memo,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Number of controllers whose caches have synced (first list of every watch done).
    pub synced: watch::Sender<usize>,
    backoff: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context for `client`.
    pub fn new(client: Client, defaults: Defaults, keda: watch::Receiver<bool>, metrics: Arc<Metrics>) -> Arc<Self> {
        let reporter =
            Reporter { controller: prism_api::FIELD_MANAGER.to_owned(), instance: std::env::var("POD_NAME").ok() };
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            defaults,
            keda,
            status_memo: crate::conditions::Memo::default(),
            metrics,
            synced: watch::Sender::new(0),
            backoff: Mutex::default(),
        })
    }

    /// Counts a controller as synced once every one of `caches` is ready (its first list done).
    /// The returned future resolves at that moment: reconciles await it, so that none runs on a
    /// half-filled cache (which would re-apply children that exist).
    pub fn track_sync(self: &Arc<Self>, controller: crate::error::Kind, caches: Vec<BoxFuture<'static, ()>>) -> Synced {
        let ctx = self.clone();
        let synced = async move {
            futures::future::join_all(caches).await;
            tracing::debug!(controller = %controller, "caches synced");
            ctx.synced.send_modify(|n| *n += 1);
        }
        .boxed()
        .shared();
        tokio::spawn(synced.clone());
        synced
    }

    /// Whether KEDA is installed right now.
    pub fn keda_installed(&self) -> bool {
        *self.keda.borrow()
    }

    /// The next retry delay of an object after a failure: 5 s doubling to 5 min.
    pub fn next_backoff(&self, key: &str) -> Duration {
        let mut map = self.backoff.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let failures = map.entry(key.to_owned()).or_insert(0);
        let delay = BACKOFF_MIN.saturating_mul(2u32.saturating_pow(*failures)).min(BACKOFF_MAX);
        *failures = failures.saturating_add(1);
        delay
    }

    /// Forgets an object's failures after a successful reconcile.
    pub fn reset_backoff(&self, key: &str) {
        self.backoff.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }

    /// Publishes an Event about `obj`; a failure to publish is logged, never fatal.
    pub async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.publish_to(&obj.object_ref(&()), type_, reason, action, note).await;
    }

    /// [`Context::publish`] for an object known only by its reference.
    pub async fn publish_to(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let mut note = note;
        if note.len() > NOTE_MAX {
            let mut cut = NOTE_MAX - 3;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
            note.push_str("...");
        }
        let event =
            Event { type_, reason: reason.to_owned(), note: Some(note), action: action.to_owned(), secondary: None };
        if let Err(err) = self.recorder.publish(&event, reference).await {
            tracing::warn!(%err, reason, "failed to publish event");
        }
    }

    /// The backoff and metrics key of an object: `Kind/namespace/name`.
    pub fn key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
        let meta = obj.meta();
        format!(
            "{}/{}/{}",
            K::kind(&()),
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default()
        )
    }

    /// What every controller's error policy does: counts the failure, logs it, publishes it as a
    /// Warning Event (in the background: error policies are synchronous) and retries after the
    /// object's next backoff delay (`delay` overrides it).
    pub fn on_error<K>(
        self: &Arc<Self>,
        obj: Arc<K>,
        err: &Error,
        delay: Option<Duration>,
    ) -> kube::runtime::controller::Action
    where
        K: Resource<DynamicType = ()> + Send + Sync + 'static,
    {
        let kind = K::kind(&());
        self.metrics.failure(&kind, err.reason());
        let delay = delay.unwrap_or_else(|| self.next_backoff(&Self::key(&*obj)));
        let note = err.chain(NOTE_MAX);
        tracing::warn!(kind = %kind, name = obj.meta().name.as_deref().unwrap_or_default(), error = %note, retry_in = ?delay, "reconcile failed");
        let (ctx, reason) = (self.clone(), err.reason());
        tokio::spawn(async move {
            ctx.publish(&*obj, EventType::Warning, reason, "Reconcile", note).await;
        });
        kube::runtime::controller::Action::requeue(delay)
    }

    /// Publishes a failure as a Warning Event named after the error variant.
    pub async fn publish_error<K: Resource<DynamicType = ()>>(&self, obj: &K, err: &Error) {
        self.publish(obj, EventType::Warning, err.reason(), "Reconcile", err.chain(NOTE_MAX)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backoff_doubles_to_a_ceiling_and_resets() {
        let (_tx, rx) = watch::channel(false);
        let ctx = Context {
            client: test_client(),
            recorder: Recorder::new(test_client(), Reporter { controller: "t".into(), instance: None }),
            defaults: Defaults::default(),
            keda: rx,
            status_memo: crate::conditions::Memo::default(),
            metrics: Arc::default(),
            synced: watch::Sender::new(0),
            backoff: Mutex::default(),
        };
        let delays: Vec<u64> = (0..9).map(|_| ctx.next_backoff("ns/a").as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(ctx.next_backoff("ns/b").as_secs(), 5, "per object");
        ctx.reset_backoff("ns/a");
        assert_eq!(ctx.next_backoff("ns/a").as_secs(), 5);
    }

    fn test_client() -> Client {
        // A client that is never used to send: backoff bookkeeping needs none.
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("uri"));
        Client::try_from(config).expect("client")
    }
}

//! Writes of slow children that do not hold their owner's reconcile slot.
//!
//! A Service create waits on the API server's ClusterIP allocator, which serializes them: under
//! a burst of new patterns it takes tens of times longer than a Deployment create. Applied inline,
//! each one would keep a reconcile slot busy for that long, and the patterns queued behind them
//! would wait for a slot before anything of theirs is written. [`Deferred`] runs such writes as
//! tasks of their own (at most as many at once as the controller runs reconciles) and lets the
//! reconcile finish. When a write ends its owner is reconciled again, which takes the result: a
//! failure fails that reconcile as an inline write would have (a rejected child still becomes a
//! `ChildRejected` condition and an Event), and what was changed joins the owner's one Event.
//!
//! While an owner's write is in flight its reconciles neither send the child again nor publish
//! their changes: [`Deferred::settle`] holds those until the last write ends, so creating a
//! pattern still gives one `Created` Event naming every child.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use futures::channel::mpsc;
use kube::{
    Api, Resource,
    runtime::reflector::{ObjectRef, Store},
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::Semaphore;

use super::Changes;
use crate::{
    apply::{Outcome, Write},
    error::Error,
};

/// The result of a write: its outcome and the live object.
type Written<K> = Result<(Outcome, K), Error>;

/// Where one child's write stands.
enum State<K> {
    InFlight,
    Done(Written<K>),
}

/// One owner's writes by child name, and the changes its reconciles held back meanwhile.
struct Slot<K> {
    writes: HashMap<String, State<K>>,
    held: Changes,
}

impl<K> Default for Slot<K> {
    fn default() -> Self {
        Self { writes: HashMap::new(), held: Changes::default() }
    }
}

/// What [`Deferred::take`] found for a child.
pub enum Taken<K> {
    /// No write of it is pending: decide from the cache.
    Idle,
    /// Its write is still in flight: send nothing.
    InFlight,
    /// Its write ended with this result.
    Done(Written<K>),
}

/// The deferred writes of children of kind `K` of owners `O`.
pub struct Deferred<K, O>
where
    O: Resource<DynamicType = ()> + 'static,
{
    slots: Arc<Mutex<HashMap<ObjectRef<O>, Slot<K>>>>,
    permits: Arc<Semaphore>,
    owners: Store<O>,
    wake: mpsc::UnboundedSender<ObjectRef<O>>,
}

impl<K, O> Deferred<K, O>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    O: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// Deferred writes of the children of the owners in `owners`, at most `limit` at once; and
    /// the stream of owners to reconcile because a write of theirs ended (a controller trigger).
    pub fn new(owners: Store<O>, limit: usize) -> (Self, mpsc::UnboundedReceiver<ObjectRef<O>>) {
        let (wake, woken) = mpsc::unbounded();
        let deferred = Self { slots: Arc::default(), permits: Arc::new(Semaphore::new(limit.max(1))), owners, wake };
        (deferred, woken)
    }

    /// Takes the ended write of the child `name` of `owner`, or says whether one is in flight.
    pub fn take(&self, owner: &ObjectRef<O>, name: &str) -> Taken<K> {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(owner) else { return Taken::Idle };
        match slot.writes.remove(name) {
            None => Taken::Idle,
            Some(State::InFlight) => {
                slot.writes.insert(name.to_owned(), State::InFlight);
                Taken::InFlight
            }
            Some(State::Done(result)) => Taken::Done(result),
        }
    }

    /// Sends `write` with `api` in a task of its own; `owner` is reconciled again once it ends.
    pub fn spawn(&self, owner: ObjectRef<O>, write: Write<K>, api: Api<K>) {
        let name = write.name().to_owned();
        self.lock().entry(owner.clone()).or_default().writes.insert(name.clone(), State::InFlight);
        let (slots, permits, owners, wake) =
            (self.slots.clone(), self.permits.clone(), self.owners.clone(), self.wake.clone());
        tokio::spawn(async move {
            // The semaphore is never closed.
            let result = match permits.acquire().await {
                Ok(_permit) => write.send(&api).await,
                Err(_) => return,
            };
            {
                let mut slots = slots.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(slot) = slots.get_mut(&owner) {
                    slot.writes.insert(name, State::Done(result));
                }
                // The owners deleted meanwhile are not reconciled again: forget their writes.
                slots.retain(|owner, _| owners.get(owner).is_some());
            }
            // Fails only once the controller stopped.
            let _ = wake.unbounded_send(owner);
        });
    }

    /// Ends a reconcile of `owner` that made `changes`: the changes to publish now, or `None` when
    /// a write of the owner is still in flight (they are held and published with its result).
    /// The results no reconcile took (it stopped before reaching the child) are recorded too.
    pub fn settle(&self, owner: &ObjectRef<O>, kind: &str, changes: Changes) -> Option<Changes> {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(owner) else { return Some(changes) };
        slot.held.absorb(changes);
        if slot.writes.values().any(|s| matches!(s, State::InFlight)) {
            return None;
        }
        let mut slot = slots.remove(owner)?;
        for (name, state) in slot.writes {
            if let State::Done(Ok((outcome, _))) = state {
                slot.held.record(kind, &name, outcome);
            }
        }
        Some(slot.held)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<O>, Slot<K>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Service;
    use kube::runtime::reflector;
    use prism_api::v1alpha1::PrismPattern;

    use super::*;

    fn deferred() -> Deferred<Service, PrismPattern> {
        let (store, _writer) = reflector::store::<PrismPattern>();
        Deferred::new(store, 4).0
    }

    fn owner() -> ObjectRef<PrismPattern> {
        ObjectRef::new("orders").within("apps")
    }

    fn created(kind: &str, name: &str) -> Changes {
        let mut changes = Changes::default();
        changes.record(kind, name, Outcome::Created);
        changes
    }

    fn set(d: &Deferred<Service, PrismPattern>, name: &str, state: State<Service>) {
        d.lock().entry(owner()).or_default().writes.insert(name.to_owned(), state);
    }

    #[test]
    fn without_writes_changes_are_published_at_once() {
        let d = deferred();
        assert!(matches!(d.take(&owner(), "orders"), Taken::Idle));
        let published = d.settle(&owner(), "Service", created("Deployment", "orders")).expect("published");
        assert_eq!(published.created, vec![("Deployment".to_owned(), "orders".to_owned())]);
    }

    #[test]
    fn changes_wait_for_the_write_in_flight_and_join_its_result() {
        let d = deferred();
        set(&d, "orders", State::InFlight);
        assert!(matches!(d.take(&owner(), "orders"), Taken::InFlight));
        // Taking an in-flight write leaves it in flight.
        assert!(matches!(d.take(&owner(), "orders"), Taken::InFlight));
        assert!(d.settle(&owner(), "Service", created("Deployment", "orders")).is_none());
        assert!(d.settle(&owner(), "Service", created("HorizontalPodAutoscaler", "orders")).is_none());

        set(&d, "orders", State::Done(Ok((Outcome::Created, Service::default()))));
        let Taken::Done(Ok((outcome, _))) = d.take(&owner(), "orders") else { panic!("the write ended") };
        assert_eq!(outcome, Outcome::Created);
        let published = d.settle(&owner(), "Service", created("Service", "orders")).expect("published");
        let names: Vec<&str> = published.created.iter().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(names, ["Deployment", "HorizontalPodAutoscaler", "Service"]);
        // The owner's slot is gone: the next reconcile decides from the cache again.
        assert!(d.lock().is_empty());
        assert!(matches!(d.take(&owner(), "orders"), Taken::Idle));
    }

    #[test]
    fn results_no_reconcile_took_are_recorded_when_it_settles() {
        let d = deferred();
        set(&d, "orders", State::Done(Ok((Outcome::Updated, Service::default()))));
        let published = d.settle(&owner(), "Service", Changes::default()).expect("published");
        assert_eq!(published.updated, vec![("Service".to_owned(), "orders".to_owned())]);
        assert!(d.lock().is_empty());
    }

    #[test]
    fn a_failed_write_is_taken_once() {
        let d = deferred();
        let failed = Error::MissingObjectKey("name");
        set(&d, "orders", State::Done(Err(failed)));
        assert!(matches!(d.take(&owner(), "orders"), Taken::Done(Err(_))));
        assert!(matches!(d.take(&owner(), "orders"), Taken::Idle));
        assert!(d.settle(&owner(), "Service", Changes::default()).is_some_and(|c| c.created.is_empty()));
    }
}

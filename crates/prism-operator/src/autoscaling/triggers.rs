//! Pure: a component's KEDA triggers and what the cluster shows about the objects they reference
//! ([`KedaRefs`]) -> the triggers as the ScaledObject gets them, or why it cannot be created.
//!
//! A trigger's `authenticationRef` must name a TriggerAuthentication (or
//! ClusterTriggerAuthentication) that exists: KEDA would otherwise accept the ScaledObject and
//! fail quietly in its own log. A `backendRef` becomes the `authenticationRef` of the
//! TriggerAuthentication the PrismBackend renders (`<backend>-prism-keda`), after checking that
//! the backend exists and that its provider is the one the trigger speaks.

use std::collections::{BTreeMap, BTreeSet};

use prism_api::v1alpha1::{BackendProvider, KedaTrigger, TriggerAuthenticationKind, TriggerAuthenticationRef};

use super::Blocked;
use crate::naming;

/// What the cluster shows about the objects a component's KEDA triggers reference, read from the
/// controller's caches by its resolve step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KedaRefs {
    /// Whether KEDA's CRDs are installed.
    pub installed: bool,
    /// The TriggerAuthentications (in the component's namespace) and ClusterTriggerAuthentications
    /// that exist, by name; `None` where the controller does not check them.
    pub authentications: Option<Authentications>,
    /// The PrismBackends named in `backendRef`s that exist.
    pub backends: BTreeMap<String, TriggerBackend>,
}

impl KedaRefs {
    /// KEDA's presence only: references are not checked (the stack's proxy).
    pub fn unchecked(installed: bool) -> Self {
        Self { installed, ..Default::default() }
    }
}

/// Names of existing TriggerAuthentications (namespaced) and ClusterTriggerAuthentications.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authentications {
    /// TriggerAuthentications in the component's namespace.
    pub namespaced: BTreeSet<String>,
    /// ClusterTriggerAuthentications.
    pub cluster: BTreeSet<String>,
}

/// What a trigger needs of the PrismBackend its `backendRef` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TriggerBackend {
    /// The backend's provider.
    pub provider: BackendProvider,
    /// Whether the backend's `tls.enabled` is set.
    pub tls: bool,
}

/// The provider a `backendRef` trigger of type `trigger_type` needs.
pub fn provider_for(trigger_type: &str) -> Option<BackendProvider> {
    match trigger_type {
        "redis" => Some(BackendProvider::Redis),
        "postgresql" => Some(BackendProvider::Postgres),
        "rabbitmq" => Some(BackendProvider::Rabbitmq),
        _ => None,
    }
}

/// The triggers as the ScaledObject gets them: `backendRef` replaced by the `authenticationRef` of
/// the backend's TriggerAuthentication (plus the postgresql `sslmode` it cannot carry), every
/// reference checked against `refs`. `field` is the component's spec path (`spec`, `spec.proxy`).
pub fn plan(triggers: &[KedaTrigger], refs: &KedaRefs, field: &str) -> Result<Vec<KedaTrigger>, Blocked> {
    triggers
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let at = format!("{field}.autoscaling.triggers[{i}] ({})", t.type_);
            match &t.backend_ref {
                Some(backend) => from_backend(t, &backend.name, refs, at),
                None => {
                    if let Some(r) = &t.authentication_ref {
                        check_authentication(r, refs, &at)?;
                    }
                    Ok(t.clone())
                }
            }
        })
        .collect()
}

fn from_backend(t: &KedaTrigger, backend: &str, refs: &KedaRefs, trigger: String) -> Result<KedaTrigger, Blocked> {
    let found = refs
        .backends
        .get(backend)
        .ok_or_else(|| Blocked::TriggerBackendNotFound { trigger: trigger.clone(), backend: backend.to_owned() })?;
    let wanted = provider_for(&t.type_);
    if wanted != Some(found.provider) {
        return Err(Blocked::TriggerBackendMismatch {
            trigger,
            backend: backend.to_owned(),
            provider: found.provider.as_str(),
            wanted: wanted.map_or("none", BackendProvider::as_str),
        });
    }
    let name = naming::backend_trigger_authentication(backend);
    if refs.authentications.as_ref().is_some_and(|a| !a.namespaced.contains(&name)) {
        return Err(Blocked::TriggerAuthenticationPending { trigger, backend: backend.to_owned(), name });
    }
    let mut resolved = t.clone();
    resolved.backend_ref = None;
    resolved.authentication_ref = Some(TriggerAuthenticationRef { name, kind: None });
    if found.provider == BackendProvider::Postgres && !resolved.metadata.contains_key("sslmode") {
        // KEDA requires it, and a TriggerAuthentication can only point at stored values.
        let mode = if found.tls { "require" } else { "disable" };
        resolved.metadata.insert("sslmode".to_owned(), mode.to_owned());
    }
    Ok(resolved)
}

fn check_authentication(r: &TriggerAuthenticationRef, refs: &KedaRefs, trigger: &str) -> Result<(), Blocked> {
    let Some(known) = &refs.authentications else { return Ok(()) };
    let (kind, exists) = match r.kind.unwrap_or(TriggerAuthenticationKind::TriggerAuthentication) {
        TriggerAuthenticationKind::TriggerAuthentication => {
            ("TriggerAuthentication", known.namespaced.contains(&r.name))
        }
        TriggerAuthenticationKind::ClusterTriggerAuthentication => {
            ("ClusterTriggerAuthentication", known.cluster.contains(&r.name))
        }
    };
    if exists {
        Ok(())
    } else {
        Err(Blocked::TriggerAuthenticationNotFound { trigger: trigger.to_owned(), kind, name: r.name.clone() })
    }
}

/// The names of the TriggerAuthentications (namespaced) and ClusterTriggerAuthentications that
/// `triggers` reference, `backendRef`s included: a change to one of them concerns the component.
pub fn referenced(triggers: &[KedaTrigger]) -> (Vec<String>, Vec<String>) {
    let (mut namespaced, mut cluster) = (Vec::new(), Vec::new());
    for t in triggers {
        if let Some(b) = &t.backend_ref {
            namespaced.push(naming::backend_trigger_authentication(&b.name));
        }
        if let Some(r) = &t.authentication_ref {
            match r.kind.unwrap_or(TriggerAuthenticationKind::TriggerAuthentication) {
                TriggerAuthenticationKind::TriggerAuthentication => namespaced.push(r.name.clone()),
                TriggerAuthenticationKind::ClusterTriggerAuthentication => cluster.push(r.name.clone()),
            }
        }
    }
    (namespaced, cluster)
}

#[cfg(test)]
mod tests {
    use prism_api::v1alpha1::TriggerBackendRef;

    use super::*;

    fn trigger(type_: &str) -> KedaTrigger {
        KedaTrigger {
            type_: type_.to_owned(),
            name: None,
            metadata: BTreeMap::from([("listName".to_owned(), "jobs".to_owned())]),
            authentication_ref: None,
            backend_ref: None,
            metric_type: None,
            use_cached_metrics: None,
        }
    }

    fn refs(tas: &[&str], backends: &[(&str, BackendProvider)]) -> KedaRefs {
        KedaRefs {
            installed: true,
            authentications: Some(Authentications {
                namespaced: tas.iter().map(|s| (*s).to_owned()).collect(),
                cluster: BTreeSet::from(["shared".to_owned()]),
            }),
            backends: backends
                .iter()
                .map(|(n, p)| ((*n).to_owned(), TriggerBackend { provider: *p, tls: false }))
                .collect(),
        }
    }

    #[test]
    fn backend_ref_becomes_the_rendered_authentication_ref() {
        let mut t = trigger("postgresql");
        t.backend_ref = Some(TriggerBackendRef { name: "orders-db".into() });
        let r = refs(&["orders-db-prism-keda"], &[("orders-db", BackendProvider::Postgres)]);
        let out = plan(&[t], &r, "spec").expect("resolves");
        assert_eq!(out[0].backend_ref, None, "KEDA does not know the field");
        assert_eq!(out[0].authentication_ref.as_ref().map(|a| a.name.as_str()), Some("orders-db-prism-keda"));
        assert_eq!(out[0].metadata.get("sslmode").map(String::as_str), Some("disable"));
    }

    #[test]
    fn backend_ref_problems_name_the_trigger_and_the_backend() {
        let mut t = trigger("redis");
        t.backend_ref = Some(TriggerBackendRef { name: "cache".into() });
        let missing = plan(std::slice::from_ref(&t), &refs(&[], &[]), "spec").expect_err("no backend");
        assert_eq!(missing.condition().reason, "TriggerBackendNotFound");
        assert!(missing.condition().message.contains("spec.autoscaling.triggers[0] (redis)"), "{missing:?}");
        let wrong = plan(std::slice::from_ref(&t), &refs(&[], &[("cache", BackendProvider::Nats)]), "spec")
            .expect_err("provider");
        assert_eq!(wrong.condition().reason, "TriggerBackendMismatch");
        assert!(wrong.condition().message.contains("provider nats"), "{}", wrong.condition().message);
        let pending = plan(&[t], &refs(&[], &[("cache", BackendProvider::Redis)]), "spec").expect_err("not yet");
        assert_eq!(pending.condition().reason, "TriggerAuthenticationPending");
        assert!(super::super::PENDING_REASONS.contains(&pending.condition().reason.as_str()));
    }

    #[test]
    fn admission_and_the_operator_agree_on_the_backend_ref_types() {
        use kube::CustomResourceExt;
        let crd = serde_json::to_string(&prism_api::v1alpha1::PrismPattern::crd()).expect("crd");
        for t in prism_api::v1alpha1::BACKEND_REF_TRIGGER_TYPES {
            assert!(provider_for(t).is_some(), "{t} has a provider");
            assert!(crd.contains(&format!("'{t}'")), "the CEL rule admits {t}");
        }
        assert_eq!(provider_for("kafka"), None);
    }

    #[test]
    fn a_missing_authentication_ref_is_named() {
        let mut t = trigger("redis");
        t.authentication_ref = Some(TriggerAuthenticationRef { name: "redis-auth".into(), kind: None });
        let blocked = plan(std::slice::from_ref(&t), &refs(&[], &[]), "spec").expect_err("missing");
        let c = blocked.condition();
        assert_eq!(c.reason, "TriggerAuthenticationNotFound");
        assert!(c.message.contains(r#"TriggerAuthentication "redis-auth""#), "{}", c.message);
        assert!(plan(std::slice::from_ref(&t), &refs(&["redis-auth"], &[]), "spec").is_ok());
        assert!(plan(std::slice::from_ref(&t), &KedaRefs::unchecked(true), "spec").is_ok(), "not checked");
        t.authentication_ref = Some(TriggerAuthenticationRef {
            name: "shared".into(),
            kind: Some(TriggerAuthenticationKind::ClusterTriggerAuthentication),
        });
        assert!(plan(&[t], &refs(&[], &[]), "spec").is_ok(), "cluster-wide one exists");
    }
}

//! Startup checks with clear errors: the API server is reachable, the Prism CRDs are installed,
//! and the operator holds every permission it needs (SelfSubjectAccessReviews against
//! [`crate::rbac::RULES`]).

use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::{
    api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{Api, Client, api::PostParams};

use crate::rbac;

/// How long to wait for the API server at startup.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the operator cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server did not answer.
    #[error("cannot reach the Kubernetes API server at {url}: {reason}")]
    Unreachable {
        /// Its URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// Our CRDs are missing.
    #[error(
        "the Prism CRDs are not installed: {missing} (install them with `make install` or `kubectl apply -f config/crd/bases/`)"
    )]
    CrdsMissing {
        /// The missing CRDs.
        missing: String,
    },
    /// Reading the CRDs failed for another reason.
    #[error("failed to check the Prism CRDs")]
    CrdCheck(#[source] kube::Error),
    /// Permissions are missing.
    #[error(
        "the operator lacks permissions (apply config/rbac/ or config/namespaced/, or the Helm chart's RBAC): {missing}"
    )]
    Forbidden {
        /// `verb group/resource` entries.
        missing: String,
    },
    /// An access review could not be made.
    #[error("failed to review the operator's permissions")]
    AccessReview(#[source] kube::Error),
}

/// Runs every check. The permissions are reviewed in each of `namespaces` (empty: cluster-wide),
/// those on cluster-scoped resources once.
pub async fn check(client: &Client, url: &str, namespaces: &[String]) -> Result<(), Error> {
    match tokio::time::timeout(REACH_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(v)) => tracing::info!(version = %v.git_version, "connected to the API server"),
        Ok(Err(err)) => return Err(Error::Unreachable { url: url.to_owned(), reason: err.to_string() }),
        Err(_) => {
            return Err(Error::Unreachable {
                url: url.to_owned(),
                reason: format!("no answer within {REACH_TIMEOUT:?}"),
            });
        }
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut missing = Vec::new();
    for crd in prism_api::crds() {
        let name = crd.metadata.name.unwrap_or_default();
        match crds.get_opt(&name).await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(name),
            Err(kube::Error::Api(s)) if s.code == 403 => {
                return Err(Error::Forbidden {
                    missing: "get apiextensions.k8s.io/customresourcedefinitions".to_owned(),
                });
            }
            Err(err) => return Err(Error::CrdCheck(err)),
        }
    }
    if !missing.is_empty() {
        return Err(Error::CrdsMissing { missing: missing.join(", ") });
    }
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let scopes: Vec<Option<&str>> =
        if namespaces.is_empty() { vec![None] } else { namespaces.iter().map(|n| Some(n.as_str())).collect() };
    let grants = rbac::grants().into_iter().filter(|(_, resource, _)| !resource.ends_with("/finalizers"));
    let wanted = grants.flat_map(|(group, resource, verb)| {
        let each: Vec<Option<&str>> = if rbac::is_cluster_scoped(resource) { vec![None] } else { scopes.clone() };
        each.into_iter().map(move |namespace| (group, resource, verb, namespace))
    });
    let checks = wanted.map(|(group, resource, verb, namespace)| {
        let reviews = reviews.clone();
        async move {
            let (resource_name, subresource) = resource.split_once('/').unwrap_or((resource, ""));
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        group: Some(group.to_owned()),
                        resource: Some(resource_name.to_owned()),
                        subresource: Some(subresource.to_owned()).filter(|s| !s.is_empty()),
                        verb: Some(verb.to_owned()),
                        namespace: namespace.map(str::to_owned),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            let allowed =
                reviews.create(&PostParams::default(), &review).await.map(|r| r.status.is_some_and(|s| s.allowed))?;
            let place = namespace.map(|ns| format!(" in namespace {ns}")).unwrap_or_default();
            Ok::<_, kube::Error>((allowed, format!("{verb} {group}/{resource}{place}")))
        }
    });
    let mut denied = Vec::new();
    for result in join_all(checks).await {
        let (allowed, what) = result.map_err(Error::AccessReview)?;
        if !allowed {
            denied.push(what);
        }
    }
    if !denied.is_empty() {
        return Err(Error::Forbidden { missing: denied.join(", ") });
    }
    Ok(())
}

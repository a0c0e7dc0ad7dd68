//! Which namespaces the operator watches, and the Api of a kind within them.

use kube::{
    Api, Client, Resource,
    api::{ApiResource, DynamicObject},
};
use serde::de::DeserializeOwned;

/// Which namespaces the operator watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace.
    All,
    /// One namespace.
    Namespace(String),
    /// Several namespaces (one set of controllers each).
    Namespaces(Vec<String>),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("all namespaces"),
            Self::Namespace(ns) => write!(f, "namespace {ns}"),
            Self::Namespaces(list) => write!(f, "namespaces {}", list.join(", ")),
        }
    }
}

impl Scope {
    /// The scope of `--namespaces a,b`: all namespaces when empty.
    pub fn from_list(namespaces: &[String]) -> Self {
        match namespaces {
            [] => Self::All,
            [one] => Self::Namespace(one.clone()),
            many => Self::Namespaces(many.to_vec()),
        }
    }

    /// Single-namespace (or all-namespace) scopes, one per set of controllers to run.
    pub fn split(&self) -> Vec<Self> {
        match self {
            Self::Namespaces(list) => list.iter().cloned().map(Self::Namespace).collect(),
            other => vec![other.clone()],
        }
    }

    /// The single namespace of this scope, if it is one.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Self::Namespace(ns) => Some(ns),
            _ => None,
        }
    }

    /// An Api for `K` in this scope.
    pub fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        match self {
            Self::Namespace(ns) => Api::namespaced(client.clone(), ns),
            // Several namespaces are split into one scope each before controllers start.
            Self::All | Self::Namespaces(_) => Api::all(client.clone()),
        }
    }

    /// An Api for a dynamic, namespaced resource in this scope.
    pub fn dynamic_api(&self, client: &Client, resource: &ApiResource) -> Api<DynamicObject> {
        match self {
            Self::Namespace(ns) => Api::namespaced_with(client.clone(), ns, resource),
            Self::All | Self::Namespaces(_) => Api::all_with(client.clone(), resource),
        }
    }
}

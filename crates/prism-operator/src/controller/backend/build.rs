//! Pure: a validated backend -> the ConfigMap `<name>-prism-connection` (non-secret facts) and the
//! Secret `<name>-prism-credentials` (URL and credentials) that pattern runners load with `envFrom`,
//! and the hash of both that runner pod templates carry.
//!
//! Keys are environment variable names. ConfigMap: `PRISM_BACKEND_NAME`, `PRISM_BACKEND_TYPE`,
//! `PRISM_BACKEND_PROVIDER`, `PRISM_BACKEND_TLS` (`true`/`false`), and when there is an endpoint
//! `PRISM_BACKEND_HOST`, `PRISM_BACKEND_PORT`, plus `PRISM_BACKEND_DATABASE` and
//! `PRISM_BACKEND_TLS_SECRET` when set. Secret: `PRISM_BACKEND_URL`, `PRISM_BACKEND_USERNAME`,
//! `PRISM_BACKEND_PASSWORD`, each only when known.
//!
//! For the providers KEDA has a scaler for (redis, postgres, rabbitmq) also a KEDA
//! TriggerAuthentication `<name>-prism-keda` mapping the scaler's parameters to those keys, for
//! triggers that name the backend in `backendRef`.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::core::v1::{ConfigMap, Secret},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::api::DynamicObject;
use prism_api::v1alpha1::{BackendProvider, BackendType};
use serde_json::json;

use super::validate::ValidatedBackend;
use crate::naming::{self, connection::*};

/// `app.kubernetes.io/name` of the rendered objects.
pub const APP_NAME: &str = "prism-backend";
/// `app.kubernetes.io/component` of the rendered objects.
pub const COMPONENT: &str = "backend-config";

/// The rendered connection.
pub struct Rendered {
    /// `<name>-prism-connection`.
    pub config_map: ConfigMap,
    /// `<name>-prism-credentials`. No `Debug`: it holds credentials.
    pub secret: Secret,
    /// Hash of both objects' data (`status.configHash`).
    pub hash: String,
}

/// Renders the connection of `v`.
pub fn render(v: &ValidatedBackend) -> Result<Rendered, serde_json::Error> {
    let mut facts = BTreeMap::from([
        (KEY_NAME.to_owned(), v.name.clone()),
        (KEY_TYPE.to_owned(), type_name(v.type_).to_owned()),
        (KEY_PROVIDER.to_owned(), v.provider.as_str().to_owned()),
        (KEY_TLS.to_owned(), v.tls.is_some().to_string()),
    ]);
    if let Some(ep) = &v.endpoint {
        facts.insert(KEY_HOST.to_owned(), ep.host.clone());
        facts.insert(KEY_PORT.to_owned(), ep.port.to_string());
        if let Some(db) = &ep.database {
            facts.insert(KEY_DATABASE.to_owned(), db.clone());
        }
    }
    if let Some(secret) = &v.tls_secret {
        facts.insert(KEY_TLS_SECRET.to_owned(), secret.clone());
    }
    let mut credentials = BTreeMap::new();
    for (key, value) in [
        (KEY_URL, &v.credentials.url),
        (KEY_USERNAME, &v.credentials.username),
        (KEY_PASSWORD, &v.credentials.password),
    ] {
        if let Some(value) = value {
            credentials.insert(key.to_owned(), ByteString(value.expose().as_bytes().to_vec()));
        }
    }
    let hash = crate::canonical::hash(&(&facts, &credentials))?;
    let config_map = ConfigMap {
        metadata: metadata(v, naming::backend_config_map(&v.name)),
        data: Some(facts),
        ..Default::default()
    };
    // `data`, not `stringData`: the API server turns stringData into data, so applying
    // stringData would never match the cached copy and would write on every pass.
    let secret = Secret {
        metadata: metadata(v, naming::backend_secret(&v.name)),
        type_: Some("Opaque".to_owned()),
        data: Some(credentials),
        ..Default::default()
    };
    Ok(Rendered { config_map, secret, hash })
}

/// Where one KEDA scaler parameter comes from: the rendered ConfigMap or Secret, and the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    ConfigMap(&'static str),
    Secret(&'static str),
}

/// The KEDA TriggerAuthentication `<name>-prism-keda` for triggers with `backendRef`: KEDA's
/// parameter names of the provider's scaler, each mapped to the rendered key holding it. Only
/// keys that are rendered are mapped. `None` for providers without such a scaler, and when the
/// backend's address is unknown (no URL).
pub fn trigger_authentication(v: &ValidatedBackend) -> Option<DynamicObject> {
    let has = |value: &Option<_>| value.is_some();
    let endpoint = v.endpoint.as_ref()?;
    let mut params: Vec<(&str, Source)> = match v.provider {
        BackendProvider::Redis => vec![("host", Source::ConfigMap(KEY_HOST)), ("port", Source::ConfigMap(KEY_PORT))],
        BackendProvider::Postgres => {
            let mut p = vec![("host", Source::ConfigMap(KEY_HOST)), ("port", Source::ConfigMap(KEY_PORT))];
            if endpoint.database.is_some() {
                p.push(("dbName", Source::ConfigMap(KEY_DATABASE)));
            }
            p
        }
        // KEDA's rabbitmq scaler takes the whole URL as its host.
        BackendProvider::Rabbitmq if has(&v.credentials.url) => vec![("host", Source::Secret(KEY_URL))],
        _ => return None,
    };
    let user_param = if v.provider == BackendProvider::Postgres { "userName" } else { "username" };
    if has(&v.credentials.username) {
        params.push((user_param, Source::Secret(KEY_USERNAME)));
    }
    if has(&v.credentials.password) {
        params.push(("password", Source::Secret(KEY_PASSWORD)));
    }
    let refs = |secret: bool| {
        params
            .iter()
            .filter_map(|(parameter, source)| match (source, secret) {
                (Source::ConfigMap(key), false) => {
                    Some(json!({"parameter": parameter, "name": naming::backend_config_map(&v.name), "key": key}))
                }
                (Source::Secret(key), true) => {
                    Some(json!({"parameter": parameter, "name": naming::backend_secret(&v.name), "key": key}))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let mut spec = serde_json::Map::new();
    for (field, list) in [("configMapTargetRef", refs(false)), ("secretTargetRef", refs(true))] {
        if !list.is_empty() {
            spec.insert(field.to_owned(), list.into());
        }
    }
    let name = naming::backend_trigger_authentication(&v.name);
    let mut obj = DynamicObject::new(&name, &crate::keda::trigger_authentication_resource()).within(&v.namespace);
    obj.metadata = metadata(v, name);
    obj.data = json!({ "spec": spec });
    Some(obj)
}

fn metadata(v: &ValidatedBackend, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(v.namespace.clone()),
        labels: Some(naming::common_labels(&v.name, APP_NAME, COMPONENT)),
        owner_references: Some(vec![v.owner.clone()]),
        ..Default::default()
    }
}

fn type_name(t: BackendType) -> &'static str {
    match t {
        BackendType::Messaging => "messaging",
        BackendType::Database => "database",
        BackendType::Cache => "cache",
        BackendType::Keyvalue => "keyvalue",
        BackendType::Queue => "queue",
        BackendType::Memory => "memory",
    }
}

#[cfg(test)]
mod tests {
    use prism_api::v1alpha1::BackendProvider;

    use super::*;
    use crate::{
        controller::backend::{
            endpoint,
            validate::{DEFAULT_INTERVAL, DEFAULT_TIMEOUT, HealthCheck},
        },
        credentials::{Credentials, Sensitive},
    };

    fn validated(password: &str) -> ValidatedBackend {
        ValidatedBackend {
            name: "cache".into(),
            namespace: "ns".into(),
            owner: crate::controller::backend::validate::tests::owner(),
            type_: BackendType::Cache,
            provider: BackendProvider::Redis,
            endpoint: Some(endpoint::parse(BackendProvider::Redis, "redis://r:6380/1").expect("url")),
            credentials: Credentials {
                url: Some(Sensitive::new("redis://r:6380/1")),
                username: None,
                password: Some(Sensitive::new(password)),
            },
            tls: None,
            tls_secret: None,
            health: HealthCheck { enabled: true, interval: DEFAULT_INTERVAL, timeout: DEFAULT_TIMEOUT },
        }
    }

    #[test]
    fn renders_env_keys_under_the_documented_names() {
        let r = render(&validated("pw")).expect("render");
        assert_eq!(r.config_map.metadata.name.as_deref(), Some("cache-prism-connection"));
        assert_eq!(r.secret.metadata.name.as_deref(), Some("cache-prism-credentials"));
        let data = r.config_map.data.expect("data");
        let get = |k: &str| data.get(k).map(String::as_str);
        assert_eq!(get(KEY_TYPE), Some("cache"));
        assert_eq!(get(KEY_PROVIDER), Some("redis"));
        assert_eq!(get(KEY_HOST), Some("r"));
        assert_eq!(get(KEY_PORT), Some("6380"));
        assert_eq!(get(KEY_TLS), Some("false"));
        assert_eq!(get(KEY_DATABASE), Some("1"));
        assert!(!data.values().any(|v| v.contains("pw")));
        let secret = r.secret.data.expect("data");
        assert_eq!(secret.get(KEY_PASSWORD), Some(&ByteString(b"pw".to_vec())));
        assert!(!secret.contains_key(KEY_USERNAME), "unknown values are left out");
        assert_eq!(r.secret.string_data, None);
        let owner = &r.secret.metadata.owner_references.expect("owner")[0];
        assert_eq!((owner.uid.as_str(), owner.controller), ("u1", Some(true)));
        let labels = r.config_map.metadata.labels.expect("labels");
        assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("prism-operator"));
    }

    #[test]
    fn trigger_authentication_maps_keda_parameters_to_rendered_keys() {
        let ta = trigger_authentication(&validated("pw")).expect("redis has a KEDA scaler");
        assert_eq!(ta.metadata.name.as_deref(), Some("cache-prism-keda"));
        assert_eq!(
            ta.data["spec"],
            serde_json::json!({
                "configMapTargetRef": [
                    {"parameter": "host", "name": "cache-prism-connection", "key": KEY_HOST},
                    {"parameter": "port", "name": "cache-prism-connection", "key": KEY_PORT}],
                "secretTargetRef": [{"parameter": "password", "name": "cache-prism-credentials", "key": KEY_PASSWORD}]
            }),
            "no username mapped: none is rendered"
        );
        let mut pg = validated("pw");
        pg.provider = BackendProvider::Postgres;
        pg.endpoint = Some(endpoint::parse(BackendProvider::Postgres, "postgres://db:5433/jobs").expect("url"));
        pg.credentials.username = Some(Sensitive::new("app"));
        let ta = trigger_authentication(&pg).expect("postgresql scaler");
        let params: Vec<&str> = ["configMapTargetRef", "secretTargetRef"]
            .iter()
            .flat_map(|f| ta.data["spec"][f].as_array().into_iter().flatten())
            .filter_map(|r| r["parameter"].as_str())
            .collect();
        assert_eq!(params, ["host", "port", "dbName", "userName", "password"]);
        let mut nats = validated("pw");
        nats.provider = BackendProvider::Nats;
        assert!(
            trigger_authentication(&nats).is_none(),
            "nats-jetstream reads a monitoring endpoint the backend does not know"
        );
    }

    #[test]
    fn hash_follows_the_credentials() {
        let a = render(&validated("one")).expect("render").hash;
        assert_eq!(a, render(&validated("one")).expect("render").hash);
        assert_ne!(a, render(&validated("two")).expect("render").hash);
    }
}

//! Invalid PrismBackend specs.

use super::*;

/// A valid NATS backend with `extra` merged in.
fn backend(extra: Value) -> Value {
    let mut b = json!({"type": "messaging", "provider": "nats", "connection": {"url": "nats://nats:4222"}});
    merge(&mut b, extra);
    b
}

/// Connection, provider and health check of a backend.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "connection without url or secretRef",
            kind: "PrismBackend",
            spec: backend(json!({"connection": {"url": null}})),
            expect: &["spec.connection", "connection.url or connection.secretRef is required"],
        },
        Case {
            what: "no connection for nats",
            kind: "PrismBackend",
            spec: json!({"type": "messaging", "provider": "nats"}),
            expect: &["spec", "connection is required for every provider except memstore"],
        },
        Case {
            what: "unknown provider",
            kind: "PrismBackend",
            spec: backend(json!({"provider": "mysql"})),
            expect: &["spec.provider", "Unsupported value: \"mysql\""],
        },
        Case {
            what: "health timeout not below interval",
            kind: "PrismBackend",
            spec: backend(json!({"healthCheck": {"interval": "5s", "timeout": "10s"}})),
            expect: &["spec.healthCheck", "timeout must be shorter than healthCheck.interval"],
        },
    ]
}

//! NATS: the server's INFO, then CONNECT (user and password, when given) and PING, answered by
//! PONG, with the async-nats client; then a flush (another PING/PONG round trip).

use async_nats::{ConnectErrorKind, ConnectOptions};

use super::{AUTHENTICATION_FAILED, CONNECTION_FAILED, Health, TIMEOUT, TLS_ERROR, Target, tls};

/// One check.
pub async fn check(target: &Target) -> Health {
    let address = target.endpoint.address();
    // connect() fails fast on the first error: retry_on_initial_connect is off by default.
    let mut options = ConnectOptions::new().connection_timeout(target.timeout).name("prism-operator-health-check");
    if let (Some(user), Some(password)) = (&target.username, &target.password) {
        options = options.user_and_password(user.expose().to_owned(), password.expose().to_owned());
    }
    if let Some(material) = &target.tls {
        match tls::client_config(material) {
            Ok(config) => options = options.tls_client_config(config).require_tls(true),
            Err(e) => return Health::unhealthy(TLS_ERROR, format!("nats at {address}: {e}")),
        }
    }
    let scheme = if target.tls.is_some() { "tls" } else { "nats" };
    let url = format!("{scheme}://{address}");
    let client = match options.connect(url.as_str()).await {
        Ok(c) => c,
        Err(e) => {
            let (reason, what) = match e.kind() {
                ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
                    (AUTHENTICATION_FAILED, "authentication failed")
                }
                ConnectErrorKind::Tls => (TLS_ERROR, "TLS handshake failed"),
                ConnectErrorKind::TimedOut => (TIMEOUT, "timed out"),
                _ => (CONNECTION_FAILED, "cannot connect"),
            };
            return Health::unhealthy(reason, format!("nats at {address}: {what}: {e}"));
        }
    };
    let version = client.server_info().version;
    let result = client.flush().await;
    drop(client);
    match result {
        Ok(()) => Health::Healthy(format!("nats at {address} answered INFO (server {version}) and PING with PONG")),
        Err(e) => Health::unhealthy(CONNECTION_FAILED, format!("nats at {address}: {e}")),
    }
}

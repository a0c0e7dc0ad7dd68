//! Redis: connect (HELLO/AUTH with the credentials, when given), then `PING` expecting `PONG`,
//! with the redis crate.

use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisConnectionInfo, TlsCertificates,
};

use super::{AUTHENTICATION_FAILED, Health, PROTOCOL_ERROR, Target, failed};

/// One check.
pub async fn check(target: &Target) -> Health {
    let address = target.endpoint.address();
    let host = target.endpoint.host.clone();
    let port = target.endpoint.port;
    let addr = if target.tls.is_some() {
        ConnectionAddr::TcpTls { host, port, insecure: false, tls_params: None }
    } else {
        ConnectionAddr::Tcp(host, port)
    };
    let mut settings = RedisConnectionInfo::default().set_skip_set_lib_name();
    if let Some(user) = &target.username {
        settings = settings.set_username(user.expose());
    }
    if let Some(password) = &target.password {
        settings = settings.set_password(password.expose());
    }
    let info = match addr.into_connection_info() {
        Ok(info) => info.set_redis_settings(settings),
        Err(e) => return failed("redis", &address, e.to_string()),
    };
    let client = match &target.tls {
        None => Client::open(info),
        Some(material) => Client::build_with_tls(
            info,
            TlsCertificates {
                client_tls: match (&material.client_cert_pem, &material.client_key_pem) {
                    (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                        client_cert: cert.clone().into_bytes(),
                        client_key: key.expose().as_bytes().to_vec(),
                    }),
                    _ => None,
                },
                root_cert: material.ca_pem.clone().map(String::into_bytes),
            },
        ),
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => return failed("redis", &address, e.to_string()),
    };
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(target.timeout))
        .set_response_timeout(Some(target.timeout));
    let mut con = match client.get_multiplexed_async_connection_with_config(&config).await {
        Ok(con) => con,
        Err(e) => return from_error("redis", &address, &e),
    };
    match redis::cmd("PING").query_async::<String>(&mut con).await {
        Ok(pong) if pong == "PONG" => Health::Healthy(format!("redis at {address} answered PING with PONG")),
        Ok(other) => Health::unhealthy(PROTOCOL_ERROR, format!("redis at {address} answered PING with {other:?}")),
        Err(e) => from_error("redis", &address, &e),
    }
}

fn from_error(provider: &str, address: &str, e: &redis::RedisError) -> Health {
    if e.kind() == ErrorKind::AuthenticationFailed {
        return Health::unhealthy(
            AUTHENTICATION_FAILED,
            format!("{provider} at {address}: authentication failed: {e}"),
        );
    }
    failed(provider, address, e.to_string())
}

//! PostgreSQL: startup and authentication (with the credentials, when given), then `SELECT 1`,
//! with tokio-postgres (TLS through tokio-postgres-rustls).

use tokio_postgres::{Config, NoTls, error::SqlState};

use super::{AUTHENTICATION_FAILED, CONNECTION_FAILED, Health, PROTOCOL_ERROR, TLS_ERROR, Target, failed, tls};

/// Database connected to when the URL names none.
const DEFAULT_DATABASE: &str = "postgres";
/// User connected as when neither the Secret nor the URL names one.
const DEFAULT_USER: &str = "postgres";

/// One check.
pub async fn check(target: &Target) -> Health {
    let address = target.endpoint.address();
    let mut config = Config::new();
    config
        .host(&target.endpoint.host)
        .port(target.endpoint.port)
        .dbname(target.endpoint.database.as_deref().unwrap_or(DEFAULT_DATABASE))
        .user(target.username.as_ref().map_or(DEFAULT_USER, |u| u.expose()))
        .application_name("prism-operator-health-check")
        .connect_timeout(target.timeout);
    if let Some(password) = &target.password {
        config.password(password.expose());
    }
    let connected = match &target.tls {
        None => config.connect(NoTls).await.map(|(c, conn)| (c, tokio::spawn(async move { conn.await.ok() }))),
        Some(material) => {
            let tls_config = match tls::client_config(material) {
                Ok(c) => c,
                Err(e) => {
                    return Health::unhealthy(TLS_ERROR, format!("postgres at {address}: {e}"));
                }
            };
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config);
            config.connect(tls).await.map(|(c, conn)| (c, tokio::spawn(async move { conn.await.ok() })))
        }
    };
    let (client, connection) = match connected {
        Ok(pair) => pair,
        Err(e) => return from_error(&address, &e),
    };
    let result = client.simple_query("SELECT 1").await;
    drop(client);
    connection.abort();
    match result {
        Ok(rows) if !rows.is_empty() => {
            Health::Healthy(format!("postgres at {address} accepted the login and answered SELECT 1"))
        }
        Ok(_) => Health::unhealthy(PROTOCOL_ERROR, format!("postgres at {address} answered SELECT 1 with nothing")),
        Err(e) => from_error(&address, &e),
    }
}

fn from_error(address: &str, e: &tokio_postgres::Error) -> Health {
    let auth_codes = [SqlState::INVALID_PASSWORD, SqlState::INVALID_AUTHORIZATION_SPECIFICATION];
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            // The Display of a non-server error is terse ("error connecting to server"); add
            // the cause (e.g. "Connection refused").
            match std::error::Error::source(e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            }
        }
    };
    if e.code().is_some_and(|c| auth_codes.contains(c)) {
        return Health::unhealthy(
            AUTHENTICATION_FAILED,
            format!("postgres at {address}: authentication failed: {text}"),
        );
    }
    // A server shutting down, starting up or recovering answers the startup with one of these
    // instead of refusing the connection: it is as unreachable as a stopped one.
    let unavailable = [SqlState::CANNOT_CONNECT_NOW, SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN];
    if e.code().is_some_and(|c| unavailable.contains(c)) {
        return Health::unhealthy(CONNECTION_FAILED, format!("cannot connect to postgres at {address}: {text}"));
    }
    failed("postgres", address, text)
}

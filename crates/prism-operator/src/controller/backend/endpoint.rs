//! Pure: a backend connection URL -> host, port, TLS hint, database and embedded credentials.
//!
//! Accepted forms: `scheme://[user[:password]@]host[:port][/path][?query]`, `host[:port]`, and
//! comma-separated host lists (`kafka://b1:9092,b2:9092`, NATS cluster URLs) of which the first
//! is used for health checks. IPv6 hosts go in brackets. Errors never quote the URL (it may hold a
//! password): they say what is wrong with it.

use percent_encoding::percent_decode_str;
use prism_api::v1alpha1::BackendProvider;

use crate::credentials::Sensitive;

/// Where a backend listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port (the provider's default when the URL gives none).
    pub port: u16,
    /// The URL asks for TLS (`rediss://`, `tls://`, `amqps://`, `sslmode=require`).
    pub tls: bool,
    /// Database named by the path (PostgreSQL), if any.
    pub database: Option<String>,
    /// User name embedded in the URL.
    pub username: Option<Sensitive>,
    /// Password embedded in the URL.
    pub password: Option<Sensitive>,
}

impl Endpoint {
    /// `host:port`, with brackets around IPv6 addresses: safe to show (no credentials).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Why a URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The scheme names a different provider.
    #[error("the URL scheme {scheme:?} does not match provider {provider}")]
    SchemeMismatch {
        /// The scheme found.
        scheme: String,
        /// The provider of the spec.
        provider: &'static str,
    },
    /// The URL has no host.
    #[error("the URL has no host")]
    MissingHost,
    /// The host contains characters no host name or IP address has.
    #[error("the URL's host is not a valid host name or IP address")]
    InvalidHost,
    /// The port is not a number from 1 to 65535.
    #[error("the URL's port is not a number from 1 to 65535")]
    InvalidPort,
}

/// The port a provider listens on by default (`amqps` and TLS RabbitMQ: 5671).
pub fn default_port(provider: BackendProvider, tls: bool) -> u16 {
    match provider {
        BackendProvider::Redis => 6379,
        BackendProvider::Nats => 4222,
        BackendProvider::Kafka => 9092,
        BackendProvider::Postgres => 5432,
        BackendProvider::Rabbitmq if tls => 5671,
        BackendProvider::Rabbitmq => 5672,
        BackendProvider::Memstore => 0,
    }
}

/// Parses `url` for `provider`.
pub fn parse(provider: BackendProvider, url: &str) -> Result<Endpoint, UrlError> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, url),
    };
    if let Some(scheme) = &scheme {
        let matches = BackendProvider::from_name(scheme) == Some(provider)
            || (provider == BackendProvider::Nats && scheme == "nats+tls");
        if !matches {
            return Err(UrlError::SchemeMismatch { scheme: scheme.clone(), provider: provider.as_str() });
        }
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            let (user, pass) = match info.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (info, None),
            };
            let decode = |s: &str| Sensitive::new(percent_decode_str(s).decode_utf8_lossy());
            (Some(user).filter(|u| !u.is_empty()).map(decode), pass.map(decode))
        }
    };
    let first = hosts.split(',').next().unwrap_or_default();
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, q),
        None => (tail, ""),
    };
    let query = query.split('#').next().unwrap_or_default();
    let tls = matches!(scheme.as_deref(), Some("rediss" | "tls" | "nats+tls" | "amqps"))
        || query.split('&').any(|kv| matches!(kv, "sslmode=require" | "sslmode=verify-ca" | "sslmode=verify-full"));
    let (host, port) = split_host_port(first)?;
    let port = match port {
        Some(p) => p,
        None => default_port(provider, tls),
    };
    let database = path
        .trim_start_matches('/')
        .split('#')
        .next()
        .filter(|d| !d.is_empty())
        .map(|d| percent_decode_str(d).decode_utf8_lossy().into_owned());
    Ok(Endpoint { host, port, tls, database, username, password })
}

fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), UrlError> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(UrlError::InvalidHost)?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(UrlError::InvalidHost);
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::InvalidPort)?),
        };
        (host, port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let valid_name = host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if !valid_name || host.len() > 253 {
        return Err(UrlError::InvalidHost);
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(UrlError::InvalidPort),
        },
    };
    Ok((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use BackendProvider::*;

    fn ok(p: BackendProvider, url: &str) -> Endpoint {
        parse(p, url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn parses_each_providers_urls() {
        let e = ok(Redis, "redis://user:p%40ss@Cache.svc:6380/2");
        assert_eq!((e.host.as_str(), e.port, e.tls), ("cache.svc", 6380, false));
        assert_eq!(e.username.as_ref().map(Sensitive::expose), Some("user"));
        assert_eq!(e.password.as_ref().map(Sensitive::expose), Some("p@ss"));
        assert_eq!(ok(Redis, "rediss://h").port, 6379);
        assert!(ok(Redis, "rediss://h").tls);
        let e = ok(Nats, "nats://nats.prism-system.svc.cluster.local:4222");
        assert_eq!(e.address(), "nats.prism-system.svc.cluster.local:4222");
        assert!(ok(Nats, "tls://n:4443").tls);
        let e = ok(Kafka, "kafka://b1:9093,b2:9093");
        assert_eq!(e.address(), "b1:9093");
        assert_eq!(ok(Kafka, "b1,b2:9094").address(), "b1:9092");
        let e = ok(Postgres, "postgresql://app@db:5433/orders?sslmode=require");
        assert_eq!((e.database.as_deref(), e.tls, e.port), (Some("orders"), true, 5433));
        assert_eq!(e.password, None);
        assert_eq!(ok(Rabbitmq, "amqps://mq").port, 5671);
        assert_eq!(ok(Rabbitmq, "amqp://mq/vhost").port, 5672);
        assert_eq!(ok(Redis, "[::1]:7000").address(), "[::1]:7000");
        assert_eq!(ok(Redis, "127.0.0.1").address(), "127.0.0.1:6379");
    }

    #[test]
    fn rejects_unusable_urls_without_quoting_them() {
        assert_eq!(
            parse(Redis, "nats://h"),
            Err(UrlError::SchemeMismatch { scheme: "nats".into(), provider: "redis" })
        );
        assert_eq!(parse(Redis, "redis://"), Err(UrlError::MissingHost));
        assert_eq!(parse(Redis, "redis://:pw@/0"), Err(UrlError::MissingHost));
        assert_eq!(parse(Redis, "redis://h:99999"), Err(UrlError::InvalidPort));
        assert_eq!(parse(Redis, "redis://h:abc"), Err(UrlError::InvalidPort));
        assert_eq!(parse(Redis, "redis://h:0"), Err(UrlError::InvalidPort));
        assert_eq!(parse(Redis, "redis://ho st"), Err(UrlError::InvalidHost));
        assert_eq!(parse(Redis, "redis://[zz]:1"), Err(UrlError::InvalidHost));
        let err = parse(Redis, "redis://u:secret@h:bad").expect_err("bad port");
        assert!(!err.to_string().contains("secret"));
    }
}

//! Redis (`redis-server`), plain or TLS-only.

use std::ffi::OsString;

use super::{Launch, ServerError, TestServer, find, root};
use crate::{certs::Ca, datadir::DataDir, ports::free_port};

impl TestServer {
    /// A Redis server; with `password`, clients must AUTH with it.
    pub async fn redis(password: Option<&str>) -> Result<Self, ServerError> {
        let program = find("redis-server", "redis-server", &[])?;
        let dir = DataDir::create(&root(), false)?;
        let port = free_port()?;
        let mut args: Vec<OsString> =
            ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                .map(OsString::from)
                .to_vec();
        args.extend(["--dir".into(), dir.path().into()]);
        if let Some(pw) = password {
            args.extend(["--requirepass".into(), pw.into()]);
        }
        Self::launch(Launch::new("redis-server", port, program, args, dir.path().to_owned()), dir).await
    }

    /// A Redis server speaking only TLS, with a certificate for `127.0.0.1` and `localhost` from a
    /// fresh CA. Returns the server and the CA certificate (PEM).
    pub async fn redis_tls(password: Option<&str>) -> Result<(Self, String), ServerError> {
        let program = find("redis-server", "redis-server", &[])?;
        let dir = DataDir::create(&root(), false)?;
        let ca = Ca::generate("redis-test-ca")?;
        let pair = ca.serving_cert("redis", vec!["127.0.0.1".into(), "localhost".into()])?;
        let cert = dir.write("redis.crt", &pair.cert_pem)?;
        let key = dir.write("redis.key", &pair.key_pem)?;
        let ca_file = dir.write("ca.crt", &ca.cert_pem)?;
        let port = free_port()?;
        let mut args: Vec<OsString> =
            ["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                .map(OsString::from)
                .to_vec();
        args.extend([
            "--tls-cert-file".into(),
            cert.into(),
            "--tls-key-file".into(),
            key.into(),
            "--tls-ca-cert-file".into(),
            ca_file.into(),
            "--tls-auth-clients".into(),
            "no".into(),
            "--dir".into(),
            dir.path().into(),
        ]);
        if let Some(pw) = password {
            args.extend(["--requirepass".into(), pw.into()]);
        }
        let server = Self::launch(Launch::new("redis-server", port, program, args, dir.path().to_owned()), dir).await?;
        Ok((server, ca.cert_pem))
    }
}

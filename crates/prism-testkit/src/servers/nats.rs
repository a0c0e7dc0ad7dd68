//! NATS (`nats-server`), optionally with JetStream and its HTTP monitoring port (which KEDA's
//! nats-jetstream scaler reads), and the JetStream requests the autoscaling tests need.

use std::ffi::OsString;

use serde_json::json;

use super::{Launch, ServerError, TestServer, find, root};
use crate::{datadir::DataDir, ports::free_port};

impl TestServer {
    /// A NATS server; with `credentials` (user, password), clients must CONNECT with them.
    pub async fn nats(credentials: Option<(&str, &str)>) -> Result<Self, ServerError> {
        let program = find("nats-server", "nats-server", &[])?;
        let dir = DataDir::create(&root(), false)?;
        let port = free_port()?;
        let mut args: Vec<OsString> = ["-a", "127.0.0.1", "-p", &port.to_string()].map(OsString::from).to_vec();
        if let Some((user, pw)) = credentials {
            args.extend(["--user".into(), user.into(), "--pass".into(), pw.into()]);
        }
        Self::launch(Launch::new("nats-server", port, program, args, dir.path().to_owned()), dir).await
    }

    /// A NATS server with JetStream (stored in its data directory) and the HTTP monitoring
    /// endpoint on the port named `monitoring`.
    pub async fn nats_jetstream() -> Result<Self, ServerError> {
        let program = find("nats-server", "nats-server", &[])?;
        let dir = DataDir::create(&root(), false)?;
        let (port, monitoring) = (free_port()?, free_port()?);
        let mut args: Vec<OsString> =
            ["-a", "127.0.0.1", "-p", &port.to_string(), "-m", &monitoring.to_string(), "-js"]
                .map(OsString::from)
                .to_vec();
        args.extend(["-sd".into(), dir.path().join("jetstream").into()]);
        let mut launch = Launch::new("nats-server", port, program, args, dir.path().to_owned());
        launch.ports.push(("monitoring", monitoring));
        Self::launch(launch, dir).await
    }
}

/// JetStream requests to a NATS server, through its `$JS.API` subjects.
#[derive(Debug)]
pub struct JetStream {
    client: async_nats::Client,
}

impl JetStream {
    /// Connects to the server on `port` (127.0.0.1).
    pub async fn connect(port: u16) -> Result<Self, ServerError> {
        let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
            .await
            .map_err(|e| ServerError::Setup { what: "connect to NATS".into(), message: e.to_string() })?;
        Ok(Self { client })
    }

    async fn api(
        &self,
        what: &str,
        subject: String,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, ServerError> {
        let failed = |message: String| ServerError::Setup { what: what.to_owned(), message };
        let reply = self.client.request(subject, body.to_string().into()).await.map_err(|e| failed(e.to_string()))?;
        let answer: serde_json::Value = serde_json::from_slice(&reply.payload).map_err(|e| failed(e.to_string()))?;
        match answer.get("error") {
            Some(error) => Err(failed(error.to_string())),
            None => Ok(answer),
        }
    }

    /// Creates the stream `name` holding the messages published to `subject`.
    pub async fn create_stream(&self, name: &str, subject: &str) -> Result<(), ServerError> {
        let config = json!({"name": name, "subjects": [subject], "storage": "memory"});
        self.api("create a JetStream stream", format!("$JS.API.STREAM.CREATE.{name}"), config).await.map(drop)
    }

    /// Creates the durable pull consumer `durable` on `stream`, starting at the first message.
    pub async fn create_consumer(&self, stream: &str, durable: &str) -> Result<(), ServerError> {
        let config = json!({"stream_name": stream, "config": {"durable_name": durable, "ack_policy": "explicit", "deliver_policy": "all"}});
        self.api("create a JetStream consumer", format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}"), config)
            .await
            .map(drop)
    }

    /// Publishes `count` messages to `subject` and waits until the stream stored each one.
    pub async fn publish(&self, subject: &str, count: usize) -> Result<(), ServerError> {
        for i in 0..count {
            // A request, not a plain publish: JetStream acknowledges what it stored.
            let ack = self
                .client
                .request(subject.to_owned(), format!("job-{i}").into())
                .await
                .map_err(|e| ServerError::Setup { what: "publish to JetStream".into(), message: e.to_string() })?;
            if !String::from_utf8_lossy(&ack.payload).contains("\"seq\"") {
                return Err(ServerError::Setup {
                    what: "publish to JetStream".into(),
                    message: String::from_utf8_lossy(&ack.payload).into_owned(),
                });
            }
        }
        Ok(())
    }

    /// Removes every message from `stream` (its consumers have nothing pending afterwards).
    pub async fn purge(&self, stream: &str) -> Result<(), ServerError> {
        self.api("purge a JetStream stream", format!("$JS.API.STREAM.PURGE.{stream}"), json!({})).await.map(drop)
    }
}

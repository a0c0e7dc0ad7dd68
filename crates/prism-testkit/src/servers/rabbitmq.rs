//! RabbitMQ (the rabbitmq-server Debian package) with its management plugin, on free ports, with
//! its own Erlang port mapper (epmd) so that nothing outlives the test.

use std::{ffi::OsString, path::PathBuf};

use serde_json::json;

use super::{Launch, ServerError, TestServer, find, http, root, setup};
use crate::{datadir::DataDir, ports::free_port};

/// The user RabbitMQ creates on first start; it may only log in from loopback.
pub const RABBITMQ_USER: &str = "guest";
/// Its password.
pub const RABBITMQ_PASSWORD: &str = "guest";

/// A running RabbitMQ node and the epmd it registers with.
#[derive(Debug)]
pub struct RabbitMq {
    server: TestServer,
    _epmd: TestServer,
}

impl RabbitMq {
    /// Starts a node with the management plugin. Takes about 10 s (Erlang boot and plugins).
    pub async fn start() -> Result<Self, ServerError> {
        let program = ["/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/sbin/rabbitmq-server"]
            .map(PathBuf::from)
            .into_iter()
            .find(|p| p.is_file())
            .ok_or(ServerError::NotInstalled { binary: "rabbitmq-server", package: "rabbitmq-server" })?;
        let epmd_program = find("epmd", "erlang-base", &[])?;
        let dir = DataDir::create(&root(), false)?;
        let [amqp, management, dist, epmd_port] = [free_port()?, free_port()?, free_port()?, free_port()?];

        let epmd_dir = DataDir::create(&root(), false)?;
        let epmd_args: Vec<OsString> =
            ["-port", &epmd_port.to_string(), "-address", "127.0.0.1"].map(OsString::from).to_vec();
        let epmd = TestServer::launch(
            Launch::new("epmd", epmd_port, epmd_program, epmd_args, epmd_dir.path().to_owned()),
            epmd_dir,
        )
        .await?;

        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).map_err(setup(format!("write {name}")))?;
            Ok::<_, ServerError>(path)
        };
        let plugins = write("enabled_plugins", "[rabbitmq_management].\n".into())?;
        // Queue statistics every second (default 5 s): the management API, and KEDA's http
        // protocol, read queue lengths from them.
        let config = write(
            "rabbitmq.conf",
            format!(
                "listeners.tcp.default = 127.0.0.1:{amqp}\nmanagement.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {management}\ncollect_statistics_interval = 1000\n"
            ),
        )?;
        let path = |sub: &str| dir.path().join(sub).into_os_string();
        let env: Vec<(OsString, OsString)> = vec![
            ("HOME".into(), dir.path().into()),
            ("RABBITMQ_NODENAME".into(), format!("rabbit-{amqp}@localhost").into()),
            ("RABBITMQ_DIST_PORT".into(), dist.to_string().into()),
            ("ERL_EPMD_PORT".into(), epmd_port.to_string().into()),
            ("RABBITMQ_MNESIA_BASE".into(), path("mnesia")),
            ("RABBITMQ_LOG_BASE".into(), path("log")),
            ("RABBITMQ_LOGS".into(), "-".into()),
            ("RABBITMQ_PLUGINS_EXPAND_DIR".into(), path("plugins")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE".into(), plugins.into()),
            ("RABBITMQ_CONFIG_FILE".into(), config.into()),
            // Run the VM in place of the wrapper script, so that it is the process we signal.
            ("RUNNING_UNDER_SYSTEMD".into(), "true".into()),
        ];
        let mut launch = Launch::new("rabbitmq", amqp, program, Vec::new(), dir.path().to_owned());
        launch.ports.extend([("management", management), ("distribution", dist)]);
        launch.env = env;
        let server = TestServer::launch(launch, dir).await?;
        Ok(Self { server, _epmd: epmd })
    }

    /// The AMQP URL, with the default user's credentials.
    pub fn amqp_url(&self) -> String {
        format!("amqp://{RABBITMQ_USER}:{RABBITMQ_PASSWORD}@127.0.0.1:{}/", self.server.port())
    }

    /// The management API's base URL (`http://127.0.0.1:<port>`), for KEDA's http protocol.
    pub fn management_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.management_port())
    }

    fn management_port(&self) -> u16 {
        self.server.named_port("management").unwrap_or_default()
    }

    async fn api(&self, what: &str, method: &str, path: &str, body: serde_json::Value) -> Result<String, ServerError> {
        let headers = [
            ("authorization", http::basic_auth(RABBITMQ_USER, RABBITMQ_PASSWORD)),
            ("content-type", "application/json".to_owned()),
        ];
        let body = if body.is_null() { String::new() } else { body.to_string() };
        http::request(what, method, &format!("{}/api{path}", self.management_url()), &headers, body).await
    }

    /// Declares the (non-durable) queue `name` on the default vhost.
    pub async fn declare_queue(&self, name: &str) -> Result<(), ServerError> {
        self.api("declare a RabbitMQ queue", "PUT", &format!("/queues/%2F/{name}"), json!({"durable": false}))
            .await
            .map(drop)
    }

    /// Publishes `count` messages to the queue `name` (through the default exchange).
    pub async fn publish(&self, name: &str, count: usize) -> Result<(), ServerError> {
        for i in 0..count {
            let message = json!({"properties": {}, "routing_key": name, "payload": format!("job-{i}"), "payload_encoding": "string"});
            let answer = self.api("publish to RabbitMQ", "POST", "/exchanges/%2F/amq.default/publish", message).await?;
            if !answer.contains("\"routed\":true") {
                return Err(ServerError::Setup { what: "publish to RabbitMQ".into(), message: answer });
            }
        }
        Ok(())
    }

    /// Removes every message from the queue `name`.
    pub async fn purge(&self, name: &str) -> Result<(), ServerError> {
        self.api("purge a RabbitMQ queue", "DELETE", &format!("/queues/%2F/{name}/contents"), serde_json::Value::Null)
            .await
            .map(drop)
    }
}

//! Apache Kafka as one KRaft node (broker and controller in one JVM), from its Maven artifacts
//! (`tools/kafka/fetch.sh`), and the broker's own command-line tools to create a topic, produce
//! messages and move a consumer group's committed offsets.

use std::{
    ffi::OsString,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use super::{Launch, ServerError, TestServer, find, root, setup};
use crate::{binaries::KAFKA, datadir::DataDir, ports::free_port};

/// Cluster id the storage is formatted with (any 16 bytes, base64url without padding).
const CLUSTER_ID: &str = "UHJpc21PcGVyYXRvcg";
/// The log line the broker prints once it serves clients.
const READY_LINE: &str = "Kafka Server started";

/// Where a consumer group's committed offsets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offsets {
    /// The start of each partition: the group lags by every message.
    Earliest,
    /// The end of each partition: no lag.
    Latest,
}

/// A running single-node Kafka.
#[derive(Debug)]
pub struct Kafka {
    server: TestServer,
    tools: Tools,
}

/// The JVM and the fetched jars.
#[derive(Debug)]
struct Tools {
    java: PathBuf,
    home: PathBuf,
}

impl Kafka {
    /// Formats the storage and starts the node; takes a few seconds (JVM start).
    pub async fn start() -> Result<Self, ServerError> {
        let home = KAFKA.locate()?;
        let java = find("java", "openjdk-17-jre-headless", &[])?;
        let dir = DataDir::create(&root(), false)?;
        let (broker, controller) = (free_port()?, free_port()?);
        let properties = dir.path().join("server.properties");
        let data = dir.path().join("data");
        std::fs::write(&properties, server_properties(broker, controller, &data))
            .map_err(setup("write server.properties"))?;
        let tools = Tools { java, home };
        let props = properties.to_string_lossy().into_owned();
        tools.run("kafka.tools.StorageTool", &["format", "--config", &props, "--cluster-id", CLUSTER_ID], None).await?;
        let mut args = tools.jvm_args("256m");
        args.extend(["kafka.Kafka".into(), properties.into()]);
        let mut launch = Launch::new("kafka", broker, tools.java.clone(), args, dir.path().to_owned());
        launch.ports.push(("controller", controller));
        launch.ready_line = Some(READY_LINE);
        Ok(Self { server: TestServer::launch(launch, dir).await?, tools })
    }

    /// `host:port` of the broker (KEDA's `bootstrapServers`).
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.server.port())
    }

    /// The server, to stop and start it.
    pub fn server(&mut self) -> &mut TestServer {
        &mut self.server
    }

    async fn tool(&self, main: &str, args: &[&str], stdin: Option<String>) -> Result<String, ServerError> {
        self.tools.run(main, args, stdin).await
    }

    /// Creates `topic` with `partitions` partitions.
    pub async fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), ServerError> {
        let (bootstrap, partitions) = (self.bootstrap(), partitions.to_string());
        let args = ["--bootstrap-server", &bootstrap, "--create", "--topic", topic, "--partitions", &partitions];
        self.tool("org.apache.kafka.tools.TopicCommand", &[&args[..], &["--replication-factor", "1"]].concat(), None)
            .await
            .map(drop)
    }

    /// Produces `count` messages to `topic`, spread evenly over its partitions.
    pub async fn produce(&self, topic: &str, count: usize) -> Result<(), ServerError> {
        let bootstrap = self.bootstrap();
        let lines: String = (0..count).map(|i| format!("job-{i}\n")).collect();
        let args = [
            "--bootstrap-server",
            &bootstrap,
            "--topic",
            topic,
            "--command-property",
            "partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner",
        ];
        self.tool("org.apache.kafka.tools.ConsoleProducer", &args, Some(lines)).await.map(drop)
    }

    /// Commits `group`'s offsets on `topic` at `to` (the group must have no active members);
    /// creates the group if needed.
    pub async fn reset_offsets(&self, group: &str, topic: &str, to: Offsets) -> Result<(), ServerError> {
        let bootstrap = self.bootstrap();
        let to = match to {
            Offsets::Earliest => "--to-earliest",
            Offsets::Latest => "--to-latest",
        };
        let args =
            ["--bootstrap-server", &bootstrap, "--group", group, "--topic", topic, "--reset-offsets", to, "--execute"];
        self.tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", &args, None).await.map(drop)
    }
}

impl Tools {
    fn jvm_args(&self, heap: &str) -> Vec<OsString> {
        let config = self.home.join("config/log4j2.properties");
        vec![
            format!("-Xmx{heap}").into(),
            "-XX:+UseSerialGC".into(),
            // Short-lived tools and a small broker: the first JIT tier starts fastest.
            "-XX:TieredStopAtLevel=1".into(),
            format!("-Dlog4j2.configurationFile={}", config.display()).into(),
            "-cp".into(),
            self.home.join("lib/*").into(),
        ]
    }

    /// Runs one of Kafka's tools (`main` class) to completion, with `stdin` if given.
    async fn run(&self, main: &str, args: &[&str], stdin: Option<String>) -> Result<String, ServerError> {
        let mut command = Command::new(&self.java);
        command.args(self.jvm_args("128m")).arg(main).args(args);
        command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let what = format!("run {main} {}", args.first().copied().unwrap_or_default());
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn()?;
            if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
                pipe.write_all(input.as_bytes())?;
            }
            child.wait_with_output()
        })
        .await
        .map_err(|e| ServerError::Setup { what: what.clone(), message: e.to_string() })?
        .map_err(setup(what.clone()))?;
        if !output.status.success() {
            return Err(ServerError::Setup {
                what,
                message: format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr)),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// A single node that is broker and controller, on loopback, small.
fn server_properties(broker: u16, controller: u16, data: &Path) -> String {
    format!(
        "process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{broker}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
controller.quorum.voters=1@127.0.0.1:{controller}
log.dirs={}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=1
num.io.threads=2
background.threads=2
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=2097152
",
        data.display()
    )
}

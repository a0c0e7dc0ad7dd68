//! `prism-operator`: the command line of the Prism operator.
#![forbid(unsafe_code)]

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use prism_operator::{
    config::Defaults,
    controller::Scope,
    leader,
    runtime::{self, Services, Settings},
    server, startup,
    telemetry::{self, LogFormat},
};

/// The Prism Kubernetes operator.
#[derive(Debug, Parser)]
#[command(name = "prism-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at startup: the size of the `run` variant's arguments costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controllers against the cluster of the current kubeconfig (or in-cluster config).
    Run(RunArgs),
    /// Print the operator's ClusterRole (exactly the permissions the code uses) as YAML.
    Rbac {
        /// Print instead the namespaced install's Role: the namespaced rules, for each watched namespace.
        #[arg(long, conflicts_with = "cluster_reader_role")]
        namespaced_role: bool,
        /// Print instead the namespaced install's ClusterRole: reads of the cluster-scoped kinds.
        #[arg(long)]
        cluster_reader_role: bool,
    },
    /// Print the four CustomResourceDefinitions as YAML, or write one file each to a directory.
    Crd {
        /// Write `<group>_<plural>.yaml` files into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Namespaces to watch, comma-separated (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACES", value_delimiter = ',', alias = "namespace")]
    namespaces: Vec<String>,
    /// Run the controllers only while holding the leader lease (for several replicas).
    #[arg(long, env = "LEADER_ELECT")]
    leader_elect: bool,
    /// Name of the leader lease.
    #[arg(long, env = "LEADER_ELECTION_ID", default_value = "prism-operator-leader")]
    leader_election_id: String,
    /// Namespace of the leader lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// How long a leader lease is valid without renewal (whole seconds).
    #[arg(long, env = "LEASE_DURATION", default_value = "15s", value_parser = prism_operator::go_duration::parse)]
    lease_duration: Duration,
    /// How long the leader keeps renewing before giving up; it renews `lease-duration -
    /// renew-deadline` before expiry (whole seconds).
    #[arg(long, env = "RENEW_DEADLINE", default_value = "10s", value_parser = prism_operator::go_duration::parse)]
    renew_deadline: Duration,
    /// How often a standby retries the lease (kept for compatibility; the lease manager retries
    /// on its own backoff).
    #[arg(long, env = "RETRY_PERIOD", default_value = "2s", value_parser = prism_operator::go_duration::parse)]
    retry_period: Duration,
    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(long, env = "METRICS_BIND_ADDRESS", default_value = "0.0.0.0:8080")]
    metrics_bind_address: SocketAddr,
    /// Address of the `/healthz` and `/readyz` endpoints.
    #[arg(long, env = "HEALTH_PROBE_BIND_ADDRESS", default_value = "0.0.0.0:8081")]
    health_probe_bind_address: SocketAddr,
    /// Log filter, e.g. `info` or `info,prism_operator=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", alias = "zap-log-level")]
    log_level: String,
    /// Log format: `text` for terminals, `json` for clusters.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// OTLP/gRPC endpoint to export traces to (e.g. `http://otel-collector:4317`).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Registry and repository prefix of default Prism images.
    #[arg(long, env = "PRISM_IMAGE_REGISTRY", default_value = "ghcr.io/prism")]
    image_registry: String,
    /// Tag of default Prism images.
    #[arg(long, env = "PRISM_IMAGE_TAG", default_value = "latest")]
    image_tag: String,
    /// Reconciles running at once, per controller.
    #[arg(long, env = "PRISM_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Prism admin gRPC endpoint (e.g. `http://127.0.0.1:8981`) for every PrismNamespace without
    /// the `prism.io/admin-endpoint` annotation; for runs outside the cluster, where the admin
    /// Service's DNS name does not resolve. Unset: found from each PrismNamespace's proxyRef.
    #[arg(long, env = "PRISM_ADMIN_ENDPOINT")]
    admin_endpoint: Option<String>,
    /// How long deleting a PrismNamespace retries RevokeNamespace on an unreachable admin before
    /// it removes the finalizer anyway (a duration such as `5m`).
    #[arg(long, env = "PRISM_REVOKE_GRACE_PERIOD", default_value = "5m", value_parser = prism_operator::go_duration::parse)]
    revoke_grace_period: Duration,
    /// User-Agent of the operator's API requests (audit logs tell instances apart by it).
    #[arg(long, env = "PRISM_USER_AGENT", default_value = runtime::USER_AGENT, hide = true)]
    user_agent: String,
    /// Skip the startup checks (CRDs installed, permissions).
    #[arg(long, env = "PRISM_SKIP_STARTUP_CHECKS", hide = true)]
    skip_startup_checks: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd { out_dir: None } => {
            print!("{}", prism_operator::crdgen::render_all()?);
        }
        Command::Crd { out_dir: Some(dir) } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
            for (name, yaml) in prism_operator::crdgen::render_files()? {
                let path = dir.join(name);
                std::fs::write(&path, yaml).with_context(|| format!("failed to write {}", path.display()))?;
            }
        }
        Command::Rbac { namespaced_role: false, cluster_reader_role: false } => {
            print!("{}", prism_operator::crdgen::render_cluster_role()?);
        }
        Command::Rbac { namespaced_role: true, .. } => print!("{}", prism_operator::crdgen::render_namespaced_role()?),
        Command::Rbac { cluster_reader_role: true, .. } => {
            print!("{}", prism_operator::crdgen::render_cluster_reader_role()?);
        }
        Command::Run(args) => run(args).await?,
    }
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(&args.log_level, args.log_format, args.otlp_endpoint.as_deref())?;
    let config = kube::Config::infer().await.context("failed to load a kubeconfig or in-cluster configuration")?;
    let url = config.cluster_url.to_string();
    let client = kube::Client::try_from(runtime::with_user_agent(config, &args.user_agent))
        .context("failed to create a Kubernetes client")?;
    let scope = Scope::from_list(&args.namespaces);
    if !args.skip_startup_checks {
        startup::check(&client, &url, &args.namespaces).await?;
    }
    let services = Services::default();
    let server = server::serve(
        args.metrics_bind_address,
        args.health_probe_bind_address,
        services.metrics.clone(),
        services.readiness.clone(),
    )
    .await?;
    tokio::spawn(server);
    let election = args.leader_elect.then(|| leader::Settings {
        lease_name: args.leader_election_id.clone(),
        namespace: args
            .leader_election_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".to_owned()),
        identity: std::env::var("POD_NAME").unwrap_or_else(|_| format!("prism-operator-{}", std::process::id())),
        lease_duration: args.lease_duration,
        renew_deadline: args.renew_deadline,
    });
    let settings = Settings {
        scope,
        defaults: Defaults { image_registry: args.image_registry, image_tag: args.image_tag },
        concurrency: args.concurrency,
        admin_endpoint: args.admin_endpoint,
        revoke_grace_period: args.revoke_grace_period,
    };
    tracing::info!(scope = %settings.scope, leader_election = election.is_some(), "starting");
    runtime::run_elected(client, settings, services, election, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing in-flight reconciles");
}

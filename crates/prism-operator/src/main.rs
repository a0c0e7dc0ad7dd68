//! `prism-operator`: the command line of the Prism operator.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use prism_operator::{
    config::Defaults,
    controller::Scope,
    runtime::{self, Settings},
};
use tracing_subscriber::EnvFilter;

/// The Prism Kubernetes operator.
#[derive(Debug, Parser)]
#[command(name = "prism-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controllers against the cluster of the current kubeconfig (or in-cluster config).
    Run(RunArgs),
    /// Print the operator's ClusterRole (exactly the permissions the code uses) as YAML.
    Rbac,
    /// Print the four CustomResourceDefinitions as YAML, or write one file each to a directory.
    Crd {
        /// Write `<group>_<plural>.yaml` files into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Registry and repository prefix of default Prism images.
    #[arg(long, env = "PRISM_IMAGE_REGISTRY", default_value = "ghcr.io/prism")]
    image_registry: String,
    /// Tag of default Prism images.
    #[arg(long, env = "PRISM_IMAGE_TAG", default_value = "latest")]
    image_tag: String,
    /// Reconciles running at once, per controller.
    #[arg(long, env = "PRISM_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// Prism admin gRPC endpoint (e.g. `http://127.0.0.1:8981`) for every PrismNamespace without
    /// the `prism.io/admin-endpoint` annotation; for runs outside the cluster, where the admin
    /// Service's DNS name does not resolve. Unset: found from each PrismNamespace's proxyRef.
    #[arg(long, env = "PRISM_ADMIN_ENDPOINT")]
    admin_endpoint: Option<String>,
    /// How long deleting a PrismNamespace retries RevokeNamespace on an unreachable admin before
    /// it removes the finalizer anyway (a duration such as `5m`).
    #[arg(long, env = "PRISM_REVOKE_GRACE_PERIOD", default_value = "5m", value_parser = prism_operator::go_duration::parse)]
    revoke_grace_period: std::time::Duration,
    /// Log filter, e.g. `info` or `info,prism_operator=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
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
        Command::Rbac => print!("{}", prism_operator::crdgen::render_cluster_role()?),
        Command::Run(args) => run(args).await?,
    }
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&args.log_level).context("invalid --log-level")?)
        .init();
    let config = kube::Config::infer().await.context("failed to load a kubeconfig or in-cluster configuration")?;
    let client = kube::Client::try_from(runtime::with_user_agent(config, runtime::USER_AGENT))
        .context("failed to create a Kubernetes client")?;
    let settings = Settings {
        scope: args.namespace.map_or(Scope::All, Scope::Namespace),
        defaults: Defaults { image_registry: args.image_registry, image_tag: args.image_tag },
        concurrency: args.concurrency,
        admin_endpoint: args.admin_endpoint,
        revoke_grace_period: args.revoke_grace_period,
    };
    tracing::info!(scope = ?settings.scope, "starting controllers");
    runtime::run(client, settings, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    tracing::info!("stopped");
    Ok(())
}

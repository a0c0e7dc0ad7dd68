//! The memory figures: peak RSS of a fresh operator converging N PrismPatterns, and of fresh
//! operators on a converged cluster before and after unrelated Deployments appear.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Client};
use prism_testkit::ControlPlane;

use crate::{
    audit::AuditLog,
    cluster::{self, ToCreate},
    converge::{self, Converged},
    report::{Figure, Target},
    run::{MAIN_NS, Plan, SPARE_NS, UNRELATED_NS, limits, start},
    shapes,
};

/// How long an operator restarted on a converged cluster runs before its peak RSS is read.
pub const RESTART_SETTLE: Duration = Duration::from_secs(15);

/// Peak RSS of two fresh operators on the converged main namespace, before and after unrelated
/// Deployments are created in a namespace they watch, and the growth between them.
pub async fn unrelated_growth(cp: &ControlPlane, plan: &Plan, client: &Client) -> anyhow::Result<Vec<Figure>> {
    let before = restart_peak(cp, plan, "restart-before").await?;
    let mut template = shapes::pattern("template")?;
    template.metadata.uid = Some("none".to_owned());
    let template = shapes::children(&template, UNRELATED_NS)?.deployment;
    let api: Api<Deployment> = Api::namespaced(client.clone(), UNRELATED_NS);
    let unrelated: Vec<_> = (0..plan.unrelated)
        .map(|i| ToCreate { api: api.clone(), obj: shapes::unrelated_deployment(&template, UNRELATED_NS, i) })
        .collect();
    let t = Instant::now();
    cluster::create_all(unrelated, plan.concurrency).await?;
    tracing::info!(count = plan.unrelated, elapsed = ?t.elapsed(), "unrelated Deployments created");
    let after = restart_peak(cp, plan, "restart-after").await?;
    let total = plan.n + plan.latency_samples;
    Ok(vec![
        Figure::new("restart_peak_rss", before, "MiB", total)
            .note("fresh operator on the converged cluster, no unrelated Deployments"),
        Figure::new("restart_peak_rss_unrelated", after, "MiB", total)
            .note(format!("the same with {} unrelated Deployments in a watched namespace", plan.unrelated)),
        Figure::new("rss_growth_unrelated", 100.0 * (after - before) / before, "%", total)
            .target(Target::AtMost(10.0))
            .note(format!("peak RSS growth from {} unrelated Deployments", plan.unrelated)),
    ])
}

/// Peak RSS (and converge time) of a fresh operator converging `size` PrismPatterns in a fresh
/// namespace.
pub async fn other_size(
    cp: &ControlPlane,
    plan: &Plan,
    client: &Client,
    audit: &AuditLog,
    size: usize,
) -> anyhow::Result<Vec<Figure>> {
    let ns = format!("bench-n{size}");
    cluster::namespace(client, &ns).await?;
    let op = start(cp, plan, &format!("n{size}"), &[&ns, SPARE_NS]).await?;
    // A batch that does not converge in time still has a peak RSS worth reporting.
    let (converged, running) = match converge::converge(
        client,
        audit,
        &ns,
        &format!("n{size}"),
        size,
        plan.concurrency,
        limits(size),
        &[op.pid()],
    )
    .await
    {
        Ok(Converged { children, running: Some(r), .. }) => {
            (Some(children), format!("all Running at {:.1} s", r.as_secs_f64()))
        }
        Ok(c) => (Some(c.children), "not all Running in time".to_owned()),
        Err(err) => (None, format!("did not converge: {err:#}")),
    };
    let mut figures = vec![
        Figure::new("peak_rss", op.peak_rss_mib()?, "MiB", size)
            .note(format!("VmHWM of the operator that converged them; {running}")),
    ];
    if let Some(children) = converged {
        figures.push(
            Figure::new("converge_seconds", children.as_secs_f64(), "s", size)
                .note("first create to every child matching (no floor at this N)"),
        );
    }
    op.stop().await?;
    Ok(figures)
}

/// Peak RSS of a fresh operator on the converged main namespace, after it synced and settled.
async fn restart_peak(cp: &ControlPlane, plan: &Plan, tag: &str) -> anyhow::Result<f64> {
    let op = start(cp, plan, tag, &[MAIN_NS, UNRELATED_NS]).await?;
    tokio::time::sleep(RESTART_SETTLE).await;
    let (peak, rss) = (op.peak_rss_mib()?, op.rss_mib()?);
    tracing::info!(tag, peak_mib = peak, rss_mib = rss, "restarted operator");
    op.stop().await?;
    Ok(peak)
}

//! The figures of a run built from what its phases measured, and the request breakdowns as JSON.

use std::time::Duration;

use serde_json::json;

use crate::{
    audit::{self, Load, Requests},
    converge::Converged,
    latency,
    operator::Reconciles,
    report::{Figure, Target},
    run::{BENCH_AGENT, Plan, Results},
};

/// Children per PrismPattern (Deployment, Service, HPA); the writes target is this plus 2.
const CHILDREN: f64 = 3.0;

/// The writes each window had to get through, and the converge ratio per write. On a machine
/// where the API server's CPU is the limit, the converge ratio follows the ratio of writes: the
/// converge window holds the PrismPattern creates and every write of the operator (children,
/// Events, status), the floor only the children.
pub fn work_figures(
    floor: &Load,
    converge: &Load,
    operator: &str,
    (floor_time, converge_time): (Duration, Duration),
    n: usize,
) -> Vec<Figure> {
    let bench = BENCH_AGENT.split('/').next().unwrap_or(BENCH_AGENT);
    let writes = |load: &Load, client: &str| load.get(client).map_or(0, |(w, _)| *w);
    let floor_writes = writes(floor, bench);
    let converge_writes = writes(converge, bench) + writes(converge, operator);
    let others = |load: &Load| -> u64 {
        load.iter().filter(|(c, _)| c.as_str() != bench && c.as_str() != operator).map(|(_, (w, _))| w).sum()
    };
    if floor_writes == 0 || converge_writes == 0 {
        return Vec::new();
    }
    let ratio = converge_writes as f64 / floor_writes as f64;
    let per_write =
        (converge_time.as_secs_f64() / converge_writes as f64) / (floor_time.as_secs_f64() / floor_writes as f64);
    vec![
        Figure::new("converge_writes_over_floor_writes", ratio, "ratio", n).note(format!(
            "{converge_writes} writes by the bench (PrismPattern creates) and the operator in the converge window, \
             against the floor's {floor_writes}"
        )),
        Figure::new("converge_over_floor_per_write", per_write, "ratio", n).note(
            "converge time per write over floor time per write: what is left of the ratio once the work is equal",
        ),
        Figure::new("floor_other_writes", others(floor) as f64 / floor_time.as_secs_f64(), "writes/s", n)
            .note("writes by every other client (the control plane's controllers, kwok) during the floor"),
        Figure::new("converge_other_writes", others(converge) as f64 / converge_time.as_secs_f64(), "writes/s", n)
            .note("the same during convergence: the controllers' client rate limits keep this flat"),
    ]
}

pub fn converge_figures(c: &Converged, floor: Duration, n: usize, r: &Requests, to_running: &Requests) -> Vec<Figure> {
    let per = |v: u64| v as f64 / n as f64;
    let running = match c.running {
        Some(d) => Figure::new("running_seconds", d.as_secs_f64(), "s", n).note(
            "first create to every PrismPattern Ready=True (pods are made Running by the control plane's controllers and kwok)",
        ),
        None => Figure::new("running_seconds", f64::NAN, "s", n).note("not every PrismPattern was Ready within the limit"),
    };
    vec![
        Figure::new("converge_seconds", c.children.as_secs_f64(), "s", n).note(format!(
            "first PrismPattern create to every child matching; creating the {n} PrismPatterns took {:.1} s",
            c.created.as_secs_f64()
        )),
        Figure::new("converge_over_floor", c.children.as_secs_f64() / floor.as_secs_f64(), "ratio", n)
            .target(Target::AtMost(1.3)),
        running,
        Figure::new("writes_per_pattern", per(r.writes()), "requests", n)
            .target(Target::AtMost(CHILDREN + 2.0))
            .note("create/update/patch/delete by the operator's User-Agent, first create to every child matching"),
        Figure::new("reads_per_pattern", per(r.reads()), "requests", n)
            .target(Target::AtMost(0.1))
            .note("get/list/watch in the same window"),
        Figure::new("writes_per_pattern_to_running", per(to_running.writes()), "requests", n).note(
            "the same from operator start to every PrismPattern Ready: adds the status write of the Ready transition",
        ),
        Figure::new("reads_per_pattern_to_running", per(to_running.reads()), "requests", n)
            .note("get/list/watch from operator start to every PrismPattern Ready"),
    ]
}

/// p50 and p90 time the API server took to answer `agent`'s `verb` requests in a window, by
/// resource: which kind of child is the long pole. (A Service's ClusterIP is allocated under one
/// lock in the API server, held while it creates the IPAddress object.)
pub fn duration_figures(prefix: &str, entries: &[audit::Entry], agent: &str, verb: &str, n: usize) -> Vec<Figure> {
    let mut by_resource: std::collections::BTreeMap<&str, Vec<Duration>> = std::collections::BTreeMap::new();
    for e in entries.iter().filter(|e| e.user_agent == agent && e.verb == verb && !e.resource.contains('/')) {
        let took = e.done.duration_since(e.received).unwrap_or_default();
        by_resource.entry(e.resource.as_str()).or_default().push(took);
    }
    by_resource
        .into_iter()
        .flat_map(|(resource, took)| {
            let note = format!("{verb} {resource}: API server time, {} requests", took.len());
            latency::percentile_figures(&format!("{prefix}_{resource}"), took, &[50.0, 90.0], n, &note)
        })
        .collect()
}

/// CPU figures of one timed window: each process's CPU seconds and the machine's busy share.
pub fn usage_figures(window: &str, u: &crate::procfs::Usage, n: usize, names: &[&str]) -> Vec<Figure> {
    let mut out: Vec<Figure> = names
        .iter()
        .zip(&u.procs)
        .map(|(name, secs)| {
            Figure::new(&format!("{window}_cpu_{name}"), *secs, "CPU s", n).note(format!(
                "{:.0}% of one core over the {:.1} s window",
                100.0 * secs / u.wall.max(1e-9),
                u.wall
            ))
        })
        .collect();
    out.push(
        Figure::new(&format!("{window}_machine_busy"), u.machine_busy, "%", n)
            .note("all CPUs, every process on the machine (it is shared)"),
    );
    out
}

/// p50 and p99 of the Deployments created directly in the latency phase (`sent` of them): the
/// API server's own latency under the same load. `probes` is sorted.
pub fn latency_floor_figures(probes: &[Duration], sent: usize, n: usize) -> Vec<Figure> {
    let mut diagnostics = Vec::new();
    for q in [50.0, 99.0] {
        if let Some(v) = latency::percentile(probes, q) {
            diagnostics.push(Figure::new(&format!("latency_floor_p{q}"), v.as_secs_f64() * 1000.0, "ms", n).note(
                format!(
                    "a Deployment created directly (1 per {} PrismPatterns, {} of {} seen), create request to watch \
                     event: the API server's own latency under the same load",
                    latency::PROBE_EVERY,
                    probes.len(),
                    sent
                ),
            ));
        }
    }
    diagnostics
}

/// p50 and p99 create-to-Deployment latency of the latency phase's PrismPatterns (`samples`,
/// sorted), and the p99 over the API server's own p99 for a Deployment created directly under the
/// same load (`probes`, sorted): the target is a ratio, so a noisy machine does not move it.
pub fn create_to_deployment_figures(samples: &[Duration], probes: &[Duration], plan: &Plan, n: usize) -> Vec<Figure> {
    let mut figures = Vec::new();
    let lat_note = format!(
        "create request to Deployment watch event; {} of {} samples, {} creates/s",
        samples.len(),
        plan.latency_samples,
        plan.rate
    );
    for q in [50.0, 99.0] {
        if let Some(v) = latency::percentile(samples, q) {
            figures.push(
                Figure::new(&format!("create_to_deployment_p{q}"), v.as_secs_f64() * 1000.0, "ms", n)
                    .note(lat_note.clone()),
            );
        }
    }
    if let (Some(p99), Some(floor)) = (latency::percentile(samples, 99.0), latency::percentile(probes, 99.0)) {
        figures.push(
            Figure::new("create_to_deployment_p99_over_floor", p99.as_secs_f64() / floor.as_secs_f64(), "ratio", n)
                .target(Target::AtMost(2.0))
                .note(format!(
                    "create_to_deployment_p99 over latency_floor_p99 ({:.1} ms), measured in the same window",
                    floor.as_secs_f64() * 1000.0
                )),
        );
    }
    figures
}

/// Upper bounds of the buckets holding the p50 and p99 reconcile duration between `before` and
/// `after`.
pub fn reconcile_latency_figures(before: &Reconciles, after: &Reconciles, n: usize) -> Vec<Figure> {
    let mut diagnostics = Vec::new();
    for q in [50.0, 99.0] {
        let (count, bound) = before.since(after, q);
        diagnostics.push(
            Figure::new(&format!("latency_reconcile_p{q}_le"), bound.unwrap_or(f64::NAN) * 1000.0, "ms", n)
                .note(format!("bucket bound of the p{q} reconcile duration in the latency phase ({count} reconciles)")),
        );
    }
    diagnostics
}

/// The request breakdowns as JSON.
pub fn details_json(r: &Results, n: usize) -> serde_json::Value {
    json!({
        "convergence_requests": {"n": n, "by_verb": r.converge_requests.by_verb,
            "writes_by_resource": r.converge_requests.writes_by_resource,
            "reads_by_resource": r.converge_requests.reads_by_resource},
        "requests_to_running": {"n": n, "by_verb": r.running_requests.by_verb,
            "writes_by_resource": r.running_requests.writes_by_resource,
            "reads_by_resource": r.running_requests.reads_by_resource},
        "api_server_load": {"floor": r.floor_load, "converge": r.converge_load},
        "latency_ms_in_creation_order": r.latency_ms,
        "latency_steps_ms_in_creation_order": r.latency_steps_ms,
        "steady_state_requests": {"by_verb": r.steady_requests.by_verb,
            "writes_by_resource": r.steady_requests.writes_by_resource,
            "reads_by_resource": r.steady_requests.reads_by_resource,
            "sample_writes": r.steady_requests.sample_writes},
    })
}

//! The operator binary SIGKILLed at random moments during a rollout and during deletions.

use kube::api::DeleteParams;

use super::*;

/// xorshift64*: the kill schedule, seeded from the clock and printed (`PRISM_CHAOS_SEED` replays
/// the same schedule).
struct Schedule(u64);

impl Schedule {
    fn new() -> Self {
        let seed = std::env::var("PRISM_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            u64::from(nanos.subsec_nanos()) ^ nanos.as_secs()
        });
        println!("kill schedule seed {seed} (PRISM_CHAOS_SEED={seed} replays it)");
        Self(seed | 1)
    }

    /// A delay drawn uniformly from `range` (milliseconds).
    fn delay(&mut self, range: std::ops::Range<u64>) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        Duration::from_millis(range.start + x % (range.end - range.start))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_rollout_and_deletion_leaves_exact_children() {
    const BATCHES: usize = 6;
    const PER_BATCH: usize = 10;
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let log = std::env::temp_dir().join(format!("prism-chaos-{ns}.log"));
    let mut schedule = Schedule::new();
    let mut op = operator(cp.kubeconfig_path(), &ns, &log);
    let stacks = ["alpha", "beta"];
    let (alpha, beta) = (["alpha-kv", "alpha-queue"], ["beta-kv", "beta-queue"]);

    // The rollout: a batch of patterns (and a stack in two of them), then a kill at a random
    // moment while the operator works on it, and a restart.
    let mut kills = 0;
    for batch in 0..BATCHES {
        for i in batch * PER_BATCH..(batch + 1) * PER_BATCH {
            support::create(&client, &ns, &pattern(i)).await;
        }
        if let Some(name) = stacks.get(batch) {
            support::create(&client, &ns, &stack(name)).await;
        }
        tokio::time::sleep(schedule.delay(200..1500)).await; // the random moment of the kill
        op.kill();
        kills += 1;
        op = operator(cp.kubeconfig_path(), &ns, &log);
    }
    let all: BTreeSet<String> = (0..BATCHES * PER_BATCH).map(|i| format!("p{i:03}")).collect();
    let (seen, took) = converge(&client, &ns, &all, &[("alpha", &alpha), ("beta", &beta)]).await;
    println!(
        "rollout: {} patterns and {} stacks, {kills} SIGKILLs; exact children {:.1} s after the last restart ({} objects checked)",
        all.len(),
        stacks.len(),
        took.as_secs_f64(),
        seen.objects
    );

    // Deletions: half of the patterns and one stack, with kills while they are processed.
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    let doomed: Vec<String> = all.iter().step_by(2).cloned().collect();
    let mut deletion_kills = 0;
    for (n, chunk) in doomed.chunks(doomed.len().div_ceil(3)).enumerate() {
        for name in chunk {
            patterns.delete(name, &DeleteParams::background()).await.expect("delete pattern");
        }
        if n == 0 {
            Api::<PrismStack>::namespaced(client.clone(), &ns)
                .delete("alpha", &DeleteParams::background())
                .await
                .expect("delete stack");
        }
        tokio::time::sleep(schedule.delay(100..1000)).await; // the random moment of the kill
        op.kill();
        deletion_kills += 1;
        op = operator(cp.kubeconfig_path(), &ns, &log);
    }
    let kept: BTreeSet<String> = all.iter().skip(1).step_by(2).cloned().collect();
    let (seen, took) = converge(&client, &ns, &kept, &[("beta", &beta)]).await;
    println!(
        "deletion: {} patterns and 1 stack deleted, {deletion_kills} SIGKILLs; exact children {:.1} s after the last restart ({} objects checked)",
        doomed.len(),
        took.as_secs_f64(),
        seen.objects
    );
    assert!(op.alive(), "the operator is running");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.lines().any(|l| l.contains("panicked")), "a panic in the operator log {}", log.display());
}

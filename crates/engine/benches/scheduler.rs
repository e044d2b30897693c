//! Scheduler simulation: makespan / lower bound for orca's policy and for a
//! wave barrier on random DAGs. Run: `cargo bench -p orca-engine --bench scheduler`.
//!
//! 100 DAGs of 50–500 tasks with realistic fan-in (0–3 deps drawn from a
//! window of recent tasks), log-normal durations, k = 2, 4, 8, 16 agents.
//! The lower bound is max(critical path, total work / k).

use orca_engine::simulate::{Policy, SimTask, lower_bound, makespan};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, LogNormal};

const DAGS: usize = 100;
const SEED: u64 = 0x0c0a;

fn random_dag(rng: &mut StdRng) -> Vec<SimTask> {
    let n = rng.random_range(50..=500);
    // Median 10 minutes, heavy right tail; in seconds.
    let durations = LogNormal::new((600f64).ln(), 0.8).expect("valid log-normal");
    (0..n)
        .map(|index| {
            let fan_in = match rng.random_range(0..100) {
                0..20 => 0,
                20..60 => 1,
                60..85 => 2,
                _ => 3,
            };
            let window = (index / 4).max(8).min(index);
            let mut deps: Vec<usize> =
                (0..fan_in.min(window)).map(|_| index - 1 - rng.random_range(0..window)).collect();
            deps.sort_unstable();
            deps.dedup();
            let duration = durations.sample(rng).round().max(1.0) as u64;
            SimTask { deps, duration }
        })
        .collect()
}

/// Critical-path-first ranks from per-task estimates: longest path to a
/// sink, then most dependents, then index.
fn ranks(tasks: &[SimTask], estimate: impl Fn(&SimTask) -> u64) -> Vec<u64> {
    let n = tasks.len();
    let mut dependents = vec![Vec::new(); n];
    for (index, task) in tasks.iter().enumerate() {
        for &dep in &task.deps {
            dependents[dep].push(index);
        }
    }
    let mut bottom = vec![0u64; n];
    for index in (0..n).rev() {
        let below = dependents[index].iter().map(|&d| bottom[d]).max().unwrap_or(0);
        bottom[index] = below + estimate(&tasks[index]);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| {
        (std::cmp::Reverse(bottom[i]), std::cmp::Reverse(dependents[i].len()), i)
    });
    let mut rank = vec![0u64; n];
    for (position, &index) in order.iter().enumerate() {
        rank[index] = position as u64;
    }
    rank
}

fn main() {
    let mut rng = StdRng::seed_from_u64(SEED);
    let dags: Vec<Vec<SimTask>> = (0..DAGS).map(|_| random_dag(&mut rng)).collect();
    println!(
        "| agents | orca (estimates) | orca (no estimates) | wave barrier | orca vs barrier | DAGs where barrier ≥ 15% worse |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for agents in [2usize, 4, 8, 16] {
        let (mut with_estimates, mut unit, mut barrier, mut saved) = (0.0, 0.0, 0.0, 0.0);
        let mut barrier_much_worse = 0;
        for tasks in &dags {
            let bound = lower_bound(tasks, agents);
            let exact = ranks(tasks, |task| task.duration);
            let blind = ranks(tasks, |_| 1);
            let orca = makespan(tasks, &exact, agents, Policy::Continuous) as f64;
            let orca_blind = makespan(tasks, &blind, agents, Policy::Continuous) as f64;
            let waves = makespan(tasks, &exact, agents, Policy::WaveBarrier) as f64;
            with_estimates += orca / bound;
            unit += orca_blind / bound;
            barrier += waves / bound;
            saved += 1.0 - orca / waves;
            if waves >= orca * 1.15 {
                barrier_much_worse += 1;
            }
        }
        let count = dags.len() as f64;
        println!(
            "| {agents} | {:.3} | {:.3} | {:.3} | {:.1}% shorter | {barrier_much_worse} / {} |",
            with_estimates / count,
            unit / count,
            barrier / count,
            100.0 * saved / count,
            dags.len()
        );
    }
    println!(
        "\nmakespan / lower bound, averaged over {DAGS} DAGs (seed {SEED:#x}); lower is better, 1.000 is optimal."
    );
}

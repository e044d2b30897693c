//! Synthetic plans of any size for benchmarks and stress tests.
//!
//! Shape: tasks grouped into modules of 20 (`crates/mN/...`) and phases of
//! 500; each task depends on 0–4 earlier tasks, mostly recent ones (fan-in
//! averages about 1.8), touches its own source file, a third of the time
//! one of six shared test files of its module and a tenth of the time the
//! module's `Cargo.toml`; every field is filled in. Deterministic for a
//! given size and seed.

use serde_json::{Value, json};

use crate::id::TaskId;
use crate::model::{Estimate, FilePattern, Phase, Plan, Priority, Task, Verify};

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

const ROLES: [&str; 4] = ["backend", "frontend", "test", "docs"];

/// A synthetic plan with `tasks` tasks.
pub fn plan(tasks: usize, seed: u64) -> Plan {
    let mut rng = Rng(seed);
    let mut plan = Plan {
        title: format!("Synthetic plan with {tasks} tasks"),
        description: "Generated for benchmarks: modules of 20 tasks, phases of 500.".to_owned(),
        ..Plan::default()
    };
    for i in 0..tasks {
        if i % 500 == 0 {
            plan.phases.push(Phase {
                title: format!("Phase {}: block {}", i / 500 + 1, i / 500 + 1),
                ..Default::default()
            });
        }
        let id = TaskId::parse(&format!("T{}", i + 1)).expect("generated IDs are valid");
        let module = i / 20;
        let mut task = Task::new(
            id,
            format!("Implement part {} of module {module}", i % 20 + 1),
            ROLES[i % ROLES.len()],
        );
        task.phase = Some(i / 500);
        let wanted = match rng.below(100) {
            _ if i == 0 => 0,
            0..=7 => 0,
            8..=44 => 1,
            45..=74 => 2,
            75..=93 => 3,
            _ => 4,
        };
        let mut deps: Vec<usize> = Vec::new();
        for _ in 0..wanted {
            // Mostly recent tasks, sometimes anything in the last 500.
            let window = if rng.below(4) == 0 { 500 } else { 40 };
            let back = 1 + rng.below(window.min(i as u64)) as usize;
            let dep = i - back;
            if !deps.contains(&dep) {
                deps.push(dep);
            }
        }
        deps.sort_unstable();
        task.deps =
            deps.iter().map(|d| TaskId::parse(&format!("T{}", d + 1)).expect("valid")).collect();
        let part = i % 20 + 1;
        let mut files = vec![format!("crates/m{module}/src/part{part}.rs")];
        if rng.below(3) == 0 {
            files.push(format!("crates/m{module}/tests/t{}.rs", rng.below(6)));
        }
        if rng.below(10) == 0 {
            files.push(format!("crates/m{module}/Cargo.toml"));
        }
        task.files =
            Some(files.iter().map(|f| FilePattern::parse(f).expect("valid path")).collect());
        task.verify = Some(
            Verify::parse(&format!("cargo test -p m{module} part{part}")).expect("valid command"),
        );
        task.accept = vec![format!("part {part} of module {module} works")];
        task.priority = match rng.below(10) {
            0 => Priority::HIGH,
            1 => Priority::LOW,
            _ => Priority::MEDIUM,
        };
        task.estimate = Some(Estimate::Seconds(900 * (1 + rng.below(8))));
        task.description = "Keep the public API small.".to_owned();
        plan.tasks.push(task);
    }
    plan
}

/// [`plan`] as orca Markdown.
pub fn markdown(tasks: usize, seed: u64) -> String {
    crate::to_markdown(&plan(tasks, seed))
}

/// [`plan`] as a Task Master `tasks.json` (tag `master`, numeric IDs, the
/// same dependencies), for comparing validators on the same plan.
pub fn taskmaster_json(tasks: usize, seed: u64) -> String {
    let plan = plan(tasks, seed);
    let number = |id: &TaskId| id.as_str()[1..].parse::<u64>().unwrap_or(0);
    let tasks: Vec<Value> = plan
        .tasks
        .iter()
        .map(|t| {
            json!({
                "id": number(&t.id),
                "title": t.title,
                "description": t.description,
                "details": "",
                "testStrategy": t.accept.join("; "),
                "status": "pending",
                "dependencies": t.deps.iter().map(number).collect::<Vec<_>>(),
                "priority": match t.priority { Priority::HIGH => "high", Priority::LOW => "low", _ => "medium" },
                "subtasks": [],
            })
        })
        .collect();
    json!({ "master": { "tasks": tasks, "metadata": { "description": plan.title } } }).to_string()
}

//! The JSON form of a plan (documented in docs/plan-format.md).

use serde_json::{Value, json};

use crate::graph::PlanGraph;
use crate::model::Plan;

/// The `format` field of orca's plan JSON.
pub const FORMAT_NAME: &str = "orca-plan";
/// The `version` field of orca's plan JSON.
pub const FORMAT_VERSION: u64 = 1;

/// The plan as JSON: `format`, `version`, then the fields of [`Plan`].
pub fn to_json(plan: &Plan) -> Value {
    let mut value = serde_json::to_value(plan).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        let mut with_header = serde_json::Map::new();
        with_header.insert("format".into(), FORMAT_NAME.into());
        with_header.insert("version".into(), FORMAT_VERSION.into());
        with_header.extend(std::mem::take(map));
        *map = with_header;
    }
    value
}

/// [`to_json`] plus a `graph` object: topological order, waves, edges,
/// critical path, file conflicts and maximum parallelism, all by task ID.
pub fn graph_json(plan: &Plan, graph: &PlanGraph) -> Value {
    let id = |t: &crate::graph::TaskIndex| graph.id(*t).as_str().to_owned();
    let ids = |ts: &[crate::graph::TaskIndex]| ts.iter().map(id).collect::<Vec<_>>();
    let edges: Vec<[String; 2]> = graph
        .topological_order()
        .iter()
        .flat_map(|&t| graph.deps(t).iter().map(move |&d| [id(&d), id(&t)]))
        .collect();
    let critical = graph.critical_path();
    let parallelism = graph.max_parallelism();
    let conflicts: Vec<[String; 2]> =
        graph.conflict_pairs().iter().map(|(a, b)| [id(a), id(b)]).collect();
    let mut value = to_json(plan);
    if let Value::Object(map) = &mut value {
        map.insert(
            "graph".into(),
            json!({
                "order": ids(graph.topological_order()),
                "waves": graph.waves().iter().map(|w| ids(w)).collect::<Vec<_>>(),
                "edges": edges,
                "critical_path": {
                    "tasks": ids(&critical.tasks),
                    "length": critical.length,
                    "weights": critical.weights,
                },
                "conflicts": conflicts,
                "conflicts_truncated": graph.conflict_pairs_truncated(),
                "max_parallelism": {
                    "agents": parallelism.agents,
                    "tasks": ids(&parallelism.tasks),
                },
            }),
        );
    }
    value
}

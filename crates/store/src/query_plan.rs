//! Test support: what SQLite's planner does with a statement, so tests can
//! pin the plans of the statements every queue command runs.

use crate::Store;
use crate::db::{Pool, Sql};

/// A fresh SQLite store (schema created) in a temporary directory.
pub(crate) async fn sqlite_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("orca.db").display().to_string()).await.unwrap();
    (dir, store)
}

/// SQLite's plan for `sql` (with `params` NULL arguments), one line per step.
pub(crate) async fn plan(store: &Store, sql: Sql, params: usize) -> Vec<String> {
    let Pool::Sqlite(pool) = &store.pool else { unreachable!("a SQLite store") };
    let text = format!("EXPLAIN QUERY PLAN {}", sql.sqlite_text());
    let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
    for _ in 0..params {
        query = query.bind(Option::<i64>::None);
    }
    let rows = query.fetch_all(pool).await.unwrap();
    rows.iter().map(|row| sqlx::Row::get::<String, _>(row, "detail")).collect()
}

/// Whether some line of the plan holds `step`'s words in a row.
fn has(plan: &[String], step: &str) -> bool {
    let step: Vec<&str> = step.split_whitespace().collect();
    plan.iter().any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        words.windows(step.len()).any(|w| w == step.as_slice())
    })
}

pub(crate) fn assert_plan(plan: &[String], uses: &[&str], never: &[&str]) {
    for step in uses {
        assert!(has(plan, step), "no `{step}` in {plan:#?}");
    }
    for step in never {
        assert!(!has(plan, step), "`{step}` in {plan:#?}");
    }
}

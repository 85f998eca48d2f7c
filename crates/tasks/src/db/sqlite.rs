//! The embedded SQLite engine: every attempt gets fresh in-memory databases. The model's
//! statement is compiled under an authorizer that allows reading (and, for questions that
//! change data, INSERT/UPDATE/DELETE on the problem's tables) and nothing else, and it is
//! interrupted at the statement timeout.

use std::sync::Once;
use std::time::Instant;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, Connection};

use super::problem::{Cell, DbProblem};
use super::value::{ResultSet, Value};
use super::{Attempt, DbLimits, Engine};
use crate::error::TaskError;

/// Cap on all of SQLite's memory in this process, so that a runaway query fails instead of
/// exhausting the machine. SQLite is used only by this task.
const HEAP_LIMIT: i64 = 1 << 30;

/// Each value SQLite may build (strings, blobs), in bytes.
const VALUE_LIMIT: i32 = 1_000_000;

/// The SQLite engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteEngine;

fn infra(problem: &DbProblem, e: impl std::fmt::Display) -> TaskError {
    TaskError::Database(format!("sqlite, problem {}: {e}", problem.id))
}

fn open(problem: &DbProblem) -> Result<Connection, TaskError> {
    static HEAP: Once = Once::new();
    // SAFETY: sets a process-wide limit; safe to call at any time.
    HEAP.call_once(|| unsafe {
        rusqlite::ffi::sqlite3_hard_heap_limit64(HEAP_LIMIT);
    });
    let conn = Connection::open_in_memory().map_err(|e| infra(problem, e))?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)
        .and_then(|_| conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, VALUE_LIMIT))
        .map_err(|e| infra(problem, e))?;
    for table in &problem.tables {
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("\"{}\" {}", c.name, c.kind.sqlite()))
            .collect();
        conn.execute(
            &format!("CREATE TABLE \"{}\" ({})", table.name, columns.join(", ")),
            [],
        )
        .map_err(|e| infra(problem, e))?;
        let marks = vec!["?"; table.columns.len()].join(", ");
        let mut insert = conn
            .prepare(&format!("INSERT INTO \"{}\" VALUES ({marks})", table.name))
            .map_err(|e| infra(problem, e))?;
        for row in &table.rows {
            let values = row.iter().map(|cell| match cell {
                Cell::Null => rusqlite::types::Value::Null,
                Cell::Int(i) => rusqlite::types::Value::Integer(*i),
                Cell::Real(r) => rusqlite::types::Value::Real(*r),
                Cell::Text(t) => rusqlite::types::Value::Text(t.clone()),
            });
            insert
                .execute(params_from_iter(values))
                .map_err(|e| infra(problem, e))?;
        }
    }
    Ok(conn)
}

/// Allows what a model's statement may do: read, and change rows when `may_change`.
fn authorize(may_change: bool) -> impl FnMut(AuthContext<'_>) -> Authorization + Send + 'static {
    move |ctx| match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        AuthAction::Function { function_name } if function_name != "load_extension" => {
            Authorization::Allow
        }
        AuthAction::Insert { .. } | AuthAction::Update { .. } | AuthAction::Delete { .. }
            if may_change =>
        {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Number(i as f64),
        ValueRef::Real(r) => Value::Number(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Text(format!("x'{}'", hex(b))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs one statement; `Ok(Err(message))` is the statement's own failure.
fn run(
    conn: &Connection,
    sql: &str,
    untrusted: Option<bool>,
    limits: &DbLimits,
) -> Result<ResultSet, String> {
    let deadline = Instant::now() + limits.statement_timeout;
    conn.progress_handler(1_000, Some(move || Instant::now() > deadline));
    if let Some(may_change) = untrusted {
        conn.authorizer(Some(authorize(may_change)));
    }
    let prepared = conn.prepare(sql);
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    let timed_out = |e: rusqlite::Error| {
        if Instant::now() > deadline {
            format!("timed out after {:?}", limits.statement_timeout)
        } else {
            e.to_string()
        }
    };
    let mut stmt = prepared.map_err(timed_out)?;
    let columns = stmt.column_count();
    let mut rows = stmt.query([]).map_err(timed_out)?;
    let mut set = ResultSet {
        columns,
        rows: Vec::new(),
    };
    while let Some(row) = rows.next().map_err(timed_out)? {
        if set.rows.len() == limits.max_rows {
            return Err(format!("more than {} rows", limits.max_rows));
        }
        let values = (0..columns)
            .map(|i| row.get_ref(i).map(value))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        set.rows.push(values);
    }
    Ok(set)
}

impl Engine for SqliteEngine {
    fn attempt(
        &self,
        problem: &DbProblem,
        sql: &str,
        may_change: bool,
        limits: &DbLimits,
    ) -> Result<Attempt, TaskError> {
        let reference = open(problem)?;
        let gold = |e: String| infra(problem, format!("the reference SQL failed: {e}"));
        let expected = match &problem.check_sql {
            None => run(&reference, &problem.answer_sql, None, limits).map_err(gold)?,
            Some(check) => {
                run(&reference, &problem.answer_sql, None, limits).map_err(gold)?;
                run(&reference, check, None, limits).map_err(gold)?
            }
        };
        let attempt = open(problem)?;
        let actual = match &problem.check_sql {
            None => run(&attempt, sql, Some(may_change), limits),
            Some(check) => run(&attempt, sql, Some(may_change), limits).and_then(|_| {
                run(&attempt, check, None, limits).map_err(|e| format!("check query: {e}"))
            }),
        };
        Ok(Attempt { expected, actual })
    }
}

//! The PostgreSQL engine: a real server given by a `postgres://` URL. Every attempt runs in
//! one transaction that creates a private schema, fills it, runs the reference and the
//! model's statement, and is rolled back, so nothing is ever committed and concurrent
//! attempts never see each other. The model's statement runs under a statement timeout,
//! in a read-only transaction unless the question asks to change data, and never as a
//! superuser (connecting as one is refused).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use postgres::types::{FromSql, ToSql, Type};
use postgres::{Client, NoTls, Row, Transaction};

use super::problem::{Cell, ColumnType, DbProblem};
use super::value::{ResultSet, Value};
use super::{Attempt, DbLimits, Engine};
use crate::error::TaskError;

/// A PostgreSQL server and a few idle connections to it.
pub struct PostgresEngine {
    url: String,
    idle: Mutex<Vec<Client>>,
}

impl std::fmt::Debug for PostgresEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEngine").finish_non_exhaustive()
    }
}

fn infra(context: &str, e: impl std::fmt::Display) -> TaskError {
    TaskError::Database(format!("postgres: {context}: {e}"))
}

/// The model's failure, or ours when the connection itself broke.
fn attempt_error(e: postgres::Error) -> Result<String, TaskError> {
    match e.as_db_error() {
        Some(db) if db.code() == &postgres::error::SqlState::QUERY_CANCELED => {
            Ok("timed out (statement timeout)".to_string())
        }
        Some(db) => Ok(db.message().to_string()),
        None if e.is_closed() => Err(infra("connection lost", e)),
        None => Ok(e.to_string()),
    }
}

static NEXT_SCHEMA: AtomicU64 = AtomicU64::new(0);

impl PostgresEngine {
    /// Connects to `url` once to check it: reachable, and the role is not a superuser.
    pub fn connect(url: &str) -> Result<Self, TaskError> {
        let mut client = Client::connect(url, NoTls).map_err(|e| infra("connecting", e))?;
        let row = client
            .query_one(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .map_err(|e| infra("reading the role", e))?;
        let superuser: bool = row.get(0);
        if superuser {
            return Err(TaskError::Database(
                "postgres: the URL's role is a superuser; model-written SQL must not run with \
                 superuser rights. Connect as a role without SUPERUSER that may create schemas \
                 (scripts/tasks_start_postgres.sh makes one)"
                    .to_string(),
            ));
        }
        Ok(PostgresEngine {
            url: url.to_string(),
            idle: Mutex::new(vec![client]),
        })
    }

    fn checkout(&self) -> Result<Client, TaskError> {
        let idle = self.idle.lock().expect("pool lock").pop();
        match idle {
            Some(client) if !client.is_closed() => Ok(client),
            _ => Client::connect(&self.url, NoTls).map_err(|e| infra("connecting", e)),
        }
    }

    fn checkin(&self, client: Client) {
        if !client.is_closed() {
            self.idle.lock().expect("pool lock").push(client);
        }
    }
}

fn setup(
    tx: &mut Transaction<'_>,
    problem: &DbProblem,
    limits: &DbLimits,
) -> Result<(), TaskError> {
    let schema = format!(
        "cqd_{}_{}",
        std::process::id(),
        NEXT_SCHEMA.fetch_add(1, Ordering::Relaxed)
    );
    let ctx = format!("setting up problem {}", problem.id);
    tx.batch_execute(&format!(
        "CREATE SCHEMA {schema}; SET LOCAL search_path TO {schema};"
    ))
    .map_err(|e| infra(&ctx, e))?;
    for table in &problem.tables {
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("\"{}\" {}", c.name, c.kind.postgres()))
            .collect();
        tx.batch_execute(&format!(
            "CREATE TABLE \"{}\" ({})",
            table.name,
            columns.join(", ")
        ))
        .map_err(|e| infra(&ctx, e))?;
        let marks: Vec<String> = (1..=table.columns.len()).map(|i| format!("${i}")).collect();
        let types: Vec<Type> = table
            .columns
            .iter()
            .map(|c| match c.kind {
                ColumnType::Integer => Type::INT8,
                ColumnType::Real => Type::FLOAT8,
                ColumnType::Text => Type::TEXT,
            })
            .collect();
        let insert = tx
            .prepare_typed(
                &format!(
                    "INSERT INTO \"{}\" VALUES ({})",
                    table.name,
                    marks.join(", ")
                ),
                &types,
            )
            .map_err(|e| infra(&ctx, e))?;
        for row in &table.rows {
            let params: Vec<Box<dyn ToSql + Sync>> = row
                .iter()
                .zip(&table.columns)
                .map(|(cell, col)| -> Box<dyn ToSql + Sync> {
                    match (cell, col.kind) {
                        (Cell::Null, ColumnType::Integer) => Box::new(None::<i64>),
                        (Cell::Null, ColumnType::Real) => Box::new(None::<f64>),
                        (Cell::Null, ColumnType::Text) => Box::new(None::<String>),
                        (Cell::Int(i), ColumnType::Real) => Box::new(*i as f64),
                        (Cell::Int(i), _) => Box::new(*i),
                        (Cell::Real(r), _) => Box::new(*r),
                        (Cell::Text(t), _) => Box::new(t.clone()),
                    }
                })
                .collect();
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
            tx.execute(&insert, &refs).map_err(|e| infra(&ctx, e))?;
        }
    }
    // The timeout covers the statements that answer the question, not the setup.
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {};",
        limits.statement_timeout.as_millis().max(1)
    ))
    .map_err(|e| infra(&ctx, e))
}

/// PostgreSQL's NUMERIC, read from its binary form as the nearest double.
struct Numeric(f64);

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let word = |i: usize| -> Result<u16, Box<dyn std::error::Error + Sync + Send>> {
            raw.get(i..i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "truncated NUMERIC value".into())
        };
        let ndigits = word(0)? as usize;
        let weight = word(2)? as i16 as i64;
        let sign = word(4)?;
        match sign {
            0xC000 => return Ok(Numeric(f64::NAN)),
            0xD000 => return Ok(Numeric(f64::INFINITY)),
            0xF000 => return Ok(Numeric(f64::NEG_INFINITY)),
            _ => {}
        }
        if ndigits == 0 {
            return Ok(Numeric(0.0));
        }
        // Base-10000 digits d0 d1 ... with d0 worth 10000^weight: written out as decimal
        // digits and an exponent, Rust's parser rounds the value correctly.
        let mut text = String::with_capacity(ndigits * 4 + 8);
        for i in 0..ndigits {
            text.push_str(&format!("{:04}", word(8 + 2 * i)?));
        }
        let exponent = 4 * (weight - (ndigits as i64 - 1));
        let value: f64 = format!("{text}e{exponent}").parse()?;
        Ok(Numeric(if sign == 0x4000 { -value } else { value }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

fn decode(row: &Row, i: usize) -> Result<Value, String> {
    let column = &row.columns()[i];
    let ty = column.type_();
    let get_err = |e: postgres::Error| format!("reading column {}: {e}", column.name());
    let number = |v: Option<f64>| v.map_or(Value::Null, Value::Number);
    Ok(match *ty {
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(get_err)?
            .map_or(Value::Null, |b| Value::Number(if b { 1.0 } else { 0.0 })),
        Type::INT2 => number(
            row.try_get::<_, Option<i16>>(i)
                .map_err(get_err)?
                .map(f64::from),
        ),
        Type::INT4 => number(
            row.try_get::<_, Option<i32>>(i)
                .map_err(get_err)?
                .map(f64::from),
        ),
        Type::INT8 => number(
            row.try_get::<_, Option<i64>>(i)
                .map_err(get_err)?
                .map(|v| v as f64),
        ),
        Type::OID => number(
            row.try_get::<_, Option<u32>>(i)
                .map_err(get_err)?
                .map(f64::from),
        ),
        Type::FLOAT4 => number(
            row.try_get::<_, Option<f32>>(i)
                .map_err(get_err)?
                .map(f64::from),
        ),
        Type::FLOAT8 => number(row.try_get::<_, Option<f64>>(i).map_err(get_err)?),
        Type::NUMERIC => number(
            row.try_get::<_, Option<Numeric>>(i)
                .map_err(get_err)?
                .map(|n| n.0),
        ),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => row
            .try_get::<_, Option<String>>(i)
            .map_err(get_err)?
            .map_or(Value::Null, Value::Text),
        _ => {
            return Err(format!(
                "result column {} has type {ty}, which is not compared; cast it to text",
                column.name()
            ))
        }
    })
}

/// Runs one statement and reads at most `max_rows` rows; `Ok(Err(_))` is the statement's
/// own failure.
fn run(
    tx: &mut Transaction<'_>,
    sql: &str,
    limits: &DbLimits,
) -> Result<Result<ResultSet, String>, TaskError> {
    let stmt = match tx.prepare(sql) {
        Ok(stmt) => stmt,
        Err(e) => return attempt_error(e).map(Err),
    };
    if stmt.columns().is_empty() {
        return match tx.execute(&stmt, &[]) {
            Ok(_) => Ok(Ok(ResultSet::default())),
            Err(e) => attempt_error(e).map(Err),
        };
    }
    let portal = match tx.bind(&stmt, &[]) {
        Ok(portal) => portal,
        Err(e) => return attempt_error(e).map(Err),
    };
    let cap = i32::try_from(limits.max_rows + 1).unwrap_or(i32::MAX);
    let rows = match tx.query_portal(&portal, cap) {
        Ok(rows) => rows,
        Err(e) => return attempt_error(e).map(Err),
    };
    if rows.len() > limits.max_rows {
        return Ok(Err(format!("more than {} rows", limits.max_rows)));
    }
    let mut set = ResultSet {
        columns: stmt.columns().len(),
        rows: Vec::with_capacity(rows.len()),
    };
    for row in &rows {
        match (0..set.columns).map(|i| decode(row, i)).collect() {
            Ok(values) => set.rows.push(values),
            Err(message) => return Ok(Err(message)),
        }
    }
    Ok(Ok(set))
}

impl PostgresEngine {
    fn attempt_on(
        client: &mut Client,
        problem: &DbProblem,
        sql: &str,
        may_change: bool,
        limits: &DbLimits,
    ) -> Result<Attempt, TaskError> {
        let mut tx = client.transaction().map_err(|e| infra("BEGIN", e))?;
        setup(&mut tx, problem, limits)?;
        let gold = |e: String| {
            infra(
                &format!("problem {}", problem.id),
                format!("the reference SQL failed: {e}"),
            )
        };
        let control =
            |tx: &mut Transaction<'_>, sql: &str| tx.batch_execute(sql).map_err(|e| infra(sql, e));
        let expected = match &problem.check_sql {
            None => run(&mut tx, &problem.answer_sql, limits)?.map_err(gold)?,
            Some(check) => {
                control(&mut tx, "SAVEPOINT reference")?;
                run(&mut tx, &problem.answer_sql, limits)?.map_err(gold)?;
                let rows = run(&mut tx, check, limits)?.map_err(gold)?;
                control(&mut tx, "ROLLBACK TO SAVEPOINT reference")?;
                rows
            }
        };
        if !may_change {
            control(&mut tx, "SET TRANSACTION READ ONLY")?;
        }
        let actual = match run(&mut tx, sql, limits)? {
            Err(message) => Err(message),
            Ok(rows) => match &problem.check_sql {
                None => Ok(rows),
                Some(check) => {
                    run(&mut tx, check, limits)?.map_err(|e| format!("check query: {e}"))
                }
            },
        };
        tx.rollback().map_err(|e| infra("ROLLBACK", e))?;
        Ok(Attempt { expected, actual })
    }
}

impl Engine for PostgresEngine {
    fn attempt(
        &self,
        problem: &DbProblem,
        sql: &str,
        may_change: bool,
        limits: &DbLimits,
    ) -> Result<Attempt, TaskError> {
        let mut client = self.checkout()?;
        let attempt = Self::attempt_on(&mut client, problem, sql, may_change, limits);
        if attempt.is_ok() {
            self.checkin(client);
        }
        attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: u16, weight: i16, sign: u16, digits: &[u16]) -> f64 {
        let mut raw = Vec::new();
        for w in [ndigits, weight as u16, sign, 0] {
            raw.extend(w.to_be_bytes());
        }
        for d in digits {
            raw.extend(d.to_be_bytes());
        }
        Numeric::from_sql(&Type::NUMERIC, &raw).unwrap().0
    }

    #[test]
    fn numeric_values_decode_from_base_ten_thousand() {
        assert_eq!(numeric(2, 0, 0, &[5, 5000]), 5.5);
        assert_eq!(numeric(3, 1, 0, &[1, 2345, 6780]), 12345.678);
        assert_eq!(numeric(1, -1, 0x4000, &[2500]), -0.25);
        assert_eq!(numeric(1, 2, 0, &[7]), 7e8);
        assert_eq!(numeric(0, 0, 0, &[]), 0.0);
        assert!(numeric(0, 0, 0xC000, &[]).is_nan());
        assert!(Numeric::from_sql(&Type::NUMERIC, &[0, 2, 0, 0, 0, 0, 0, 0, 0, 5]).is_err());
    }
}

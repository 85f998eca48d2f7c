//! A database problem: tables with rows, a question, and the reference SQL whose result
//! (or, for questions that change data, whose effect) the model's SQL must reproduce.

use serde::{Deserialize, Serialize};

use crate::error::TaskError;

/// A column's type, mapped to each engine's closest type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// 64-bit integers (SQLite INTEGER, PostgreSQL BIGINT).
    Integer,
    /// Doubles (SQLite REAL, PostgreSQL DOUBLE PRECISION).
    Real,
    /// Text.
    Text,
}

impl ColumnType {
    /// The type's name in SQLite.
    pub fn sqlite(self) -> &'static str {
        match self {
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Text => "TEXT",
        }
    }

    /// The type's name in PostgreSQL.
    pub fn postgres(self) -> &'static str {
        match self {
            ColumnType::Integer => "BIGINT",
            ColumnType::Real => "DOUBLE PRECISION",
            ColumnType::Text => "TEXT",
        }
    }
}

/// A column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Its name: a lowercase SQL identifier.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ColumnType,
}

/// A value in a table's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
}

/// A table and its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Its name: a lowercase SQL identifier.
    pub name: String,
    /// Its columns.
    pub columns: Vec<Column>,
    /// Its rows, one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbProblem {
    /// Identifier.
    pub id: String,
    /// What the model is asked.
    pub question: String,
    /// The tables, created fresh for every attempt.
    pub tables: Vec<Table>,
    /// The reference SQL: one statement.
    pub answer_sql: String,
    /// For questions that change data: a query whose rows after the model's statement must
    /// equal its rows after the reference statement. Absent for questions answered by a
    /// query's result.
    #[serde(default)]
    pub check_sql: Option<String>,
    /// Whether row order matters; absent means "when the reference has ORDER BY".
    #[serde(default)]
    pub ordered: Option<bool>,
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl DbProblem {
    /// Whether the rows must come in the reference's order.
    pub fn is_ordered(&self) -> bool {
        self.ordered.unwrap_or_else(|| {
            self.check_sql.is_none() && self.answer_sql.to_ascii_uppercase().contains("ORDER BY")
        })
    }

    /// The schema as shown to the model: one line per table.
    pub fn schema_text(&self) -> String {
        self.tables
            .iter()
            .map(|t| {
                let cols: Vec<String> = t
                    .columns
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.kind.sqlite()))
                    .collect();
                format!("Table {}: {}", t.name, cols.join(", "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Checks names and row shapes, so that setup never fails halfway.
    pub fn validate(&self) -> Result<(), TaskError> {
        let bad = |message: String| TaskError::Config {
            task: self.id.clone(),
            message,
        };
        if self.tables.is_empty() {
            return Err(bad("no tables".into()));
        }
        for t in &self.tables {
            if !is_identifier(&t.name) {
                return Err(bad(format!(
                    "table name {:?} must be a lowercase identifier ([a-z_][a-z0-9_]*)",
                    t.name
                )));
            }
            for c in &t.columns {
                if !is_identifier(&c.name) {
                    return Err(bad(format!(
                        "column {:?} of table {} must be a lowercase identifier",
                        c.name, t.name
                    )));
                }
            }
            for (i, row) in t.rows.iter().enumerate() {
                if row.len() != t.columns.len() {
                    return Err(bad(format!(
                        "row {i} of table {} has {} cells for {} columns",
                        t.name,
                        row.len(),
                        t.columns.len()
                    )));
                }
                for (cell, col) in row.iter().zip(&t.columns) {
                    let fits = matches!(
                        (cell, col.kind),
                        (Cell::Null, _)
                            | (Cell::Int(_), ColumnType::Integer | ColumnType::Real)
                            | (Cell::Real(_), ColumnType::Real)
                            | (Cell::Text(_), ColumnType::Text)
                    );
                    if !fits {
                        return Err(bad(format!(
                            "row {i} of table {}: {cell:?} does not fit column {} ({:?})",
                            t.name, col.name, col.kind
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem() -> DbProblem {
        DbProblem {
            id: "p".into(),
            question: "q".into(),
            tables: vec![Table {
                name: "items".into(),
                columns: vec![
                    Column {
                        name: "name".into(),
                        kind: ColumnType::Text,
                    },
                    Column {
                        name: "qty".into(),
                        kind: ColumnType::Integer,
                    },
                ],
                rows: vec![vec![Cell::Text("pen".into()), Cell::Int(3)]],
            }],
            answer_sql: "SELECT name FROM items order by qty".into(),
            check_sql: None,
            ordered: None,
        }
    }

    #[test]
    fn order_matters_when_the_reference_orders() {
        assert!(problem().is_ordered());
        let p = DbProblem {
            ordered: Some(false),
            ..problem()
        };
        assert!(!p.is_ordered());
    }

    #[test]
    fn cells_read_from_json_by_shape() {
        let row: Vec<Cell> = serde_json::from_str(r#"[null, 3, 2.5, "x"]"#).unwrap();
        assert_eq!(
            row,
            vec![
                Cell::Null,
                Cell::Int(3),
                Cell::Real(2.5),
                Cell::Text("x".into())
            ]
        );
    }

    #[test]
    fn validation_names_the_bad_part() {
        assert!(problem().validate().is_ok());
        let mut p = problem();
        p.tables[0].name = "Items".into();
        assert!(p.validate().unwrap_err().to_string().contains("lowercase"));
        let mut p = problem();
        p.tables[0].rows[0][1] = Cell::Text("3".into());
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("does not fit column qty"));
        let mut p = problem();
        p.tables[0].rows[0].pop();
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("1 cells for 2 columns"));
    }

    #[test]
    fn the_schema_is_one_line_per_table() {
        assert_eq!(
            problem().schema_text(),
            "Table items: name TEXT, qty INTEGER"
        );
    }
}

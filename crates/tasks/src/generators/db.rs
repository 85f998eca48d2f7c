//! Generated database problems: one table with random rows and a question naming its
//! columns and values (a filter, an aggregate, a grouping, an ordering, or a change to
//! apply); the reference is the SQL statement that answers it.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::words::WORDS;
use super::{draw_distinct, pick, pick_distinct, Difficulty, GenConfig};
use crate::db::{Cell, Column, ColumnType, DbProblem, Table};
use crate::error::TaskError;

/// Table names with their category column and its values, and their number columns.
const SCHEMAS: [(&str, &str, [&str; 5], [&str; 3]); 8] = [
    (
        "items",
        "color",
        ["red", "blue", "green", "black", "white"],
        ["qty", "price", "weight"],
    ),
    (
        "staff",
        "city",
        ["paris", "rome", "oslo", "lima", "cairo"],
        ["age", "salary", "level"],
    ),
    (
        "books",
        "genre",
        ["drama", "comedy", "poetry", "horror", "travel"],
        ["pages", "year", "price"],
    ),
    (
        "cars",
        "color",
        ["red", "blue", "green", "black", "white"],
        ["speed", "price", "seats"],
    ),
    (
        "pets",
        "kind",
        ["cat", "dog", "bird", "fish", "frog"],
        ["age", "weight", "legs"],
    ),
    (
        "trips",
        "city",
        ["paris", "rome", "oslo", "lima", "cairo"],
        ["days", "cost", "people"],
    ),
    (
        "games",
        "genre",
        ["drama", "comedy", "poetry", "horror", "travel"],
        ["score", "players", "year"],
    ),
    (
        "plants",
        "color",
        ["red", "blue", "green", "black", "white"],
        ["height", "age", "price"],
    ),
];

struct Drawn {
    table: Table,
    category: String,
    categories: Vec<String>,
    numbers: Vec<String>,
}

fn draw_table(rng: &mut ChaCha8Rng, difficulty: Difficulty) -> Drawn {
    let (name, category, values, numbers) = *pick(rng, &SCHEMAS);
    let (rows, kept) = match difficulty {
        Difficulty::Easy => (rng.random_range(4..=6), 2),
        Difficulty::Medium => (rng.random_range(6..=10), 2),
        _ => (rng.random_range(8..=14), 3),
    };
    let numbers: Vec<String> = pick_distinct(rng, &numbers, kept)
        .into_iter()
        .map(String::from)
        .collect();
    let names = pick_distinct(rng, &WORDS, rows);
    // Distinct values in every number column: orderings and maxima have no ties.
    let columns_of_values: Vec<Vec<i64>> = numbers
        .iter()
        .map(|_| pick_distinct(rng, &(1..=60).collect::<Vec<i64>>(), rows))
        .collect();
    let mut columns = vec![
        Column {
            name: "name".into(),
            kind: ColumnType::Text,
        },
        Column {
            name: category.into(),
            kind: ColumnType::Text,
        },
    ];
    columns.extend(numbers.iter().map(|n| Column {
        name: n.clone(),
        kind: ColumnType::Integer,
    }));
    let table_rows = (0..rows)
        .map(|r| {
            let mut row = vec![
                Cell::Text(names[r].to_string()),
                Cell::Text(pick(rng, &values).to_string()),
            ];
            row.extend(columns_of_values.iter().map(|col| Cell::Int(col[r])));
            row
        })
        .collect();
    Drawn {
        table: Table {
            name: name.into(),
            columns,
            rows: table_rows,
        },
        category: category.into(),
        categories: values.iter().map(|v| v.to_string()).collect(),
        numbers,
    }
}

/// Question, reference SQL, and the check query for questions that change data.
type Asked = (String, String, Option<String>);

fn ask(rng: &mut ChaCha8Rng, d: &Drawn, difficulty: Difficulty) -> Asked {
    let t = &d.table.name;
    let cat = &d.category;
    let value = pick(rng, &d.categories);
    let num = pick(rng, &d.numbers);
    let other = d.numbers.iter().find(|n| *n != num).unwrap_or(num);
    let k = rng.random_range(10..=50);
    let row_name = match &d.table.rows[rng.random_range(0..d.table.rows.len())][0] {
        Cell::Text(n) => n.clone(),
        _ => unreachable!("the first column holds names"),
    };
    let check = Some(format!("SELECT * FROM {t}"));
    match (difficulty, rng.random_range(0..3)) {
        (Difficulty::Easy, 0) => (
            format!("How many rows of {t} have {cat} '{value}'?"),
            format!("SELECT COUNT(*) FROM {t} WHERE {cat} = '{value}'"),
            None,
        ),
        (Difficulty::Easy, 1) => (
            format!("What is the largest {num} in {t}?"),
            format!("SELECT MAX({num}) FROM {t}"),
            None,
        ),
        (Difficulty::Easy, _) => (
            format!("What is the {num} of the row of {t} named '{row_name}'?"),
            format!("SELECT {num} FROM {t} WHERE name = '{row_name}'"),
            None,
        ),
        (Difficulty::Medium, 0) => (
            format!("What is the sum of {num} in {t} where {other} is greater than {k}?"),
            format!("SELECT SUM({num}) FROM {t} WHERE {other} > {k}"),
            None,
        ),
        (Difficulty::Medium, 1) => (
            format!("List the names in {t} where {num} is less than {k}."),
            format!("SELECT name FROM {t} WHERE {num} < {k}"),
            None,
        ),
        (Difficulty::Medium, _) => (
            format!("What is the average {num} in {t} where {cat} is '{value}'?"),
            format!("SELECT AVG({num}) FROM {t} WHERE {cat} = '{value}'"),
            None,
        ),
        (_, 0) => match rng.random_range(0..2) {
            0 => (
                format!("For each {cat} in {t}, give the {cat} and the total {num}."),
                format!("SELECT {cat}, SUM({num}) FROM {t} GROUP BY {cat}"),
                None,
            ),
            _ => {
                let n = rng.random_range(2..=4);
                (
                    format!("List the names of the {n} rows of {t} with the highest {num}, highest first."),
                    format!("SELECT name FROM {t} ORDER BY {num} DESC LIMIT {n}"),
                    None,
                )
            }
        },
        (_, 1) => (
            format!("Add {k} to {num} for the rows of {t} whose {cat} is '{value}'."),
            format!("UPDATE {t} SET {num} = {num} + {k} WHERE {cat} = '{value}'"),
            check,
        ),
        _ => (
            format!("Delete the rows of {t} where {num} is greater than {k}."),
            format!("DELETE FROM {t} WHERE {num} > {k}"),
            check,
        ),
    }
}

/// Generates database problems on one table each.
pub fn generate(config: &GenConfig) -> Result<Vec<DbProblem>, TaskError> {
    let drawn = draw_distinct(
        "db",
        config,
        |rng, difficulty| {
            let table = draw_table(rng, difficulty);
            let (question, sql, check) = ask(rng, &table, difficulty);
            (question, sql, check, table.table)
        },
        |(q, ..)| q.as_str(),
    )?;
    Ok(drawn
        .into_iter()
        .enumerate()
        .map(|(i, (question, answer_sql, check_sql, table))| DbProblem {
            id: format!(
                "gen-db/{}/{}/{i}",
                config.split.name(),
                config.difficulty.name()
            ),
            question,
            tables: vec![table],
            answer_sql,
            check_sql,
            ordered: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generators::Split;

    #[test]
    fn generated_problems_are_valid_and_deterministic() {
        for difficulty in [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard] {
            let config = GenConfig {
                seed: 9,
                split: Split::Train,
                difficulty,
                count: 30,
            };
            let problems = generate(&config).unwrap();
            for p in &problems {
                p.validate().unwrap();
                assert!(p.question.contains(&p.tables[0].name), "{}", p.question);
            }
            assert_eq!(problems, generate(&config).unwrap());
        }
    }
}

//! What kind of statement a model wrote, decided the same way for every engine: exactly one
//! statement, and only queries or, for questions that change data, INSERT, UPDATE and
//! DELETE. Transaction control, DDL, settings and server functions never run.

/// The statement kinds a model may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// SELECT, WITH, VALUES or TABLE.
    Query,
    /// INSERT, UPDATE or DELETE.
    Change,
}

/// Splits off comments and reports (first keyword, whether text follows the first `;`).
fn scan(sql: &str) -> (String, bool) {
    let bytes = sql.as_bytes();
    let mut i = 0;
    let mut first = String::new();
    let mut after_end = false;
    let mut ended = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i += 2;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if ended {
            after_end = true;
            break;
        }
        if c == b'\'' || c == b'"' {
            i += 1;
            while i < bytes.len() {
                if bytes[i] == c {
                    // A doubled quote is an escaped quote.
                    if bytes.get(i + 1) == Some(&c) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == b';' {
            ended = true;
            i += 1;
            continue;
        }
        if first.is_empty() && c.is_ascii_alphabetic() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            first = sql[start..i].to_ascii_uppercase();
            continue;
        }
        if first.is_empty() && c != b'(' {
            first = (c as char).to_string();
        }
        i += 1;
    }
    (first, after_end)
}

/// Classifies `sql`, or says why it may not run.
pub fn classify(sql: &str) -> Result<StatementKind, String> {
    let (first, more) = scan(sql);
    if more {
        return Err("only one SQL statement is allowed".to_string());
    }
    match first.as_str() {
        "" => Err("no SQL statement".to_string()),
        "SELECT" | "WITH" | "VALUES" | "TABLE" => Ok(StatementKind::Query),
        "INSERT" | "UPDATE" | "DELETE" => Ok(StatementKind::Change),
        other => Err(format!("{other} statements are not allowed")),
    }
}

/// The SQL of a reply: its fenced block if it has one, else the reply, trimmed.
pub fn extract_sql(reply: &str) -> String {
    crate::coding::extract_code(reply).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_changes_are_told_apart() {
        assert_eq!(classify("SELECT 1"), Ok(StatementKind::Query));
        assert_eq!(classify("  -- c\n(select 1);"), Ok(StatementKind::Query));
        assert_eq!(
            classify("/* x */ with a as (select 1) select * from a"),
            Ok(StatementKind::Query)
        );
        assert_eq!(classify("update t set a = 1"), Ok(StatementKind::Change));
        assert_eq!(
            classify("DELETE FROM t;  -- done"),
            Ok(StatementKind::Change)
        );
    }

    #[test]
    fn everything_else_is_refused() {
        for sql in [
            "COMMIT",
            "drop table t",
            "SET ROLE postgres",
            "ATTACH 'x.db' AS x",
            "PRAGMA query_only = 0",
            "COPY t TO PROGRAM 'id'",
            "",
            "  ;",
        ] {
            assert!(classify(sql).is_err(), "{sql}");
        }
    }

    #[test]
    fn a_second_statement_is_refused_but_semicolons_in_strings_are_not() {
        assert!(classify("SELECT 1; DROP TABLE t").is_err());
        assert!(classify("SELECT 1;;").is_err());
        assert_eq!(
            classify("SELECT 'a;b', \"c;\" FROM t WHERE x = 'it''s;'"),
            Ok(StatementKind::Query)
        );
    }

    #[test]
    fn sql_is_taken_from_a_fenced_block() {
        assert_eq!(extract_sql("Here:\n```sql\nSELECT 1;\n```"), "SELECT 1;");
        assert_eq!(extract_sql(" SELECT 2 "), "SELECT 2");
    }
}

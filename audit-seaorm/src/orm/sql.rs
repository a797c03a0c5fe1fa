//! A small SQL reader: is a statement a row write, on which table, and its shape with
//! literal values stripped (for `bulk` events).
//!
//! It reads only what it needs (keywords, quoted identifiers, string literals and comments)
//! and errs on the side of calling a statement a write.

/// The kinds of row write the connection wrapper watches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `INSERT` (and `UPSERT`).
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// MySQL/SQLite `REPLACE`.
    Replace,
    /// `TRUNCATE`.
    Truncate,
    /// `MERGE`.
    Merge,
}

impl Verb {
    /// The SQL keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Insert => "INSERT",
            Verb::Update => "UPDATE",
            Verb::Delete => "DELETE",
            Verb::Replace => "REPLACE",
            Verb::Truncate => "TRUNCATE",
            Verb::Merge => "MERGE",
        }
    }

    fn parse(word: &str) -> Option<Verb> {
        Some(match word.to_ascii_uppercase().as_str() {
            "INSERT" | "UPSERT" => Verb::Insert,
            "UPDATE" => Verb::Update,
            "DELETE" => Verb::Delete,
            "REPLACE" => Verb::Replace,
            "TRUNCATE" => Verb::Truncate,
            "MERGE" => Verb::Merge,
            _ => return None,
        })
    }
}

/// One row write found in a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// What it does.
    pub verb: Verb,
    /// The table written (unquoted, without schema); empty if it could not be read.
    pub table: String,
    /// The statement with literal values replaced by `?` and white space collapsed.
    pub shape: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Token<'a> {
    Word(&'a str),
    /// A quoted identifier, unquoted.
    Ident(String),
    Literal,
    Punct(char),
    Param(&'a str),
}

/// Reads tokens; `;` at depth 0 ends a statement.
fn tokens<'a>(sql: &'a str) -> Vec<Vec<Token<'a>>> {
    let bytes = sql.as_bytes();
    let mut statements = vec![Vec::new()];
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let push = |statements: &mut Vec<Vec<Token<'a>>>, token: Token<'a>| {
            if let Some(last) = statements.last_mut() {
                last.push(token);
            }
        };
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'#' => {
                // MySQL comment
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'\'' => {
                // String literal; '' escapes, and backslash escapes (MySQL, PostgreSQL E'').
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\\' {
                        i += 2;
                    } else if bytes[i] == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                push(&mut statements, Token::Literal);
            }
            b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                i += 1;
                let mut ident = String::new();
                while i < bytes.len() {
                    if bytes[i] == close {
                        if close != b']' && bytes.get(i + 1) == Some(&close) {
                            ident.push(close as char);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    let len = utf8_len(bytes[i]);
                    ident.push_str(sql.get(i..(i + len).min(bytes.len())).unwrap_or(""));
                    i += len;
                }
                i += 1;
                push(&mut statements, Token::Ident(ident));
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                push(&mut statements, Token::Param(&sql[start..i]));
            }
            b'$' => {
                // PostgreSQL dollar-quoted string: $tag$ ... $tag$
                let start = i;
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                if bytes.get(j) == Some(&b'$') {
                    let tag = &sql[start..=j];
                    let body = j + 1;
                    i = sql[body..].find(tag).map_or(bytes.len(), |end| body + end + tag.len());
                    push(&mut statements, Token::Literal);
                } else {
                    i += 1;
                    push(&mut statements, Token::Punct('$'));
                }
            }
            b'?' => {
                i += 1;
                push(&mut statements, Token::Param("?"));
            }
            b';' => {
                i += 1;
                statements.push(Vec::new());
            }
            c if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
                push(&mut statements, Token::Literal);
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80) {
                    i += 1;
                }
                push(&mut statements, Token::Word(&sql[start..i]));
            }
            other => {
                i += utf8_len(other);
                push(&mut statements, Token::Punct(other as char));
            }
        }
    }
    statements.retain(|s| !s.is_empty());
    statements
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

fn is_word(token: &Token<'_>, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.eq_ignore_ascii_case(word))
}

/// Fast check: does the statement start (after white space and comments) with a plain
/// `SELECT`/`SHOW`/… that cannot write? Saves tokenizing the hot path's reads.
fn plainly_read_only(sql: &str) -> bool {
    let trimmed = sql.trim_start();
    let word: String = trimmed.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    matches!(
        word.to_ascii_uppercase().as_str(),
        "SELECT"
            | "SHOW"
            | "EXPLAIN"
            | "DESCRIBE"
            | "PRAGMA"
            | "BEGIN"
            | "COMMIT"
            | "ROLLBACK"
            | "SAVEPOINT"
            | "RELEASE"
            | "SET"
            | "CREATE"
            | "ALTER"
            | "DROP"
    ) && !trimmed[word.len()..].contains(';')
}

/// The row writes in `sql` (usually none or one; `execute_unprepared` may hold several).
pub fn writes(sql: &str) -> Vec<Write> {
    if plainly_read_only(sql) {
        return Vec::new();
    }
    let mut found = Vec::new();
    for statement in tokens(sql) {
        let write = match statement.first() {
            Some(Token::Word(first)) if Verb::parse(first).is_some() => {
                Verb::parse(first).map(|verb| (verb, table_after(verb, &statement[1..])))
            }
            Some(Token::Word(first)) if first.eq_ignore_ascii_case("WITH") => {
                // A data-modifying CTE or a write after the CTEs: the first write keyword that is
                // not `FOR UPDATE`, `DO UPDATE` or `KEY UPDATE`.
                statement.iter().enumerate().skip(1).find_map(|(i, token)| {
                    let Token::Word(word) = token else { return None };
                    let verb = Verb::parse(word)?;
                    if verb == Verb::Replace {
                        return None; // the replace() function
                    }
                    let before = &statement[i - 1];
                    if ["FOR", "DO", "KEY", "OF"].iter().any(|w| is_word(before, w)) {
                        return None;
                    }
                    Some((verb, table_after(verb, &statement[i + 1..])))
                })
            }
            _ => None,
        };
        if let Some((verb, table)) = write {
            found.push(Write { verb, table, shape: shape(&statement) });
        }
    }
    found
}

fn table_after(verb: Verb, rest: &[Token<'_>]) -> String {
    const SKIP: [&str; 10] =
        ["INTO", "FROM", "TABLE", "ONLY", "IGNORE", "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "QUICK", "OR"];
    let mut i = 0;
    while i < rest.len() {
        match &rest[i] {
            Token::Word(w) if SKIP.iter().any(|s| w.eq_ignore_ascii_case(s)) => i += 1,
            // SQLite `INSERT OR REPLACE/IGNORE/ABORT ...`
            Token::Word(w)
                if verb == Verb::Insert
                    && i > 0
                    && is_word(&rest[i - 1], "OR")
                    && ["REPLACE", "ABORT", "FAIL", "ROLLBACK"].iter().any(|s| w.eq_ignore_ascii_case(s)) =>
            {
                i += 1
            }
            _ => break,
        }
    }
    // name ( . name )*
    let mut name = String::new();
    while i < rest.len() {
        match &rest[i] {
            Token::Word(w) => name = (*w).to_string(),
            Token::Ident(w) => name.clone_from(w),
            _ => break,
        }
        if matches!(rest.get(i + 1), Some(Token::Punct('.'))) {
            i += 2;
        } else {
            break;
        }
    }
    name
}

/// The statement with literals as `?`, one space between tokens, at most 2 000 bytes.
fn shape(statement: &[Token<'_>]) -> String {
    let mut out = String::new();
    for token in statement {
        if out.len() > 2000 {
            out.push_str(" …");
            break;
        }
        let glue = matches!(token, Token::Punct(',' | ')' | '.')) || out.ends_with('(') || out.ends_with('.');
        if !out.is_empty() && !glue {
            out.push(' ');
        }
        match token {
            Token::Word(w) => out.push_str(w),
            Token::Ident(w) => {
                out.push('"');
                out.push_str(&w.replace('"', "\"\""));
                out.push('"');
            }
            Token::Literal => out.push('?'),
            Token::Punct(c) => out.push(*c),
            Token::Param(p) => out.push_str(p),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Option<(Verb, String)> {
        let found = writes(sql);
        assert!(found.len() <= 1, "{found:?}");
        found.into_iter().next().map(|w| (w.verb, w.table))
    }

    #[test]
    fn finds_writes_and_tables() {
        assert_eq!(
            one(r#"INSERT INTO "public"."users" ("a") VALUES ($1) RETURNING "id""#),
            Some((Verb::Insert, "users".into()))
        );
        assert_eq!(one("  /* x */ update `users` set a = ? where id = ?"), Some((Verb::Update, "users".into())));
        assert_eq!(one("DELETE FROM users WHERE id = 1"), Some((Verb::Delete, "users".into())));
        assert_eq!(one("DELETE QUICK IGNORE FROM t"), Some((Verb::Delete, "t".into())));
        assert_eq!(one("REPLACE INTO t VALUES (1)"), Some((Verb::Replace, "t".into())));
        assert_eq!(one("INSERT OR REPLACE INTO t VALUES (1)"), Some((Verb::Insert, "t".into())));
        assert_eq!(one("TRUNCATE TABLE ONLY t"), Some((Verb::Truncate, "t".into())));
        assert_eq!(one("MERGE INTO t USING s ON t.id = s.id"), Some((Verb::Merge, "t".into())));
        assert_eq!(one("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"), Some((Verb::Delete, "t".into())));
        assert_eq!(one(r#"SELECT "a" FROM "t" WHERE "id" = $1 FOR UPDATE"#), None);
        assert_eq!(one("WITH x AS (SELECT 1) SELECT * FROM t FOR UPDATE"), None);
        assert_eq!(one("SELECT 'DELETE FROM t'"), None);
        assert_eq!(
            one("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2"),
            Some((Verb::Insert, "t".into()))
        );
        assert_eq!(one("CREATE TABLE t (a int)"), None);
    }

    #[test]
    fn several_statements() {
        let found = writes("UPDATE a SET x = 1; SELECT 1; DELETE FROM b;");
        let verbs: Vec<(Verb, &str)> = found.iter().map(|w| (w.verb, w.table.as_str())).collect();
        assert_eq!(verbs, vec![(Verb::Update, "a"), (Verb::Delete, "b")]);
    }

    #[test]
    fn shapes_strip_values() {
        let found =
            writes("UPDATE users SET email = 'a@b.c', score = 42.5, note = $$x$$ WHERE id IN (1, 2) AND name = $1");
        assert_eq!(found[0].shape, "UPDATE users SET email = ?, score = ?, note = ? WHERE id IN (?, ?) AND name = $1");
        let found = writes("update \"t\" set a='it''s', b=E'x\\'y' where c = ?");
        assert_eq!(found[0].shape, "update \"t\" set a = ?, b = E ? where c = ?");
    }
}

//! A small SQL reader: is a statement a row write, on which table, and its shape with
//! literal values stripped (for `bulk` events).
//!
//! It reads only what it needs (keywords, quoted identifiers, string literals and comments)
//! and errs on the side of calling a statement a write. MySQL/MariaDB, PostgreSQL and SQLite
//! read the same text differently (backslashes in strings, nested comments, `#`, dollar
//! quotes, executable comments `/*! ... */`, ...): [`writes_on`], which the connection wrapper
//! uses, reads a statement as the server it goes to reads it, both with that server's default
//! settings and with the session setting that changes how its strings are read (and, on
//! MySQL/MariaDB, both at and before the version of an executable comment); [`writes`],
//! for a server not known, reads the text every way and reports the writes of every reading.
//! Statements nested in statements (`COPY (…)`, `EXPLAIN ANALYZE …`) are read to a bounded
//! depth.

use std::borrow::Cow;

/// The kinds of row write the connection wrapper watches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
    /// `CALL` of a stored procedure (PostgreSQL, MySQL): runs code whose writes this reader
    /// cannot see; recorded with an empty table.
    Call,
    /// `DO`: a PostgreSQL anonymous code block, or a MariaDB compound statement run outside
    /// a stored program (`BEGIN NOT ATOMIC … END`, `IF`, `WHILE`, …), or MySQL/MariaDB
    /// `BINLOG 'events'` (replayed row events), like [`Verb::Call`].
    Do,
    /// `EXECUTE` of a prepared statement (or MariaDB's `EXECUTE IMMEDIATE`), like [`Verb::Call`].
    Execute,
    /// Transaction control sent as SQL (`BEGIN`, `START TRANSACTION`, `COMMIT`, `END`,
    /// `ROLLBACK`, `SAVEPOINT`, `RELEASE`, PostgreSQL's `ABORT` and `PREPARE TRANSACTION`,
    /// MySQL's `XA`): no row write, but it would end or split the transaction whose events
    /// the connection wrapper buffers, so the wrapper refuses it (with an empty table).
    Transaction,
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
            Verb::Call => "CALL",
            Verb::Do => "DO",
            Verb::Execute => "EXECUTE",
            Verb::Transaction => "TRANSACTION",
        }
    }

    /// Whether the statement runs code (a procedure, a code block, a prepared statement)
    /// that may write any table: which, and how, this reader cannot tell.
    pub fn runs_code(self) -> bool {
        matches!(self, Verb::Call | Verb::Do | Verb::Execute)
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
    /// The table written (unquoted, without schema; on PostgreSQL a name never quoted in the
    /// statement in lower case, as the server folds it); empty if it could not be read.
    pub table: String,
    /// The statement with literal values replaced by `?` and white space collapsed.
    pub shape: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Token<'a> {
    Word(&'a str),
    /// A quoted identifier, unquoted (borrowed from the statement unless it held an escape).
    Ident(Cow<'a, str>),
    /// `"…"`, unquoted, where the server may read a string value: MySQL by default, and
    /// SQLite when no column has that name. An identifier to the reader; in a shape, a `?`
    /// unless it stands where only a name can ([`shape`]).
    MaybeString(Cow<'a, str>),
    Literal,
    Punct(char),
    Param(&'a str),
}

/// When `\` escapes a character in a `'...'` string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backslash {
    /// Always (MySQL/MariaDB).
    Always,
    /// Only in `E'...'` strings (PostgreSQL with `standard_conforming_strings` on).
    EStrings,
    /// Never (SQLite).
    Never,
}

/// How a dialect reads the characters whose meaning differs between the servers.
#[derive(Clone, Copy, Debug)]
struct Dialect {
    backslash: Backslash,
    /// `\` escapes in `"..."` too (MySQL, where `"..."` is a string by default).
    backslash_in_double_quotes: bool,
    /// `"..."` may be a string value (MySQL without `ANSI_QUOTES`; SQLite, when no column has
    /// the name).
    double_quoted_strings: bool,
    /// `/* /* */ */` is one comment (PostgreSQL).
    nested_comments: bool,
    /// `#` starts a comment (MySQL); elsewhere it is an operator.
    hash_comments: bool,
    /// `--` starts a comment only when white space or a control character follows (MySQL).
    dash_comment_needs_space: bool,
    /// A `--` comment ends at a carriage return too (PostgreSQL); elsewhere only at a newline.
    carriage_return_ends_comments: bool,
    /// A UTF-8 byte order mark (U+FEFF) where a token may start is white space (SQLite);
    /// elsewhere it is a character of a name.
    byte_order_mark_is_space: bool,
    /// `[name]` is a quoted identifier (SQLite); elsewhere `[` is punctuation.
    brackets: bool,
    /// `` `name` `` is a quoted identifier (MySQL, SQLite); in PostgreSQL `` ` `` is an
    /// operator character, and what follows it is SQL.
    backticks: bool,
    /// `$` may continue a word (identifiers of PostgreSQL, MySQL and SQLite).
    dollar_in_words: bool,
    /// `$tag$ … $tag$` is a string (PostgreSQL); elsewhere `$a$` is an identifier.
    dollar_quotes: bool,
    /// The content of `/*! … */` is SQL (MySQL, MariaDB); elsewhere it is a comment.
    executable_comments: bool,
    /// With `executable_comments`: the content of a versioned one (`/*!50700 … */`, MariaDB's
    /// `/*M! … */`) is SQL too, as on a server of that version or later. Otherwise it is a
    /// comment, in which one comment may nest, as on an older server (and on MySQL for
    /// `/*M!`).
    versioned_comments_run: bool,
    /// `$name`, `@name`, `:name` and `#name` are parameters, `$name` with Tcl's `::` and a
    /// `(…)` suffix, which may hold quotes (SQLite).
    sqlite_variables: bool,
    /// Unquoted names are folded to lower case (PostgreSQL: `DELETE FROM Users` writes table
    /// `users`); elsewhere a name is kept as written.
    folds_unquoted_names: bool,
}

/// [`writes`]'s first reading (and one of [`returns_no_rows`]'s, for a server not known):
/// lenient, a mix of the dialects (backslash escapes, `#` comments, `--` comments, brackets
/// and dollar quotes all recognized).
const LENIENT: Dialect = Dialect {
    backslash: Backslash::Always,
    backslash_in_double_quotes: false,
    double_quoted_strings: true,
    nested_comments: false,
    hash_comments: true,
    dash_comment_needs_space: false,
    carriage_return_ends_comments: true,
    byte_order_mark_is_space: true,
    brackets: true,
    backticks: true,
    dollar_in_words: false,
    dollar_quotes: true,
    executable_comments: true,
    versioned_comments_run: true,
    sqlite_variables: false,
    folds_unquoted_names: false,
};

/// MySQL / MariaDB as configured by default.
const MYSQL: Dialect = Dialect {
    backslash: Backslash::Always,
    backslash_in_double_quotes: true,
    double_quoted_strings: true,
    nested_comments: false,
    hash_comments: true,
    dash_comment_needs_space: true,
    carriage_return_ends_comments: false,
    byte_order_mark_is_space: false,
    brackets: false,
    backticks: true,
    dollar_in_words: true,
    dollar_quotes: false,
    executable_comments: true,
    versioned_comments_run: true,
    sqlite_variables: false,
    folds_unquoted_names: false,
};

/// MySQL / MariaDB with `NO_BACKSLASH_ESCAPES` in `sql_mode`.
const MYSQL_NO_BACKSLASH_ESCAPES: Dialect =
    Dialect { backslash: Backslash::Never, backslash_in_double_quotes: false, ..MYSQL };

/// MySQL / MariaDB with `ANSI_QUOTES` in `sql_mode`: `"…"` is an identifier, in which `\` is
/// no escape. (With `NO_BACKSLASH_ESCAPES` too, it reads as [`MYSQL_NO_BACKSLASH_ESCAPES`].)
const MYSQL_ANSI_QUOTES: Dialect = Dialect { backslash_in_double_quotes: false, double_quoted_strings: false, ..MYSQL };

/// MySQL / MariaDB older than the version of an executable comment (`/*!999999 … */`): its
/// content is a comment. (MySQL reads MariaDB's `/*M! … */` so at any version.)
const MYSQL_OLDER: Dialect = Dialect { versioned_comments_run: false, ..MYSQL };

/// PostgreSQL as configured by default (`standard_conforming_strings = on`).
const POSTGRES: Dialect = Dialect {
    backslash: Backslash::EStrings,
    backslash_in_double_quotes: false,
    double_quoted_strings: false,
    nested_comments: true,
    hash_comments: false,
    dash_comment_needs_space: false,
    carriage_return_ends_comments: true,
    byte_order_mark_is_space: false,
    brackets: false,
    backticks: false,
    dollar_in_words: true,
    dollar_quotes: true,
    executable_comments: false,
    versioned_comments_run: false,
    sqlite_variables: false,
    folds_unquoted_names: true,
};

/// PostgreSQL with `standard_conforming_strings = off` (backslash escapes in every string).
const POSTGRES_BACKSLASH_ESCAPES: Dialect = Dialect { backslash: Backslash::Always, ..POSTGRES };

/// SQLite.
const SQLITE: Dialect = Dialect {
    backslash: Backslash::Never,
    backslash_in_double_quotes: false,
    double_quoted_strings: true,
    nested_comments: false,
    hash_comments: false,
    dash_comment_needs_space: false,
    carriage_return_ends_comments: false,
    byte_order_mark_is_space: true,
    brackets: true,
    backticks: true,
    dollar_in_words: true,
    dollar_quotes: false,
    executable_comments: false,
    versioned_comments_run: false,
    sqlite_variables: true,
    folds_unquoted_names: false,
};

/// The readings of each server ([`writes`] reads with all of them): each server as configured
/// by default, and with the settings a session may change that change how strings are read
/// (MySQL's `NO_BACKSLASH_ESCAPES` and `ANSI_QUOTES`, PostgreSQL's
/// `standard_conforming_strings = off`), and MySQL older than a versioned executable comment.
const DIALECTS: [Dialect; 7] =
    [MYSQL, MYSQL_NO_BACKSLASH_ESCAPES, MYSQL_ANSI_QUOTES, MYSQL_OLDER, POSTGRES, POSTGRES_BACKSLASH_ESCAPES, SQLITE];

/// Reads tokens the way `dialect` does; `;` ends a statement. The content of MySQL/MariaDB
/// executable comments (`/*! ... */`, `/*!50001 ... */`, `/*M! ... */`) is read as SQL (that
/// of a versioned one as a comment where `dialect` is of an older server).
fn tokens<'a>(sql: &'a str, dialect: Dialect) -> Vec<Vec<Token<'a>>> {
    let bytes = sql.as_bytes();
    let mut statements = vec![Vec::new()];
    // Inside an executable comment: its `*/` is no token.
    let mut executable = false;
    // Where the last `E'…'` string ended (PostgreSQL), for a continuation of it.
    let mut e_string_end: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let push = |statements: &mut Vec<Vec<Token<'a>>>, token: Token<'a>| {
            if let Some(last) = statements.last_mut() {
                last.push(token);
            }
        };
        match c {
            // `\v` too: MySQL, MariaDB and SQLite read it as white space (and PostgreSQL from
            // version 16), so `SET\vSTATEMENT … FOR DELETE …` is two words.
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => i += 1,
            // SQLite skips a byte order mark where a token may start (`\u{feff}DELETE …`).
            0xef if dialect.byte_order_mark_is_space && bytes[i..].starts_with(BYTE_ORDER_MARK) => {
                i += BYTE_ORDER_MARK.len();
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let glued = bytes.get(i + 2).is_some_and(|&next| next > b' ');
                if glued && dialect.dash_comment_needs_space {
                    // MySQL: `1--1` is 1 - -1.
                    i += 1;
                    push(&mut statements, Token::Punct('-'));
                } else {
                    i = line_end(bytes, i, dialect.carriage_return_ends_comments);
                }
            }
            b'#' if dialect.hash_comments => {
                i = line_end(bytes, i, false);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                match executable_opener(&bytes[i..]).filter(|_| dialect.executable_comments) {
                    Some((len, versioned)) if !versioned || dialect.versioned_comments_run => {
                        executable = true;
                        i += len;
                    }
                    // Skipped as a server older than its version skips it, one comment nested.
                    Some(_) => i = comment_end(bytes, i, 2),
                    None => i = comment_end(bytes, i, if dialect.nested_comments { usize::MAX } else { 1 }),
                }
            }
            b'*' if executable && bytes.get(i + 1) == Some(&b'/') => {
                executable = false;
                i += 2;
            }
            b'\'' => {
                // String literal; '' escapes, and backslash escapes where the dialect says so.
                let backslash = match dialect.backslash {
                    Backslash::Always => true,
                    Backslash::EStrings => {
                        let prefixed = i > 0
                            && bytes[i - 1].eq_ignore_ascii_case(&b'e')
                            && (i == 1 || !is_word_byte(bytes[i - 2], dialect));
                        // PostgreSQL continues a string after white space holding a newline,
                        // an `E'…'` string with its escapes.
                        let continued = e_string_end.is_some_and(|end: usize| continues_string(&bytes[end..i]));
                        prefixed || continued
                    }
                    Backslash::Never => false,
                };
                i = quoted_end(bytes, i, backslash);
                e_string_end = (backslash && dialect.backslash == Backslash::EStrings).then_some(i);
                push(&mut statements, Token::Literal);
            }
            b'"' | b'`' | b'[' if (c != b'[' || dialect.brackets) && (c != b'`' || dialect.backticks) => {
                let close = if c == b'[' { b']' } else { c };
                let backslash = c == b'"' && dialect.backslash_in_double_quotes;
                i += 1;
                let ident = match quoted_plainly(bytes, i, close, backslash) {
                    // No escape inside: the text between the quotes, borrowed.
                    Some(end) => {
                        let ident = Cow::Borrowed(&sql[i..end]);
                        i = end + 1;
                        ident
                    }
                    None => {
                        let (ident, end) = quoted_with_escapes(sql, i, close, backslash);
                        i = end;
                        Cow::Owned(ident)
                    }
                };
                let token = if c == b'"' && dialect.double_quoted_strings {
                    Token::MaybeString(ident)
                } else {
                    Token::Ident(ident)
                };
                push(&mut statements, token);
            }
            b'$' | b'@' | b':' | b'#' if dialect.sqlite_variables => {
                // SQLite's tokenizer: identifier characters, `::`, and a `(…)` suffix that ends
                // at `)` (white space before it makes the token illegal, as here the text after).
                let start = i;
                i += 1;
                let mut named = false;
                while i < bytes.len() {
                    let c = bytes[i];
                    if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
                        named = true;
                        i += 1;
                    } else if c == b'(' && named {
                        i += 1;
                        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b')' {
                            i += 1;
                        }
                        if bytes.get(i) == Some(&b')') {
                            i += 1;
                        }
                        break;
                    } else if c == b':' && bytes.get(i + 1) == Some(&b':') {
                        i += 2;
                    } else {
                        break;
                    }
                }
                push(&mut statements, Token::Param(sql.get(start..i).unwrap_or("?")));
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                push(&mut statements, Token::Param(&sql[start..i]));
            }
            b'$' if dialect.dollar_quotes => {
                // PostgreSQL dollar-quoted string: $tag$ ... $tag$ (a tag's letters may be any
                // letters, those beyond ASCII too)
                let start = i;
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] >= 0x80) {
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
                while i < bytes.len() && is_word_byte(bytes[i], dialect) {
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

/// The end (the closing quote's index) of a quoted identifier whose text starts at `start`,
/// if it ends there with no escape inside: no doubled closing quote (except after `[`), no
/// backslash where backslashes escape. `None` for one with an escape, or with no end.
fn quoted_plainly(bytes: &[u8], start: usize, close: u8, backslash: bool) -> Option<usize> {
    let end = start + bytes[start..].iter().position(|&b| b == close || (backslash && b == b'\\'))?;
    let doubled = close != b']' && bytes.get(end + 1) == Some(&close);
    (bytes[end] == close && !doubled).then_some(end)
}

/// A quoted identifier whose text starts at `start`, with its escapes undone (a doubled
/// closing quote, except after `[`; a backslash where backslashes escape), and the index after
/// its closing quote (past the end for one with none).
fn quoted_with_escapes(sql: &str, start: usize, close: u8, backslash: bool) -> (String, usize) {
    let bytes = sql.as_bytes();
    let mut ident = String::new();
    let mut i = start;
    while i < bytes.len() {
        if backslash && bytes[i] == b'\\' && i + 1 < bytes.len() {
            i += 1;
        } else if bytes[i] == close {
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
    (ident, i + 1)
}

/// Whether PostgreSQL continues a string constant across `between` (the text from the end of
/// one string to the quote of the next): only white space (`\v` too, as PostgreSQL 16 reads it)
/// and `--` comments, with a newline (`\n` or `\r`) among them.
fn continues_string(between: &[u8]) -> bool {
    let mut newline = false;
    let mut i = 0;
    while i < between.len() {
        match between[i] {
            b'\n' | b'\r' => {
                newline = true;
                i += 1;
            }
            b' ' | b'\t' | b'\x0b' | b'\x0c' => i += 1,
            b'-' if between.get(i + 1) == Some(&b'-') => {
                while i < between.len() && between[i] != b'\n' && between[i] != b'\r' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
    newline
}

fn is_word_byte(b: u8, dialect: Dialect) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 || (b == b'$' && dialect.dollar_in_words)
}

/// The UTF-8 byte order mark (U+FEFF).
const BYTE_ORDER_MARK: &[u8] = "\u{feff}".as_bytes();

/// The end of a `--` or `#` comment (its newline is white space), or at a carriage return too
/// if `carriage_return` (PostgreSQL's `--` comments).
fn line_end(bytes: &[u8], start: usize, carriage_return: bool) -> usize {
    let ends = |b: u8| b == b'\n' || (carriage_return && b == b'\r');
    bytes[start..].iter().position(|&b| ends(b)).map_or(bytes.len(), |end| start + end)
}

/// The length of a MySQL/MariaDB executable comment's opener (`/*!`, `/*M!`, with the version
/// digits), if `rest` starts with one, and whether the comment is versioned (a server older
/// than its version, and MySQL for `/*M!`, read it as a comment).
fn executable_opener(rest: &[u8]) -> Option<(usize, bool)> {
    let len = if rest.starts_with(b"/*!") {
        3
    } else if rest.starts_with(b"/*M!") {
        4
    } else {
        return None;
    };
    let digits = rest[len..].iter().take_while(|b| b.is_ascii_digit()).count();
    Some((len + digits, len == 4 || digits > 0))
}

/// Whether `sql` holds a versioned executable comment ([`executable_opener`]).
fn has_versioned_comment(sql: &str) -> bool {
    sql.match_indices("/*").any(|(at, _)| executable_opener(&sql.as_bytes()[at..]).is_some_and(|(_, v)| v))
}

/// The end of the comment opened at `start` (`/*`), in which comments nest up to `levels` deep
/// (counting it): PostgreSQL nests comments without limit, MySQL and SQLite end them at the
/// first `*/` (1), but for MySQL's skipped executable comment, in which one comment nests (2).
fn comment_end(bytes: &[u8], start: usize, levels: usize) -> usize {
    let mut depth = 1;
    let mut i = start + 2;
    while i < bytes.len() {
        if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            i += 2;
            depth -= 1;
            if depth == 0 {
                return i;
            }
        } else if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            if depth < levels {
                depth += 1;
                i += 2;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The end of the `'...'` string opened at `start`.
fn quoted_end(bytes: &[u8], start: usize, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if backslash && bytes[i] == b'\\' {
            i += 2;
        } else if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
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

fn is_any_word(token: &Token<'_>, words: &[&str]) -> bool {
    words.iter().any(|w| is_word(token, w))
}

/// Fast check: does the statement start (after white space) with a plain `SELECT`/`SHOW`/…
/// that cannot write? Saves tokenizing the hot path's reads. (`EXPLAIN`/`DESCRIBE` may run
/// the statement they explain, so they take the slow path.)
fn plainly_read_only(sql: &str) -> bool {
    // The hooks' read of an old row (what follows the prefix is read like any statement).
    let trimmed = sql.strip_prefix(super::marker::OLD_ROW_READ).unwrap_or(sql).trim_start();
    let word = leading_word(trimmed);
    // `BEGIN NOT ATOMIC` is a MariaDB code block, not a transaction; `SET STATEMENT … FOR` runs
    // the statement after `FOR`. A comment may stand between the words (the servers read it as
    // white space): read such a text in full.
    let next = trimmed[word.len()..].trim_start();
    if next.starts_with("/*") || next.starts_with("--") || next.starts_with('#') {
        return false;
    }
    if (word.eq_ignore_ascii_case("BEGIN") && next.get(..3).is_some_and(|w| w.eq_ignore_ascii_case("NOT")))
        || (word.eq_ignore_ascii_case("SET") && next.get(..9).is_some_and(|w| w.eq_ignore_ascii_case("STATEMENT")))
    {
        return false;
    }
    // (Transaction control is read in full: see `Verb::Transaction`.)
    // (Not `CREATE`: `CREATE TABLE … AS WITH d AS (DELETE …) …` writes another table.)
    const READ_ONLY: [&str; 6] = ["SELECT", "SHOW", "PRAGMA", "SET", "ALTER", "DROP"];
    READ_ONLY.iter().any(|w| w.eq_ignore_ascii_case(word)) && !trimmed[word.len()..].contains(';')
}

/// The row writes in `sql` (usually none or one; `execute_unprepared` may hold several), for a
/// server not known: the text is read with lenient rules (a mix of the dialects), then as each
/// server reads it (with the session settings that change how strings are read), and the
/// writes (by verb and table) found only by the later readings are added after the first's.
pub fn writes(sql: &str) -> Vec<Write> {
    if plainly_read_only(sql) {
        return Vec::new();
    }
    writes_read(sql, [LENIENT].iter().chain(&DIALECTS))
}

/// The row writes in `sql` sent to a `backend` server: [`writes`], read only as that server
/// reads SQL (as configured by default, and, for a text with a backslash, with the setting a
/// session may change that changes how strings are read: MySQL's `NO_BACKSLASH_ESCAPES` and
/// `ANSI_QUOTES`, PostgreSQL's `standard_conforming_strings = off`). For another backend,
/// [`writes`].
pub fn writes_on(sql: &str, backend: sea_orm::DbBackend) -> Vec<Write> {
    let Some(readings) = readings_of(backend) else { return writes(sql) };
    if plainly_read_only(sql) {
        return Vec::new();
    }
    writes_read(sql, needed_readings(sql, readings).iter())
}

/// The letters `text` starts with (its first word, if it starts with one).
fn leading_word(text: &str) -> &str {
    &text[..text.bytes().take_while(u8::is_ascii_alphabetic).count()]
}

/// Of a server's `readings` (see [`readings_of`]), those that can read `sql` differently: the
/// session settings change only how backslashes are read, so without one the first. With a
/// versioned executable comment (MySQL, MariaDB), each of those also as a server older than
/// its version reads it.
fn needed_readings(sql: &str, readings: &'static [Dialect]) -> Cow<'static, [Dialect]> {
    let needed = if sql.contains('\\') { readings } else { &readings[..1] };
    if !needed.iter().any(|d| d.versioned_comments_run) || !has_versioned_comment(sql) {
        return Cow::Borrowed(needed);
    }
    let older = needed.iter().map(|&d| Dialect { versioned_comments_run: false, ..d });
    Cow::Owned(needed.iter().copied().chain(older).collect())
}

/// How MySQL and MariaDB read SQL ([`readings_of`]).
const MYSQL_READINGS: [Dialect; 3] = [MYSQL, MYSQL_NO_BACKSLASH_ESCAPES, MYSQL_ANSI_QUOTES];

/// How `backend` reads SQL: as configured by default first, then with each session setting
/// that changes how strings are read. `None` for another backend.
fn readings_of(backend: sea_orm::DbBackend) -> Option<&'static [Dialect]> {
    match backend {
        sea_orm::DbBackend::Postgres => Some(&[POSTGRES, POSTGRES_BACKSLASH_ESCAPES]),
        sea_orm::DbBackend::MySql => Some(&MYSQL_READINGS),
        sea_orm::DbBackend::Sqlite => Some(&[SQLITE]),
        _ => None,
    }
}

/// Whether `sql` holds more than one statement in any reading of `backend` (of every dialect,
/// for another backend).
pub(crate) fn several_statements(sql: &str, backend: sea_orm::DbBackend) -> bool {
    readings_of(backend)
        .map_or(Cow::Borrowed(&DIALECTS[..]), |readings| needed_readings(sql, readings))
        .iter()
        .any(|&dialect| tokens(sql, dialect).iter().filter(|statement| !statement.is_empty()).count() > 1)
}

/// How many statement texts [`writes_on_kept`] keeps per backend and thread before it starts
/// again: an application's writes come in a few dozen shapes.
const KEPT: usize = 256;
/// Longer texts are read every time (a multi-row insert, or values written into the text:
/// rarely the same twice).
const KEPT_LONGEST: usize = 4096;

thread_local! {
    /// [`writes_on`]'s answers by statement text, one map per backend.
    static KEPT_WRITES: std::cell::RefCell<[foldhash::HashMap<Box<str>, Vec<Write>>; 3]> =
        std::cell::RefCell::default();
}

/// [`writes_on`], kept by statement text on each thread: the connection wrapper reads every
/// statement it is given, and an application sends the same few texts over and over (values
/// are bound apart from them). The answer is a function of the text and the backend alone.
pub(crate) fn writes_on_kept(sql: &str, backend: sea_orm::DbBackend) -> Vec<Write> {
    let kept = match backend {
        sea_orm::DbBackend::Postgres => 0,
        sea_orm::DbBackend::MySql => 1,
        sea_orm::DbBackend::Sqlite => 2,
        _ => return writes_on(sql, backend),
    };
    if plainly_read_only(sql) {
        return Vec::new();
    }
    if sql.len() > KEPT_LONGEST {
        return writes_on(sql, backend);
    }
    // `try_with`: a statement sent while the thread's locals are being torn down is read anew.
    KEPT_WRITES
        .try_with(|maps| {
            if let Some(writes) = maps.borrow()[kept].get(sql) {
                return writes.clone();
            }
            let writes = writes_on(sql, backend);
            let map = &mut maps.borrow_mut()[kept];
            if map.len() >= KEPT {
                map.clear();
            }
            map.insert(sql.into(), writes.clone());
            writes
        })
        .unwrap_or_else(|_| writes_on(sql, backend))
}

/// The writes of the first reading of `sql`, every one (two statements writing one table are
/// two writes, each with its statement), then those of the later readings whose (verb, table)
/// no earlier reading found, each once. Such a write (another quoting rule) gets a shape
/// without the statement: in that reading the text of a string the first reading sees may be
/// read as SQL, and a shape writes SQL words out.
fn writes_read<'d>(sql: &str, readings: impl IntoIterator<Item = &'d Dialect>) -> Vec<Write> {
    let mut found: Vec<Write> = Vec::new();
    for (reading, &dialect) in readings.into_iter().enumerate() {
        let statements = tokens(sql, dialect);
        for mut write in writes_in(&statements) {
            if dialect.folds_unquoted_names {
                fold_unquoted(&mut write.table, &statements);
            }
            if reading == 0 {
                found.push(write);
            } else if !found.iter().any(|w| w.verb == write.verb && w.table.eq_ignore_ascii_case(&write.table)) {
                // (A name in another case: one reading folds unquoted names, another does not.)
                write.shape = format!("{} {} {OTHER_READING}", write.verb.as_str(), write.table);
                found.push(write);
            }
        }
    }
    found
}

/// `table`, read from `statements`, in lower case if it has capitals and is never quoted there:
/// the name of the table written by a server that folds unquoted names (PostgreSQL: `DELETE
/// FROM Users` writes `users`, the name its row events carry). Kept as it is when it is also
/// quoted in the statement (`"Users"` is another table than `Users`, and which one is written
/// is not read here).
fn fold_unquoted(table: &mut str, statements: &[Vec<Token<'_>>]) {
    if !table.bytes().any(|b| b.is_ascii_uppercase()) {
        return;
    }
    let quoted = statements
        .iter()
        .flatten()
        .any(|token| matches!(token, Token::Ident(name) | Token::MaybeString(name) if **name == *table));
    if !quoted {
        table.make_ascii_lowercase();
    }
}

/// The shape of a write found only by reading a statement with another server's (or another
/// session setting's) quoting rules.
pub(crate) const OTHER_READING: &str = "(a write only if the session reads quotes and backslashes otherwise than the server's default; statement not shown)";

fn writes_in(statements: &[Vec<Token<'_>>]) -> Vec<Write> {
    let mut found = Vec::new();
    let mut first = true;
    for statement in statements.iter().filter(|statement| !statement.is_empty()) {
        let writes = if controls_transaction(statement, first) {
            vec![(Verb::Transaction, String::new())]
        } else {
            statement_writes(statement)
        };
        first = false;
        if writes.is_empty() {
            continue;
        }
        let shape = shape(statement);
        found.extend(writes.into_iter().map(|(verb, table)| Write { verb, table, shape: shape.clone() }));
    }
    found
}

/// Whether `statement` controls the transaction ([`Verb::Transaction`]). `END` counts only as
/// the first statement of its text: after a MariaDB compound statement or the body of an
/// SQLite trigger, which this reader splits at their `;`s, an `END` closes those.
fn controls_transaction(statement: &[Token<'_>], first_in_text: bool) -> bool {
    let words = without_leading_punctuation(statement);
    match words {
        [begin, rest @ ..] if is_word(begin, "BEGIN") => {
            // Not MariaDB's `BEGIN NOT ATOMIC` block; PostgreSQL's `BEGIN NOT DEFERRABLE` is.
            const MODES: [&str; 8] =
                ["TRANSACTION", "WORK", "DEFERRED", "IMMEDIATE", "EXCLUSIVE", "ISOLATION", "READ", "NOT"];
            !starts_compound(words) && rest.first().is_none_or(|next| is_any_word(next, &MODES))
        }
        [start, next, ..] if is_word(start, "START") => is_word(next, "TRANSACTION"),
        [prepare, next, ..] if is_word(prepare, "PREPARE") => is_word(next, "TRANSACTION"),
        [end, rest @ ..] if is_word(end, "END") => {
            first_in_text && rest.first().is_none_or(|next| is_any_word(next, &["TRANSACTION", "WORK"]))
        }
        [first, ..] => is_any_word(first, &["COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "ABORT", "XA"]),
        [] => false,
    }
}

/// First words of the MySQL/MariaDB statements that commit the transaction they are sent in
/// ([`implicit_commit_on_mysql`]), before the statement's later words are looked at.
const IMPLICITLY_COMMITTING: [&str; 26] = [
    "ALTER",
    "ANALYZE",
    "BEGIN",
    "CACHE",
    "CHANGE",
    "CHECK",
    "CREATE",
    "DROP",
    "FLUSH",
    "GRANT",
    "IMPORT",
    "INSTALL",
    "LOAD",
    "LOCK",
    "OPTIMIZE",
    "RENAME",
    "REPAIR",
    "RESET",
    "REVOKE",
    "SET",
    "SHUTDOWN",
    "START",
    "STOP",
    "TRUNCATE",
    "UNINSTALL",
    "UNLOCK",
];

/// The shape of the first statement of `sql` that a MySQL or MariaDB server would precede
/// with an implicit `COMMIT` if it were sent inside a transaction (their "statements that
/// cause an implicit commit"), in any of the ways such a server may read the text; `None` if
/// there is none. They are data definition (`CREATE`, `ALTER`, `DROP`, `RENAME`,
/// `TRUNCATE`) but for `CREATE`/`DROP TEMPORARY TABLE`, accounts and privileges (`GRANT`,
/// `REVOKE`, `SET PASSWORD`), `LOCK TABLES` and `UNLOCK TABLES`, table maintenance (`ANALYZE`,
/// `CHECK`, `OPTIMIZE`, `REPAIR TABLE`, `CACHE INDEX`, `LOAD INDEX`), `FLUSH`, `RESET`,
/// replication control (`START`/`STOP REPLICA`, `CHANGE MASTER`), plugins, `SHUTDOWN`, and
/// `SET autocommit` (a commit when it turns autocommit on). PostgreSQL and SQLite run data
/// definition inside the transaction. Statements run as code (a procedure's, a prepared
/// statement's, those inside a MariaDB `IF` or loop) are not looked into.
pub(crate) fn implicit_commit_on_mysql(sql: &str) -> Option<String> {
    first_on_mysql(sql, &IMPLICITLY_COMMITTING, commits_implicitly)
}

/// The shape of the first statement of `sql` for which `found` holds (read from depth 0), as
/// MySQL/MariaDB read it with each `sql_mode` that changes how it reads. The hot path: a text
/// of one statement whose first word is another than `first_words` has none (a text that
/// starts with a comment or punctuation, or holds several statements, is read in full).
fn first_on_mysql(sql: &str, first_words: &[&str], found: fn(&[Token<'_>], usize) -> bool) -> Option<String> {
    let word = leading_word(sql.trim_start());
    if !word.is_empty() && !is_any_word(&Token::Word(word), first_words) && !sql.contains(';') {
        return None;
    }
    needed_readings(sql, &MYSQL_READINGS).iter().find_map(|&dialect| {
        tokens(sql, dialect).iter().find(|statement| found(statement, 0)).map(|statement| shape(statement))
    })
}

/// The first statement of `sql` that sets MySQL/MariaDB's `autocommit` or `completion_type`
/// (as it reads with each `sql_mode` that changes how it reads), as its shape: on a pooled
/// connection either makes later statements stay in a transaction that no one commits (with
/// `autocommit = 0`, or `completion_type = CHAIN` after a commit), so that writes recorded
/// as done are lost when the connection closes. `SET STATEMENT … FOR` included.
pub(crate) fn sets_commit_mode_on_mysql(sql: &str) -> Option<String> {
    first_on_mysql(sql, &["SET", "BEGIN"], sets_commit_mode)
}

/// Whether `statement` sets `autocommit` or `completion_type` ([`sets_commit_mode_on_mysql`]),
/// itself read `depth` deep in a compound statement.
fn sets_commit_mode(statement: &[Token<'_>], depth: usize) -> bool {
    if depth > MAX_NESTING {
        return true;
    }
    let words = without_leading_punctuation(statement);
    let [first, rest @ ..] = words else { return false };
    if is_word(first, "SET") {
        return rest.iter().any(|t| is_any_word(t, &["AUTOCOMMIT", "COMPLETION_TYPE"]));
    }
    is_word(first, "BEGIN") && starts_compound(words) && sets_commit_mode(&rest[2..], depth + 1)
}

/// Whether MySQL/MariaDB commits implicitly before `statement` ([`implicit_commit_on_mysql`]),
/// itself read `depth` deep in another (`SET STATEMENT … FOR statement`, a block's first).
fn commits_implicitly(statement: &[Token<'_>], depth: usize) -> bool {
    if depth > MAX_NESTING {
        return true;
    }
    let words = without_leading_punctuation(statement);
    let [Token::Word(first), rest @ ..] = words else { return false };
    let next_is = |words: &[&str]| rest.first().is_some_and(|next| is_any_word(next, words));
    match first.to_ascii_uppercase().as_str() {
        "CREATE" => {
            let after_or_replace = match rest {
                [or, replace, more @ ..] if is_word(or, "OR") && is_word(replace, "REPLACE") => more,
                _ => rest,
            };
            !after_or_replace.first().is_some_and(|next| is_word(next, "TEMPORARY"))
        }
        "DROP" => !next_is(&["TEMPORARY"]),
        // `ANALYZE TABLE`, not MariaDB's `ANALYZE SELECT …` (a statement's analysis).
        "ANALYZE" | "CHECK" => next_is(&["TABLE", "TABLES", "VIEW", "NO_WRITE_TO_BINLOG", "LOCAL"]),
        "LOAD" => next_is(&["INDEX"]),
        "SET" if next_is(&["STATEMENT"]) => match rest.iter().position(|t| is_word(t, "FOR")) {
            Some(at) => commits_implicitly(&rest[at + 1..], depth + 1),
            None => false,
        },
        "SET" => next_is(&["PASSWORD"]) || rest.iter().any(|t| is_word(t, "AUTOCOMMIT")),
        // `BEGIN NOT ATOMIC` and its first statement (the reader splits a block at its `;`s, so
        // the later ones are statements of their own); a plain `BEGIN` is transaction control,
        // refused as such.
        "BEGIN" => starts_compound(words) && commits_implicitly(&rest[2..], depth + 1),
        // `START TRANSACTION` is transaction control too.
        "START" | "STOP" => !next_is(&["TRANSACTION"]),
        _ => is_any_word(&words[0], &IMPLICITLY_COMMITTING),
    }
}

/// `statement` from its first token that is not punctuation, but for `-` and `#` (see
/// [`statement_writes`]).
fn without_leading_punctuation<'s, 'a>(statement: &'s [Token<'a>]) -> &'s [Token<'a>] {
    let leading = |t: &Token<'_>| matches!(t, Token::Punct(c) if *c != '-' && *c != '#');
    &statement[statement.iter().position(|t| !leading(t)).unwrap_or(statement.len())..]
}

/// The writes of one statement, as (verb, table). Its kind is decided by its first word:
/// leading punctuation (the `*/` left of a nested comment read as not nested, say) is
/// skipped, but not `-` or `#`: in the MySQL reading of a `--comment` without a space and in
/// the PostgreSQL/SQLite reading of a `# comment`, the comment's first word is no verb.
fn statement_writes(statement: &[Token<'_>]) -> Vec<(Verb, String)> {
    nested_writes(statement, 0)
}

/// How deep statements inside statements (`COPY (…)`, `EXPLAIN ANALYZE …`, `SET STATEMENT … FOR
/// …`) are read; deeper, the statement is taken for code that may write anything (no server
/// accepts such nesting, and reading it recursively could exhaust the stack).
const MAX_NESTING: usize = 16;

/// [`statement_writes`] of a statement nested `depth` deep in another.
fn nested_writes(statement: &[Token<'_>], depth: usize) -> Vec<(Verb, String)> {
    if depth > MAX_NESTING {
        return vec![(Verb::Do, String::new())];
    }
    let statement = without_leading_punctuation(statement);
    let [Token::Word(first), rest @ ..] = statement else { return Vec::new() };
    if let Some(verb) = Verb::parse(first) {
        return tables_written(verb, rest).into_iter().map(|table| (verb, table)).collect();
    }
    match first.to_ascii_uppercase().as_str() {
        "WITH" => cte_writes(rest),
        "EXPLAIN" | "DESCRIBE" | "DESC" => explained_writes(false, rest, depth),
        "ANALYZE" | "ANALYSE" => explained_writes(true, rest, depth),
        "COPY" => copy_writes(rest, depth),
        // PostgreSQL `CREATE TABLE … AS query` (and `CREATE TABLE … AS EXECUTE p`): the query
        // may hold data-modifying `WITH` parts, which write tables other than the new one.
        "CREATE" => match as_at_depth_zero(rest) {
            Some(at) => nested_writes(&rest[at + 1..], depth + 1),
            None => Vec::new(),
        },
        // MariaDB `SET STATEMENT var = value [, …] FOR statement`: the statement's writes.
        "SET" if rest.first().is_some_and(|t| is_word(t, "STATEMENT")) => {
            match rest.iter().position(|t| is_word(t, "FOR")) {
                Some(at) => nested_writes(&rest[at + 1..], depth + 1),
                None => Vec::new(),
            }
        }
        "LOAD" => load_write(rest).into_iter().collect(),
        // Code that may write anything (PREPARE itself writes nothing: its EXECUTE does).
        "CALL" => vec![(Verb::Call, String::new())],
        // PostgreSQL `DO [LANGUAGE l] 'code'` (the code also as `E'…'` or `U&'…'`); MySQL's `DO
        // expression` is a SELECT without a result (a function it calls is as unseen as in a
        // SELECT).
        "DO" if match rest {
            [Token::Literal, ..] => true,
            [first, ..] if is_word(first, "LANGUAGE") => true,
            [Token::Word(e), Token::Literal, ..] => e.eq_ignore_ascii_case("E"),
            [Token::Word(u), Token::Punct('&'), Token::Literal, ..] => u.eq_ignore_ascii_case("U"),
            _ => false,
        } =>
        {
            vec![(Verb::Do, String::new())]
        }
        "EXECUTE" => vec![(Verb::Execute, String::new())],
        // MySQL/MariaDB `BINLOG 'events'` replays logged row events (as `mysqlbinlog` output
        // does): rows of any table, which this reader cannot see.
        "BINLOG" => vec![(Verb::Do, String::new())],
        _ if starts_compound(statement) => vec![(Verb::Do, String::new())],
        _ => Vec::new(),
    }
}

/// Where the first `AS` outside parentheses stands (`CREATE TABLE c AS query`; not the `AS`
/// of a generated column's definition).
fn as_at_depth_zero(tokens: &[Token<'_>]) -> Option<usize> {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth = depth.saturating_sub(1),
            _ if depth == 0 && is_word(token, "AS") => return Some(i),
            _ => {}
        }
    }
    None
}

/// A MariaDB compound statement run outside a stored program, which may hold any statement:
/// `BEGIN NOT ATOMIC … END`, `IF`, `CASE`, `LOOP`, `REPEAT`, `WHILE`, `FOR`, the loops and
/// `BEGIN` with a `label:` first. (No other statement starts with these words; a plain
/// `BEGIN` starts a transaction.)
fn starts_compound(statement: &[Token<'_>]) -> bool {
    let begins_block = |tokens: &[Token<'_>]| match tokens {
        [first, not, atomic, ..] => is_word(first, "BEGIN") && is_word(not, "NOT") && is_word(atomic, "ATOMIC"),
        _ => false,
    };
    let loops = |token: &Token<'_>| is_any_word(token, &["LOOP", "REPEAT", "WHILE", "FOR"]);
    match statement {
        [first, ..] if is_any_word(first, &["IF", "CASE"]) || loops(first) => true,
        [Token::Word(_), Token::Punct(':'), rest @ ..] => rest.first().is_some_and(loops) || begins_block(rest),
        _ => begins_block(statement),
    }
}

/// After `WITH`: every data-modifying CTE and a write after the CTEs, that is every write
/// keyword except `FOR UPDATE`, `DO UPDATE`, `ON DUPLICATE KEY UPDATE`, `FOR NO KEY UPDATE`, a
/// `MERGE`'s `THEN UPDATE` etc., and the replace() function (a `REPLACE` write is `REPLACE
/// INTO`). (`key` and `of` alone may be column names: `… CYCLE n SET c USING key UPDATE t`.)
fn cte_writes(rest: &[Token<'_>]) -> Vec<(Verb, String)> {
    rest.iter()
        .enumerate()
        .filter_map(|(i, token)| {
            let Token::Word(word) = token else { return None };
            let verb = Verb::parse(word)?;
            if verb == Verb::Replace && !rest.get(i + 1).is_some_and(|next| is_word(next, "INTO")) {
                return None;
            }
            if i > 0 && is_any_word(&rest[i - 1], &["FOR", "DO", "THEN"]) {
                return None;
            }
            if i > 1 && is_word(&rest[i - 1], "KEY") && is_any_word(&rest[i - 2], &["DUPLICATE", "NO"]) {
                return None;
            }
            Some((verb, table_after(verb, &rest[i + 1..])))
        })
        .collect()
}

/// After `EXPLAIN`/`DESCRIBE` (`analyzed` false) or `ANALYZE` (true): the explained statement's
/// writes if it is executed, that is if `ANALYZE`/`ANALYSE` is one of the options (PostgreSQL
/// `EXPLAIN ANALYZE` and `EXPLAIN (ANALYZE, ...)`, MySQL `EXPLAIN ANALYZE`, MariaDB
/// `ANALYZE statement`). `ANALYZE [TABLE] t` (statistics) and plain `EXPLAIN` write nothing.
fn explained_writes(mut analyzed: bool, rest: &[Token<'_>], nesting: usize) -> Vec<(Verb, String)> {
    let mut depth = 0usize;
    let is_analyze = |word: &str| word.eq_ignore_ascii_case("ANALYZE") || word.eq_ignore_ascii_case("ANALYSE");
    for (i, token) in rest.iter().enumerate() {
        match token {
            // After the options, a statement in parentheses (`EXPLAIN ANALYZE (WITH … DELETE
            // …)`): the options' own parentheses come first.
            Token::Punct('(') if depth == 0 && i > 0 => {
                return if analyzed { nested_writes(&rest[i..], nesting + 1) } else { Vec::new() };
            }
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth = depth.saturating_sub(1),
            // An option name may be quoted (`EXPLAIN ("analyze") …`).
            Token::Word(word) if is_analyze(word) => analyzed = true,
            Token::Ident(word) if is_analyze(word) => analyzed = true,
            Token::Word(word)
                if depth == 0
                    && (Verb::parse(word).is_some()
                        || is_any_word(token, &["WITH", "SELECT", "VALUES", "TABLE", "EXECUTE", "CREATE"])) =>
            {
                // The explained statement starts here.
                return if analyzed { nested_writes(&rest[i..], nesting + 1) } else { Vec::new() };
            }
            _ => {}
        }
    }
    Vec::new()
}

/// PostgreSQL `COPY [BINARY] t [(columns)] FROM ...` inserts rows; `COPY t TO ...` reads, and
/// `COPY (query) TO ...` writes what its query writes (`DELETE ... RETURNING`, say).
fn copy_writes(rest: &[Token<'_>], depth: usize) -> Vec<(Verb, String)> {
    if matches!(rest.first(), Some(Token::Punct('('))) {
        return nested_writes(rest, depth + 1);
    }
    // The old `COPY BINARY t …` (PostgreSQL still reads it; `binary` is a keyword there, so
    // an unquoted table cannot have that name).
    let start = usize::from(rest.first().is_some_and(|t| is_word(t, "BINARY")));
    let (table, mut i) = name_at(rest, start);
    if table.is_empty() {
        return Vec::new();
    }
    if matches!(rest.get(i), Some(Token::Punct('('))) {
        let mut depth = 0usize;
        while let Some(token) = rest.get(i) {
            i += 1;
            match token {
                Token::Punct('(') => depth += 1,
                Token::Punct(')') if depth <= 1 => break,
                Token::Punct(')') => depth -= 1,
                _ => {}
            }
        }
    }
    match rest.get(i) {
        Some(token) if is_word(token, "TO") => Vec::new(),
        _ => vec![(Verb::Insert, table)],
    }
}

/// MySQL/MariaDB `LOAD DATA|XML ... [REPLACE|IGNORE] INTO TABLE t`: an insert (a replace with
/// `REPLACE`). `LOAD INDEX INTO CACHE` writes nothing.
fn load_write(rest: &[Token<'_>]) -> Option<(Verb, String)> {
    if !rest.first().is_some_and(|first| is_any_word(first, &["DATA", "XML"])) {
        return None;
    }
    let into = rest.iter().position(|t| is_word(t, "INTO"));
    let before = &rest[..into.unwrap_or(rest.len())];
    let verb = if before.iter().any(|t| is_word(t, "REPLACE")) { Verb::Replace } else { Verb::Insert };
    let table = into.map(|into| table_after(verb, &rest[into + 1..])).unwrap_or_default();
    Some((verb, table))
}

/// The tables a write statement (`rest`: after its verb) names as written: one for most; each
/// table of `TRUNCATE a, b`; for MySQL's multi-table `UPDATE a JOIN b … SET` (or `UPDATE a, b
/// SET`), the tables its assignments name (all of the statement's, if one is not qualified);
/// for `DELETE a, b FROM …` and `DELETE FROM a, b USING …`, the tables deleted from, their
/// aliases resolved.
fn tables_written(verb: Verb, rest: &[Token<'_>]) -> Vec<String> {
    let top_level = |from: usize, words: &[&str]| top_level_word(rest, from, words);
    match verb {
        Verb::Truncate => {
            let mut i = 0;
            let mut tables = Vec::new();
            loop {
                while rest.get(i).is_some_and(|t| is_any_word(t, &["TABLE", "ONLY"])) {
                    i += 1;
                }
                // PostgreSQL's `ONLY (name)`.
                let parenthesized = matches!(rest.get(i), Some(Token::Punct('(')));
                let (table, next) = name_at(rest, i + usize::from(parenthesized));
                if table.is_empty() {
                    break;
                }
                tables.push(table);
                i = next + usize::from(parenthesized && matches!(rest.get(next), Some(Token::Punct(')'))));
                if matches!(rest.get(i), Some(Token::Punct('*'))) {
                    i += 1;
                }
                if !matches!(rest.get(i), Some(Token::Punct(','))) {
                    break;
                }
                i += 1;
            }
            if tables.is_empty() { vec![String::new()] } else { tables }
        }
        Verb::Update => {
            let start = rest.iter().position(|t| !is_any_word(t, &["LOW_PRIORITY", "IGNORE"])).unwrap_or(rest.len());
            let set = top_level(start, &["SET"]).unwrap_or(rest.len());
            let refs = table_references(rest.get(start..set).unwrap_or_default());
            if refs.len() < 2 {
                return vec![table_after(verb, rest)];
            }
            let end = top_level(set, &["WHERE", "ORDER", "LIMIT"]).unwrap_or(rest.len());
            let assignments = rest.get(set + 1..end).unwrap_or_default();
            let mut qualifiers = Vec::new();
            let mut depth = 0usize;
            for (i, token) in assignments.iter().enumerate() {
                match token {
                    Token::Punct('(') => depth += 1,
                    Token::Punct(')') => depth = depth.saturating_sub(1),
                    Token::Punct('=') if depth == 0 => match assignments.get(i.wrapping_sub(3)..i) {
                        Some(
                            [
                                qualifier @ (Token::Word(_) | Token::Ident(_) | Token::MaybeString(_)),
                                Token::Punct('.'),
                                Token::Word(_) | Token::Ident(_) | Token::MaybeString(_),
                            ],
                        ) => {
                            qualifiers.push(word_text(qualifier));
                        }
                        _ => return refs.into_iter().map(|(table, _)| table).collect(),
                    },
                    _ => {}
                }
            }
            resolve(&qualifiers, &refs)
        }
        // MariaDB `DELETE HISTORY FROM t [BEFORE SYSTEM_TIME …]` (only right after `DELETE`:
        // with a modifier before it, `history` is a table of a multi-table delete).
        Verb::Delete if matches!(rest, [history, from, ..] if is_word(history, "HISTORY") && is_word(from, "FROM")) => {
            vec![table_after(verb, &rest[1..])]
        }
        Verb::Delete => {
            let start =
                rest.iter().position(|t| !is_any_word(t, &["LOW_PRIORITY", "QUICK", "IGNORE"])).unwrap_or(rest.len());
            let from = top_level(start, &["FROM"]);
            match from {
                // `DELETE t1[.*], t2 FROM references …`
                Some(from) if from > start => {
                    let end = top_level(from, &["WHERE", "ORDER", "LIMIT"]).unwrap_or(rest.len());
                    let targets = name_list(&rest[start..from]);
                    resolve(&targets, &table_references(&rest[from + 1..end]))
                }
                // `DELETE FROM t1, t2 USING references …`
                Some(from) => match top_level(from, &["USING"]) {
                    Some(using) if rest[from + 1..using].iter().any(|t| matches!(t, Token::Punct(','))) => {
                        let end = top_level(using, &["WHERE", "ORDER", "LIMIT"]).unwrap_or(rest.len());
                        let targets = name_list(&rest[from + 1..using]);
                        resolve(&targets, &table_references(&rest[using + 1..end]))
                    }
                    _ => vec![table_after(verb, rest)],
                },
                None => vec![table_after(verb, rest)],
            }
        }
        _ => vec![table_after(verb, rest)],
    }
}

/// The index of the first of `words` at `rest[from..]` outside parentheses.
fn top_level_word(rest: &[Token<'_>], from: usize, words: &[&str]) -> Option<usize> {
    let mut depth = 0usize;
    for (i, token) in rest.iter().enumerate().skip(from) {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth = depth.saturating_sub(1),
            _ if depth == 0 && is_any_word(token, words) => return Some(i),
            _ => {}
        }
    }
    None
}

/// The text of a word or quoted identifier.
fn word_text(token: &Token<'_>) -> String {
    match token {
        Token::Word(w) => (*w).to_string(),
        Token::Ident(w) | Token::MaybeString(w) => w.to_string(),
        _ => String::new(),
    }
}

/// The names of a list `a[.*], b[.*]` (their last parts before `.*`).
fn name_list(tokens: &[Token<'_>]) -> Vec<String> {
    tokens
        .split(|t| matches!(t, Token::Punct(',')))
        .filter_map(|item| {
            let item: Vec<&Token<'_>> = item.iter().filter(|t| !matches!(t, Token::Punct('.' | '*'))).collect();
            item.last().map(|t| word_text(t)).filter(|name| !name.is_empty())
        })
        .collect()
}

/// The table references of a MySQL multi-table statement (`a [AS] x JOIN b y ON … , c`), as
/// (table, the name it goes by).
fn table_references(tokens: &[Token<'_>]) -> Vec<(String, String)> {
    const NOT_ALIASES: [&str; 17] = [
        "JOIN",
        "INNER",
        "LEFT",
        "RIGHT",
        "CROSS",
        "OUTER",
        "NATURAL",
        "STRAIGHT_JOIN",
        "ON",
        "USING",
        "WHERE",
        "SET",
        "ORDER",
        "LIMIT",
        "PARTITION",
        "USE",
        "FORCE",
    ];
    let mut refs = Vec::new();
    let mut depth = 0usize;
    let mut expect = true;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Punct('(') => {
                depth += 1;
                expect = false;
            }
            Token::Punct(')') => depth = depth.saturating_sub(1),
            Token::Punct(',') if depth == 0 => expect = true,
            token if depth == 0 && is_any_word(token, &["JOIN", "STRAIGHT_JOIN"]) => expect = true,
            Token::Word(_) | Token::Ident(_) | Token::MaybeString(_) if depth == 0 && expect => {
                let (table, next) = name_at(tokens, i);
                i = next;
                expect = false;
                if tokens.get(i).is_some_and(|t| is_word(t, "AS")) {
                    i += 1;
                }
                let alias = match tokens.get(i) {
                    Some(t @ (Token::Word(_) | Token::Ident(_) | Token::MaybeString(_)))
                        if !is_any_word(t, &NOT_ALIASES) =>
                    {
                        i += 1;
                        word_text(t)
                    }
                    _ => table.clone(),
                };
                refs.push((table, alias));
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    refs
}

/// `names` (tables or their aliases) as the tables of `refs` they name; a name no reference
/// goes by is kept as it is. Each table once, in the order named.
fn resolve(names: &[String], refs: &[(String, String)]) -> Vec<String> {
    let mut tables: Vec<String> = Vec::new();
    for name in names {
        let table = refs
            .iter()
            .find(|(_, alias)| alias.eq_ignore_ascii_case(name))
            .map_or_else(|| name.clone(), |(table, _)| table.clone());
        if !tables.contains(&table) {
            tables.push(table);
        }
    }
    if tables.is_empty() { vec![String::new()] } else { tables }
}

fn table_after(verb: Verb, rest: &[Token<'_>]) -> String {
    const SKIP: [&str; 10] =
        ["INTO", "FROM", "TABLE", "ONLY", "IGNORE", "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "QUICK", "OR"];
    let mut i = 0;
    while i < rest.len() {
        match &rest[i] {
            Token::Word(w) if SKIP.iter().any(|s| w.eq_ignore_ascii_case(s)) => i += 1,
            // SQLite `INSERT OR REPLACE/IGNORE/ABORT ...`, `UPDATE OR REPLACE ...`
            Token::Word(w)
                if matches!(verb, Verb::Insert | Verb::Update)
                    && i > 0
                    && is_word(&rest[i - 1], "OR")
                    && ["REPLACE", "ABORT", "FAIL", "ROLLBACK"].iter().any(|s| w.eq_ignore_ascii_case(s)) =>
            {
                i += 1
            }
            _ => break,
        }
    }
    // PostgreSQL's `ONLY (name)`.
    if i > 0 && is_word(&rest[i - 1], "ONLY") && matches!(rest.get(i), Some(Token::Punct('('))) {
        i += 1;
    }
    name_at(rest, i).0
}

/// The last part of the name `name ( . name )*` at `rest[i]` (empty if there is none), and the
/// index after the name.
fn name_at(rest: &[Token<'_>], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while i < rest.len() {
        match &rest[i] {
            Token::Word(w) => name = (*w).to_string(),
            Token::Ident(w) | Token::MaybeString(w) => {
                name.clear();
                name.push_str(w);
            }
            _ => break,
        }
        if matches!(rest.get(i + 1), Some(Token::Punct('.'))) {
            i += 2;
        } else {
            i += 1;
            break;
        }
    }
    (name, i)
}

/// In one PostgreSQL `UPDATE … SET … WHERE … [RETURNING …]` without `WITH` or `FROM` (the shape
/// SeaORM gives an update), the byte offsets of its `WHERE` and `RETURNING`; `None` for any
/// other statement, or one with a comment or a `;` (text appended to it must stay SQL).
pub(crate) fn update_clauses(sql: &str) -> Option<(usize, Option<usize>)> {
    if sql.contains("--") || sql.contains("/*") || sql.contains(';') {
        return None;
    }
    let statements = tokens(sql, POSTGRES);
    let [statement] = &statements[..] else { return None };
    if !statement.first().is_some_and(|t| is_word(t, "UPDATE")) {
        return None;
    }
    // A word token borrows the text: its offset is where it points.
    let offset = |word: &str| word.as_ptr() as usize - sql.as_ptr() as usize;
    let (mut depth, mut where_at, mut returning_at) = (0_i32, None, None);
    for token in statement {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            Token::Word(w) if depth == 0 => {
                if w.eq_ignore_ascii_case("FROM") || w.eq_ignore_ascii_case("WITH") {
                    return None;
                } else if w.eq_ignore_ascii_case("WHERE") && where_at.is_none() {
                    where_at = Some(offset(w));
                } else if w.eq_ignore_ascii_case("RETURNING") && where_at.is_some() && returning_at.is_none() {
                    returning_at = Some(offset(w));
                }
            }
            _ => {}
        }
    }
    Some((where_at?, returning_at))
}

/// In one MySQL `INSERT INTO t (…) VALUES (…) ON DUPLICATE KEY UPDATE a = a, …` of one row
/// whose every assignment keeps a column as it is (the shape SeaORM gives an insert with
/// `on_conflict_do_nothing`), the first column assigned; `None` for any other statement, or
/// one with a comment or a `;` (text appended to it must stay SQL).
pub(crate) fn insert_doing_nothing_on_duplicate_key(sql: &str) -> Option<String> {
    if sql.contains("--") || sql.contains("/*") || sql.contains('#') || sql.contains(';') {
        return None;
    }
    let statements = tokens(sql, MYSQL);
    let [statement] = &statements[..] else { return None };
    let word_at = |i: usize, word: &str| statement.get(i).is_some_and(|t| is_word(t, word));
    if !(word_at(0, "INSERT") && word_at(1, "INTO")) {
        return None;
    }
    let (_, mut i) = name_at(statement, 2);
    i = group_end(statement, i)?; // the columns
    if !word_at(i, "VALUES") {
        return None;
    }
    i = group_end(statement, i + 1)?; // one row: `ON` follows, not `,`
    if !["ON", "DUPLICATE", "KEY", "UPDATE"].iter().enumerate().all(|(n, word)| word_at(i + n, word)) {
        return None;
    }
    let mut first = None;
    for assignment in statement[i + 4..].split(|t| *t == Token::Punct(',')) {
        let [column, Token::Punct('='), value] = assignment else { return None };
        let name = match column {
            Token::Word(w) => (*w).to_string(),
            Token::Ident(w) | Token::MaybeString(w) => w.to_string(),
            _ => return None,
        };
        if value != column {
            return None;
        }
        first.get_or_insert(name);
    }
    first
}

/// The index after the parenthesized group at `statement[i]`, if there is one.
fn group_end(statement: &[Token<'_>], i: usize) -> Option<usize> {
    if statement.get(i) != Some(&Token::Punct('(')) {
        return None;
    }
    let mut depth = 0_usize;
    for (n, token) in statement[i..].iter().enumerate() {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + n + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether `sql` is one plain `INSERT`/`UPDATE`/`DELETE`/`REPLACE` without `RETURNING` (read
/// as a keyword, not inside a literal or a quoted name): a write that returns no rows, run for
/// its row count. `false` for anything else, which may return rows. Read as a `backend` server
/// reads SQL, in each of its readings (every reading, lenient included, for a server not known):
/// a `RETURNING` that one reading takes for part of a comment or a string (a PostgreSQL `#`
/// operator, a backslash in an SQLite string) is a `RETURNING` if another sees it.
#[cfg_attr(not(feature = "stream"), allow(dead_code))]
pub(crate) fn returns_no_rows(sql: &str, backend: sea_orm::DbBackend) -> bool {
    let plain = |dialect: &Dialect| {
        let statements = tokens(sql, *dialect);
        let [statement] = &statements[..] else { return false };
        statement.first().is_some_and(|t| is_any_word(t, &["INSERT", "UPDATE", "DELETE", "REPLACE"]))
            && !statement.iter().any(|t| is_word(t, "RETURNING"))
    };
    match readings_of(backend) {
        Some(readings) => needed_readings(sql, readings).iter().all(plain),
        None => [LENIENT].iter().chain(&DIALECTS).all(plain),
    }
}

/// The statement with literals as `?`, one space between tokens, at most 2 000 bytes.
fn shape(statement: &[Token<'_>]) -> String {
    let names = name_places(statement);
    let mut out = String::new();
    for (i, token) in statement.iter().enumerate() {
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
            Token::Ident(w) => push_quoted(&mut out, w),
            Token::MaybeString(w) if names[i] => push_quoted(&mut out, w),
            Token::Literal | Token::MaybeString(_) => out.push('?'),
            Token::Punct(c) => out.push(*c),
            Token::Param(p) => out.push_str(p),
        }
    }
    out
}

fn push_quoted(out: &mut String, name: &str) {
    out.push('"');
    out.push_str(&name.replace('"', "\"\""));
    out.push('"');
}

/// Which tokens of `statement` stand where only a name can (so that a [`Token::MaybeString`]
/// there is a name, not a value): a part of a dotted name (`"t"."c"`); outside parentheses,
/// the name after `UPDATE`, `INTO`, `FROM` (not `DISTINCT FROM`), `JOIN`, `TABLE` or `ONLY`;
/// a column of an `INSERT`'s column list (a parenthesized list of single names after `INTO
/// name`); and the column assigned to at the start of each item of a `SET` list, at the
/// list's own depth (`SET "c" = …, "d" = …`). Anywhere else `"…"` may be a value, so a shape
/// writes `?` for it.
fn name_places(statement: &[Token<'_>]) -> Vec<bool> {
    const BEFORE_NAME: [&str; 6] = ["UPDATE", "INTO", "FROM", "JOIN", "TABLE", "ONLY"];
    const SET_ENDS: [&str; 9] = ["WHERE", "FROM", "RETURNING", "ORDER", "LIMIT", "VALUES", "VALUE", "SELECT", "ON"];
    let is_name = |token: &Token<'_>| matches!(token, Token::Word(_) | Token::Ident(_) | Token::MaybeString(_));
    let mut names = vec![false; statement.len()];
    // The depth of the `SET` list being read, if any.
    let mut set_depth: Option<usize> = None;
    // After `INTO name`: a `(` may open a column list.
    let mut after_into_name = false;
    let mut depth = 0usize;
    for (i, token) in statement.iter().enumerate() {
        let previous = i.checked_sub(1).and_then(|p| statement.get(p));
        let next = statement.get(i + 1);
        let dotted = matches!(previous, Some(Token::Punct('.'))) || matches!(next, Some(Token::Punct('.')));
        let after_keyword = depth == 0
            && previous.is_some_and(|p| is_any_word(p, &BEFORE_NAME))
            && !(previous.is_some_and(|p| is_word(p, "FROM"))
                && i.checked_sub(2).and_then(|p| statement.get(p)).is_some_and(|t| is_word(t, "DISTINCT")));
        let assigned = set_depth == Some(depth)
            && matches!(next, Some(Token::Punct('=')))
            && previous.is_some_and(|p| is_word(p, "SET") || matches!(p, Token::Punct(',')));
        names[i] |= dotted || after_keyword || assigned;
        match token {
            Token::Punct('(') => {
                if after_into_name && let Some(columns) = column_list(&statement[i + 1..]) {
                    for j in columns {
                        names[i + 1 + j] = true;
                    }
                }
                depth += 1;
            }
            Token::Punct(')') => {
                depth = depth.saturating_sub(1);
                if set_depth.is_some_and(|d| d > depth) {
                    set_depth = None;
                }
            }
            Token::Punct(';') => set_depth = None,
            _ if is_word(token, "SET") => set_depth = Some(depth),
            _ if set_depth == Some(depth) && is_any_word(token, &SET_ENDS) => set_depth = None,
            _ => {}
        }
        // `INTO a.b` keeps looking for the column list's `(` after the name.
        after_into_name = match token {
            _ if is_word(token, "INTO") => depth == 0,
            Token::Punct('.') => after_into_name,
            _ if is_name(token) => after_into_name && !is_any_word(token, &["VALUES", "VALUE", "SELECT", "DEFAULT"]),
            _ => false,
        };
    }
    names
}

/// If `rest` (the tokens after a `(`) starts with a list of single names up to its `)`, such
/// as an `INSERT`'s column list, the indexes of the names in `rest`.
fn column_list(rest: &[Token<'_>]) -> Option<Vec<usize>> {
    let mut names = Vec::new();
    let mut expect_name = true;
    for (i, token) in rest.iter().enumerate() {
        match (expect_name, token) {
            (true, Token::Word(w))
                if ["SELECT", "WITH", "VALUES", "VALUE"].iter().any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                return None;
            }
            (true, Token::Word(_) | Token::Ident(_) | Token::MaybeString(_)) => {
                names.push(i);
                expect_name = false;
            }
            (false, Token::Punct(',')) => expect_name = true,
            (false, Token::Punct(')')) => return Some(names),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_reading_is_the_one_made_anew() {
        use sea_orm::DatabaseBackend::{MySql, Postgres, Sqlite};
        // Texts each backend reads its own way (dollar quotes, backslashes, `#` comments),
        // a read, and one too long to keep.
        let long = format!("INSERT INTO t (a) VALUES {}", vec!["(1)"; 1000].join(", "));
        let texts = [
            "DO $$ BEGIN DELETE FROM t; END $$",
            r"UPDATE t SET a = 'x\'; DELETE FROM u; --' WHERE b = 1",
            "# DELETE FROM t\nSELECT 1",
            r#"UPDATE "users" SET "name" = $1 WHERE "users"."id" = $2 RETURNING "id""#,
            "SELECT * FROM t",
            long.as_str(),
        ];
        // Twice over, and again after more texts than are kept have cleared the maps.
        let filler: Vec<String> = (0..=KEPT).map(|i| format!("DELETE FROM t{i}")).collect();
        for round in 0..3 {
            for sql in texts.iter().copied().chain(filler.iter().map(String::as_str)) {
                for backend in [Postgres, MySql, Sqlite] {
                    assert_eq!(
                        writes_on_kept(sql, backend),
                        writes_on(sql, backend),
                        "{sql} on {backend:?}, round {round}"
                    );
                }
            }
        }
        assert_ne!(writes_on(texts[0], Postgres), writes_on(texts[0], MySql), "the backends must read a text apart");
    }

    /// A vertical tab is white space to MySQL, MariaDB and SQLite (and PostgreSQL 16+): read
    /// as punctuation, it hid the word after it (MariaDB ran each of these; none was seen).
    #[test]
    fn a_vertical_tab_is_white_space() {
        use sea_orm::DatabaseBackend::{MySql, Sqlite};
        let verbs = |sql: &str, backend| -> Vec<(Verb, String)> {
            writes_on(sql, backend).into_iter().map(|w| (w.verb, w.table)).collect()
        };
        assert_eq!(
            verbs("SET\x0bSTATEMENT max_statement_time=0 FOR DELETE FROM t WHERE a=1", MySql),
            [(Verb::Delete, "t".to_string())]
        );
        assert_eq!(verbs("BEGIN\x0bNOT ATOMIC DELETE FROM t WHERE a=2; END", MySql)[0].0, Verb::Do);
        assert_eq!(verbs("LOAD\x0bDATA LOCAL INFILE 'f' INTO TABLE t", MySql), [(Verb::Insert, "t".to_string())]);
        assert_eq!(verbs("BEGIN\x0b", MySql), [(Verb::Transaction, String::new())], "transaction control");
        assert_eq!(verbs("DELETE\x0bFROM t", Sqlite), [(Verb::Delete, "t".to_string())]);
    }

    /// Text each server reads as SQL where the reader read none (each wrote on its server, and
    /// was neither recorded nor refused in strict mode): PostgreSQL ends a `--` comment at a
    /// carriage return; MySQL/MariaDB older than an executable comment's version skip it (one
    /// comment nested in it), as MySQL does MariaDB's `/*M! … */`; SQLite skips a byte order
    /// mark where a token may start.
    #[test]
    fn comments_and_marks_hide_no_write_from_their_server() {
        use sea_orm::DatabaseBackend::{MySql, Postgres, Sqlite};
        let tables =
            |sql: &str, backend| -> Vec<String> { writes_on(sql, backend).into_iter().map(|w| w.table).collect() };
        assert_eq!(tables("-- note\rDELETE FROM t", Postgres), ["t"]);
        assert_eq!(tables("SELECT 1 -- note\r; DELETE FROM t", Postgres), ["t"]);
        assert!(!returns_no_rows("UPDATE t SET a = 1 -- note\rRETURNING *", Postgres), "RETURNING");
        // MySQL and SQLite end it at a newline only.
        assert!(
            tables("-- note\rDELETE FROM t", MySql).is_empty() && tables("-- note\rDELETE FROM t", Sqlite).is_empty()
        );
        for sql in [
            "/*!999999 SELECT 1 */ DELETE FROM t",
            "/*M!999999 SELECT 1 */ DELETE FROM t",
            "/*M! SELECT 1 */ DELETE FROM t",
            "/*!999999 /* nested */ SELECT 1 */ DELETE FROM t",
            r"/*!999999 SELECT 1 */ SELECT '\'; /*!999999 SELECT 1 */ DELETE FROM t; -- '",
        ] {
            assert_eq!(tables(sql, MySql), ["t"], "{sql}");
            assert!(implicit_commit_on_mysql(&sql.replace("DELETE FROM t", "DROP TABLE t")).is_some(), "{sql}");
        }
        // A server at the version or later runs the content.
        assert_eq!(tables("/*!50000 DELETE FROM t */", MySql), ["t"]);
        assert_eq!(tables("\u{feff}DELETE FROM t", Sqlite), ["t"]);
        assert_eq!(tables("SELECT 1; \u{feff}DELETE FROM t", Sqlite), ["t"]);
        assert_eq!(writes("\u{feff}DELETE FROM t").len(), 1);
    }

    /// PostgreSQL has no backtick identifiers: `` ` `` is an operator character there, and the
    /// SQL between two of them is SQL (it was read as a quoted name, hiding the DELETE).
    #[test]
    fn a_backtick_quotes_nothing_on_postgres() {
        use sea_orm::DatabaseBackend::{MySql, Postgres};
        let sql =
            "DROP OPERATOR IF EXISTS ` (int4, int4); DELETE FROM t WHERE a = 1; DROP OPERATOR IF EXISTS ` (int4, int4)";
        let found: Vec<(Verb, String)> = writes_on(sql, Postgres).into_iter().map(|w| (w.verb, w.table)).collect();
        assert_eq!(found, [(Verb::Delete, "t".to_string())]);
        // MySQL quotes names with it.
        let found: Vec<(Verb, String)> =
            writes_on("UPDATE `my table` SET a = 1", MySql).into_iter().map(|w| (w.verb, w.table)).collect();
        assert_eq!(found, [(Verb::Update, "my table".to_string())]);
    }

    /// PostgreSQL runs the statement `EXPLAIN` analyzes also with a quoted option name and
    /// with the statement in parentheses; `CREATE TABLE … AS` runs the data-modifying `WITH`
    /// parts of its query (each ran on PostgreSQL 15; none was seen).
    #[test]
    fn explained_and_create_as_statements_that_write() {
        use sea_orm::DatabaseBackend::Postgres;
        let verbs = |sql: &str| -> Vec<(Verb, String)> {
            writes_on(sql, Postgres).into_iter().map(|w| (w.verb, w.table)).collect()
        };
        let delete_t = [(Verb::Delete, "t".to_string())];
        for sql in [
            r#"EXPLAIN ("analyze") DELETE FROM t WHERE a=1"#,
            "EXPLAIN ANALYZE (WITH d AS (DELETE FROM t WHERE a=1 RETURNING *) SELECT * FROM d)",
            "EXPLAIN (ANALYZE) (WITH d AS (DELETE FROM t WHERE a=1 RETURNING *) SELECT * FROM d)",
            "CREATE TABLE c AS WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "CREATE TABLE c AS (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d)",
            "EXPLAIN ANALYZE CREATE TABLE c AS WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        ] {
            assert_eq!(verbs(sql), delete_t, "{sql}");
        }
        assert_eq!(verbs("CREATE TABLE c AS EXECUTE p"), [(Verb::Execute, String::new())]);
        // Explained without ANALYZE, or a query that writes nothing: no write.
        for sql in [
            "EXPLAIN (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d)",
            "EXPLAIN (costs) DELETE FROM t",
            "CREATE TABLE c AS SELECT * FROM t",
            "CREATE TABLE g (a int, b int GENERATED ALWAYS AS (a * 2) STORED)",
            "CREATE VIEW v AS SELECT 1",
            "CREATE INDEX i ON t (a)",
        ] {
            assert_eq!(verbs(sql), [], "{sql}");
        }
    }

    fn one(sql: &str) -> Option<(Verb, String)> {
        let found = writes(sql);
        assert!(found.len() <= 1, "{found:?}");
        found.into_iter().next().map(|w| (w.verb, w.table))
    }

    #[test]
    fn finds_mysql_implicit_commits() {
        for (sql, shape) in [
            ("CREATE TABLE t (a INT)", "CREATE TABLE t (a INT)"),
            ("create index i on t (a)", "create index i on t (a)"),
            ("CREATE OR REPLACE VIEW v AS SELECT 1", "CREATE OR REPLACE VIEW v AS SELECT ?"),
            ("ALTER TABLE t ADD b INT", "ALTER TABLE t ADD b INT"),
            ("DROP TABLE t", "DROP TABLE t"),
            ("RENAME TABLE t TO u", "RENAME TABLE t TO u"),
            ("TRUNCATE t", "TRUNCATE t"),
            ("GRANT SELECT ON t TO u", "GRANT SELECT ON t TO u"),
            ("LOCK TABLES t WRITE", "LOCK TABLES t WRITE"),
            ("UNLOCK TABLES", "UNLOCK TABLES"),
            ("ANALYZE TABLE t", "ANALYZE TABLE t"),
            ("OPTIMIZE TABLE t", "OPTIMIZE TABLE t"),
            ("LOAD INDEX INTO CACHE t", "LOAD INDEX INTO CACHE t"),
            ("FLUSH TABLES", "FLUSH TABLES"),
            ("STOP REPLICA", "STOP REPLICA"),
            ("SET autocommit = 1", "SET autocommit = ?"),
            ("SET @@session.autocommit = ON", "SET @ @ session.autocommit = ON"),
            ("SET sql_mode = '', AUTOCOMMIT = 1", "SET sql_mode = ?, AUTOCOMMIT = ?"),
            ("SET PASSWORD = PASSWORD('x')", "SET PASSWORD = PASSWORD (?)"),
            ("SET STATEMENT max_statement_time = 1 FOR CREATE TABLE t (a INT)", ""),
            ("BEGIN NOT ATOMIC CREATE TABLE t (a INT); END", ""),
            ("/* why */ CREATE TABLE t (a INT)", "CREATE TABLE t (a INT)"),
            ("/*!40000 ALTER TABLE t DISABLE KEYS */", ""),
            ("SELECT 1; DROP TABLE t", "DROP TABLE t"),
            ("INSERT INTO t VALUES ('\\'; DROP TABLE u; --')", ""),
        ] {
            let found = implicit_commit_on_mysql(sql);
            assert!(found.is_some(), "{sql}");
            if !shape.is_empty() {
                assert_eq!(found.as_deref(), Some(shape), "{sql}");
            }
        }
        for sql in [
            "SELECT 1",
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "DELETE FROM t",
            "CREATE TEMPORARY TABLE t (a INT)",
            "CREATE OR REPLACE TEMPORARY TABLE t (a INT)",
            "DROP TEMPORARY TABLE t",
            "ANALYZE SELECT 1",
            "LOAD DATA INFILE 'f' INTO TABLE t",
            "SET NAMES utf8mb4",
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "SET @x = 'autocommit'",
            "BEGIN",
            "START TRANSACTION",
            "SELECT 'CREATE TABLE t'; SELECT 2",
            "INSERT INTO t VALUES ('; DROP TABLE u')",
        ] {
            assert_eq!(implicit_commit_on_mysql(sql), None, "{sql}");
        }
    }

    #[test]
    fn finds_what_sets_the_commit_mode_on_mysql() {
        for sql in [
            "SET autocommit = 0",
            "/* why */ SET autocommit = 0",
            "set AutoCommit=0",
            "SET @@session.autocommit = OFF",
            "SET SESSION completion_type = 1",
            "SET completion_type = 'CHAIN'",
            "SET sql_mode = '', autocommit = 0",
            "SET STATEMENT autocommit = 0 FOR INSERT INTO t VALUES (1)",
            "SELECT 1; SET autocommit = 0",
            "BEGIN NOT ATOMIC SET autocommit = 0; END",
        ] {
            assert!(sets_commit_mode_on_mysql(sql).is_some(), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "SET NAMES utf8mb4",
            "SET @x = 'autocommit'",
            "SET STATEMENT max_statement_time = 1 FOR SELECT 1",
            "INSERT INTO t (autocommit) VALUES (0)",
            "SELECT @@autocommit",
            "UPDATE t SET completion_type = 1",
        ] {
            assert_eq!(sets_commit_mode_on_mysql(sql), None, "{sql}");
        }
    }

    #[test]
    fn finds_transaction_control() {
        let control = |sql: &str| writes(sql).iter().any(|w| w.verb == Verb::Transaction);
        for sql in [
            "BEGIN",
            "begin;",
            "BEGIN IMMEDIATE",
            "BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "BEGIN NOT DEFERRABLE",
            "START TRANSACTION READ ONLY",
            "COMMIT",
            "COMMIT PREPARED 'x'",
            "END",
            "END TRANSACTION",
            "ROLLBACK",
            "ROLLBACK TO SAVEPOINT a",
            "SAVEPOINT a",
            "RELEASE SAVEPOINT a",
            "RELEASE a",
            "ABORT",
            "PREPARE TRANSACTION 'x'",
            "XA START 'x'",
            "/* x */ COMMIT",
            "SELECT 1; COMMIT",
            "DELETE FROM t; ROLLBACK",
        ] {
            assert!(control(sql), "{sql}: {:?}", writes(sql));
            for backend in [sea_orm::DbBackend::Postgres, sea_orm::DbBackend::MySql, sea_orm::DbBackend::Sqlite] {
                assert!(writes_on(sql, backend).iter().any(|w| w.verb == Verb::Transaction), "{sql} on {backend:?}");
            }
        }
        for sql in [
            "BEGIN NOT ATOMIC UPDATE t SET a = 1; END",
            "IF 1 THEN DELETE FROM t; END IF",
            "CREATE TRIGGER g AFTER INSERT ON t BEGIN UPDATE u SET a = 1; END",
            "CREATE PROCEDURE p() BEGIN UPDATE t SET a = 1; END",
            "PREPARE s AS SELECT 1",
            "SELECT release_lock('x')",
            "UPDATE OR ROLLBACK t SET a = 1",
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "SELECT 'COMMIT'",
        ] {
            assert!(!control(sql), "{sql}: {:?}", writes(sql));
        }
    }

    #[test]
    fn finds_writes_and_tables() {
        assert_eq!(
            one(r#"INSERT INTO "public"."users" ("a") VALUES ($1) RETURNING "id""#),
            Some((Verb::Insert, "users".into()))
        );
        // (Backtick names are MySQL's and SQLite's: read as MySQL reads them.)
        let on_mysql =
            |sql: &str| writes_on(sql, sea_orm::DatabaseBackend::MySql).into_iter().map(|w| (w.verb, w.table));
        assert_eq!(
            on_mysql("  /* x */ update `users` set a = ? where id = ?").collect::<Vec<_>>(),
            [(Verb::Update, "users".into())]
        );
        assert_eq!(one("DELETE FROM users WHERE id = 1"), Some((Verb::Delete, "users".into())));
        assert_eq!(one("DELETE QUICK IGNORE FROM t"), Some((Verb::Delete, "t".into())));
        assert_eq!(one("REPLACE INTO t VALUES (1)"), Some((Verb::Replace, "t".into())));
        assert_eq!(one("INSERT OR REPLACE INTO t VALUES (1)"), Some((Verb::Insert, "t".into())));
        for conflict in ["REPLACE", "ABORT", "FAIL", "ROLLBACK", "IGNORE"] {
            let sql = format!("UPDATE OR {conflict} t SET a = 1 WHERE id = 2");
            assert_eq!(one(&sql), Some((Verb::Update, "t".into())), "{sql}");
        }
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
    fn older_and_vendor_forms_of_writes() {
        // PostgreSQL's old `COPY BINARY t`: `binary` is a keyword, not the table.
        assert_eq!(one("COPY BINARY users FROM STDIN"), Some(w(Verb::Insert, "users")));
        assert_eq!(one("copy binary s.users (a, b) from '/tmp/f'"), Some(w(Verb::Insert, "users")));
        assert_eq!(one("COPY BINARY users TO STDOUT"), None);
        assert_eq!(one(r#"COPY "binary" FROM STDIN"#), Some(w(Verb::Insert, "binary")), "a table so named, quoted");
        // MariaDB's `DELETE HISTORY FROM t` deletes rows of `t` (its history); with a modifier
        // before it, `history` is a table of a multi-table delete.
        assert_eq!(one("DELETE HISTORY FROM t BEFORE SYSTEM_TIME NOW()"), Some(w(Verb::Delete, "t")));
        assert_eq!(one("delete history from test.t"), Some(w(Verb::Delete, "t")));
        assert_eq!(
            one("DELETE QUICK history FROM history JOIN u ON history.id = u.id"),
            Some(w(Verb::Delete, "history"))
        );
        // MySQL/MariaDB `BINLOG` replays row events of any table.
        assert_eq!(one("BINLOG 'AMUdYw8BAAAA…'"), Some(w(Verb::Do, "")));
        let on_mysql = writes_on("binlog 'x'", sea_orm::DatabaseBackend::MySql);
        assert_eq!(on_mysql.iter().map(|w| w.verb).collect::<Vec<_>>(), [Verb::Do]);
    }

    #[test]
    fn postgresql_folds_unquoted_table_names() {
        use sea_orm::DatabaseBackend::{MySql, Postgres, Sqlite};
        let tables = |sql: &str, backend| writes_on(sql, backend).into_iter().map(|w| w.table).collect::<Vec<_>>();
        assert_eq!(tables("DELETE FROM Users WHERE id = 1", Postgres), ["users"]);
        assert_eq!(tables("UPDATE public.USERS SET a = 1", Postgres), ["users"]);
        assert_eq!(tables(r#"DELETE FROM "Users" WHERE id = 1"#, Postgres), ["Users"], "a quoted name keeps its case");
        // Quoted too in the statement: which one is written is not read, so kept as written.
        assert_eq!(tables(r#"UPDATE Users SET a = 1 FROM "Users" u"#, Postgres), ["Users"]);
        // MySQL (on Linux) and SQLite keep the name as written; so does a reading for a server
        // not known, once (not again in PostgreSQL's case).
        assert_eq!(tables("DELETE FROM Users WHERE id = 1", MySql), ["Users"]);
        assert_eq!(tables("DELETE FROM Users WHERE id = 1", Sqlite), ["Users"]);
        assert_eq!(
            writes("DELETE FROM Users WHERE id = 1").iter().map(|w| w.table.as_str()).collect::<Vec<_>>(),
            ["Users"]
        );
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

    #[test]
    fn shapes_strip_double_quoted_values_where_the_server_may_read_strings() {
        use sea_orm::DatabaseBackend::{MySql, Postgres, Sqlite};
        // MySQL by default and SQLite (when no column has the name) read `"…"` as a string.
        for backend in [MySql, Sqlite] {
            let found = writes_on(r#"UPDATE users SET ssn = "078-05-1120" WHERE email = 'a@x'"#, backend);
            assert_eq!(found[0].shape, "UPDATE users SET ssn = ? WHERE email = ?", "{backend:?}");
            let found = writes_on(r#"INSERT INTO t (a, "b") VALUES ("secret", 1)"#, backend);
            assert_eq!(found[0].shape, r#"INSERT INTO t (a, "b") VALUES (?, ?)"#, "{backend:?}");
            let found = writes_on(r#"DELETE FROM t WHERE "secret" = c OR c IN ("x", "y")"#, backend);
            assert_eq!(found[0].shape, "DELETE FROM t WHERE ? = c OR c IN (?, ?)", "{backend:?}");
        }
        // Where only a name can stand, a name: what SeaORM sends to SQLite keeps its names.
        let found =
            writes_on(r#"UPDATE "users" SET "name" = ?, "ssn" = ? WHERE "users"."id" = ? RETURNING "id""#, Sqlite);
        assert_eq!(found[0].shape, r#"UPDATE "users" SET "name" = ?, "ssn" = ? WHERE "users"."id" = ? RETURNING ?"#);
        let found = writes_on(r#"INSERT INTO "main"."users" ("id", "name") VALUES (?, ?)"#, Sqlite);
        assert_eq!(found[0].shape, r#"INSERT INTO "main"."users" ("id", "name") VALUES (?, ?)"#);
        // Values where a name could also stand: `VALUE`, `(SELECT …)`, `DISTINCT FROM`,
        // `FROM` inside a call, a comparison inside a `SET` value.
        for (sql, shape) in [
            (r#"INSERT INTO t VALUE (1, "s")"#, "INSERT INTO t VALUE (?, ?)"),
            (r#"INSERT INTO t (SELECT "s")"#, "INSERT INTO t (SELECT ?)"),
            (r#"DELETE FROM t WHERE a IS NOT DISTINCT FROM "s""#, "DELETE FROM t WHERE a IS NOT DISTINCT FROM ?"),
            (r#"UPDATE t SET a = TRIM(LEADING 'x' FROM "s")"#, "UPDATE t SET a = TRIM (LEADING ? FROM ?)"),
            (r#"UPDATE t SET a = IF(b = 1, "s" = c, 2), "d" = 3"#, r#"UPDATE t SET a = IF (b = ?, ? = c, ?), "d" = ?"#),
        ] {
            for backend in [MySql, Sqlite] {
                assert_eq!(writes_on(sql, backend)[0].shape, shape, "{sql} on {backend:?}");
            }
        }
        // A write only another session setting's reading finds (here `NO_BACKSLASH_ESCAPES`,
        // where the string ends at `\'` and its rest is SQL) shows no statement: its words
        // are a string's text to the server as configured by default.
        let found = writes_on(r"UPDATE t SET a = 'O\'Brien; DELETE FROM u WHERE k = ', b = 'sk_live_1'", MySql);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].shape, "UPDATE t SET a = ?, b = ?");
        assert_eq!((found[1].verb, found[1].table.as_str()), (Verb::Delete, "u"));
        assert_eq!(found[1].shape, format!("DELETE u {OTHER_READING}"));
        // PostgreSQL reads `"…"` only as a name.
        let found = writes_on(r#"UPDATE users SET ssn = "other_column" WHERE "a" = 1"#, Postgres);
        assert_eq!(found[0].shape, r#"UPDATE users SET ssn = "other_column" WHERE "a" = ?"#);
    }

    fn all(sql: &str) -> Vec<(Verb, String)> {
        writes(sql).into_iter().map(|w| (w.verb, w.table)).collect()
    }

    fn w(verb: Verb, table: &str) -> (Verb, String) {
        (verb, table.to_string())
    }

    #[test]
    fn explain_analyze_runs_the_statement() {
        assert_eq!(one("EXPLAIN ANALYZE DELETE FROM t"), Some(w(Verb::Delete, "t")));
        assert_eq!(one("explain analyse verbose delete from s.t where id = 1"), Some(w(Verb::Delete, "t")));
        assert_eq!(one("EXPLAIN (ANALYZE, FORMAT JSON) UPDATE t SET a = 1"), Some(w(Verb::Update, "t")));
        assert_eq!(
            one("EXPLAIN (FORMAT JSON, ANALYZE true, BUFFERS) INSERT INTO t VALUES (1)"),
            Some(w(Verb::Insert, "t"))
        );
        assert_eq!(
            one("EXPLAIN (ANALYZE true) WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"),
            Some(w(Verb::Delete, "t"))
        );
        assert_eq!(
            one("/* c */ EXPLAIN ANALYZE MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE"),
            Some(w(Verb::Merge, "t"))
        );
        // MySQL 8 (multi-table UPDATE/DELETE); DESCRIBE is a synonym of EXPLAIN.
        assert_eq!(
            one("EXPLAIN ANALYZE FORMAT=TREE DELETE t FROM t JOIN u ON t.id = u.id"),
            Some(w(Verb::Delete, "t"))
        );
        assert_eq!(one("DESCRIBE ANALYZE UPDATE t, u SET t.a = u.a"), Some(w(Verb::Update, "t")));
        // MariaDB's ANALYZE statement runs it.
        assert_eq!(one("ANALYZE DELETE FROM t"), Some(w(Verb::Delete, "t")));
        assert_eq!(one("ANALYZE FORMAT=JSON UPDATE t SET a = 1"), Some(w(Verb::Update, "t")));
        assert_eq!(one("SELECT 1; ANALYZE DELETE FROM t WHERE a = 2"), Some(w(Verb::Delete, "t")));
        let found = writes("EXPLAIN ANALYZE DELETE FROM t WHERE id = 1");
        assert_eq!(found[0].shape, "EXPLAIN ANALYZE DELETE FROM t WHERE id = ?");
    }

    #[test]
    fn explain_without_analyze_and_statistics_are_not_writes() {
        for sql in [
            "EXPLAIN DELETE FROM t",
            "EXPLAIN VERBOSE UPDATE t SET a = 1",
            "EXPLAIN (FORMAT JSON, VERBOSE) UPDATE t SET a = 1",
            "EXPLAIN FORMAT=JSON DELETE FROM t",
            "EXPLAIN WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "EXPLAIN SELECT * FROM t",
            "EXPLAIN ANALYZE SELECT * FROM t",
            "EXPLAIN (ANALYZE) SELECT * FROM t FOR UPDATE",
            "EXPLAIN QUERY PLAN DELETE FROM t",
            "EXPLAIN QUERY PLAN SELECT * FROM t",
            "DESCRIBE t",
            "DESC t a",
            "ANALYZE",
            "ANALYZE t",
            "ANALYZE VERBOSE t (a, b)",
            "ANALYZE (SKIP_LOCKED) t",
            "ANALYZE TABLE t",
            "ANALYZE NO_WRITE_TO_BINLOG TABLE t, u",
            "ANALYZE TABLE t UPDATE HISTOGRAM ON c WITH 10 BUCKETS",
            "ANALYZE TABLE t PERSISTENT FOR ALL",
        ] {
            assert_eq!(writes(sql), [], "{sql}");
        }
    }

    #[test]
    fn executable_comments_are_read_as_sql() {
        assert_eq!(one("/*! DELETE FROM t */"), Some(w(Verb::Delete, "t")));
        assert_eq!(one("/*!50001 DELETE FROM t */"), Some(w(Verb::Delete, "t")));
        assert_eq!(one("/*M! UPDATE t SET a = 1 */"), Some(w(Verb::Update, "t")));
        assert_eq!(one("/*M!100101 INSERT INTO t VALUES (1) */"), Some(w(Verb::Insert, "t")));
        assert_eq!(one("SELECT 1; /*!DELETE FROM t*/"), Some(w(Verb::Delete, "t")));
        assert_eq!(one("SELECT 1 /*!; DELETE FROM t */"), Some(w(Verb::Delete, "t")));
        assert_eq!(one("/*!*/ DELETE FROM t"), Some(w(Verb::Delete, "t")));
        assert_eq!(one("/*!40101 DELETE */ FROM t"), Some(w(Verb::Delete, "t")));
        // The closing `*/` is no token: the shape is the statement's.
        assert_eq!(writes("/*!50001 DELETE FROM t WHERE a = 1*/")[0].shape, "DELETE FROM t WHERE a = ?");
        for sql in [
            "/* DELETE FROM t */ SELECT 1",
            "SELECT /*!40001 SQL_NO_CACHE */ * FROM t",
            "/*!40101 SET NAMES utf8mb4 */",
            "/*+ SET_VAR(sort_buffer_size = 16M) */ SELECT 1",
            "SELECT '/*! DELETE FROM t */'",
        ] {
            assert_eq!(writes(sql), [], "{sql}");
        }
    }

    #[test]
    fn nested_comments_are_read_both_ways() {
        // PostgreSQL nests comments: the DELETE runs.
        assert_eq!(one("/* /* */ */ DELETE FROM t"), Some(w(Verb::Delete, "t")));
        assert_eq!(one("/* a /* b */ c */ UPDATE t SET a = 1"), Some(w(Verb::Update, "t")));
        assert_eq!(one("SELECT 1; /* /* */ x */ DELETE FROM t"), Some(w(Verb::Delete, "t")));
        // MySQL and SQLite do not: the comment ends at the first `*/`.
        assert_eq!(one("/* /* */ DELETE FROM t"), Some(w(Verb::Delete, "t")));
        for sql in ["/* /* */ */ SELECT 1", "SELECT 1 /* /* DELETE FROM t */ */", "/* /* DELETE FROM t */ */ SELECT 1"]
        {
            assert_eq!(writes(sql), [], "{sql}");
        }
    }

    #[test]
    fn backslashes_are_read_both_ways() {
        // PostgreSQL (standard strings) and SQLite: `\` is an ordinary character, the DELETE runs.
        assert_eq!(one(r"SELECT 'a\'; DELETE FROM t; --'"), Some(w(Verb::Delete, "t")));
        assert_eq!(
            all(r"UPDATE u SET a = 'x\' WHERE id = 1; DELETE FROM t; --'"),
            [w(Verb::Update, "u"), w(Verb::Delete, "t")]
        );
        // The first reading's writes come first, in their order.
        assert_eq!(
            all(r"DELETE FROM a; SELECT 'x\'; DELETE FROM b; UPDATE a SET c = 1; --'"),
            [w(Verb::Delete, "a"), w(Verb::Delete, "b"), w(Verb::Update, "a")]
        );
        // On PostgreSQL that is how the server reads it: the shape shows the statement. Read
        // for a server not known, only a later reading finds the DELETE: no statement shown.
        let found = writes_on(r"SELECT 'a\'; DELETE FROM t WHERE b = 'c'; --'", sea_orm::DatabaseBackend::Postgres);
        assert_eq!(found[0].shape, "DELETE FROM t WHERE b = ?");
        let found = writes(r"SELECT 'a\'; DELETE FROM t WHERE b = 'c'; --'");
        assert_eq!(found[0].shape, format!("DELETE t {OTHER_READING}"));
        // MySQL: `\'` escapes the quote, the DELETE runs.
        assert_eq!(one(r"SELECT 'a\''; DELETE FROM t; -- '"), Some(w(Verb::Delete, "t")));
        // MySQL: "..." is a string, with backslash escapes too.
        assert_eq!(one(r#"SELECT "a\""; DELETE FROM t; -- ""#), Some(w(Verb::Delete, "t")));
        // No write in either reading.
        for sql in [r"SELECT 'C:\dir\'", r"SELECT 'a\\', 'b'", r"SELECT 'a\'' || 'b'"] {
            assert_eq!(writes(sql), [], "{sql}");
        }
        // PostgreSQL reads `\` as an escape in E'...' strings only.
        let postgres = POSTGRES;
        assert_eq!(tokens(r"SELECT E'a\'; DELETE FROM t; --'", postgres).len(), 1);
        assert_eq!(tokens(r"SELECT e'a\'; DELETE FROM t; --'", postgres).len(), 1);
        assert_eq!(tokens(r"SELECT 'a\'; DELETE FROM t; --'", postgres).len(), 2);
        assert_eq!(tokens(r"SELECT name'a\'; DELETE FROM t; --'", postgres).len(), 2);
    }

    #[test]
    fn other_dialect_differences_are_read_both_ways() {
        // PostgreSQL: `#` is an operator, not a comment.
        assert_eq!(one("SELECT 5 # 3; DELETE FROM t"), Some(w(Verb::Delete, "t")));
        // MySQL: `--` starts a comment only before white space: `1--1` is 1 - -1.
        assert_eq!(one("SELECT 1--1; DELETE FROM t"), Some(w(Verb::Delete, "t")));
        // PostgreSQL: `[` is a subscript, not a quoted identifier.
        assert_eq!(one("SELECT a[1] FROM x; DELETE FROM t; SELECT b[2] FROM x"), Some(w(Verb::Delete, "t")));
        // PostgreSQL and MySQL identifiers may hold `$`: `a$b$` is no dollar quote.
        assert_eq!(one("SELECT a$b$ FROM x; DELETE FROM t; SELECT $b$"), Some(w(Verb::Delete, "t")));
        // A `--comment` without a space is not read as a verb by the MySQL reading.
        for sql in [
            "--update the totals\nSELECT 1",
            "SELECT 1; --delete later\n",
            "# delete later\nSELECT 1",
            "SELECT x FROM [delete; t]",
        ] {
            assert_eq!(writes(sql), [], "{sql}");
        }
        // Only PostgreSQL has dollar quotes: MySQL reads `$$` as an identifier and runs the
        // DELETE. Read as the server it goes to, each is right.
        let dollars = "SELECT $$; DELETE FROM t; $$";
        assert_eq!(one(dollars), Some(w(Verb::Delete, "t")));
        assert_eq!(writes_on(dollars, sea_orm::DbBackend::Postgres), []);
        assert_eq!(writes_on(dollars, sea_orm::DbBackend::MySql).len(), 1);
        // Read every way, even where no construct looks ambiguous to the lenient reading:
        // SQLite's `$a(')` is one parameter.
        assert_eq!(one("SELECT $a(') ; DELETE FROM t; SELECT 1 -- '"), Some(w(Verb::Delete, "t")));
    }

    #[test]
    fn each_server_reads_the_text_its_own_way() {
        use sea_orm::DatabaseBackend::{MySql, Postgres, Sqlite};
        let tables =
            |sql: &str, backend| -> Vec<String> { writes_on(sql, backend).into_iter().map(|w| w.table).collect() };
        // MySQL's executable comments are comments elsewhere.
        let bang = "/*! DELETE FROM t */ SELECT 1";
        assert_eq!(tables(bang, MySql), ["t"]);
        assert!(tables(bang, Postgres).is_empty() && tables(bang, Sqlite).is_empty());
        // PostgreSQL with standard_conforming_strings off reads backslash escapes in every
        // string, and nests comments.
        let escapes = r"SELECT '\' ' /* /* */ '\' */ ; DELETE FROM t; -- ";
        assert_eq!(tables(escapes, Postgres), ["t"]);
        // MySQL with NO_BACKSLASH_ESCAPES, and `#` comments.
        let no_escapes = "SELECT '\\' #\\'\n; DELETE FROM t; -- ";
        assert_eq!(tables(no_escapes, MySql), ["t"]);
        // Dollar-quote tags may hold letters beyond ASCII.
        assert_eq!(tables("SELECT $é$ ' $é$; DELETE FROM t; -- '", Postgres), ["t"]);
        // MariaDB's SET STATEMENT … FOR runs its statement; PostgreSQL's DO takes E'' and U&''.
        assert_eq!(tables("SET STATEMENT max_statement_time = 0 FOR DELETE FROM t", MySql), ["t"]);
        assert_eq!(tables("SET /* x */ STATEMENT max_statement_time = 0 FOR DELETE FROM t", MySql), ["t"]);
        assert_eq!(tables("SET -- x\nSTATEMENT max_statement_time = 0 FOR DELETE FROM t", MySql), ["t"]);
        assert_eq!(tables("BEGIN /* x */ NOT ATOMIC DELETE FROM t; END", MySql).len(), 1);
        assert_eq!(writes_on("DO E'BEGIN DELETE FROM t; END'", Postgres)[0].verb, Verb::Do);
        assert_eq!(writes_on("DO U&'BEGIN DELETE FROM t; END'", Postgres)[0].verb, Verb::Do);
    }

    #[test]
    fn multi_table_writes_name_the_tables_written() {
        let tables = |sql: &str| -> Vec<String> { writes(sql).into_iter().map(|w| w.table).collect() };
        assert_eq!(tables("TRUNCATE a, b"), ["a", "b"]);
        assert_eq!(tables("TRUNCATE TABLE ONLY s.a, b *"), ["a", "b"]);
        assert_eq!(tables("UPDATE a p JOIN b u ON u.x = p.x SET u.score = 7"), ["b"]);
        assert_eq!(tables("UPDATE a, b SET a.x = 1, b.y = 2 WHERE a.id = b.id"), ["a", "b"]);
        assert_eq!(tables("UPDATE a JOIN b ON a.id = b.id SET x = 1"), ["a", "b"], "unqualified: either");
        assert_eq!(tables("DELETE u FROM users AS u JOIN other o ON o.id = u.id"), ["users"]);
        assert_eq!(tables("DELETE a, b FROM a JOIN b ON a.id = b.id"), ["a", "b"]);
        assert_eq!(tables("DELETE FROM a, b USING a JOIN b ON a.id = b.id"), ["a", "b"]);
        // Single-table forms as before, PostgreSQL's USING and UPDATE … FROM included.
        assert_eq!(tables("DELETE FROM t USING other WHERE t.id = other.id"), ["t"]);
        assert_eq!(tables("UPDATE t SET x = o.x FROM other o WHERE o.id = t.id"), ["t"]);
        assert_eq!(tables("UPDATE t AS x SET a = 1"), ["t"]);
    }

    #[test]
    fn deep_nesting_is_code_of_unknown_writes_not_a_stack_overflow() {
        let sql = "COPY (".repeat(100_000);
        assert_eq!(writes(&sql)[0].verb, Verb::Do);
        let sql = format!("{}DELETE FROM t", "SET STATEMENT x = 1 FOR ".repeat(10_000));
        assert_eq!(writes(&sql)[0].verb, Verb::Do);
    }

    #[test]
    fn copy_from_and_load_data_insert() {
        assert_eq!(one("COPY t FROM STDIN"), Some(w(Verb::Insert, "t")));
        assert_eq!(one("COPY t (a, b) FROM '/file' WITH (FORMAT csv)"), Some(w(Verb::Insert, "t")));
        assert_eq!(one("copy schema.t from program 'gunzip < /x.gz'"), Some(w(Verb::Insert, "t")));
        assert_eq!(one(r#"COPY "My T" FROM STDIN (FORMAT binary)"#), Some(w(Verb::Insert, "My T")));
        assert_eq!(one("COPY (DELETE FROM t RETURNING *) TO STDOUT"), Some(w(Verb::Delete, "t")));
        assert_eq!(one("LOAD DATA INFILE '/f.csv' INTO TABLE t"), Some(w(Verb::Insert, "t")));
        assert_eq!(
            one("LOAD DATA LOW_PRIORITY LOCAL INFILE 'f' REPLACE INTO TABLE db.t FIELDS TERMINATED BY ','"),
            Some(w(Verb::Replace, "t"))
        );
        let on_mysql = |sql: &str| {
            writes_on(sql, sea_orm::DatabaseBackend::MySql).into_iter().map(|w| (w.verb, w.table)).collect::<Vec<_>>()
        };
        assert_eq!(on_mysql("load data concurrent infile 'f' ignore into table `t` (a, b)"), [w(Verb::Insert, "t")]);
        assert_eq!(
            one("LOAD XML LOCAL INFILE 'f.xml' INTO TABLE t ROWS IDENTIFIED BY '<row>'"),
            Some(w(Verb::Insert, "t"))
        );
        assert_eq!(writes("COPY t (a) FROM '/tmp/x.csv'")[0].shape, "COPY t (a) FROM ?",);
        for sql in [
            "COPY t TO STDOUT",
            "COPY t (a, b) TO '/file'",
            "COPY (SELECT * FROM t) TO STDOUT",
            "COPY (WITH x AS (SELECT 1) SELECT * FROM x) TO STDOUT",
            "LOAD INDEX INTO CACHE t",
            "LOAD 'auto_explain'",
        ] {
            assert_eq!(writes(sql), [], "{sql}");
        }
    }

    #[test]
    fn statements_that_run_code_are_writes_of_unknown_tables() {
        let code = |verb| Some((verb, String::new()));
        assert_eq!(one("CALL archive_orders(2024)"), code(Verb::Call));
        assert_eq!(one("call app.purge()"), code(Verb::Call));
        assert_eq!(one("DO $$BEGIN UPDATE t SET a = 1; END$$"), code(Verb::Do));
        assert_eq!(one("DO LANGUAGE plpgsql 'BEGIN DELETE FROM t; END'"), code(Verb::Do));
        assert_eq!(one("EXECUTE purge_stmt(1, 'x')"), code(Verb::Execute));
        assert_eq!(one("EXECUTE IMMEDIATE 'DELETE FROM t'"), code(Verb::Execute));
        assert_eq!(one("EXPLAIN ANALYZE EXECUTE purge_stmt(1)"), code(Verb::Execute));
        assert_eq!(one("/* c */ EXPLAIN (ANALYZE, BUFFERS) EXECUTE p"), code(Verb::Execute));
        assert!(Verb::Call.runs_code() && Verb::Do.runs_code() && Verb::Execute.runs_code());
        assert!(!Verb::Update.runs_code());
        assert_eq!(writes("CALL p(1, 'secret')")[0].shape, "CALL p (?, ?)");
        for sql in [
            // Writes nothing itself: its EXECUTE does.
            "PREPARE purge_stmt(int) AS DELETE FROM t WHERE id = $1",
            "EXPLAIN EXECUTE p",
            "SELECT 'CALL p()', 'DO x', 'EXECUTE y'",
            "DEALLOCATE p",
        ] {
            assert_eq!(writes(sql), [], "{sql}");
        }
        // MariaDB compound statements outside a stored program.
        for sql in [
            "BEGIN NOT ATOMIC UPDATE t SET a = 2; END",
            "begin not atomic DELETE FROM t; end",
            "IF 1 THEN UPDATE t SET a = 3; END IF",
            "lbl: BEGIN NOT ATOMIC DELETE FROM t; END",
            "WHILE 0 DO UPDATE t SET a = 1; END WHILE",
            "REPEAT UPDATE t SET a = a + 1; UNTIL 1 END REPEAT",
            "l1: LOOP LEAVE l1; END LOOP",
            "CASE WHEN 1 THEN DELETE FROM t; END CASE",
            "FOR i IN 1..3 DO INSERT INTO t VALUES (i); END FOR",
        ] {
            assert!(writes(sql).iter().any(|w| w.verb == Verb::Do), "{sql}: {:?}", writes(sql));
        }
        // MySQL's `DO expression`: no code block.
        for sql in ["DO SLEEP(1)", "DO RELEASE_LOCK('x')"] {
            assert_eq!(writes(sql), [], "{sql}");
        }
        assert_eq!(one("/* audit_seaorm: old row */ SELECT a FROM t WHERE id = $1 LIMIT $2 FOR UPDATE"), None);
        assert_eq!(one("/* audit_seaorm: old row */ DELETE FROM t"), Some((Verb::Delete, "t".into())));
        // DO in an upsert is no code block.
        assert_eq!(all("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO NOTHING"), [w(Verb::Insert, "t")]);
        assert_eq!(
            all("WITH s AS (SELECT 1 AS a) INSERT INTO t SELECT a FROM s ON CONFLICT (a) DO UPDATE SET a = 2"),
            [w(Verb::Insert, "t")]
        );
    }

    #[test]
    fn every_data_modifying_cte_is_a_write() {
        assert_eq!(
            all("WITH a AS (DELETE FROM t1 RETURNING *), b AS (UPDATE t2 SET x = 1 RETURNING *) \
                 INSERT INTO t3 SELECT * FROM a"),
            [w(Verb::Delete, "t1"), w(Verb::Update, "t2"), w(Verb::Insert, "t3")]
        );
        let found = writes("WITH a AS (DELETE FROM t1 RETURNING *) UPDATE t2 SET x = 1");
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|w| w.shape == "WITH a AS (DELETE FROM t1 RETURNING *) UPDATE t2 SET x = ?"));
        // The exclusions hold.
        assert_eq!(
            all("WITH a AS (INSERT INTO t1 VALUES (1) ON CONFLICT (id) DO UPDATE SET x = 2 RETURNING *) \
                 SELECT * FROM t2 FOR UPDATE"),
            [w(Verb::Insert, "t1")]
        );
        assert_eq!(
            all("WITH x AS (SELECT id FROM t FOR NO KEY UPDATE OF t) DELETE FROM u USING x"),
            [w(Verb::Delete, "u")]
        );
        assert_eq!(
            all("WITH s AS (SELECT replace(a, 'x', 'y') AS a FROM t0) MERGE INTO t USING s ON t.a = s.a \
                 WHEN MATCHED THEN UPDATE SET a = s.a WHEN NOT MATCHED THEN INSERT (a) VALUES (s.a) \
                 WHEN NOT MATCHED BY SOURCE THEN DELETE"),
            [w(Verb::Merge, "t")]
        );
        // SQLite `WITH ... REPLACE INTO`.
        assert_eq!(all("WITH x AS (SELECT 1) REPLACE INTO t SELECT * FROM x"), [w(Verb::Replace, "t")]);
        assert_eq!(all("WITH x AS (SELECT replace (a, 'b', 'c') FROM t) SELECT * FROM x"), []);
    }

    #[test]
    fn a_write_returns_no_rows_only_when_plain_and_without_returning() {
        use sea_orm::DatabaseBackend::{MySql, Postgres, Sqlite};
        for backend in [Postgres, MySql, Sqlite] {
            let returns_no_rows = |sql: &str| returns_no_rows(sql, backend);
            assert!(returns_no_rows("INSERT INTO t (a) VALUES ('returning'), ($1)"));
            assert!(returns_no_rows(r#"UPDATE "is_returning" SET "returning" = 1"#));
            assert!(returns_no_rows("DELETE FROM t WHERE a = ?"));
            assert!(!returns_no_rows("INSERT INTO t (a) VALUES (1) RETURNING id"));
            assert!(!returns_no_rows("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x"));
            assert!(!returns_no_rows("WITH x AS (DELETE FROM t) SELECT 1"));
            assert!(!returns_no_rows("CALL p()"));
            assert!(!returns_no_rows("EXPLAIN ANALYZE DELETE FROM t"));
            assert!(!returns_no_rows("DELETE FROM t; SELECT 1"));
        }
        // A `RETURNING` that another server's reading takes for part of a comment or a string.
        assert!(!returns_no_rows("UPDATE t SET a = a # 1 RETURNING id", Postgres));
        assert!(!returns_no_rows(r"UPDATE t SET a = 'C:\' RETURNING id", Sqlite));
        assert!(!returns_no_rows(r#"DELETE FROM t WHERE a <> "a\"b" RETURNING id"#, MySql));
        assert!(
            !returns_no_rows(r"UPDATE t SET a = 'C:\' RETURNING id", Postgres),
            "standard_conforming_strings on, the default"
        );
    }

    #[test]
    fn an_insert_doing_nothing_on_a_duplicate_key_is_recognized() {
        let first = |sql| insert_doing_nothing_on_duplicate_key(sql);
        assert_eq!(
            first(
                "INSERT INTO `memberships` (`user_id`, `org`, `role`) VALUES (?, ?, CAST(? AS CHAR)) \
                 ON DUPLICATE KEY UPDATE `user_id` = `user_id`, `org` = `org`"
            ),
            Some("user_id".to_string())
        );
        assert_eq!(first("INSERT INTO db.t (a) VALUES (?) ON DUPLICATE KEY UPDATE a = a"), Some("a".into()));
        // It changes something, or is not one row, or not `ON DUPLICATE KEY`, or text follows.
        assert_eq!(first("INSERT INTO t (a, b) VALUES (?, ?) ON DUPLICATE KEY UPDATE b = VALUES(b)"), None);
        assert_eq!(first("INSERT INTO t (a, b) VALUES (?, ?) ON DUPLICATE KEY UPDATE a = a, b = ?"), None);
        assert_eq!(first("INSERT INTO t (a, b) VALUES (?, ?) ON DUPLICATE KEY UPDATE a = b"), None);
        assert_eq!(first("INSERT INTO t (a) VALUES (?), (?) ON DUPLICATE KEY UPDATE a = a"), None);
        assert_eq!(first("INSERT INTO t (a) VALUES (?)"), None);
        assert_eq!(first("INSERT INTO t (a) SELECT ? ON DUPLICATE KEY UPDATE a = a"), None);
        assert_eq!(first("INSERT INTO t (a) VALUES (?) ON DUPLICATE KEY UPDATE a = a; DELETE FROM t"), None);
        assert_eq!(first("INSERT INTO t (a) VALUES (?) ON DUPLICATE KEY UPDATE a = a -- x"), None);
        assert_eq!(first("UPDATE t SET a = a"), None);
    }

    /// Text made of the pieces the readers treat specially (quotes, comments, dollar quotes,
    /// escapes, brackets, the keywords they look for), multi-byte characters and anything else.
    fn sql_like() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            prop::sample::select(vec![
                "'",
                "\"",
                "`",
                "$$",
                "$a$",
                "--",
                "-- ",
                "/*",
                "*/",
                "/*!",
                "/*M!",
                "#",
                "\\",
                "(",
                ")",
                ";",
                ",",
                "=",
                "?",
                "$1",
                "[",
                "]",
                "E'",
                ".",
                " ",
                "\n",
                "é",
                "😀",
                "UPDATE",
                "INSERT",
                "INTO",
                "SET",
                "WHERE",
                "RETURNING",
                "FROM",
                "WITH",
                "DELETE",
                "VALUES",
                "ON",
                "DUPLICATE",
                "KEY",
                "SELECT",
                "BEGIN",
                "NOT",
                "ATOMIC",
                "CALL",
                "COPY",
                "EXPLAIN",
                "ANALYZE",
                "t",
                "a",
            ])
            .prop_map(str::to_string),
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..48).prop_map(|pieces| pieces.concat())
    }

    proptest::proptest! {
        /// A quoted identifier borrowed from the statement is what undoing its escapes gives.
        #[test]
        fn a_plain_quoted_identifier_reads_as_with_escapes_undone(sql in sql_like()) {
            let bytes = sql.as_bytes();
            for (start, &open) in bytes.iter().enumerate() {
                let close = match open {
                    b'"' | b'`' => open,
                    b'[' => b']',
                    _ => continue,
                };
                for backslash in [false, true] {
                    if let Some(end) = quoted_plainly(bytes, start + 1, close, backslash) {
                        let (ident, after) = quoted_with_escapes(&sql, start + 1, close, backslash);
                        proptest::prop_assert_eq!(&sql[start + 1..end], ident.as_str());
                        proptest::prop_assert_eq!(end + 1, after);
                    }
                }
            }
        }

        #[test]
        fn any_text_is_read_without_panicking(sql in sql_like()) {
            for dialect in DIALECTS.into_iter().chain([LENIENT]) {
                tokens(&sql, dialect);
            }
            for write in writes(&sql) {
                proptest::prop_assert!(write.shape.len() <= 2100, "{}", write.shape.len());
            }
            insert_doing_nothing_on_duplicate_key(&sql);
            for backend in [sea_orm::DbBackend::Postgres, sea_orm::DbBackend::MySql, sea_orm::DbBackend::Sqlite] {
                returns_no_rows(&sql, backend);
            }
            // The offsets point at the clauses' keywords.
            if let Some((where_at, returning_at)) = update_clauses(&sql) {
                proptest::prop_assert!(sql.get(where_at..where_at + 5).is_some_and(|w| w.eq_ignore_ascii_case("WHERE")));
                if let Some(at) = returning_at {
                    proptest::prop_assert!(at > where_at);
                    proptest::prop_assert!(sql.get(at..at + 9).is_some_and(|w| w.eq_ignore_ascii_case("RETURNING")));
                }
            }
        }
    }
}

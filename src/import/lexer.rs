//! nginx's configuration tokens, read as `ngx_conf_read_token` reads them.
//!
//! - Tokens are separated by spaces, tabs and line breaks; `;` ends a
//!   directive, `{` opens a block and `}` closes one.
//! - `#` starts a comment only where a token could start (`a#b` is one word).
//! - `"..."` and `'...'` quote a word; inside them `;`, `{`, `}` and `#` are
//!   plain text. A closing quote must be followed by a space, `;`, `{` or `)`.
//! - A backslash takes the next character literally while scanning; when the
//!   word is copied, `\"`, `\'` and `\\` become the character, `\t`, `\r`,
//!   `\n` a tab, carriage return and line feed, and any other `\x` stays as
//!   written (nginx keeps the backslash), in quoted and plain words alike.
//! - `${` does not open a block (`${var}` is part of a word), and a `}`
//!   inside a plain word is part of it (`foo}` is one word).
//!
//! Pure: text in, tokens out; every problem is an [`LexError`] with its line,
//! never a panic.

/// One token and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A word, quoted or not, with escapes resolved.
    Word(String, u32),
    /// `;`
    End(u32),
    /// `{`
    Open(u32),
    /// `}`
    Close(u32),
}

/// Why the text is not nginx configuration syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    #[error("line {line}: unexpected end of file inside a quoted string")]
    UnterminatedQuote { line: u32 },
    #[error(
        "line {line}: unexpected \"{ch}\" after a closing quote (a space, \";\" or \"{{\" must follow)"
    )]
    AfterQuote { ch: char, line: u32 },
}

/// Splits `text` into tokens.
///
/// # Errors
/// An unterminated quoted string, or a character glued to a closing quote.
pub fn tokens(text: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line: u32 = 1;
    while let Some(ch) = chars.next() {
        match ch {
            '\n' => line = line.saturating_add(1),
            ' ' | '\t' | '\r' => {}
            ';' => out.push(Token::End(line)),
            '{' => out.push(Token::Open(line)),
            '}' => out.push(Token::Close(line)),
            '#' => {
                // A comment runs to the end of the line; the line feed is
                // counted by the loop.
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '"' | '\'' => {
                let start = line;
                let mut raw = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == '\n' {
                        line = line.saturating_add(1);
                    }
                    if c == '\\' {
                        raw.push(c);
                        if let Some(next) = chars.next() {
                            if next == '\n' {
                                line = line.saturating_add(1);
                            }
                            raw.push(next);
                        }
                        continue;
                    }
                    if c == ch {
                        closed = true;
                        break;
                    }
                    raw.push(c);
                }
                if !closed {
                    return Err(LexError::UnterminatedQuote { line: start });
                }
                match chars.peek() {
                    None | Some(' ' | '\t' | '\r' | '\n' | ';' | '{') => {}
                    // nginx accepts `)` after a quote (for `if ("a" = "b")`)
                    // and takes it as a separator.
                    Some(')') => {
                        chars.next();
                        out.push(Token::Word(unescape(&raw), start));
                        out.push(Token::Word(")".into(), line));
                        continue;
                    }
                    Some(c) => return Err(LexError::AfterQuote { ch: *c, line }),
                }
                out.push(Token::Word(unescape(&raw), start));
            }
            first => {
                let start = line;
                let mut raw = String::new();
                let mut c = first;
                loop {
                    raw.push(c);
                    if c == '\\' {
                        if let Some(next) = chars.next() {
                            if next == '\n' {
                                line = line.saturating_add(1);
                            }
                            raw.push(next);
                        }
                    } else if c == '$' && chars.peek() == Some(&'{') {
                        // `${` is part of the word, not a block.
                        if let Some(brace) = chars.next() {
                            raw.push(brace);
                        }
                    }
                    match chars.peek() {
                        None | Some(' ' | '\t' | '\r' | '\n' | ';' | '{') => break,
                        Some(_) => {}
                    }
                    match chars.next() {
                        Some(n) => c = n,
                        None => break,
                    }
                }
                out.push(Token::Word(unescape(&raw), start));
            }
        }
    }
    Ok(out)
}

/// nginx's copy of a word: `\"`, `\'`, `\\` → the character; `\t`, `\r`,
/// `\n` → tab, CR, LF; any other backslash stays.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('"' | '\'' | '\\') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            Some('t') => {
                chars.next();
                out.push('\t');
            }
            Some('r') => {
                chars.next();
                out.push('\r');
            }
            Some('n') => {
                chars.next();
                out.push('\n');
            }
            _ => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokens(text)
            .unwrap()
            .into_iter()
            .map(|t| match t {
                Token::Word(w, _) => w,
                Token::End(_) => ";".into(),
                Token::Open(_) => "{".into(),
                Token::Close(_) => "}".into(),
            })
            .collect()
    }

    #[test]
    fn quotes_hold_separators_and_comments() {
        assert_eq!(
            words(r#"return 404 "a; {b} #c";"#),
            ["return", "404", "a; {b} #c", ";"]
        );
        assert!(matches!(
            tokens("x 'it''s';"),
            Err(LexError::AfterQuote { ch: '\'', line: 1 })
        ));
    }

    #[test]
    fn escapes_are_resolved_as_nginx_copies_them() {
        assert_eq!(words(r#"a "q\"x\\y\z\n";"#)[1], "q\"x\\y\\z\n");
        assert_eq!(words(r"a b\;c;"), ["a", r"b\;c", ";"]);
    }

    #[test]
    fn variables_in_braces_and_hash_inside_words() {
        assert_eq!(
            words("set $a ${host}x; b c#d; # comment\n}"),
            ["set", "$a", "${host}x", ";", "b", "c#d", ";", "}"]
        );
        assert_eq!(words("a foo}; {"), ["a", "foo}", ";", "{"]);
    }

    #[test]
    fn lines_are_counted_through_quotes_and_comments() {
        let t = tokens("# one\na \"x\ny\";\nb;").unwrap();
        assert_eq!(t[0], Token::Word("a".into(), 2));
        assert_eq!(t[1], Token::Word("x\ny".into(), 2));
        assert_eq!(t[3], Token::Word("b".into(), 4));
        assert_eq!(
            tokens("a \"open;\n"),
            Err(LexError::UnterminatedQuote { line: 1 })
        );
    }
}

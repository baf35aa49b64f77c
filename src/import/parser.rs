//! nginx directives from tokens: `name args... ;` or `name args... { ... }`.
//!
//! Pure, like the lexer: [`parse`] takes the text of one file and returns its
//! directives (includes are followed by [`super::load`]), or the first syntax
//! error with its line, as `nginx -t` would report it. Nesting is bounded
//! ([`MAX_NESTING`]) so hostile input cannot exhaust the stack of the
//! recursive walks that read the tree.

use super::lexer::{self, LexError, Token};

/// Deepest block nesting accepted. Real configurations nest
/// `http { server { location { location { if {} } } } }`: 5 or 6 levels;
/// the bound keeps every later recursive walk far from the stack limit.
pub const MAX_NESTING: usize = 64;

/// One directive, where it was written, and its block if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    /// Index into [`super::load::Loaded::files`] (0 for [`parse`]'s own text).
    pub file: usize,
    /// 1-based line of the directive's name.
    pub line: u32,
    pub block: Option<Vec<Directive>>,
}

/// Why the text is not an nginx configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Lex(#[from] LexError),
    #[error("line {line}: unexpected \"{token}\"")]
    Unexpected { token: char, line: u32 },
    #[error("line {line}: unexpected end of file, expecting \";\" or \"}}\"")]
    UnexpectedEof { line: u32 },
    #[error("line {line}: blocks nested deeper than {MAX_NESTING} levels")]
    TooDeep { line: u32 },
}

/// Parses one file's text; every directive gets `file` as its file index.
///
/// # Errors
/// The first syntax error, with its line.
pub fn parse(text: &str, file: usize) -> Result<Vec<Directive>, ParseError> {
    let tokens = lexer::tokens(text)?;
    let last_line = text.lines().count().try_into().unwrap_or(u32::MAX).max(1);
    // The file's own directives, and the open blocks: the directive that
    // opened each one and what has been collected inside it so far.
    let mut root: Vec<Directive> = Vec::new();
    let mut open: Vec<Frame> = Vec::new();
    let mut words: Vec<(String, u32)> = Vec::new();
    for token in tokens {
        match token {
            Token::Word(w, line) => words.push((w, line)),
            Token::End(line) => {
                let (name, args, at) =
                    split(&mut words).ok_or(ParseError::Unexpected { token: ';', line })?;
                let directive = Directive {
                    name,
                    args,
                    file,
                    line: at,
                    block: None,
                };
                match open.last_mut() {
                    Some(frame) => frame.inner.push(directive),
                    None => root.push(directive),
                }
            }
            Token::Open(line) => {
                let (name, args, at) =
                    split(&mut words).ok_or(ParseError::Unexpected { token: '{', line })?;
                if open.len() >= MAX_NESTING {
                    return Err(ParseError::TooDeep { line });
                }
                open.push(Frame {
                    name,
                    args,
                    line: at,
                    inner: Vec::new(),
                });
            }
            Token::Close(line) => {
                if !words.is_empty() {
                    return Err(ParseError::Unexpected { token: '}', line });
                }
                let frame = open
                    .pop()
                    .ok_or(ParseError::Unexpected { token: '}', line })?;
                let directive = Directive {
                    name: frame.name,
                    args: frame.args,
                    file,
                    line: frame.line,
                    block: Some(frame.inner),
                };
                match open.last_mut() {
                    Some(parent) => parent.inner.push(directive),
                    None => root.push(directive),
                }
            }
        }
    }
    if !words.is_empty() || !open.is_empty() {
        return Err(ParseError::UnexpectedEof { line: last_line });
    }
    Ok(root)
}

/// A block being read.
struct Frame {
    name: String,
    args: Vec<String>,
    line: u32,
    inner: Vec<Directive>,
}

/// The pending words as (name, args, line of the name); `None` if there are none.
fn split(words: &mut Vec<(String, u32)>) -> Option<(String, Vec<String>, u32)> {
    let mut it = std::mem::take(words).into_iter();
    let (name, line) = it.next()?;
    Some((name, it.map(|(w, _)| w).collect(), line))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn blocks_nest_with_lines() {
        let d = parse("http {\n server {\n  listen 443 ssl;\n }\n}\n", 0).unwrap();
        assert_eq!(d.len(), 1);
        let server = &d[0].block.as_ref().unwrap()[0];
        assert_eq!(server.name, "server");
        assert_eq!(server.line, 2);
        let listen = &server.block.as_ref().unwrap()[0];
        assert_eq!(listen.args, ["443", "ssl"]);
        assert_eq!(listen.line, 3);
    }

    #[test]
    fn syntax_errors_name_their_line() {
        assert_eq!(
            parse("a;\n;", 0),
            Err(ParseError::Unexpected {
                token: ';',
                line: 2
            })
        );
        assert_eq!(
            parse("}", 0),
            Err(ParseError::Unexpected {
                token: '}',
                line: 1
            })
        );
        assert_eq!(
            parse("a { b; ", 0),
            Err(ParseError::UnexpectedEof { line: 1 })
        );
        assert_eq!(parse("a b", 0), Err(ParseError::UnexpectedEof { line: 1 }));
        assert_eq!(
            parse("a { b }", 0),
            Err(ParseError::Unexpected {
                token: '}',
                line: 1
            })
        );
        let deep = "a {".repeat(MAX_NESTING + 1) + &"}".repeat(MAX_NESTING + 1);
        assert!(matches!(parse(&deep, 0), Err(ParseError::TooDeep { .. })));
        let ok = "a {".repeat(MAX_NESTING) + &"}".repeat(MAX_NESTING);
        assert!(parse(&ok, 0).is_ok());
    }
}

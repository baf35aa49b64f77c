//! Reading an nginx configuration from disk: the main file and every file
//! its `include` directives name, spliced in place as nginx does.
//!
//! Relative include paths (and, in [`super::convert`], relative certificate
//! paths) resolve against the *prefix*. nginx resolves them against its
//! configuration prefix, which is the folder of the file given with `-c`
//! (or `<prefix>/conf/` when none is given: the folder of the default
//! `nginx.conf` again), so the default here is the folder of the file being
//! imported; `--prefix` overrides it, e.g. when the file was copied away from
//! the folder that holds its certificates.
//!
//! A path with `*`, `?` or `[` is a glob pattern, as in nginx: its matches
//! are read in sorted order, names starting with `.` only match a pattern
//! that starts with `.`, and no match is not an error. A plain path that
//! cannot be read is an error (nginx refuses to start).

use std::path::{Path, PathBuf};

use super::parser::{self, Directive, ParseError};

/// Most files read in all (the main file and its includes). Real
/// configurations have tens (a `sites-enabled/*` folder); the bound stops an
/// include cycle or a glob over a huge folder.
pub const MAX_FILES: usize = 1024;
/// Deepest chain of includes (a file including a file ...): stops cycles.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Largest file read (16 MiB): far above any real nginx configuration.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// An nginx configuration with its includes spliced in.
#[derive(Debug)]
pub struct Loaded {
    /// Every file read, in order; a [`Directive::file`] indexes this.
    pub files: Vec<PathBuf>,
    pub directives: Vec<Directive>,
    /// The folder relative paths resolve against.
    pub prefix: PathBuf,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_FILE_BYTES} bytes; not an nginx configuration")]
    TooLarge { path: PathBuf },
    #[error("{path}: {source}")]
    Syntax { path: PathBuf, source: ParseError },
    #[error("{path}:{line}: include: {problem}")]
    Include {
        path: PathBuf,
        line: u32,
        problem: String,
    },
}

/// Reads `main` and its includes; relative paths resolve against `prefix`
/// (the folder of `main` when `None`).
///
/// # Errors
/// A file that cannot be read, a syntax error, a bad `include`.
pub fn load(main: &Path, prefix: Option<&Path>) -> Result<Loaded, LoadError> {
    let main = absolute(main);
    let prefix = match prefix {
        Some(p) => absolute(p),
        None => main.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let mut loader = Loader {
        files: Vec::new(),
        prefix: prefix.clone(),
    };
    let directives = loader.file(&main, 0)?;
    Ok(Loaded {
        files: loader.files,
        directives,
        prefix,
    })
}

/// `path` made absolute against the working directory (not canonicalised:
/// symlinks are kept as the user wrote them).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

struct Loader {
    files: Vec<PathBuf>,
    prefix: PathBuf,
}

impl Loader {
    fn file(&mut self, path: &Path, depth: usize) -> Result<Vec<Directive>, LoadError> {
        let read = |source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read)?.len();
        if size > MAX_FILE_BYTES {
            return Err(LoadError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let bytes = std::fs::read(path).map_err(read)?;
        let text = String::from_utf8_lossy(&bytes);
        let index = self.files.len();
        self.files.push(path.to_path_buf());
        let parsed = parser::parse(&text, index).map_err(|source| LoadError::Syntax {
            path: path.to_path_buf(),
            source,
        })?;
        self.splice(parsed, path, depth)
    }

    /// Replaces every `include` (at any depth) by the directives it names.
    fn splice(
        &mut self,
        directives: Vec<Directive>,
        path: &Path,
        depth: usize,
    ) -> Result<Vec<Directive>, LoadError> {
        let mut out = Vec::with_capacity(directives.len());
        for mut d in directives {
            if d.name == "include" && d.block.is_none() {
                let problem = |problem: String| LoadError::Include {
                    path: path.to_path_buf(),
                    line: d.line,
                    problem,
                };
                let [pattern] = d.args.as_slice() else {
                    return Err(problem("takes exactly one path".into()));
                };
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(problem(format!(
                        "includes nested deeper than {MAX_INCLUDE_DEPTH} (a cycle?)"
                    )));
                }
                let full = self.prefix.join(pattern);
                let matches = if is_glob(pattern) {
                    glob(&full)
                } else {
                    vec![full]
                };
                for m in matches {
                    if self.files.len() >= MAX_FILES {
                        return Err(problem(format!("more than {MAX_FILES} files")));
                    }
                    out.extend(self.file(&m, depth + 1)?);
                }
                continue;
            }
            if let Some(block) = d.block.take() {
                d.block = Some(self.splice(block, path, depth)?);
            }
            out.push(d);
        }
        Ok(out)
    }
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The paths matching `pattern` (wildcards in any component), sorted.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = component.as_os_str().to_string_lossy();
        if !is_glob(&part) {
            for p in &mut found {
                p.push(component);
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                .filter(|n| glob_match(&part, n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found.retain(|p| p.is_file());
    found
}

/// fnmatch(3) for one path component: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`
/// (or `[^x]`), and `\x` for a literal `x`. Linear backtracking on the last
/// `*` only, so hostile patterns cost O(pattern × name).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class(&p, pi, n.get(ni).copied()) {
                Some((len, ok)) => ok.then_some(len),
                // Unterminated: a literal `[`.
                None => (n.get(ni) == Some(&'[')).then_some(1),
            },
            Some('\\') if p.get(pi + 1).is_some() => (p.get(pi + 1) == n.get(ni)).then_some(2),
            Some(c) => (Some(c) == n.get(ni)).then_some(1),
            None => None,
        };
        match step {
            Some(len) => {
                pi += len;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

/// A `[...]` class at `p[start]`: its length in pattern characters and
/// whether `c` is in it; `None` if unterminated (then `[` is literal).
fn class(p: &[char], start: usize, c: Option<char>) -> Option<(usize, bool)> {
    let c = c?;
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            break;
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
            let end = *p.get(i + 2)?;
            hit |= ch <= c && c <= end;
            i += 3;
        } else {
            hit |= ch == c;
            i += 1;
        }
    }
    Some((i + 1 - start, hit != negate))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn glob_patterns_match_like_fnmatch() {
        assert!(glob_match("*.conf", "a.conf"));
        assert!(!glob_match("*.conf", "a.conf.bak"));
        assert!(glob_match("site-?.conf", "site-1.conf"));
        assert!(glob_match("[a-c]*", "beta"));
        assert!(!glob_match("[!a-c]*", "beta"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("\\*", "x"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("[ab", "a"));
        assert!(glob_match("[ab", "[ab"));
        assert!(glob_match(&"*a".repeat(50), &"a".repeat(200)));
        assert!(!glob_match(&"*a".repeat(50), &"b".repeat(200)));
    }
}

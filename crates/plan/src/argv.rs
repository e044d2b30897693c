//! Splitting a `verify` command into argv with shell-like quoting, while
//! refusing everything that only a shell would do.
//!
//! Rules: whitespace separates words; `'...'` is literal; inside `"..."` a
//! backslash escapes `"` `\` `$` and `` ` ``, other backslashes are kept;
//! outside quotes a backslash makes the next character literal. Unquoted
//! `|` `&` `;` `<` `>` `(` `)`, a `#` starting a word, `$`, `` ` ``, `*`,
//! `?`, a `~` starting a word, a leading `NAME=value` word, and `$` or
//! `` ` `` inside double quotes are errors: no shell runs the command, so
//! they would not do what they look like.

/// Why a command cannot be split into argv.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgvError {
    /// Nothing but whitespace.
    #[error("the command is empty")]
    Empty,
    /// A quote that is never closed.
    #[error("unterminated {quote} quote")]
    UnterminatedQuote {
        /// `single` or `double`.
        quote: &'static str,
        /// Byte offset of the opening quote.
        at: usize,
    },
    /// A backslash at the very end.
    #[error("the command ends with a lone backslash")]
    TrailingBackslash {
        /// Byte offset of the backslash.
        at: usize,
    },
    /// Shell-only syntax.
    #[error("{what} `{text}` needs a shell, and verify commands never run in one")]
    Shell {
        /// What the syntax is, e.g. "the pipe".
        what: &'static str,
        /// The offending text, e.g. `|`.
        text: String,
        /// Byte offset where it starts.
        at: usize,
        /// Byte length.
        len: usize,
    },
}

impl ArgvError {
    /// Byte range of the problem within the command.
    pub fn range(&self, command_len: usize) -> (usize, usize) {
        match *self {
            ArgvError::Empty => (0, command_len),
            ArgvError::UnterminatedQuote { at, .. } => (at, command_len),
            ArgvError::TrailingBackslash { at } => (at, at + 1),
            ArgvError::Shell { at, len, .. } => (at, at + len),
        }
    }
}

/// Whether a byte needs no quoting or checking: most commands are made of
/// these only, and take the fast path.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, b' ' | b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b',' | b'@' | b'%' | b'+')
}

/// Splits `command` into argv. See the module docs for the rules.
pub fn split(command: &str) -> Result<Vec<String>, ArgvError> {
    let mut words = Vec::with_capacity(command.split_ascii_whitespace().count());
    scan(command, &mut |word| words.push(word.to_owned()))?;
    Ok(words)
}

/// Checks that [`split`] would succeed, without building the argv.
pub fn check(command: &str) -> Result<(), ArgvError> {
    scan(command, &mut |_| {})
}

/// Walks `command` word by word, calling `emit` for each argument.
fn scan(command: &str, emit: &mut dyn FnMut(&str)) -> Result<(), ArgvError> {
    let mut count = 0;
    if command.bytes().all(is_plain) {
        for word in command.split_ascii_whitespace() {
            let at = word.as_ptr() as usize - command.as_ptr() as usize;
            check_assignment(count, word, at)?;
            emit(word);
            count += 1;
        }
        return if count == 0 { Err(ArgvError::Empty) } else { Ok(()) };
    }
    let mut word = String::new();
    let mut in_word = false;
    let mut word_start = 0;
    let mut chars = command.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    check_assignment(count, &word, word_start)?;
                    emit(&word);
                    count += 1;
                    word.clear();
                    in_word = false;
                }
            }
            '\'' => {
                start_word(&mut in_word, &mut word_start, at);
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => word.push(c),
                        None => return Err(ArgvError::UnterminatedQuote { quote: "single", at }),
                    }
                }
            }
            '"' => {
                start_word(&mut in_word, &mut word_start, at);
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.peek() {
                            Some(&(_, next @ ('"' | '\\' | '$' | '`'))) => {
                                word.push(next);
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        Some((i, '$')) => return Err(shell("the expansion", "$", i)),
                        Some((i, '`')) => return Err(shell("the command substitution", "`", i)),
                        Some((_, c)) => word.push(c),
                        None => return Err(ArgvError::UnterminatedQuote { quote: "double", at }),
                    }
                }
            }
            '\\' => {
                start_word(&mut in_word, &mut word_start, at);
                match chars.next() {
                    Some((_, next)) => word.push(next),
                    None => return Err(ArgvError::TrailingBackslash { at }),
                }
            }
            '|' | '&' | ';' | '<' | '>' => {
                let mut text = String::from(c);
                while let Some(&(_, next @ ('|' | '&' | '>' | '<'))) = chars.peek() {
                    text.push(next);
                    chars.next();
                }
                // `2>` and friends: the digits belong to the redirection.
                let mut start = at;
                if matches!(c, '<' | '>')
                    && in_word
                    && !word.is_empty()
                    && word.bytes().all(|b| b.is_ascii_digit())
                    && word_start + word.len() == at
                {
                    start = word_start;
                    text.insert_str(0, &word);
                }
                let what = match text.trim_start_matches(|ch: char| ch.is_ascii_digit()) {
                    "|" => "the pipe",
                    "||" | "&&" => "the operator",
                    "&" => "the background operator",
                    ";" => "the command separator",
                    _ => "the redirection",
                };
                return Err(ArgvError::Shell { what, len: text.len(), text, at: start });
            }
            '(' | ')' => return Err(shell("the subshell parenthesis", &c.to_string(), at)),
            '$' => return Err(shell("the expansion", "$", at)),
            '`' => return Err(shell("the command substitution", "`", at)),
            '*' | '?' => return Err(shell("the glob", &c.to_string(), at)),
            '#' if !in_word => return Err(shell("the comment", "#", at)),
            '~' if !in_word => return Err(shell("the home directory shorthand", "~", at)),
            c => {
                start_word(&mut in_word, &mut word_start, at);
                word.push(c);
            }
        }
    }
    if in_word {
        check_assignment(count, &word, word_start)?;
        emit(&word);
        count += 1;
    }
    if count == 0 {
        return Err(ArgvError::Empty);
    }
    Ok(())
}

fn start_word(in_word: &mut bool, word_start: &mut usize, at: usize) {
    if !*in_word {
        *in_word = true;
        *word_start = at;
    }
}

fn shell(what: &'static str, text: &str, at: usize) -> ArgvError {
    ArgvError::Shell { what, text: text.to_owned(), at, len: text.len() }
}

/// A leading `NAME=value` word sets a variable in a shell; run directly it
/// would be taken as the program name.
fn check_assignment(index: usize, word: &str, at: usize) -> Result<(), ArgvError> {
    if index > 0 {
        return Ok(());
    }
    let Some((name, _)) = word.split_once('=') else { return Ok(()) };
    let is_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if is_name {
        return Err(ArgvError::Shell {
            what: "the variable assignment",
            text: word.to_owned(),
            at,
            len: word.len(),
        });
    }
    Ok(())
}

/// Quotes one argument so [`split`] reads it back unchanged.
pub fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
        && !arg.starts_with('#')
        && !arg.starts_with('~');
    if plain { arg.to_owned() } else { format!("'{}'", arg.replace('\'', "'\\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(command: &str) -> Vec<String> {
        split(command).unwrap_or_else(|e| panic!("{command}: {e}"))
    }

    #[test]
    fn splits_words_and_quotes() {
        assert_eq!(ok("cargo test -p foo"), ["cargo", "test", "-p", "foo"]);
        assert_eq!(ok("  a   b  "), ["a", "b"]);
        assert_eq!(ok(r#"pytest -k "a or b""#), ["pytest", "-k", "a or b"]);
        assert_eq!(ok("echo 'a | b' x"), ["echo", "a | b", "x"]);
        assert_eq!(ok(r#"x "q\"uote" "back\slash""#), ["x", "q\"uote", r"back\slash"]);
        assert_eq!(ok(r"x a\ b"), ["x", "a b"]);
        assert_eq!(ok(r#"x ''"" "#), ["x", ""]);
        assert_eq!(ok("env FOO=1 make"), ["env", "FOO=1", "make"]);
        assert_eq!(
            ok("cargo test -- --test-threads=1"),
            ["cargo", "test", "--", "--test-threads=1"]
        );
        assert_eq!(ok("x a#b"), ["x", "a#b"]);
    }

    #[test]
    fn refuses_shell_syntax_with_its_position() {
        let cases = [
            ("cargo test | tee log", "|", 11),
            ("make && make test", "&&", 5),
            ("make > out.txt", ">", 5),
            ("make 2> err.txt", "2>", 5),
            ("a; b", ";", 1),
            ("echo $HOME", "$", 5),
            ("echo \"$HOME\"", "$", 6),
            ("echo `date`", "`", 5),
            ("ls *.rs", "*", 3),
            ("FOO=1 make", "FOO=1", 0),
            ("(cd x)", "(", 0),
            ("run &", "&", 4),
            ("x # comment", "#", 2),
            ("ls ~/x", "~", 3),
        ];
        for (command, text, at) in cases {
            match split(command) {
                Err(ArgvError::Shell { text: t, at: a, .. }) => {
                    assert_eq!((t.as_str(), a), (text, at), "{command}");
                }
                other => panic!("{command}: {other:?}"),
            }
        }
        assert_eq!(split("  "), Err(ArgvError::Empty));
        assert!(matches!(split("echo 'x"), Err(ArgvError::UnterminatedQuote { at: 5, .. })));
        assert!(matches!(split("echo x\\"), Err(ArgvError::TrailingBackslash { at: 6 })));
    }

    #[test]
    fn quote_round_trips() {
        for arg in ["plain", "a b", "it's", "", "$x", "a|b", "#x", "~", "é"] {
            assert_eq!(ok(&format!("cmd {}", quote(arg))), ["cmd", arg]);
        }
    }
}

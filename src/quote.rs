//! How a value from outside (a client's field, a command-line argument) is shown in an error
//! or a log line: quoted, escaped and cut short, so that it can neither forge a line nor
//! flood one.

/// The most bytes of a refused value (escaped) an error or a log line shows.
pub const QUOTED_CHARS: usize = 64;

/// `value` as an error or a log line may show it: in double quotes, control and other
/// invisible characters escaped, at most [`QUOTED_CHARS`] bytes of that, then how long it was.
pub fn quote(value: &str) -> String {
    let mut shown = String::new();
    for c in value.chars() {
        let escaped = c.escape_debug().to_string();
        if shown.len() + escaped.len() > QUOTED_CHARS {
            return format!("\"{shown}…\" ({} bytes)", value.len());
        }
        shown.push_str(&escaped);
    }
    format!("\"{shown}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_as_debug_would() {
        for value in ["", "abc", "a\"b", "a\\b", "127.0.0.1:5000"] {
            assert_eq!(quote(value), format!("{value:?}"));
        }
    }

    #[test]
    fn long_values_are_cut_and_sized() {
        let quoted = quote(&"x".repeat(1000));
        assert_eq!(quoted, format!("\"{}…\" (1000 bytes)", "x".repeat(64)));
    }

    #[test]
    fn control_characters_never_appear_raw() {
        let quoted = quote("a\nb\r\u{1b}[31m\u{202e}");
        assert_eq!(quoted, r#""a\nb\r\u{1b}[31m\u{202e}""#);
    }
}

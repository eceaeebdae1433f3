//! What a control server sends ends up on the user's terminal: uids, listeners, targets,
//! messages, error texts. A hostile server could put terminal escapes in them (a fake green
//! "Release completed", a cleared screen), so every reply's text has its control and other
//! invisible characters escaped as it arrives, before anything can print it.

use std::borrow::Cow;

use tonic::Status;

use crate::pb;

/// `text` with every control or invisible character written as its Rust escape (`\u{1b}`,
/// `\n`, `\u{202e}`); everything else, quotes and backslashes included, as it is.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match hidden(c) {
            true => shown.extend(c.escape_debug()),
            false => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

/// Whether `c` does not print as itself: `escape_debug` escapes exactly those (and quotes and
/// backslashes, which print fine).
fn hidden(c: char) -> bool {
    !matches!(c, '"' | '\'' | '\\') && c.escape_debug().nth(1).is_some()
}

fn escape_in_place(text: &mut String) {
    if let Cow::Owned(shown) = printable(text) {
        *text = shown;
    }
}

fn escape_all(texts: &mut [String]) {
    texts.iter_mut().for_each(escape_in_place);
}

/// A reply whose text is escaped before it leaves the client.
pub(crate) trait Untrusted {
    fn escape(self) -> Self;
}

impl Untrusted for pb::Response {
    fn escape(mut self) -> Self {
        escape_all(&mut self.listeners);
        escape_all(&mut self.prod_listeners);
        self
    }
}

impl Untrusted for pb::AppResponse {
    fn escape(mut self) -> Self {
        escape_in_place(&mut self.message);
        escape_all(&mut self.listeners);
        self
    }
}

impl Untrusted for pb::SessionInfo {
    fn escape(mut self) -> Self {
        for text in [&mut self.uid, &mut self.role, &mut self.state] {
            escape_in_place(text);
        }
        escape_all(&mut self.listeners);
        escape_all(&mut self.prod_listeners);
        escape_all(&mut self.targets);
        self
    }
}

impl Untrusted for pb::SessionList {
    /// The page token is left as sent: it goes back to the server, never to the terminal.
    fn escape(mut self) -> Self {
        self.sessions = self.sessions.into_iter().map(Untrusted::escape).collect();
        self
    }
}

/// Bytes only, never printed.
impl Untrusted for pb::HopCredential {
    fn escape(self) -> Self {
        self
    }
}

/// A status the server sent, with its message escaped. One the client made itself (a broken
/// channel, a deadline: those carry a source) is left whole, source included.
pub(crate) fn escape_status(status: Status) -> Status {
    if std::error::Error::source(&status).is_some() {
        return status;
    }
    match printable(status.message()) {
        Cow::Borrowed(_) => status,
        Cow::Owned(shown) => Status::with_details_and_metadata(
            status.code(),
            shown,
            status.details().to_vec().into(),
            status.metadata().clone(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_and_invisible_characters_are_written_out() {
        let sent = "\u{1b}[32mRelease completed\u{1b}[0m\r\n\u{7}\u{9b}2J\u{202e}x";
        assert_eq!(
            printable(sent),
            r"\u{1b}[32mRelease completed\u{1b}[0m\r\n\u{7}\u{9b}2J\u{202e}x"
        );
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for text in [
            "10.0.0.1:5100",
            "[::1]:5100",
            "say \"hi\" \\ 'x'",
            "Zürich",
            "",
        ] {
            assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn a_servers_status_is_escaped_with_its_code_and_metadata() {
        let mut sent = Status::not_found("no \u{1b}[2Jsession");
        sent.metadata_mut()
            .insert("scistream-auth", "off".parse().unwrap());
        let shown = escape_status(sent);
        assert_eq!(shown.code(), tonic::Code::NotFound);
        assert_eq!(shown.message(), r"no \u{1b}[2Jsession");
        assert_eq!(shown.metadata().get("scistream-auth").unwrap(), "off");
    }

    #[test]
    fn every_text_field_of_a_session_is_escaped() {
        let info = pb::SessionInfo {
            uid: "u\u{1b}".into(),
            role: "PROD\u{8}".into(),
            state: "relaying\n".into(),
            listeners: vec!["a\u{7}".into()],
            prod_listeners: vec!["b\u{7}".into()],
            targets: vec!["c\u{7}".into()],
            ..Default::default()
        };
        let list = pb::SessionList {
            sessions: vec![info],
            next_page_token: String::new(),
        };
        let shown = list.escape().sessions.remove(0);
        let texts = [&shown.uid, &shown.role, &shown.state]
            .into_iter()
            .chain(&shown.listeners)
            .chain(&shown.prod_listeners)
            .chain(&shown.targets);
        for text in texts {
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(text.contains('\\'), "{text:?} was not escaped");
        }
    }
}

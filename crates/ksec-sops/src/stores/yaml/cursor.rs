//! Moving through the input: peeking, columns, line numbers, blank space and
//! the comments found in it.
use super::parse::{parse_error, Parser};
use crate::Error;

/// A comment seen while skipping blank space: its text (after `#`), its column,
/// and its byte offset (to rewind to when it belongs to an outer node).
pub(super) struct Comment {
    pub(super) text: String,
    pub(super) column: usize,
    pub(super) offset: usize,
}

impl<'a> Parser<'a> {
    /// The 1-based line of the current position. Counting is linear, so this is
    /// for error messages only.
    pub(super) fn line(&self) -> usize {
        line_at(self.bytes, self.pos)
    }

    pub(super) fn fail<T>(&self, msg: impl std::fmt::Display) -> Result<T, Error> {
        Err(parse_error(self.line(), msg))
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The byte `ahead` positions after the current one.
    pub(super) fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    /// True if the byte `ahead` positions on ends a plain token (space, line
    /// break or end of input).
    pub(super) fn blank_at(&self, ahead: usize) -> bool {
        matches!(
            self.peek_at(ahead),
            None | Some(b' ' | b'\t' | b'\n' | b'\r')
        )
    }

    pub(super) fn column(&self) -> usize {
        let line_start = self.bytes[..self.pos]
            .iter()
            .rposition(|c| *c == b'\n')
            .map_or(0, |p| p + 1);
        self.pos - line_start
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(super) fn at_line_start(&self) -> bool {
        self.pos == 0 || self.bytes[self.pos - 1] == b'\n'
    }

    /// `---` or `...` at the start of a line, followed by space or end.
    pub(super) fn at_document_marker(&self) -> bool {
        self.at_line_start()
            && (self.rest().starts_with(b"---") || self.rest().starts_with(b"..."))
            && self.blank_at(3)
    }

    /// The input from the current position on.
    pub(super) fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    pub(super) fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    pub(super) fn rest_of_line(&mut self) -> &'a str {
        let start = self.pos;
        while !matches!(self.peek(), None | Some(b'\n')) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// The rest of a `# comment` line, without the `#` and a trailing `\r`.
    pub(super) fn comment_text(&mut self) -> String {
        self.pos += 1;
        self.rest_of_line().trim_end_matches('\r').to_string()
    }

    /// Skips blank lines and comment lines (and an inline comment at the current
    /// position), collecting comments. Stops at the first content character.
    pub(super) fn skip_blank(&mut self, out: &mut Vec<Comment>) {
        loop {
            self.skip_spaces();
            match self.peek() {
                Some(b'#') => {
                    let column = self.column();
                    let offset = self.pos;
                    let text = self.comment_text();
                    out.push(Comment {
                        text,
                        column,
                        offset,
                    });
                }
                Some(b'\n') => self.pos += 1,
                Some(b'\r') if self.peek_at(1) == Some(b'\n') => self.pos += 2,
                _ => return,
            }
        }
    }

    /// Moves back to the line of the first of `comments`, which belong to a node
    /// that has not been read yet.
    pub(super) fn rewind(&mut self, comments: &[Comment]) {
        if let Some(first) = comments.first() {
            self.pos = first.offset;
            // Back to the start of that line so columns stay right.
            while self.pos > 0 && matches!(self.bytes[self.pos - 1], b' ' | b'\t') {
                self.pos -= 1;
            }
        }
    }

    /// An anchor (`&name`) or alias (`*name`) name, after its indicator.
    pub(super) fn name(&mut self) -> &'a str {
        let start = self.pos;
        while !matches!(
            self.peek(),
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}')
        ) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// A plain scalar's text on the current line: up to a comment, `: `, a line
    /// break or (in flow context) a flow indicator.
    pub(super) fn plain_line(&mut self, flow: bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b'\n' || (c == b'\r' && self.peek_at(1) == Some(b'\n')) {
                break;
            }
            if c == b'#' && self.pos > start && matches!(self.bytes[self.pos - 1], b' ' | b'\t') {
                break;
            }
            if c == b':' && self.blank_at(1) {
                break;
            }
            if flow && matches!(c, b',' | b']' | b'}' | b'[' | b'{') {
                break;
            }
            if flow && c == b':' && matches!(self.peek_at(1), Some(b',' | b']' | b'}')) {
                break;
            }
            self.pos += 1;
        }
        self.text[start..self.pos].trim_end_matches([' ', '\t'])
    }
}

/// The 1-based line of byte offset `pos`.
pub(super) fn line_at(bytes: &[u8], pos: usize) -> usize {
    1 + bytes[..pos.min(bytes.len())]
        .iter()
        .filter(|c| **c == b'\n')
        .count()
}

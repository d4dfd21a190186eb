//! Scalars in their quoted and block forms: `'single'`, `"double"` (with YAML's
//! escapes and line folding), and `|`/`>` block scalars with chomping and
//! indentation indicators.
use super::parse::{parse_error, Parser};
use crate::tree::Value;
use crate::Error;

impl Parser<'_> {
    pub(super) fn single_quoted(&mut self) -> Result<String, Error> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while !matches!(self.peek(), None | Some(b'\'' | b'\n')) {
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                None => return self.fail("unterminated single-quoted string"),
                Some(b'\'') if self.peek_at(1) == Some(b'\'') => {
                    out.push('\'');
                    self.pos += 2;
                }
                Some(b'\'') => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => self.fold_newlines(&mut out),
            }
        }
    }

    /// Folds a line break inside a quoted scalar: one break becomes a space,
    /// n+1 breaks become n newlines; leading spaces of the next line are dropped.
    fn fold_newlines(&mut self, out: &mut String) {
        while out.ends_with([' ', '\t']) {
            out.pop();
        }
        let mut n = 0;
        while matches!(self.peek(), Some(b'\n' | b' ' | b'\t' | b'\r')) {
            if self.peek() == Some(b'\n') {
                n += 1;
            }
            self.pos += 1;
        }
        if n <= 1 {
            out.push(' ');
        } else {
            for _ in 1..n {
                out.push('\n');
            }
        }
    }

    pub(super) fn double_quoted(&mut self) -> Result<String, Error> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while !matches!(self.peek(), None | Some(b'"' | b'\\' | b'\n')) {
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                None => return self.fail("unterminated double-quoted string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\n') => self.fold_newlines(&mut out),
                _ => {
                    self.pos += 1;
                    let escape = self
                        .peek()
                        .ok_or_else(|| parse_error(self.line(), "unterminated escape"))?;
                    self.pos += 1;
                    let hex = |parser: &mut Self, digits: usize| -> Result<char, Error> {
                        let h = parser
                            .text
                            .get(parser.pos..parser.pos + digits)
                            .ok_or_else(|| parse_error(parser.line(), "truncated escape"))?;
                        parser.pos += digits;
                        u32::from_str_radix(h, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| parse_error(parser.line(), "invalid escape"))
                    };
                    match escape {
                        b'0' => out.push('\0'),
                        b'a' => out.push('\x07'),
                        b'b' => out.push('\x08'),
                        b't' | b'\t' => out.push('\t'),
                        b'n' => out.push('\n'),
                        b'v' => out.push('\x0b'),
                        b'f' => out.push('\x0c'),
                        b'r' => out.push('\r'),
                        b'e' => out.push('\x1b'),
                        b' ' => out.push(' '),
                        b'"' => out.push('"'),
                        b'/' => out.push('/'),
                        b'\\' => out.push('\\'),
                        b'N' => out.push('\u{85}'),
                        b'_' => out.push('\u{a0}'),
                        b'L' => out.push('\u{2028}'),
                        b'P' => out.push('\u{2029}'),
                        b'x' => out.push(hex(self, 2)?),
                        b'u' => out.push(hex(self, 4)?),
                        b'U' => out.push(hex(self, 8)?),
                        b'\n' => {
                            // Escaped line break: join without a space.
                            while matches!(self.peek(), Some(b' ' | b'\t')) {
                                self.pos += 1;
                            }
                        }
                        _ => return self.fail("invalid escape in double-quoted string"),
                    }
                }
            }
        }
    }

    /// `|` or `>` block scalar; `parent` is the indentation of the owning node.
    pub(super) fn block_scalar(&mut self, parent: usize) -> Result<Value, Error> {
        let literal = self.peek() == Some(b'|');
        self.pos += 1;
        let mut chomp = 0i8; // -1 strip, 0 clip, 1 keep
        let mut explicit: Option<usize> = None;
        for _ in 0..2 {
            match self.peek() {
                Some(b'-') => {
                    chomp = -1;
                    self.pos += 1;
                }
                Some(b'+') => {
                    chomp = 1;
                    self.pos += 1;
                }
                Some(c @ b'1'..=b'9') => {
                    explicit = Some((c - b'0') as usize);
                    self.pos += 1;
                }
                _ => {}
            }
        }
        self.skip_spaces();
        if self.peek() == Some(b'#') {
            self.rest_of_line();
        }
        if !matches!(self.peek(), None | Some(b'\n') | Some(b'\r')) {
            return self.fail("unexpected text after a block scalar indicator");
        }
        if self.peek() == Some(b'\r') {
            self.pos += 1;
        }
        if self.peek() == Some(b'\n') {
            self.pos += 1;
        }
        // Collect lines.
        let mut lines: Vec<&str> = Vec::new();
        let mut indent = explicit.map(|e| parent + e);
        let mut end = self.pos;
        let mut next = self.pos;
        loop {
            if next >= self.bytes.len() {
                break;
            }
            let line_start = next;
            let line_end = self.bytes[next..]
                .iter()
                .position(|c| *c == b'\n')
                .map_or(self.bytes.len(), |p| next + p);
            let raw = self.text[line_start..line_end].trim_end_matches('\r');
            let spaces = raw.bytes().take_while(|c| *c == b' ').count();
            let blank = raw.trim_matches([' ', '\t']).is_empty();
            if !blank {
                let indentation = *indent.get_or_insert(spaces.max(parent + 1));
                if spaces < indentation
                    || spaces <= parent && !(parent == 0 && explicit.is_none() && spaces > 0)
                {
                    break;
                }
                if (raw.starts_with("---") || raw.starts_with("...")) && spaces == 0 {
                    break;
                }
            }
            lines.push(raw);
            next = line_end + 1;
            if !blank {
                end = next.min(self.bytes.len());
            }
        }
        // Trailing blank lines belong to the scalar only for keep chomping, but
        // the position moves past them either way.
        let indentation = indent.unwrap_or(parent + 1);
        let mut content: Vec<String> = lines
            .iter()
            .map(|l| {
                if l.len() >= indentation {
                    l[indentation..].to_string()
                } else {
                    String::new()
                }
            })
            .collect();
        let trailing_blank = content.iter().rev().take_while(|l| l.is_empty()).count();
        let body_len = content.len() - trailing_blank;
        let mut text = String::new();
        if literal {
            for l in &content[..body_len] {
                text.push_str(l);
                text.push('\n');
            }
        } else {
            // Folding: lines join with a space; k empty lines between two lines
            // give k line breaks; more-indented lines keep their breaks.
            let mut prev_more = false;
            let mut first = true;
            let mut empties = 0;
            for l in &content[..body_len] {
                if l.is_empty() {
                    empties += 1;
                    continue;
                }
                let more = l.starts_with([' ', '\t']);
                if first {
                    for _ in 0..empties {
                        text.push('\n');
                    }
                } else if more || prev_more {
                    for _ in 0..=empties {
                        text.push('\n');
                    }
                } else if empties == 0 {
                    text.push(' ');
                } else {
                    for _ in 0..empties {
                        text.push('\n');
                    }
                }
                text.push_str(l);
                first = false;
                prev_more = more;
                empties = 0;
            }
            if body_len > 0 {
                text.push('\n');
            }
        }
        match chomp {
            -1 => {
                while text.ends_with('\n') {
                    text.pop();
                }
            }
            0 => {
                while text.ends_with("\n\n") {
                    text.pop();
                }
            }
            _ => {
                for _ in 0..trailing_blank {
                    text.push('\n');
                }
            }
        }
        content.clear();
        self.pos = if chomp == 1 || trailing_blank == 0 {
            next.min(self.bytes.len())
        } else {
            end
        };
        // Step back so the caller sees the line break before the next content.
        if self.pos > 0 && self.pos <= self.bytes.len() && self.bytes[self.pos - 1] == b'\n' {
            self.pos -= 1;
        }
        Ok(Value::Str(text))
    }
}

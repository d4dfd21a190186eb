//! Scalars in their quoted and block forms: `'single'`, `"double"` (with YAML's
//! escapes and line folding), and `|`/`>` block scalars with chomping and
//! indentation indicators.
use super::parse::{perr, P};
use crate::tree::Value;
use crate::Error;

impl P<'_> {
    pub(super) fn single_quoted(&mut self) -> Result<String, Error> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let st = self.i;
            while !matches!(self.peek(), None | Some(b'\'' | b'\n')) {
                self.i += 1;
            }
            out.push_str(&self.s[st..self.i]);
            match self.peek() {
                None => return self.fail("unterminated single-quoted string"),
                Some(b'\'') if self.at(1) == Some(b'\'') => {
                    out.push('\'');
                    self.i += 2;
                }
                Some(b'\'') => {
                    self.i += 1;
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
            self.i += 1;
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
        self.i += 1;
        let mut out = String::new();
        loop {
            let st = self.i;
            while !matches!(self.peek(), None | Some(b'"' | b'\\' | b'\n')) {
                self.i += 1;
            }
            out.push_str(&self.s[st..self.i]);
            match self.peek() {
                None => return self.fail("unterminated double-quoted string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\n') => self.fold_newlines(&mut out),
                _ => {
                    self.i += 1;
                    let e = self
                        .peek()
                        .ok_or_else(|| perr(self.line(), "unterminated escape"))?;
                    self.i += 1;
                    let hex = |p: &mut Self, n: usize| -> Result<char, Error> {
                        let h =
                            p.s.get(p.i..p.i + n)
                                .ok_or_else(|| perr(p.line(), "truncated escape"))?;
                        p.i += n;
                        u32::from_str_radix(h, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| perr(p.line(), "invalid escape"))
                    };
                    match e {
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
                                self.i += 1;
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
        self.i += 1;
        let mut chomp = 0i8; // -1 strip, 0 clip, 1 keep
        let mut explicit: Option<usize> = None;
        for _ in 0..2 {
            match self.peek() {
                Some(b'-') => {
                    chomp = -1;
                    self.i += 1;
                }
                Some(b'+') => {
                    chomp = 1;
                    self.i += 1;
                }
                Some(c @ b'1'..=b'9') => {
                    explicit = Some((c - b'0') as usize);
                    self.i += 1;
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
            self.i += 1;
        }
        if self.peek() == Some(b'\n') {
            self.i += 1;
        }
        // Collect lines.
        let mut lines: Vec<&str> = Vec::new();
        let mut indent = explicit.map(|e| parent + e);
        let mut end = self.i;
        let mut j = self.i;
        loop {
            if j >= self.b.len() {
                break;
            }
            let ls = j;
            let le = self.b[j..]
                .iter()
                .position(|c| *c == b'\n')
                .map_or(self.b.len(), |p| j + p);
            let raw = self.s[ls..le].trim_end_matches('\r');
            let sp = raw.bytes().take_while(|c| *c == b' ').count();
            let blank = raw.trim().is_empty();
            if !blank {
                let ind = *indent.get_or_insert(sp.max(parent + 1));
                if sp < ind || sp <= parent && !(parent == 0 && explicit.is_none() && sp > 0) {
                    break;
                }
                if (raw.starts_with("---") || raw.starts_with("...")) && sp == 0 {
                    break;
                }
            }
            lines.push(raw);
            j = le + 1;
            if !blank {
                end = j.min(self.b.len());
            }
        }
        // Trailing blank lines belong to the scalar only for keep chomping, but
        // the position moves past them either way.
        let ind = indent.unwrap_or(parent + 1);
        let mut content: Vec<String> = lines
            .iter()
            .map(|l| {
                if l.len() >= ind {
                    l[ind..].to_string()
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
            let mut prev_more = false;
            for (n, l) in content[..body_len].iter().enumerate() {
                let more = l.starts_with([' ', '\t']);
                if n > 0 {
                    let prev = &content[n - 1];
                    if prev.is_empty() || more || prev_more {
                        text.push('\n');
                    } else if !l.is_empty() {
                        text.push(' ');
                    } else {
                        text.push('\n');
                    }
                }
                text.push_str(l);
                prev_more = more;
            }
            // Empty lines in folded text are already newlines; fix the doubled case.
            if body_len > 0 {
                text.push('\n');
            }
            text = text.replace(" \n", "\n");
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
        self.i = if chomp == 1 || trailing_blank == 0 {
            j.min(self.b.len())
        } else {
            end
        };
        // Step back so the caller sees the line break before the next content.
        if self.i > 0 && self.i <= self.b.len() && self.b[self.i - 1] == b'\n' {
            self.i -= 1;
        }
        Ok(Value::Str(text))
    }
}

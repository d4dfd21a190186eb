//! A small YAML parser that keeps what sops keeps: key order, comments (as
//! items before the node they describe, the way sops places go-yaml's head, line
//! and foot comments), multiple documents, block scalars and their chomping.
//! Anchors and aliases are expanded, as sops does. Scalars resolve with go-yaml
//! v3's rules (YAML 1.2 core schema plus timestamps).
pub use super::resolve::{parse_int, resolve_plain};
use crate::tree::{Item, Value};
use crate::Error;
use std::collections::HashMap;

pub(super) struct P<'a> {
    pub(super) s: &'a str,
    pub(super) b: &'a [u8],
    pub(super) i: usize,
    pub(super) anchors: HashMap<String, Value>,
    pub(super) depth: usize,
}

pub(super) fn perr(line: usize, msg: impl std::fmt::Display) -> Error {
    Error::Parse {
        format: "YAML",
        msg: format!("line {line}: {msg}"),
    }
}

/// A comment seen while skipping blank space: its text and column.
pub(super) struct Cmt {
    text: String,
    col: usize,
    pos: usize,
}

impl<'a> P<'a> {
    pub(super) fn line(&self) -> usize {
        1 + self.b[..self.i.min(self.b.len())]
            .iter()
            .filter(|c| **c == b'\n')
            .count()
    }
    pub(super) fn fail<T>(&self, msg: impl std::fmt::Display) -> Result<T, Error> {
        Err(perr(self.line(), msg))
    }
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    pub(super) fn at(&self, k: usize) -> Option<u8> {
        self.b.get(self.i + k).copied()
    }
    pub(super) fn col(&self) -> usize {
        let ls = self.b[..self.i]
            .iter()
            .rposition(|c| *c == b'\n')
            .map_or(0, |p| p + 1);
        self.i - ls
    }
    fn eof(&self) -> bool {
        self.i >= self.b.len()
    }
    fn at_line_start(&self) -> bool {
        self.i == 0 || self.b[self.i - 1] == b'\n'
    }
    /// `---` or `...` at the start of a line, followed by space or end.
    fn at_doc_marker(&self) -> bool {
        self.at_line_start()
            && (self.b[self.i..].starts_with(b"---") || self.b[self.i..].starts_with(b"..."))
            && matches!(self.at(3), None | Some(b' ' | b'\t' | b'\n' | b'\r'))
    }
    pub(super) fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    pub(super) fn rest_of_line(&mut self) -> &'a str {
        let st = self.i;
        while !matches!(self.peek(), None | Some(b'\n')) {
            self.i += 1;
        }
        &self.s[st..self.i]
    }
    /// Skips blank lines and comment lines (and an inline comment at the current
    /// position), collecting comments. Stops at the first content character.
    pub(super) fn skip_blank(&mut self, out: &mut Vec<Cmt>) {
        loop {
            self.skip_spaces();
            match self.peek() {
                Some(b'#') => {
                    let col = self.col();
                    let pos = self.i;
                    self.i += 1;
                    let t = self.rest_of_line().trim_end_matches('\r').to_string();
                    out.push(Cmt { text: t, col, pos });
                }
                Some(b'\n') => self.i += 1,
                Some(b'\r') if self.at(1) == Some(b'\n') => self.i += 2,
                _ => return,
            }
        }
    }

    fn document(&mut self) -> Result<Option<Vec<Item>>, Error> {
        let mut cm = Vec::new();
        loop {
            self.skip_blank(&mut cm);
            if self.eof() {
                return Ok(if cm.is_empty() {
                    None
                } else {
                    Some(comments(cm))
                });
            }
            if self.at_line_start() && self.peek() == Some(b'%') {
                self.rest_of_line();
                continue;
            }
            break;
        }
        if self.at_doc_marker() && self.b[self.i..].starts_with(b"---") {
            self.i += 3;
            self.skip_spaces();
            // Content after `--- ` (a tag or inline comment) is ignored.
            if self.peek() == Some(b'#') {
                self.rest_of_line();
            }
            self.skip_blank(&mut cm);
        }
        if self.eof() || self.at_doc_marker() {
            let mut items = comments(cm);
            if self.b[self.i..].starts_with(b"...") {
                self.i += 3;
                self.rest_of_line();
            }
            return Ok(Some(std::mem::take(&mut items)));
        }
        let col = self.col();
        let v = self.block_node(col, cm, false)?;
        let mut trailing = Vec::new();
        self.skip_blank(&mut trailing);
        if !self.eof() && !self.at_doc_marker() {
            return self.fail("unexpected content (bad indentation?)");
        }
        if self.b[self.i..].starts_with(b"...") {
            self.i += 3;
            self.rest_of_line();
        }
        match v {
            Value::Map(mut items) => {
                items.extend(comments(trailing));
                Ok(Some(items))
            }
            Value::Null => Ok(Some(comments(trailing))),
            Value::Seq(_) => Err(perr(
                1,
                "the document is a sequence: sops files must be mappings at the top level",
            )),
            other => Err(perr(
                1,
                format!(
                    "the document is a {}: sops files must be mappings at the top level",
                    other.kind()
                ),
            )),
        }
    }

    /// Anchors, tags before a node.
    pub(super) fn props(&mut self) -> Result<(Option<String>, Option<String>), Error> {
        let mut anchor = None;
        let mut tag = None;
        loop {
            match self.peek() {
                Some(b'&') => {
                    self.i += 1;
                    let st = self.i;
                    while !matches!(
                        self.peek(),
                        None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}')
                    ) {
                        self.i += 1;
                    }
                    anchor = Some(self.s[st..self.i].to_string());
                    self.skip_spaces();
                }
                Some(b'!') => {
                    let st = self.i;
                    while !matches!(
                        self.peek(),
                        None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}')
                    ) {
                        self.i += 1;
                    }
                    tag = Some(self.s[st..self.i].to_string());
                    self.skip_spaces();
                }
                _ => return Ok((anchor, tag)),
            }
        }
    }

    pub(super) fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > 256 {
            return self.fail("nesting too deep");
        }
        Ok(())
    }

    /// A node that starts at the current position, in block context, whose parent
    /// has indentation `parent` (the node's lines must be indented more, except
    /// sequences as mapping values, which may sit at the parent's column).
    fn block_node(
        &mut self,
        min_col: usize,
        head: Vec<Cmt>,
        in_map_value: bool,
    ) -> Result<Value, Error> {
        self.enter()?;
        // A mapping whose first key carries a tag (`!!merge <<: …`): the tag is the key's.
        if self.peek() == Some(b'!') && self.line_has_key()? {
            let col = self.col();
            let v = self.block_map(col, head)?;
            self.depth -= 1;
            return Ok(v);
        }
        let (anchor, tag) = self.props()?;
        let mut head = head;
        if matches!(self.peek(), None | Some(b'\n' | b'#' | b'\r'))
            && (anchor.is_some() || tag.is_some())
        {
            // Properties on their own line: the node follows.
            self.skip_blank(&mut head);
            if self.eof() || self.col() < min_col || self.at_doc_marker() {
                self.depth -= 1;
                return Ok(Value::Null);
            }
        }
        let _ = in_map_value;
        let col = self.col();
        let v = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                let st = self.i;
                while !matches!(
                    self.peek(),
                    None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}')
                ) {
                    self.i += 1;
                }
                let name = &self.s[st..self.i];
                let v = match self.anchors.get(name) {
                    Some(v) => v.clone(),
                    None => return self.fail(format!("unknown alias *{name}")),
                };
                // `*a: v` would be an alias key; not supported by sops either.
                self.skip_spaces();
                if self.peek() == Some(b':') {
                    return self.fail("aliases as mapping keys are not supported");
                }
                v
            }
            Some(b'-') if matches!(self.at(1), None | Some(b' ' | b'\t' | b'\n' | b'\r')) => {
                self.block_seq(col, head)?
            }
            Some(b'|' | b'>') => {
                let v = self.block_scalar(min_col)?;
                if let Some(t) = &tag {
                    self.tagged(t, v, false)?
                } else {
                    v
                }
            }
            _ => {
                if self.line_has_key()? {
                    self.block_map(col, head)?
                } else {
                    let v = self.inline_value(min_col)?;
                    match tag {
                        Some(t) => self.tagged(&t, v.0, v.1)?,
                        None => v.0,
                    }
                }
            }
        };
        if let Some(a) = anchor {
            self.anchors.insert(a, v.clone());
        }
        self.depth -= 1;
        Ok(v)
    }

    fn tagged(&self, tag: &str, v: Value, _quoted: bool) -> Result<Value, Error> {
        Ok(match (tag, v) {
            ("!!str" | "!str", Value::Str(s)) => Value::Str(s),
            ("!!str" | "!str", other) => match crate::cipher::leaf_bytes(&other) {
                Some((b, _)) => Value::Str(String::from_utf8_lossy(&b).into_owned()),
                None => other,
            },
            (_, v) => v,
        })
    }

    /// True if the current line (from here) is `key: …` (a block mapping entry).
    fn line_has_key(&mut self) -> Result<bool, Error> {
        let save = self.i;
        let r = match self.peek() {
            Some(b'?') if matches!(self.at(1), Some(b' ' | b'\n') | None) => true,
            Some(b'"' | b'\'') => {
                let q = self.peek();
                let ok = if q == Some(b'"') {
                    self.double_quoted().is_ok()
                } else {
                    self.single_quoted().is_ok()
                };
                self.skip_spaces();
                ok && self.peek() == Some(b':')
                    && matches!(self.at(1), None | Some(b' ' | b'\t' | b'\n' | b'\r'))
            }
            Some(b'[' | b'{') => false,
            _ => {
                let mut found = false;
                while let Some(c) = self.peek() {
                    if c == b'\n' {
                        break;
                    }
                    if c == b':' && matches!(self.at(1), None | Some(b' ' | b'\t' | b'\n' | b'\r'))
                    {
                        found = true;
                        break;
                    }
                    if c == b'#' && self.i > 0 && matches!(self.b[self.i - 1], b' ' | b'\t') {
                        break;
                    }
                    self.i += 1;
                }
                found
            }
        };
        self.i = save;
        Ok(r)
    }

    fn key(&mut self) -> Result<String, Error> {
        let k = match self.peek() {
            Some(b'"') => self.double_quoted()?,
            Some(b'\'') => self.single_quoted()?,
            _ => {
                let st = self.i;
                while let Some(c) = self.peek() {
                    if c == b':' && matches!(self.at(1), None | Some(b' ' | b'\t' | b'\n' | b'\r'))
                    {
                        break;
                    }
                    if c == b'\n' {
                        break;
                    }
                    self.i += 1;
                }
                let k = self.s[st..self.i].trim_end();
                // A tag on a key (`!!merge <<` as go-yaml v3 writes merge keys) is dropped.
                let k = if k.starts_with('!') {
                    k.split_once([' ', '\t'])
                        .map_or(k, |(_, rest)| rest.trim_start())
                } else {
                    k
                };
                k.to_string()
            }
        };
        self.skip_spaces();
        if self.peek() != Some(b':') {
            return self.fail(format!("expected ':' after key {k:?}"));
        }
        self.i += 1;
        Ok(k)
    }

    fn block_map(&mut self, col: usize, head: Vec<Cmt>) -> Result<Value, Error> {
        let mut items = comments(head);
        let mut seen: HashMap<String, usize> = HashMap::new();
        loop {
            let line = self.line();
            let explicit = self.peek() == Some(b'?');
            let k = if explicit {
                self.i += 1;
                self.skip_spaces();
                let (v, _) = self.inline_value(col + 1)?;
                let mut cm = Vec::new();
                self.skip_blank(&mut cm);
                if self.peek() != Some(b':') || self.col() != col {
                    return self.fail("complex keys need ': value' on the next line");
                }
                self.i += 1;
                match v {
                    Value::Str(s) => s,
                    other => match crate::cipher::leaf_bytes(&other) {
                        Some((b, _)) => String::from_utf8_lossy(&b).into_owned(),
                        None => return self.fail("only scalar keys are supported"),
                    },
                }
            } else {
                self.key()?
            };
            if let Some(prev) = seen.insert(k.clone(), line) {
                return Err(perr(
                    line,
                    format!("mapping key {k:?} already defined at line {prev}"),
                ));
            }
            self.skip_spaces();
            // Inline comment after `key:` with the value on the next lines.
            let mut cm = Vec::new();
            let v = if matches!(self.peek(), None | Some(b'\n' | b'#' | b'\r')) {
                self.skip_blank(&mut cm);
                let c = self.col();
                let seq_here = c == col
                    && self.peek() == Some(b'-')
                    && matches!(self.at(1), None | Some(b' ' | b'\t' | b'\n' | b'\r'));
                if !self.eof() && !self.at_doc_marker() && (c > col || seq_here) {
                    self.block_node(col + 1, cm, true)?
                } else {
                    // Empty value; the comments seen belong to what follows.
                    self.rewind(&cm);
                    Value::Null
                }
            } else {
                let (anchor, tag) = self.props()?;
                if matches!(self.peek(), None | Some(b'\n' | b'#' | b'\r')) {
                    self.skip_blank(&mut cm);
                    let c = self.col();
                    let seq_here = c == col && self.peek() == Some(b'-');
                    let v = if !self.eof() && !self.at_doc_marker() && (c > col || seq_here) {
                        self.block_node(col + 1, cm, true)?
                    } else {
                        self.rewind(&cm);
                        Value::Null
                    };
                    if let Some(a) = anchor {
                        self.anchors.insert(a, v.clone());
                    }
                    v
                } else {
                    let line_cmt_target = items.len();
                    let v = match self.peek() {
                        Some(b'|' | b'>') => self.block_scalar(col)?,
                        Some(b'*') | Some(b'&') => self.block_node(col + 1, Vec::new(), true)?,
                        _ => {
                            let (v, _) = self.inline_value(col + 1)?;
                            v
                        }
                    };
                    let v = match &tag {
                        Some(t) => self.tagged(t, v, false)?,
                        None => v,
                    };
                    if let Some(a) = anchor {
                        self.anchors.insert(a, v.clone());
                    }
                    // A comment at the end of the line goes before the entry
                    // (scalars) or first inside a flow collection, as sops does.
                    self.skip_spaces();
                    let mut v = v;
                    if self.peek() == Some(b'#') {
                        self.i += 1;
                        let t = self.rest_of_line().trim_end_matches('\r').to_string();
                        match &mut v {
                            Value::Seq(s) => s.insert(0, Value::Comment(t)),
                            Value::Map(m) => m.insert(0, Item::Comment(t)),
                            _ => items.insert(line_cmt_target, Item::Comment(t)),
                        }
                    }
                    v
                }
            };
            items.push(Item::Entry(k, v));
            // Next entry, or the end of this mapping.
            let mut cm = Vec::new();
            self.skip_blank(&mut cm);
            if self.eof() || self.at_doc_marker() || self.col() != col {
                if !self.eof() && !self.at_doc_marker() && self.col() > col {
                    return self.fail("bad indentation of a mapping entry");
                }
                let (mine, theirs) = split_comments(cm, col);
                items.extend(comments(mine));
                self.rewind(&theirs);
                return Ok(Value::Map(items));
            }
            if self.peek() == Some(b'-') && matches!(self.at(1), None | Some(b' ' | b'\n')) {
                self.rewind(&cm);
                return Ok(Value::Map(items));
            }
            items.extend(comments(cm));
        }
    }

    fn rewind(&mut self, cm: &[Cmt]) {
        if let Some(first) = cm.first() {
            self.i = first.pos;
            // Back to the start of that line so columns stay right.
            while self.i > 0 && matches!(self.b[self.i - 1], b' ' | b'\t') {
                self.i -= 1;
            }
        }
    }

    fn block_seq(&mut self, col: usize, head: Vec<Cmt>) -> Result<Value, Error> {
        let mut out: Vec<Value> = head.into_iter().map(|c| Value::Comment(c.text)).collect();
        loop {
            // At `-`.
            self.i += 1;
            self.skip_spaces();
            let mut cm = Vec::new();
            let v = if matches!(self.peek(), None | Some(b'\n' | b'#' | b'\r')) {
                self.skip_blank(&mut cm);
                if !self.eof() && !self.at_doc_marker() && self.col() > col {
                    self.block_node(col + 1, cm, false)?
                } else {
                    self.rewind(&cm);
                    Value::Null
                }
            } else {
                let c = self.col();
                let v = self.block_node(c.max(col + 1), Vec::new(), false)?;
                self.skip_spaces();
                if self.peek() == Some(b'#') {
                    self.i += 1;
                    let t = self.rest_of_line().trim_end_matches('\r').to_string();
                    out.push(Value::Comment(t));
                }
                v
            };
            out.push(v);
            let mut cm = Vec::new();
            self.skip_blank(&mut cm);
            if self.eof()
                || self.at_doc_marker()
                || self.col() != col
                || self.peek() != Some(b'-')
                || !matches!(self.at(1), None | Some(b' ' | b'\t' | b'\n' | b'\r'))
            {
                let (mine, theirs) = split_comments(cm, col + 1);
                out.extend(mine.into_iter().map(|c| Value::Comment(c.text)));
                self.rewind(&theirs);
                return Ok(Value::Seq(out));
            }
            out.extend(cm.into_iter().map(|c| Value::Comment(c.text)));
        }
    }

    /// A scalar or flow collection on the current line (plain scalars may continue
    /// on more-indented lines). Returns the value and whether it was quoted.
    fn inline_value(&mut self, min_col: usize) -> Result<(Value, bool), Error> {
        match self.peek() {
            Some(b'"') => {
                let s = self.double_quoted()?;
                Ok((Value::Str(s), true))
            }
            Some(b'\'') => {
                let s = self.single_quoted()?;
                Ok((Value::Str(s), true))
            }
            Some(b'[' | b'{') => Ok((self.flow()?, false)),
            _ => {
                let st = self.i;
                let mut text = self.plain_line(false).to_string();
                // Continuation lines of a multi-line plain scalar.
                loop {
                    let save = self.i;
                    let mut blank_lines = 0;
                    let mut j = self.i;
                    if self.b.get(j) != Some(&b'\n') {
                        break;
                    }
                    let mut next_start;
                    loop {
                        j += 1;
                        next_start = j;
                        while matches!(self.b.get(j), Some(b' ' | b'\t')) {
                            j += 1;
                        }
                        if self.b.get(j) == Some(&b'\n') {
                            blank_lines += 1;
                            continue;
                        }
                        break;
                    }
                    let c = j - next_start;
                    let ch = self.b.get(j).copied();
                    if ch.is_none() || c < min_col || ch == Some(b'#') {
                        self.i = save;
                        break;
                    }
                    self.i = j;
                    if self.at_doc_marker()
                        || self.line_has_key()?
                        || (ch == Some(b'-') && matches!(self.b.get(j + 1), Some(b' ' | b'\n')))
                    {
                        self.i = save;
                        break;
                    }
                    let more = self.plain_line(false).to_string();
                    if blank_lines == 0 {
                        text.push(' ');
                    } else {
                        for _ in 0..blank_lines {
                            text.push('\n');
                        }
                    }
                    text.push_str(&more);
                }
                let _ = st;
                Ok((resolve_plain(&text), false))
            }
        }
    }

    pub(super) fn plain_line(&mut self, flow: bool) -> &'a str {
        let st = self.i;
        while let Some(c) = self.peek() {
            if c == b'\n' || (c == b'\r' && self.at(1) == Some(b'\n')) {
                break;
            }
            if c == b'#' && self.i > st && matches!(self.b[self.i - 1], b' ' | b'\t') {
                break;
            }
            if c == b':' && matches!(self.at(1), None | Some(b' ' | b'\t' | b'\n' | b'\r')) {
                break;
            }
            if flow && matches!(c, b',' | b']' | b'}' | b'[' | b'{') {
                break;
            }
            if flow && c == b':' && matches!(self.at(1), Some(b',' | b']' | b'}')) {
                break;
            }
            self.i += 1;
        }
        self.s[st..self.i].trim_end()
    }
}

fn comments(cm: Vec<Cmt>) -> Vec<Item> {
    cm.into_iter().map(|c| Item::Comment(c.text)).collect()
}

/// Splits trailing comments: those indented at least `col` stay with the
/// collection that just ended, the rest go to its parent.
fn split_comments(cm: Vec<Cmt>, col: usize) -> (Vec<Cmt>, Vec<Cmt>) {
    let cut = cm.iter().position(|c| c.col < col).unwrap_or(cm.len());
    let mut mine = cm;
    let theirs = mine.split_off(cut);
    (mine, theirs)
}

/// Parses every document of a YAML stream into one branch each.
pub fn parse(input: &[u8]) -> Result<Vec<Vec<Item>>, Error> {
    let s = std::str::from_utf8(input).map_err(|e| {
        let line = 1 + input[..e.valid_up_to()]
            .iter()
            .filter(|c| **c == b'\n')
            .count();
        perr(line, "the file is not valid UTF-8")
    })?;
    let s = s.strip_prefix('\u{feff}').unwrap_or(s);
    let mut p = P {
        s,
        b: s.as_bytes(),
        i: 0,
        anchors: HashMap::new(),
        depth: 0,
    };
    let mut docs = Vec::new();
    while let Some(d) = p.document()? {
        docs.push(d);
        if p.eof() {
            break;
        }
        let before = p.i;
        if !p.at_doc_marker() {
            return p.fail("unexpected content");
        }
        if p.b[p.i..].starts_with(b"...") {
            p.i += 3;
            p.rest_of_line();
        }
        if p.i == before && !p.b[p.i..].starts_with(b"---") {
            return p.fail("unexpected content");
        }
    }
    if docs.is_empty() {
        docs.push(Vec::new());
    }
    Ok(docs)
}

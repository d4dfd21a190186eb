//! A small YAML parser that keeps what sops keeps: key order, comments (as
//! items before the node they describe, the way sops places go-yaml's head, line
//! and foot comments), multiple documents, block scalars and their chomping.
//! Anchors and aliases are expanded, as sops does, within go-yaml's bounds
//! (see [`super::aliases`]). Scalars resolve with go-yaml v3's rules (YAML 1.2
//! core schema plus timestamps).
use super::aliases::{AliasBudget, Anchor};
use super::cursor::Comment;
use crate::tree::{Item, Value};
use crate::Error;
use std::collections::HashMap;

/// The parser's state over one YAML stream.
pub(super) struct Parser<'a> {
    /// The input, without a byte-order mark.
    pub(super) text: &'a str,
    /// The same input as bytes.
    pub(super) bytes: &'a [u8],
    /// The current byte offset.
    pub(super) pos: usize,
    /// Anchors defined so far, by name.
    pub(super) anchors: HashMap<String, Anchor>,
    /// The current nesting depth.
    pub(super) depth: usize,
    /// What alias expansion has cost so far.
    pub(super) budget: AliasBudget,
}

pub(super) fn parse_error(line: usize, msg: impl std::fmt::Display) -> Error {
    crate::stores::parse_error(crate::Format::Yaml, line, msg.to_string())
}

impl Parser<'_> {
    fn document(&mut self) -> Result<Option<Vec<Item>>, Error> {
        let mut head = Vec::new();
        loop {
            self.skip_blank(&mut head);
            if self.at_end() {
                return Ok(if head.is_empty() {
                    None
                } else {
                    Some(comment_items(head))
                });
            }
            if self.at_line_start() && self.peek() == Some(b'%') {
                self.rest_of_line();
                continue;
            }
            break;
        }
        self.start_document()?;
        if self.at_document_marker() && self.rest().starts_with(b"---") {
            self.pos += 3;
            self.skip_spaces();
            // Content after `--- ` (a tag or inline comment) is ignored.
            if self.peek() == Some(b'#') {
                self.rest_of_line();
            }
            self.skip_blank(&mut head);
        }
        if self.at_end() || self.at_document_marker() {
            let items = comment_items(head);
            if self.rest().starts_with(b"...") {
                self.pos += 3;
                self.rest_of_line();
            }
            return Ok(Some(items));
        }
        let column = self.column();
        let v = self.block_node(column, head)?;
        let mut trailing = Vec::new();
        self.skip_blank(&mut trailing);
        if !self.at_end() && !self.at_document_marker() {
            return self.fail("unexpected content (bad indentation?)");
        }
        if self.rest().starts_with(b"...") {
            self.pos += 3;
            self.rest_of_line();
        }
        match v {
            Value::Map(mut items) => {
                items.extend(comment_items(trailing));
                Ok(Some(items))
            }
            Value::Null => Ok(Some(comment_items(trailing))),
            Value::Seq(_) => Err(parse_error(
                1,
                "the document is a sequence: sops files must be mappings at the top level",
            )),
            other => Err(parse_error(
                1,
                format!(
                    "the document is a {}: sops files must be mappings at the top level",
                    other.kind()
                ),
            )),
        }
    }

    /// Anchors, tags before a node.
    pub(super) fn properties(&mut self) -> (Option<String>, Option<String>) {
        let mut anchor = None;
        let mut tag = None;
        loop {
            match self.peek() {
                Some(b'&') => {
                    self.pos += 1;
                    anchor = Some(self.name().to_string());
                    self.skip_spaces();
                }
                Some(b'!') => {
                    tag = Some(self.name().to_string());
                    self.skip_spaces();
                }
                _ => return (anchor, tag),
            }
        }
    }

    /// A node that starts at the current position, in block context; its lines
    /// must be indented at least `min_column` (sequences as mapping values may
    /// sit at their key's column: the caller passes that case through).
    fn block_node(&mut self, min_column: usize, head: Vec<Comment>) -> Result<Value, Error> {
        self.enter()?;
        // A mapping whose first key carries a tag (`!!merge <<: …`): the tag is the key's.
        if self.peek() == Some(b'!') && self.line_has_key() {
            let column = self.column();
            let v = self.block_map(column, head)?;
            self.depth -= 1;
            return Ok(v);
        }
        let (anchor, tag) = self.properties();
        let mark = anchor.as_ref().map(|_| self.mark());
        let mut head = head;
        if matches!(self.peek(), None | Some(b'\n' | b'#' | b'\r'))
            && (anchor.is_some() || tag.is_some())
        {
            // Properties on their own line: the node follows.
            self.skip_blank(&mut head);
            if self.at_end() || self.column() < min_column || self.at_document_marker() {
                self.count_node()?;
                if let (Some(a), Some(m)) = (anchor, mark) {
                    self.define_anchor(a, &Value::Null, m);
                }
                self.depth -= 1;
                return Ok(Value::Null);
            }
        }
        let column = self.column();
        let v = match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                let v = self.expand_alias()?;
                // `*a: v` would be an alias key; not supported by sops either.
                self.skip_spaces();
                if self.peek() == Some(b':') {
                    return self.fail("aliases as mapping keys are not supported");
                }
                v
            }
            Some(b'-') if self.blank_at(1) => self.block_seq(column, head)?,
            Some(b'|' | b'>') => {
                let v = self.block_scalar(min_column)?;
                self.count_scalar(&v)?;
                apply_tag(tag.as_deref(), v)
            }
            _ => {
                if self.line_has_key() {
                    self.block_map(column, head)?
                } else {
                    let v = self.inline_value(min_column)?;
                    apply_tag(tag.as_deref(), v)
                }
            }
        };
        if let (Some(a), Some(m)) = (anchor, mark) {
            self.define_anchor(a, &v, m);
        }
        self.depth -= 1;
        Ok(v)
    }

    /// True if the current line (from here) is `key: …` (a block mapping entry).
    fn line_has_key(&mut self) -> bool {
        let save = self.pos;
        let found = match self.peek() {
            Some(b'?') if matches!(self.peek_at(1), Some(b' ' | b'\n') | None) => true,
            Some(q @ (b'"' | b'\'')) => {
                let closed = if q == b'"' {
                    self.double_quoted().is_ok()
                } else {
                    self.single_quoted().is_ok()
                };
                self.skip_spaces();
                closed && self.peek() == Some(b':') && self.blank_at(1)
            }
            Some(b'[' | b'{') => false,
            _ => {
                let mut found = false;
                while let Some(c) = self.peek() {
                    if c == b'\n' {
                        break;
                    }
                    if c == b':' && self.blank_at(1) {
                        found = true;
                        break;
                    }
                    if c == b'#' && self.pos > 0 && matches!(self.bytes[self.pos - 1], b' ' | b'\t')
                    {
                        break;
                    }
                    self.pos += 1;
                }
                found
            }
        };
        self.pos = save;
        found
    }

    /// A block mapping key up to and including its `:`.
    fn key(&mut self) -> Result<String, Error> {
        let key = match self.peek() {
            Some(b'"') => self.double_quoted()?,
            Some(b'\'') => self.single_quoted()?,
            _ => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if (c == b':' && self.blank_at(1)) || c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
                let key = self.text[start..self.pos].trim_end_matches([' ', '\t']);
                // A tag on a key (`!!merge <<` as go-yaml v3 writes merge keys) is dropped.
                let key = if key.starts_with('!') {
                    key.split_once([' ', '\t'])
                        .map_or(key, |(_, rest)| rest.trim_start_matches([' ', '\t']))
                } else {
                    key
                };
                key.to_string()
            }
        };
        self.skip_spaces();
        if self.peek() != Some(b':') {
            return self.fail(format!("expected ':' after key {key:?}"));
        }
        self.pos += 1;
        Ok(key)
    }

    /// `? key` then `: value` on the next line at `column` (an explicit key).
    fn explicit_key(&mut self, column: usize) -> Result<String, Error> {
        self.pos += 1;
        self.skip_spaces();
        let v = self.inline_value(column + 1)?;
        let mut comments = Vec::new();
        self.skip_blank(&mut comments);
        if self.peek() != Some(b':') || self.column() != column {
            return self.fail("complex keys need ': value' on the next line");
        }
        self.pos += 1;
        match v {
            Value::Str(s) => Ok(s),
            other => match crate::cipher::leaf_bytes(&other) {
                Some((b, _)) => Ok(String::from_utf8_lossy(&b).into_owned()),
                None => self.fail("only scalar keys are supported"),
            },
        }
    }

    /// True if a node on a following line belongs to a mapping entry at `column`:
    /// more indented, or a sequence at the key's own column.
    fn value_follows(&self, column: usize) -> bool {
        let c = self.column();
        let seq_here = c == column && self.peek() == Some(b'-') && self.blank_at(1);
        !self.at_end() && !self.at_document_marker() && (c > column || seq_here)
    }

    fn block_map(&mut self, column: usize, head: Vec<Comment>) -> Result<Value, Error> {
        self.count_node()?;
        let mut items = comment_items(head);
        let mut seen: HashMap<String, usize> = HashMap::new();
        loop {
            // Byte offsets, turned into line numbers only for an error message
            // (counting lines on every entry would make parsing quadratic).
            let start = self.pos;
            let key = if self.peek() == Some(b'?') {
                self.explicit_key(column)?
            } else {
                self.key()?
            };
            self.count_key(&key)?;
            if let Some(previous) = seen.insert(key.clone(), start) {
                let line_of = |pos: usize| super::cursor::line_at(self.bytes, pos);
                return Err(parse_error(
                    line_of(start),
                    format!(
                        "mapping key {key:?} already defined at line {}",
                        line_of(previous)
                    ),
                ));
            }
            self.skip_spaces();
            let mut comments = Vec::new();
            let value = if matches!(self.peek(), None | Some(b'\n' | b'#' | b'\r')) {
                // The value (if any) is on the next lines; an inline comment
                // after `key:` goes before it.
                self.skip_blank(&mut comments);
                if self.value_follows(column) {
                    self.block_node(column + 1, comments)?
                } else {
                    // Empty value; the comments seen belong to what follows.
                    self.rewind(&comments);
                    self.count_node()?;
                    Value::Null
                }
            } else {
                self.value_on_key_line(column, &mut items, comments)?
            };
            items.push(Item::Entry(key, value));
            // Next entry, or the end of this mapping.
            let mut comments = Vec::new();
            self.skip_blank(&mut comments);
            if self.at_end() || self.at_document_marker() || self.column() != column {
                if !self.at_end() && !self.at_document_marker() && self.column() > column {
                    return self.fail("bad indentation of a mapping entry");
                }
                let (mine, theirs) = split_comments(comments, column);
                items.extend(comment_items(mine));
                self.rewind(&theirs);
                return Ok(Value::Map(items));
            }
            if self.peek() == Some(b'-') && matches!(self.peek_at(1), None | Some(b' ' | b'\n')) {
                self.rewind(&comments);
                return Ok(Value::Map(items));
            }
            items.extend(comment_items(comments));
        }
    }

    /// A mapping value that starts on its key's line (possibly only with an
    /// anchor or tag there). A comment at the end of a scalar's line goes into
    /// `items` before the entry, as sops places it.
    fn value_on_key_line(
        &mut self,
        column: usize,
        items: &mut Vec<Item>,
        mut comments: Vec<Comment>,
    ) -> Result<Value, Error> {
        let (anchor, tag) = self.properties();
        let mark = anchor.as_ref().map(|_| self.mark());
        if matches!(self.peek(), None | Some(b'\n' | b'#' | b'\r')) {
            self.skip_blank(&mut comments);
            // After properties, any `-` at the key's column starts the value.
            let c = self.column();
            let seq_here = c == column && self.peek() == Some(b'-');
            let v = if !self.at_end() && !self.at_document_marker() && (c > column || seq_here) {
                self.block_node(column + 1, comments)?
            } else {
                self.rewind(&comments);
                self.count_node()?;
                Value::Null
            };
            if let (Some(a), Some(m)) = (anchor, mark) {
                self.define_anchor(a, &v, m);
            }
            return Ok(v);
        }
        let line_comment_at = items.len();
        let v = match self.peek() {
            Some(b'|' | b'>') => {
                let v = self.block_scalar(column)?;
                self.count_scalar(&v)?;
                v
            }
            Some(b'*' | b'&') => self.block_node(column + 1, Vec::new())?,
            _ => self.inline_value(column + 1)?,
        };
        let mut v = apply_tag(tag.as_deref(), v);
        if let (Some(a), Some(m)) = (anchor, mark) {
            self.define_anchor(a, &v, m);
        }
        // A comment at the end of the line goes before the entry (scalars) or
        // first inside a flow collection, as sops does.
        self.skip_spaces();
        if self.peek() == Some(b'#') {
            let text = self.comment_text();
            match &mut v {
                Value::Seq(s) => s.insert(0, Value::Comment(text)),
                Value::Map(m) => m.insert(0, Item::Comment(text)),
                _ => items.insert(line_comment_at, Item::Comment(text)),
            }
        }
        Ok(v)
    }

    fn block_seq(&mut self, column: usize, head: Vec<Comment>) -> Result<Value, Error> {
        self.count_node()?;
        let mut out: Vec<Value> = head.into_iter().map(|c| Value::Comment(c.text)).collect();
        loop {
            // At `-`.
            self.pos += 1;
            self.skip_spaces();
            let mut comments = Vec::new();
            let v = if matches!(self.peek(), None | Some(b'\n' | b'#' | b'\r')) {
                self.skip_blank(&mut comments);
                if !self.at_end() && !self.at_document_marker() && self.column() > column {
                    self.block_node(column + 1, comments)?
                } else {
                    self.rewind(&comments);
                    self.count_node()?;
                    Value::Null
                }
            } else {
                let c = self.column();
                let v = self.block_node(c.max(column + 1), Vec::new())?;
                // A comment on the item's own line (not one on a following line).
                let same_line = !self.at_line_start();
                self.skip_spaces();
                if same_line && self.peek() == Some(b'#') {
                    out.push(Value::Comment(self.comment_text()));
                }
                v
            };
            out.push(v);
            let mut comments = Vec::new();
            self.skip_blank(&mut comments);
            if self.at_end()
                || self.at_document_marker()
                || self.column() != column
                || self.peek() != Some(b'-')
                || !self.blank_at(1)
            {
                let (mine, theirs) = split_comments(comments, column + 1);
                out.extend(mine.into_iter().map(|c| Value::Comment(c.text)));
                self.rewind(&theirs);
                return Ok(Value::Seq(out));
            }
            out.extend(comments.into_iter().map(|c| Value::Comment(c.text)));
        }
    }

    /// A scalar or flow collection on the current line (plain scalars may continue
    /// on lines indented at least `min_column`).
    fn inline_value(&mut self, min_column: usize) -> Result<Value, Error> {
        let v = match self.peek() {
            Some(b'"') => Value::Str(self.double_quoted()?),
            Some(b'\'') => Value::Str(self.single_quoted()?),
            Some(b'[' | b'{') => return self.flow(),
            _ => {
                let text = self.multi_line_plain(min_column)?;
                super::resolve::resolve_plain(&text)
            }
        };
        self.count_scalar(&v)?;
        Ok(v)
    }

    /// A plain scalar and its continuation lines (folded: one line break is a
    /// space, n+1 breaks are n newlines).
    fn multi_line_plain(&mut self, min_column: usize) -> Result<String, Error> {
        let mut text = self.plain_line(false).to_string();
        loop {
            let save = self.pos;
            if self.peek() != Some(b'\n') {
                break;
            }
            let mut blank_lines = 0;
            let mut next = self.pos;
            let mut line_start;
            loop {
                next += 1;
                line_start = next;
                while matches!(self.bytes.get(next), Some(b' ' | b'\t')) {
                    next += 1;
                }
                if self.bytes.get(next) == Some(&b'\n') {
                    blank_lines += 1;
                    continue;
                }
                break;
            }
            let indent = next - line_start;
            let first = self.bytes.get(next).copied();
            if first.is_none() || indent < min_column || first == Some(b'#') {
                self.pos = save;
                break;
            }
            self.pos = next;
            if self.at_document_marker()
                || self.line_has_key()
                || (first == Some(b'-') && matches!(self.bytes.get(next + 1), Some(b' ' | b'\n')))
            {
                self.pos = save;
                break;
            }
            let more = self.plain_line(false);
            if blank_lines == 0 {
                text.push(' ');
            } else {
                for _ in 0..blank_lines {
                    text.push('\n');
                }
            }
            text.push_str(more);
        }
        Ok(text)
    }
}

/// `!!str` makes any scalar a string; other tags keep the resolved value.
fn apply_tag(tag: Option<&str>, v: Value) -> Value {
    match (tag, v) {
        (Some("!!str" | "!str"), Value::Str(s)) => Value::Str(s),
        (Some("!!str" | "!str"), other) => match crate::cipher::leaf_bytes(&other) {
            Some((b, _)) => Value::Str(String::from_utf8_lossy(&b).into_owned()),
            None => other,
        },
        (_, v) => v,
    }
}

fn comment_items(comments: Vec<Comment>) -> Vec<Item> {
    comments
        .into_iter()
        .map(|c| Item::Comment(c.text))
        .collect()
}

/// Splits trailing comments: those indented at least `column` stay with the
/// collection that just ended, the rest go to its parent.
fn split_comments(comments: Vec<Comment>, column: usize) -> (Vec<Comment>, Vec<Comment>) {
    let cut = comments
        .iter()
        .position(|c| c.column < column)
        .unwrap_or(comments.len());
    let mut mine = comments;
    let theirs = mine.split_off(cut);
    (mine, theirs)
}

/// One top-level mapping per document.
type Branches = Vec<Vec<Item>>;

/// Parses every document of a YAML stream into one branch each.
pub(crate) fn parse(input: &[u8]) -> Result<Vec<Vec<Item>>, Error> {
    parse_with_counts(input).map(|(docs, _)| docs)
}

/// [`parse`], also returning go-yaml's (decoded, aliased) node counts of the
/// last document (for tests of the aliasing rule).
pub(super) fn parse_with_counts(input: &[u8]) -> Result<(Branches, (u64, u64)), Error> {
    let text = crate::stores::utf8(input, crate::Format::Yaml)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        anchors: HashMap::new(),
        depth: 0,
        budget: AliasBudget::default(),
    };
    let mut docs = Vec::new();
    while let Some(document) = parser.document()? {
        docs.push(document);
        let before = parser.pos;
        if parser.rest().starts_with(b"...") {
            parser.pos += 3;
            parser.rest_of_line();
        }
        // Only blank space may follow a document before the next `---`.
        while matches!(parser.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            parser.pos += 1;
        }
        if parser.at_end() {
            break;
        }
        if parser.pos == before && !parser.at_document_marker() {
            return parser.fail("unexpected content");
        }
    }
    if docs.is_empty() {
        docs.push(Vec::new());
    }
    Ok((docs, parser.budget.counts()))
}

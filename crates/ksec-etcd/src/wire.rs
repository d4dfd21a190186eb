//! A small protobuf wire-format reader for the messages read from stored values
//! (`runtime.Unknown`, `v1.Secret`, KMS v2 `EncryptedObject`). It never allocates and
//! never recurses: callers decode nested messages explicitly, so depth is fixed by the
//! schema, and every length is checked against what is left.

/// One field's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, nested messages, packed repeated fields.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl<'a> Value<'a> {
    /// The payload of a length-delimited field, or an error naming `field`.
    pub(crate) fn bytes(self, field: &str) -> Result<&'a [u8], String> {
        match self {
            Value::Bytes(b) => Ok(b),
            _ => Err(format!("{field}: expected a length-delimited field")),
        }
    }

    /// A UTF-8 string field.
    pub(crate) fn str(self, field: &str) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes(field)?).map_err(|_| format!("{field}: not UTF-8"))
    }

    /// A varint field.
    pub(crate) fn varint(self, field: &str) -> Result<u64, String> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => Err(format!("{field}: expected a varint")),
        }
    }
}

/// Iterates the fields of one message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over one message's bytes.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| "truncated varint".to_string())?;
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err("varint longer than 64 bits".into());
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "a field of {n} bytes runs past the end ({} left)",
                    self.buf.len() - self.pos
                )
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field as (field number, payload); `None` at the end.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = u32::try_from(tag >> 3)
            .ok()
            .filter(|f| *f != 0 && *f < (1 << 29))
            .ok_or_else(|| format!("invalid field number {}", tag >> 3))?;
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                Value::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| "fixed64")?))
            }
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| "length does not fit in memory".to_string())?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes(b.try_into().map_err(|_| "fixed32")?))
            }
            w => {
                return Err(format!(
                "field {field}: unsupported wire type {w} (groups are not used by these messages)"
            ))
            }
        };
        Ok(Some((field, value)))
    }
}

/// Decodes one `map<string, V>` entry (key = 1, value = 2) into its raw parts.
pub(crate) fn map_entry<'a>(entry: &'a [u8], field: &str) -> Result<(&'a str, &'a [u8]), String> {
    let mut r = Reader::new(entry);
    let (mut k, mut v): (&str, &[u8]) = ("", &[]);
    while let Some((n, val)) = r.next_field()? {
        match n {
            1 => k = val.str(field)?,
            2 => v = val.bytes(field)?,
            _ => {}
        }
    }
    Ok((k, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type_and_refuses_overruns() {
        // field 1 varint 150, field 2 bytes "hi", field 3 fixed32, field 4 fixed64
        let msg = [
            0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x1d, 1, 0, 0, 0, 0x21, 2, 0, 0, 0, 0, 0, 0,
            0,
        ];
        let mut r = Reader::new(&msg);
        assert_eq!(r.next_field().unwrap(), Some((1, Value::Varint(150))));
        assert_eq!(r.next_field().unwrap(), Some((2, Value::Bytes(b"hi"))));
        assert_eq!(r.next_field().unwrap(), Some((3, Value::Fixed32(1))));
        assert_eq!(r.next_field().unwrap(), Some((4, Value::Fixed64(2))));
        assert_eq!(r.next_field().unwrap(), None);
        assert!(Reader::new(&[0x12, 0x05, b'a']).next_field().is_err());
        assert!(Reader::new(&[0x08]).next_field().is_err());
        assert!(Reader::new(&[0x0b]).next_field().is_err(), "groups");
        assert!(Reader::new(&[0x00, 0x00]).next_field().is_err(), "field 0");
        let long = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ];
        assert!(Reader::new(&long).next_field().is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            for _ in 0..64 {
                match r.next_field() {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }
    }
}

//! Just enough DER reading to unwrap a PKCS#8 `PrivateKeyInfo` into the PKCS#1
//! `RSAPrivateKey` that Bitnami's controller stores (`RSA PRIVATE KEY` PEM blocks).
//! Everything else about ASN.1 is left to aws-lc-rs and x509-parser.

/// One DER element: its tag and contents, and what follows it.
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub rest: &'a [u8],
}

/// Reads one element (definite lengths only, as DER requires).
pub(crate) fn read(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some(Tlv {
        tag,
        value: &rest[..len],
        rest: &rest[len..],
    })
}

/// Encodes a DER length.
pub(crate) fn length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let t = read(&[0x04, 0x02, 0xaa, 0xbb, 0x05]).unwrap();
        assert_eq!(
            (t.tag, t.value, t.rest),
            (0x04, &[0xaa, 0xbb][..], &[0x05][..])
        );
        let mut long = vec![0x30, 0x81, 0x80];
        long.extend(std::iter::repeat_n(0u8, 0x80));
        assert_eq!(read(&long).unwrap().value.len(), 0x80);
        assert!(read(&[0x30, 0x05, 0x00]).is_none(), "truncated");
        assert!(read(&[0x30, 0x80]).is_none(), "indefinite length");
    }

    #[test]
    fn encodes_lengths() {
        let mut v = vec![];
        length(5, &mut v);
        length(300, &mut v);
        assert_eq!(v, vec![0x05, 0x82, 0x01, 0x2c]);
    }
}

//! Shamir secret sharing over GF(2^8), compatible with the scheme sops uses
//! (HashiCorp Vault's `shamir` package): each share is the polynomial values for
//! every secret byte followed by one byte, the share's x coordinate.
use crate::Error;
use ksec_crypto::SecretBytes;

fn shamir_error(reason: impl Into<String>) -> Error {
    Error::Shamir {
        reason: reason.into(),
    }
}

fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    r
}

fn inv(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8).
    let mut r = 1u8;
    for _ in 0..254 {
        r = mul(r, a);
    }
    r
}

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
pub(super) fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<SecretBytes>, Error> {
    if threshold < 2 || parts < threshold || parts > 255 {
        return Err(shamir_error(format!(
            "it needs 2 <= threshold <= groups <= 255 (threshold {threshold}, {parts} groups)"
        )));
    }
    // Distinct non-zero x coordinates from a random permutation.
    let mut xs: Vec<u8> = (1..=255).collect();
    let random = ksec_crypto::rand::secret(255 * 2)?;
    for i in (1..xs.len()).rev() {
        let j = (u16::from_le_bytes([random.expose()[2 * i], random.expose()[2 * i + 1]]) as usize)
            % (i + 1);
        xs.swap(i, j);
    }
    let mut out: Vec<Vec<u8>> = (0..parts)
        .map(|_| Vec::with_capacity(secret.len() + 1))
        .collect();
    for &s in secret {
        let coeffs = ksec_crypto::rand::secret(threshold - 1)?;
        for (p, share) in out.iter_mut().enumerate() {
            let x = xs[p];
            // Horner: s + c1 x + c2 x^2 + …
            let mut y = 0u8;
            for &c in coeffs.expose().iter().rev() {
                y = mul(y, x) ^ c;
            }
            y = mul(y, x) ^ s;
            share.push(y);
        }
    }
    for (p, share) in out.iter_mut().enumerate() {
        share.push(xs[p]);
    }
    Ok(out.into_iter().map(SecretBytes::new).collect())
}

/// Recovers the secret from shares.
pub(super) fn combine(shares: &[&[u8]]) -> Result<SecretBytes, Error> {
    if shares.len() < 2 {
        return Err(shamir_error("at least two shares are needed"));
    }
    let len = shares[0].len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err(shamir_error("shares have different or too short lengths"));
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for i in 0..xs.len() {
        if xs[i..].iter().skip(1).any(|x| *x == xs[i]) {
            return Err(shamir_error("duplicate share"));
        }
    }
    let mut out = vec![0u8; len - 1];
    for (b, o) in out.iter_mut().enumerate() {
        let mut acc = 0u8;
        for (j, s) in shares.iter().enumerate() {
            // Lagrange basis at 0: prod x_m / (x_m - x_j).
            let mut basis = 1u8;
            for (m, &xm) in xs.iter().enumerate() {
                if m != j {
                    basis = mul(basis, mul(xm, inv(xm ^ xs[j])));
                }
            }
            acc ^= mul(s[b], basis);
        }
        *o = acc;
    }
    Ok(SecretBytes::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_combine() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let parts = split(secret, 3, 2).unwrap();
        for (a, b) in [(0, 1), (1, 2), (0, 2)] {
            let got = combine(&[parts[a].expose(), parts[b].expose()]).unwrap();
            assert_eq!(got.expose(), secret);
        }
        let one = combine(&[parts[0].expose(), parts[0].expose()]);
        assert!(one.is_err());
    }
}

//! `kresctl hash-token`: reads a token's secret on stdin (one line) and prints its argon2id hash (PHC string
//! format), to paste into `/management/tokens[].hash`. The secret itself is never written anywhere.
//!
//! A secret must be usable as a bearer token (RFC 6750 token68: letters, digits and `-._~+/`, then `=` padding
//! only) and at least [`MIN_LENGTH`] characters long; e.g. `head -c 32 /dev/urandom | base64`.

use std::io::{BufRead, Read};

use argon2::PasswordHasher;
use argon2::password_hash::SaltString;

/// The shortest secret accepted.
pub const MIN_LENGTH: usize = 16;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin().lock().take(4096).read_line(&mut line)?;
    let secret = line.strip_suffix('\n').unwrap_or(&line);
    let secret = secret.strip_suffix('\r').unwrap_or(secret);
    println!("{}", hash(secret)?);
    Ok(())
}

/// The argon2id hash (default parameters: 19 MiB, 2 passes) of `secret` with a random salt.
pub fn hash(secret: &str) -> anyhow::Result<String> {
    check(secret)?;
    let mut salt = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut salt))
        .map_err(|e| anyhow::anyhow!("cannot read random bytes for the salt from /dev/urandom: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the secret: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `secret` can be sent as `Authorization: Bearer <secret>` and is long enough.
fn check(secret: &str) -> anyhow::Result<()> {
    let body = secret.trim_end_matches('=');
    let token68 = !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'));
    if !token68 {
        anyhow::bail!(
            "the secret on stdin must be one line of letters, digits and '-._~+/' (then '=' padding only), e.g. \
             the output of 'head -c 32 /dev/urandom | base64'"
        );
    }
    if secret.len() < MIN_LENGTH {
        anyhow::bail!("the secret on stdin is {} characters long; use at least {MIN_LENGTH}", secret.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ=";
        let a = hash(secret).unwrap();
        let b = hash(secret).unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "a random salt each time");
        let parsed = argon2::password_hash::PasswordHash::new(&a).unwrap();
        assert!(argon2::Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok());
        assert!(argon2::Argon2::default().verify_password(b"wrong-wrong-wrong", &parsed).is_err());
        // What the manager's configuration accepts.
        kres_datamodel::config::TokenHash::parse(&a).unwrap();
    }

    #[test]
    fn bad_secrets() {
        for bad in ["", "short", "has a space in it ok", "tab\there-and-long-enough", "=================="] {
            assert!(hash(bad).is_err(), "{bad:?}");
        }
    }
}

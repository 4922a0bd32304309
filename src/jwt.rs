//! JSON Web Tokens as the Google and Azure flows use them: RS256 assertions this crate signs (a
//! service account's grant, a certificate's client assertion), and the claims of tokens it was
//! handed (an ACR refresh token, an Entra ID access token), read without verifying them.
//!
//! Signing runs on `ring`, the crypto provider rustls already uses here; PEM is read by
//! rustls' own `rustls-pki-types`. A maintained JWT crate was considered (`jsonwebtoken`): it
//! brings a second crypto library (`aws-lc-rs` or `rsa`) and its own PEM parser for what is,
//! here, one signature over two base64url strings, so the few lines below do it instead.
//! Nothing in this module verifies a token: the servers that receive our assertions verify
//! them, and the tokens read here are looked at for one claim each, trusted for nothing more
//! (ACR's refresh token for when to fetch the next, Entra ID's token for the directory id the
//! exchange names).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
#[cfg(feature = "azure")]
use ring::rand::SecureRandom;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls_pki_types::pem::PemObject;
#[cfg(feature = "azure")]
use rustls_pki_types::CertificateDer;
use rustls_pki_types::PrivateKeyDer;
use serde_json::{Map, Value};

/// An RSA private key that signs RS256 assertions. `Debug` shows its size only.
pub(crate) struct RsaKey {
    /// Boxed: a key pair is a few hundred bytes, and sources hold it beside small variants.
    pair: Box<RsaKeyPair>,
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaKey({} bits)", self.pair.public().modulus_len() * 8)
    }
}

impl RsaKey {
    /// The first private key in `pem` (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
    /// The message says what is wrong with the key, never what it holds.
    pub(crate) fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let text = String::from_utf8_lossy(pem);
        if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err("holds an encrypted private key; store it unencrypted (openssl pkcs8 -topk8 -nocrypt -in KEY -out PLAIN) in a file only its owner can read".into());
        }
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|_| "holds no PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)".to_owned())?;
        let pair = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err("holds an elliptic-curve key; this flow signs with an RSA key (RS256)".into()),
        }
        .map_err(|e| match e.to_string().as_str() {
            "TooSmall" => "holds an RSA key shorter than 2048 bits, which is refused; create a 2048-bit or longer key".to_owned(),
            "WrongAlgorithm" => "holds a private key that is not an RSA key; this flow signs with an RSA key (RS256)".to_owned(),
            why => format!("holds a private key that cannot be used ({why}); create a new RSA key"),
        })?;
        Ok(Self {
            pair: Box::new(pair),
        })
    }

    /// `header.claims.signature`, RS256, with `"alg": "RS256"` and `"typ": "JWT"` added to the
    /// header.
    pub(crate) fn sign(
        &self,
        mut header: Map<String, Value>,
        claims: &Value,
    ) -> Result<String, String> {
        header.insert("alg".into(), "RS256".into());
        header.insert("typ".into(), "JWT".into());
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "the RSA signature could not be made".to_owned())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The DER of every certificate in `pem`, in order.
#[cfg(feature = "azure")]
pub(crate) fn certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// The claims of a compact JWS, unverified: `None` when `token` is not one or its payload is not
/// a JSON object.
#[cfg(feature = "azure")]
pub(crate) fn claims_unverified(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// `n` random bytes as lowercase hex (a JWT's `jti`).
#[cfg(feature = "azure")]
pub(crate) fn random_hex(n: usize) -> Result<String, String> {
    let mut bytes = vec![0; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system's random number generator failed".to_owned())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// base64url without padding, as JWTs write binary values.
#[cfg(feature = "azure")]
pub(crate) fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "azure")]
    fn claims_are_read_only_from_a_three_part_token_with_an_object_payload() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"exp":1800000000,"aud":"r.azurecr.io"}"#);
        let claims = claims_unverified(&format!("e30.{payload}.c2ln")).unwrap();
        assert_eq!(claims["exp"], 1_800_000_000);
        assert!(claims_unverified(&format!("e30.{payload}")).is_none());
        assert!(claims_unverified(&format!("e30.{payload}.x.y")).is_none());
        assert!(
            claims_unverified("e30.WzFd.x").is_none(),
            "an array is no claim set"
        );
        assert!(claims_unverified("not a token").is_none());
        assert_eq!(random_hex(16).unwrap().len(), 32);
    }

    #[test]
    fn keys_that_cannot_sign_say_why_without_quoting_the_file() {
        let e = RsaKey::from_pem(b"hunter2").unwrap_err();
        assert!(e.starts_with("holds no PEM private key"), "{e}");
        let encrypted =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(RsaKey::from_pem(encrypted)
            .unwrap_err()
            .contains("encrypted"));
        let garbage = b"-----BEGIN PRIVATE KEY-----\naHVudGVyMg==\n-----END PRIVATE KEY-----\n";
        let e = RsaKey::from_pem(garbage).unwrap_err();
        assert!(!e.contains("aHVudGVyMg"), "{e}");
    }
}

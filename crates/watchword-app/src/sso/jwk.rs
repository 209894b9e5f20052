//! The provider's signing keys for `openidconnect`, with RSA signatures checked by `ring` (the
//! crate rustls already links) instead of the pure-Rust `rsa` crate: `openidconnect`'s own key
//! type spends about 170 µs in `num-bigint-dig` per RS256 check here, ring a small fraction of
//! that. Everything else — key selection by `kid`, key use, key type, the key's `alg`, EC and
//! EdDSA keys, and every claim check — stays `openidconnect`'s.

use openidconnect::core::{
    CoreJsonWebKey, CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, JwsSigningAlgorithm, SignatureVerificationError,
};
use ring::signature::{self as sig, RsaPublicKeyComponents};
use serde::{Deserialize, Serialize};

/// A provider's key: `openidconnect`'s, with its RSA modulus and exponent kept for ring.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "CoreJsonWebKey")]
pub struct RingJwk {
    inner: CoreJsonWebKey,
    rsa: Option<(Vec<u8>, Vec<u8>)>,
}

impl TryFrom<serde_json::Value> for RingJwk {
    type Error = String;

    fn try_from(v: serde_json::Value) -> Result<Self, String> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let part = |k: &str| v[k].as_str().and_then(|s| b64.decode(s).ok());
        let rsa = match (v["kty"].as_str(), part("n"), part("e")) {
            (Some("RSA"), Some(n), Some(e)) => Some((n, e)),
            _ => None,
        };
        let inner = serde_json::from_value(v).map_err(|e| e.to_string())?;
        Ok(Self { inner, rsa })
    }
}

impl From<RingJwk> for CoreJsonWebKey {
    fn from(k: RingJwk) -> Self {
        k.inner
    }
}

impl JsonWebKey for RingJwk {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = CoreJwsSigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        self.inner.key_id()
    }

    fn key_type(&self) -> &CoreJsonWebKeyType {
        self.inner.key_type()
    }

    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        self.inner.key_use()
    }

    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&CoreJwsSigningAlgorithm> {
        self.inner.signing_alg()
    }

    fn new_symmetric(key: Vec<u8>) -> Self {
        Self {
            inner: CoreJsonWebKey::new_symmetric(key),
            rsa: None,
        }
    }

    fn verify_signature(
        &self,
        alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        use CoreJwsSigningAlgorithm as A;
        let params: &sig::RsaParameters = match alg {
            A::RsaSsaPkcs1V15Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            A::RsaSsaPkcs1V15Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            A::RsaSsaPkcs1V15Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            A::RsaSsaPssSha256 => &sig::RSA_PSS_2048_8192_SHA256,
            A::RsaSsaPssSha384 => &sig::RSA_PSS_2048_8192_SHA384,
            A::RsaSsaPssSha512 => &sig::RSA_PSS_2048_8192_SHA512,
            _ => return self.inner.verify_signature(alg, message, signature),
        };
        self.check_compatible(alg)?;
        let Some((n, e)) = &self.rsa else {
            return Err(SignatureVerificationError::InvalidKey(
                "key type does not match signature algorithm".into(),
            ));
        };
        RsaPublicKeyComponents { n, e }
            .verify(params, message, signature)
            .map_err(|_| SignatureVerificationError::CryptoError("bad signature".into()))
    }

    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        self.inner.hash_bytes(bytes, alg)
    }
}

impl RingJwk {
    /// The checks `openidconnect` makes of a key before it verifies with it: signing use, the
    /// algorithm's key type, and the key's own `alg` when it names one.
    fn check_compatible(
        &self,
        alg: &CoreJwsSigningAlgorithm,
    ) -> Result<(), SignatureVerificationError> {
        let bad = |why: &str| Err(SignatureVerificationError::InvalidKey(why.into()));
        if self
            .key_use()
            .is_some_and(|u| !openidconnect::JsonWebKeyUse::allows_signature(u))
        {
            return bad("key usage not permitted for digital signatures");
        }
        if alg.key_type().as_ref() != Some(self.key_type()) {
            return bad("key type does not match signature algorithm");
        }
        match self.signing_alg() {
            JsonWebKeyAlgorithm::Unspecified => Ok(()),
            JsonWebKeyAlgorithm::Algorithm(a) if a == alg => Ok(()),
            JsonWebKeyAlgorithm::Algorithm(_) => bad("incompatible key algorithm"),
            JsonWebKeyAlgorithm::Unsupported => bad("key algorithm is not a signing algorithm"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(extra: serde_json::Value) -> RingJwk {
        let mut v = serde_json::json!({"kty": "RSA", "kid": "k1", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        RingJwk::try_from(v).unwrap()
    }

    #[test]
    fn a_key_is_used_only_as_its_use_type_and_alg_allow() {
        use CoreJwsSigningAlgorithm as A;
        let sig = |k: &RingJwk, a: &A| k.verify_signature(a, b"header.payload", &[0u8; 256]);
        // A plain RSA key: the signature itself is checked (and is wrong here).
        let plain = key(serde_json::json!({}));
        assert!(matches!(
            sig(&plain, &A::RsaSsaPkcs1V15Sha256),
            Err(SignatureVerificationError::CryptoError(_))
        ));
        // An encryption key, a key pinned to another alg, an RSA key for an EC alg: refused as keys.
        for (k, a) in [
            (
                key(serde_json::json!({"use": "enc"})),
                A::RsaSsaPkcs1V15Sha256,
            ),
            (
                key(serde_json::json!({"alg": "RS384"})),
                A::RsaSsaPkcs1V15Sha256,
            ),
            (plain.clone(), A::EcdsaP256Sha256),
        ] {
            assert!(
                matches!(sig(&k, &a), Err(SignatureVerificationError::InvalidKey(_))),
                "{k:?} {a:?}"
            );
        }
        assert_eq!(plain.key_id().map(|k| k.as_str()), Some("k1"));
    }
}

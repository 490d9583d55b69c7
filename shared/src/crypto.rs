//! The quick-approval callback cipher (`feishu-api.md` §2.3).
//!
//! When a definition has an `action_callback_key`, Feishu posts `{"encrypt": "<base64>"}` where
//! the base64 (standard alphabet, padded) decodes to `iv (16 bytes) || AES-256-CBC(PKCS#7(json))`
//! and the AES key is `SHA-256(UTF-8 bytes of action_callback_key)`.

use std::fmt;

use aes::Aes256;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// AES block size, which is also the IV length.
const BLOCK: usize = 16;

/// Decrypts and encrypts callback bodies with one `action_callback_key`.
///
/// Holds only the expanded AES-256 key derived from the key's SHA-256, computed once, so each
/// callback pays for decryption alone. `Debug` never shows key material.
#[derive(Clone)]
pub struct CallbackCipher {
    aes: Aes256,
}

/// Why a callback ciphertext could not be turned into plaintext.
///
/// No variant carries the ciphertext, the plaintext or a parser message that could quote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The `encrypt` value is not standard, padded base64.
    #[error("callback ciphertext is not valid base64")]
    Base64,
    /// The decoded bytes are not an IV followed by one or more whole AES blocks.
    #[error("callback ciphertext is not an IV followed by whole AES blocks")]
    Length,
    /// The PKCS#7 padding is invalid, which almost always means a wrong `action_callback_key`.
    #[error("callback ciphertext has invalid padding (wrong action_callback_key?)")]
    Padding,
    /// The plaintext is not UTF-8.
    #[error("decrypted callback is not UTF-8")]
    Utf8,
    /// The plaintext is not JSON of the expected shape; the position is in the plaintext.
    #[error("decrypted callback is not the expected JSON (line {line}, column {column})")]
    Json {
        /// 1-based line of the first problem.
        line: usize,
        /// 1-based column of the first problem.
        column: usize,
    },
}

impl CallbackCipher {
    /// A cipher for the definition's `action_callback_key`, used exactly as configured.
    pub fn new(action_callback_key: &str) -> Self {
        let key: [u8; 32] = Sha256::digest(action_callback_key.as_bytes()).into();
        Self {
            aes: Aes256::new(&key.into()),
        }
    }

    /// Decrypts an `encrypt` value to its UTF-8 plaintext.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, DecryptError> {
        String::from_utf8(self.decrypt_bytes(encrypt)?).map_err(|_| DecryptError::Utf8)
    }

    /// Decrypts an `encrypt` value and deserializes the plaintext JSON.
    pub fn decrypt_json<T: DeserializeOwned>(&self, encrypt: &str) -> Result<T, DecryptError> {
        let plaintext = self.decrypt_bytes(encrypt)?;
        let json = std::str::from_utf8(&plaintext).map_err(|_| DecryptError::Utf8)?;
        serde_json::from_str(json).map_err(|error| DecryptError::Json {
            line: error.line(),
            column: error.column(),
        })
    }

    /// Encrypts `plaintext` the way Feishu does, with a fresh random IV.
    pub fn encrypt(&self, plaintext: &str) -> String {
        self.encrypt_with_iv(plaintext, rand::random())
    }

    /// Encrypts `plaintext` with the given IV: `base64(iv || AES-256-CBC(PKCS#7(plaintext)))`.
    ///
    /// Deterministic, for test vectors; use [`CallbackCipher::encrypt`] otherwise.
    pub fn encrypt_with_iv(&self, plaintext: &str, iv: [u8; BLOCK]) -> String {
        let ciphertext = cbc::Encryptor::inner_iv_init(self.aes.clone(), &iv.into())
            .encrypt_padded_vec::<Pkcs7>(plaintext.as_bytes());
        let mut raw = Vec::with_capacity(BLOCK + ciphertext.len());
        raw.extend_from_slice(&iv);
        raw.extend_from_slice(&ciphertext);
        BASE64.encode(&raw)
    }

    /// Base64-decodes, checks the layout, decrypts in place and strips the padding; returns the
    /// plaintext bytes in the one buffer allocated for the decoded input.
    fn decrypt_bytes(&self, encrypt: &str) -> Result<Vec<u8>, DecryptError> {
        let mut buf = BASE64.decode(encrypt).map_err(|_| DecryptError::Base64)?;
        if buf.len() < 2 * BLOCK || buf.len() % BLOCK != 0 {
            return Err(DecryptError::Length);
        }
        let (iv, ciphertext) = buf
            .split_first_chunk_mut::<BLOCK>()
            .ok_or(DecryptError::Length)?;
        let plaintext_len = cbc::Decryptor::inner_iv_init(self.aes.clone(), &(*iv).into())
            .decrypt_padded::<Pkcs7>(ciphertext)
            .map_err(|_| DecryptError::Padding)?
            .len();
        buf.copy_within(BLOCK..BLOCK + plaintext_len, 0);
        buf.truncate(plaintext_len);
        Ok(buf)
    }
}

impl fmt::Debug for CallbackCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackCipher(<redacted>)")
    }
}

//! The callback cipher against the shared test vectors (cross-checked with lark-oapi's AESCipher),
//! a no-panic sweep over garbage ciphertexts, and property tests with random plaintexts under the
//! right key, which get past the padding check into the UTF-8 and JSON layers.

mod support;

use aes::Aes256;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use feishu_bridge::callback::{CallbackBody, RawCallback};
use feishu_bridge::crypto::{CallbackCipher, DecryptError};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct Vectors {
    positive: Vec<Positive>,
    negative: Vec<Negative>,
}

#[derive(Deserialize)]
struct Positive {
    name: String,
    key: String,
    iv_hex: String,
    plaintext: String,
    encrypt: String,
}

#[derive(Deserialize)]
struct Negative {
    name: String,
    key: String,
    encrypt: String,
    error: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("fixtures/callback-crypto.json")).expect("fixture parses")
}

fn iv_from_hex(hex: &str) -> [u8; 16] {
    let mut iv = [0; 16];
    assert_eq!(hex.len(), 32, "iv_hex is 16 bytes");
    for (byte, pair) in iv.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).expect("hex is ASCII");
        *byte = u8::from_str_radix(pair, 16).expect("valid hex");
    }
    iv
}

fn error_name(error: DecryptError) -> &'static str {
    match error {
        DecryptError::Base64 => "base64",
        DecryptError::Length => "length",
        DecryptError::Padding => "padding",
        DecryptError::Utf8 => "utf8",
        DecryptError::Json { .. } => "json",
    }
}

#[test]
fn every_positive_vector_decrypts_and_re_encrypts_exactly() {
    let vectors = vectors();
    assert!(vectors.positive.len() >= 7);
    for vector in &vectors.positive {
        let cipher = CallbackCipher::new(&vector.key);
        assert_eq!(
            cipher.decrypt(&vector.encrypt).as_deref(),
            Ok(vector.plaintext.as_str()),
            "{}",
            vector.name
        );
        assert_eq!(
            cipher.encrypt_with_iv(&vector.plaintext, iv_from_hex(&vector.iv_hex)),
            vector.encrypt,
            "{}",
            vector.name
        );
    }
}

#[test]
fn every_negative_vector_fails_with_the_named_error() {
    let vectors = vectors();
    assert!(vectors.negative.len() >= 10);
    for vector in &vectors.negative {
        let cipher = CallbackCipher::new(&vector.key);
        let error = if vector.error == "json" {
            cipher
                .decrypt_json::<serde_json::Value>(&vector.encrypt)
                .expect_err(&vector.name)
        } else {
            cipher.decrypt(&vector.encrypt).expect_err(&vector.name)
        };
        assert_eq!(error_name(error), vector.error, "{}", vector.name);
    }
}

#[test]
fn decrypt_json_yields_the_typed_plaintext() {
    let vectors = vectors();
    let vector = &vectors.positive[1];
    let cipher = CallbackCipher::new(&vector.key);
    let value: serde_json::Value = cipher.decrypt_json(&vector.encrypt).unwrap();
    assert_eq!(value["action_type"], "REJECT");
    assert_eq!(value["reason"], "预算不足");
}

#[test]
fn json_errors_locate_the_problem_without_quoting_the_plaintext() {
    let cipher = CallbackCipher::new("k");
    let secret = "{\"token\":\"s3cr3t-token\",";
    let error = cipher
        .decrypt_json::<serde_json::Value>(&cipher.encrypt(secret))
        .unwrap_err();
    assert!(matches!(error, DecryptError::Json { line: 1, .. }));
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

#[test]
fn random_ivs_differ_and_round_trip() {
    let cipher = CallbackCipher::new("kudryavtsev");
    let plaintext = r#"{"token":"aaaaa","action_type":"APPROVE"}"#;
    let first = cipher.encrypt(plaintext);
    let second = cipher.encrypt(plaintext);
    assert_ne!(first, second, "each encryption draws a fresh IV");
    assert_eq!(cipher.decrypt(&first).as_deref(), Ok(plaintext));
    assert_eq!(cipher.decrypt(&second).as_deref(), Ok(plaintext));
}

#[test]
fn a_different_key_does_not_yield_the_plaintext() {
    let plaintext = r#"{"token":"aaaaa"}"#;
    let encrypt = CallbackCipher::new("right").encrypt(plaintext);
    let other = CallbackCipher::new("wrong").decrypt(&encrypt);
    assert_ne!(other.as_deref(), Ok(plaintext));
}

#[test]
fn debug_output_hides_the_key() {
    let shown = format!("{:?}", CallbackCipher::new("kudryavtsev"));
    assert_eq!(shown, "CallbackCipher(<redacted>)");
}

#[test]
fn garbage_of_any_length_is_an_error_not_a_panic() {
    let cipher = CallbackCipher::new("kudryavtsev");
    let mut rng = StdRng::seed_from_u64(0x5eed_feed);
    let mut raw = Vec::new();
    for case in 0..4000 {
        raw.resize(rng.random_range(0..200), 0);
        rng.fill_bytes(&mut raw);
        // Valid base64 of random bytes: almost always stopped by the length or padding check
        // (the properties below cover what lies past them).
        let encoded = BASE64.encode(&raw);
        let decrypted = cipher.decrypt(&encoded);
        if raw.len() < 32 || raw.len() % 16 != 0 {
            assert_eq!(decrypted, Err(DecryptError::Length), "case {case}");
        }
        let _ = cipher.decrypt_json::<serde_json::Value>(&encoded);
        // Arbitrary text, mostly not base64 at all.
        let text = String::from_utf8_lossy(&raw);
        assert!(cipher.decrypt(&text).is_err(), "case {case}");
        // Valid base64 cut short or with a stray character.
        let cut = rng.random_range(0..=encoded.len());
        let _ = cipher.decrypt(&encoded[..cut]);
        let _ = cipher.decrypt(&format!("{encoded}="));
    }
}

/// The key of the property tests.
const KEY: &str = "kudryavtsev";

/// Encrypts any bytes as Feishu would (`CallbackCipher::encrypt` takes UTF-8 text only):
/// `base64(iv || AES-256-CBC(PKCS#7(plaintext)))` under `SHA-256(key)`.
fn encrypt_bytes(key: &str, plaintext: &[u8], iv: [u8; 16]) -> String {
    let key: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let ciphertext = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_vec::<Pkcs7>(plaintext);
    BASE64.encode([iv.as_slice(), &ciphertext].concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any plaintext under the right key passes the length and padding checks: it comes back
    /// exactly when it is UTF-8 and fails as `Utf8` otherwise; JSON decoding succeeds exactly
    /// when the plaintext is JSON.
    #[test]
    fn any_plaintext_under_the_right_key_comes_back_or_fails_as_utf8(
        plaintext in prop::collection::vec(any::<u8>(), 0..300),
        iv in any::<[u8; 16]>(),
    ) {
        let cipher = CallbackCipher::new(KEY);
        let encrypt = encrypt_bytes(KEY, &plaintext, iv);
        let expected = String::from_utf8(plaintext).map_err(|_| DecryptError::Utf8);
        prop_assert_eq!(cipher.decrypt(&encrypt), expected.clone());

        let as_json = cipher.decrypt_json::<serde_json::Value>(&encrypt);
        match expected {
            Ok(text) => {
                let reference = serde_json::from_str::<serde_json::Value>(&text);
                prop_assert_eq!(as_json.is_ok(), reference.is_ok());
                if let Err(error) = as_json {
                    let located = matches!(error, DecryptError::Json { line, .. } if line >= 1);
                    prop_assert!(located, "{:?}", error);
                }
            }
            Err(_) => prop_assert_eq!(as_json, Err(DecryptError::Utf8)),
        }
    }

    /// Callback-shaped JSON of any content under the right key reaches the callback parser:
    /// decrypting into `RawCallback` agrees with parsing the decrypted text (a value or a typed
    /// error, never a panic), and the `{"encrypt": …}` envelope carries the ciphertext through.
    #[test]
    fn random_json_under_the_right_key_reaches_the_callback_parser(
        value in prop_oneof![support::callback_object(), support::json()],
    ) {
        let cipher = CallbackCipher::new(KEY);
        let text = value.to_string();
        let encrypt = cipher.encrypt(&text);
        prop_assert_eq!(cipher.decrypt(&encrypt), Ok(text.clone()));

        let parsed = RawCallback::parse(&text);
        match cipher.decrypt_json::<RawCallback>(&encrypt) {
            Ok(direct) => prop_assert_eq!(Ok(direct), parsed),
            Err(error) => {
                prop_assert!(matches!(error, DecryptError::Json { .. }), "{:?}", error);
                prop_assert!(parsed.is_err(), "decrypt_json failed where parse succeeded: {}", text);
            }
        }

        let envelope = serde_json::json!({"encrypt": encrypt}).to_string();
        match CallbackBody::parse(envelope.as_bytes()) {
            Ok(CallbackBody::Encrypted(ciphertext)) => prop_assert_eq!(ciphertext, encrypt),
            other => prop_assert!(false, "{:?}", other),
        }
    }
}

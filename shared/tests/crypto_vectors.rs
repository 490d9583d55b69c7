//! The callback cipher against the shared test vectors (cross-checked with lark-oapi's AESCipher),
//! plus a no-panic sweep over garbage input.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use feishu_bridge::crypto::{CallbackCipher, DecryptError};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::Deserialize;

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
        // Valid base64 of random bytes reaches the length, padding, UTF-8 and JSON checks.
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

//! `encrypt` and `decrypt`: the quick-approval callback cipher (`feishu-api.md` §2.3) on files or
//! standard input, for fixtures and for reading captured callbacks.

use feishu_bridge::crypto::CallbackCipher;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::cli::{DecryptArgs, EncryptArgs};
use crate::error::CliError;

/// What replaces the callback `token` in decrypted output unless `--show-token` is given.
const REDACTED: &str = "<redacted>";

/// An encrypted callback body.
#[derive(Deserialize)]
struct EncryptedBody {
    /// `base64(iv || AES-256-CBC(PKCS#7(json)))`.
    encrypt: String,
}

/// Runs `encrypt`: prints `{"encrypt":"…"}` for the JSON input.
pub fn encrypt(args: &EncryptArgs) -> Result<(), CliError> {
    let text = args.input.read()?;
    let body = encrypted_body(&args.key.cipher, &args.input.name(), &text)?;
    println!("{body}");
    Ok(())
}

/// Runs `decrypt`: prints the plaintext of `{"encrypt":"…"}` or of bare base64.
pub fn decrypt(args: &DecryptArgs) -> Result<(), CliError> {
    let text = args.input.read()?;
    let plaintext = decrypted(&args.key.cipher, &args.input.name(), &text)?;
    if args.show_token {
        println!("{plaintext}");
        return Ok(());
    }
    match redact_token(&plaintext) {
        Some(redacted) => {
            println!("{redacted}");
            eprintln!("note: the callback token is redacted; pass --show-token to print it");
        }
        None => println!("{plaintext}"),
    }
    Ok(())
}

/// `{"encrypt": "…"}` for `text`, which must be JSON (surrounding whitespace is dropped).
fn encrypted_body(cipher: &CallbackCipher, input: &str, text: &str) -> Result<String, CliError> {
    let json = text.trim();
    serde_json::from_str::<IgnoredAny>(json).map_err(|error| CliError::InvalidJson {
        input: input.to_owned(),
        line: error.line(),
        column: error.column(),
    })?;
    Ok(serde_json::json!({ "encrypt": cipher.encrypt(json) }).to_string())
}

/// The plaintext of `text`: an `{"encrypt": "…"}` object, or the bare base64 ciphertext.
fn decrypted(cipher: &CallbackCipher, input: &str, text: &str) -> Result<String, CliError> {
    let text = text.trim();
    let not_a_ciphertext = || CliError::NotACiphertext {
        input: input.to_owned(),
    };
    let ciphertext = if text.starts_with('{') {
        serde_json::from_str::<EncryptedBody>(text)
            .map_err(|_| not_a_ciphertext())?
            .encrypt
    } else if text.is_empty() {
        return Err(not_a_ciphertext());
    } else {
        text.to_owned()
    };
    cipher
        .decrypt(&ciphertext)
        .map_err(|source| CliError::Decrypt {
            input: input.to_owned(),
            source,
        })
}

/// The plaintext, pretty-printed with its `token` replaced, when it is a JSON object with one.
fn redact_token(plaintext: &str) -> Option<String> {
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(plaintext) else {
        return None;
    };
    let token = object.get_mut("token")?;
    *token = Value::String(REDACTED.to_owned());
    serde_json::to_string_pretty(&object).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_output_decrypts_back_from_the_object_and_from_bare_base64() {
        let cipher = CallbackCipher::new("k");
        let body = encrypted_body(&cipher, "in", "  {\"action_type\":\"APPROVE\"}\n").unwrap();
        assert_eq!(
            decrypted(&cipher, "in", &body).unwrap(),
            "{\"action_type\":\"APPROVE\"}"
        );
        let bare: EncryptedBody = serde_json::from_str(&body).unwrap();
        assert_eq!(
            decrypted(&cipher, "in", &format!("{}\n", bare.encrypt)).unwrap(),
            "{\"action_type\":\"APPROVE\"}"
        );
    }

    #[test]
    fn encrypt_rejects_input_that_is_not_json() {
        let error = encrypted_body(&CallbackCipher::new("k"), "body.json", "{\"a\":").unwrap_err();
        assert!(
            matches!(error, CliError::InvalidJson { line: 1, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn decrypt_rejects_objects_without_encrypt_and_empty_input() {
        let cipher = CallbackCipher::new("k");
        for text in ["{\"token\":\"x\"}", "", "  \n"] {
            assert!(
                matches!(
                    decrypted(&cipher, "in", text),
                    Err(CliError::NotACiphertext { .. })
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_token_is_redacted_and_everything_else_kept() {
        let redacted =
            redact_token("{\"token\":\"s3cret\",\"message_id\":7690275278685244603}").unwrap();
        assert!(!redacted.contains("s3cret"));
        assert!(redacted.contains(REDACTED));
        assert!(redacted.contains("7690275278685244603"));
        assert_eq!(redact_token("{\"action_type\":\"APPROVE\"}"), None);
        assert_eq!(redact_token("not json"), None);
    }
}

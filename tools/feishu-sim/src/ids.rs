//! Deterministic identifiers: the same sequence of requests always yields the same tokens, codes,
//! message ids, log ids and callback IVs, so test assertions and recorded fixtures stay stable.

/// First bot `message_id`: Feishu's ids are 19-digit decimals above 2^53, and so are these.
const FIRST_MESSAGE_ID: u64 = 7_000_000_000_000_000_000;

/// SplitMix64: a tiny, well-mixed bijection used to turn counters into random-looking hex.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `n`-th tenant access token, `t-` prefixed like Feishu's.
pub(crate) fn tenant_token(n: u64) -> String {
    format!("t-sim{n:06}{:016x}", splitmix64(n ^ 0x746f_6b65_6e00))
}

/// The `n`-th system-generated approval definition code, UUID-shaped and upper-case like Feishu's.
pub(crate) fn approval_code(n: u64) -> String {
    let high = splitmix64(n ^ 0x6170_7072_6f76_616c);
    let low = splitmix64(high);
    format!(
        "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
        high >> 32,
        (high >> 16) & 0xFFFF,
        high & 0xFFFF,
        low >> 48,
        low & 0xFFFF_FFFF_FFFF
    )
}

/// The `n`-th bot message id (n ≥ 1), as the decimal string Feishu returns.
pub(crate) fn message_id(n: u64) -> String {
    FIRST_MESSAGE_ID.saturating_add(n).to_string()
}

/// The log id of the `n`-th request, shaped like Feishu's `X-Tt-Logid` (timestamp + hex).
pub(crate) fn log_id(now_ms: i64, n: u64) -> String {
    format!("{now_ms:013}{:08X}{n:06}", splitmix64(n) >> 32)
}

/// The AES IV of the callback for tap number `tap` on card `message_id` (Feishu picks a random
/// one; a derived one keeps simulated runs reproducible).
pub(crate) fn callback_iv(message_id: &str, tap: u32) -> [u8; 16] {
    let card = message_id.parse::<u64>().unwrap_or_default();
    let high = splitmix64(card ^ (u64::from(tap) << 40) ^ 0x6976_0000_0000);
    let low = splitmix64(high);
    let mut iv = [0_u8; 16];
    iv[..8].copy_from_slice(&high.to_be_bytes());
    iv[8..].copy_from_slice(&low.to_be_bytes());
    iv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_exceed_the_float_safe_range() {
        let id: u64 = message_id(1).parse().unwrap_or_default();
        assert!(id > (1_u64 << 53));
        assert_eq!(message_id(1).len(), 19);
    }

    #[test]
    fn approval_codes_are_uuid_shaped_and_distinct() {
        let first = approval_code(1);
        assert_eq!(first.len(), 36);
        assert_eq!(first.matches('-').count(), 4);
        assert_ne!(first, approval_code(2));
    }

    #[test]
    fn callback_ivs_differ_per_card_and_tap() {
        let first = callback_iv(&message_id(1), 1);
        assert_eq!(first, callback_iv(&message_id(1), 1));
        assert_ne!(first, callback_iv(&message_id(1), 2));
        assert_ne!(first, callback_iv(&message_id(2), 1));
    }

    #[test]
    fn tokens_carry_the_tenant_prefix() {
        assert!(tenant_token(1).starts_with("t-"));
        assert_ne!(tenant_token(1), tenant_token(2));
    }
}

//! What a user submits for a key, checked before anything is sent to Binance, and the masked
//! form a key is shown in.

use crate::service::ServiceError;

pub(super) const MAX_KEY_CHARS: usize = 512;
/// An RSA-4096 private key in PEM is about 3,300 characters.
pub(super) const MAX_SECRET_CHARS: usize = 8_192;
const MAX_LABEL_CHARS: usize = 100;

/// The first 4 characters, 8 asterisks, the last 4, whatever the key's length; keys too short
/// to keep 8 characters hidden show only asterisks.
pub fn mask_api_key(api_key: &str) -> String {
    let chars: Vec<char> = api_key.chars().collect();
    if chars.len() < 16 {
        return "*".repeat(8);
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}********{tail}")
}

/// A trimmed credential of at most `max_chars`, without spaces or control characters; a PEM
/// private key keeps its line breaks.
pub(super) fn credential<'a>(
    field: &str,
    value: &'a str,
    max_chars: usize,
) -> Result<&'a str, ServiceError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ServiceError::Invalid(format!("{field}: must not be empty")));
    }
    if value.chars().count() > max_chars {
        return Err(ServiceError::Invalid(format!(
            "{field}: must be at most {max_chars} characters"
        )));
    }
    let pem = value.starts_with("-----BEGIN");
    let allowed = |c: char| pem && matches!(c, '\n' | '\r' | ' ' | '\t');
    if value
        .chars()
        .any(|c| (c.is_whitespace() || c.is_control()) && !allowed(c))
    {
        return Err(ServiceError::Invalid(format!(
            "{field}: must not contain spaces or control characters"
        )));
    }
    Ok(value)
}

/// A trimmed label of at most 100 printable characters; blank means none.
pub(super) fn label(label: Option<&str>) -> Result<Option<&str>, ServiceError> {
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    if let Some(l) = label {
        if l.chars().count() > MAX_LABEL_CHARS {
            return Err(ServiceError::Invalid(format!(
                "label: must be at most {MAX_LABEL_CHARS} characters"
            )));
        }
        if l.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(
                "label: must not contain control characters".into(),
            ));
        }
    }
    Ok(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_4_and_4_whatever_the_length() {
        let key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
        assert_eq!(mask_api_key(key), "vmPU********Eh8A");
        assert_eq!(mask_api_key("abcdefghijklmnop"), "abcd********mnop");
        assert_eq!(mask_api_key("short"), "********");
    }

    #[test]
    fn credentials_and_labels_are_checked() {
        assert!(credential("api_key", "  ", 10).is_err());
        assert!(credential("api_key", "ab cd", 10).is_err());
        assert!(credential("api_key", "abcdefghijk", 10).is_err());
        assert_eq!(credential("api_key", " abc ", 10).unwrap(), "abc");
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
        assert_eq!(credential("secret_key", pem, 100).unwrap(), pem);
        assert_eq!(label(Some("  ")).unwrap(), None);
        assert!(label(Some(&"x".repeat(101))).is_err());
        assert_eq!(label(Some(" main ")).unwrap(), Some("main"));
    }
}

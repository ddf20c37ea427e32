//! Every value that becomes part of a path in the store passes through here (ARCHITECTURE.md "Paths built
//! from data"). Hashes must be exactly 64 lowercase hex digits; pipeline and stage names must use the safe
//! alphabet `[A-Za-z0-9_-]` (a pipeline name may also contain `.`, but not start with it); instance ids, which
//! carry sweep values, are percent-encoded before they are used as file names.

use anyhow::{Result, bail};

/// Length of a blake3 hash in hex digits.
pub const HASH_HEX_LEN: usize = 64;
/// Longest pipeline or stage name accepted.
pub const NAME_MAX: usize = 100;
/// Longest file name built from an instance id; a longer encoding is cut and suffixed with a hash.
const FILE_NAME_MAX: usize = 200;
/// Hex digits of a hash used as a short suffix in a file name.
pub const SHORT_HASH_LEN: usize = 12;

/// The first [`SHORT_HASH_LEN`] characters of a hash for messages (all of a shorter string, as a lock read
/// from disk may hold one).
pub fn short(s: &str) -> &str {
    s.char_indices().nth(SHORT_HASH_LEN).map_or(s, |(i, _)| &s[..i])
}

/// Whether `s` is a blake3 hash as the store writes it: 64 lowercase hex digits.
pub fn is_hash(s: &str) -> bool {
    s.len() == HASH_HEX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Refuses anything but a 64-digit lowercase hex hash; `field` names where the value came from.
pub fn check_hash(field: &str, s: &str) -> Result<()> {
    if !is_hash(s) {
        bail!("{field} = {s:?} is not a content hash (expected exactly {HASH_HEX_LEN} lowercase hex digits)");
    }
    Ok(())
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Refuses a stage name outside `[A-Za-z0-9_-]{1,100}`.
pub fn check_stage_name(field: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > NAME_MAX || !s.chars().all(name_char) {
        bail!("{field} = {s:?} is not a valid name (use 1 to {NAME_MAX} of the characters A-Z a-z 0-9 _ -)");
    }
    Ok(())
}

/// Refuses a pipeline name outside `[A-Za-z0-9_.-]{1,100}` or starting with `.`.
pub fn check_pipeline_name(field: &str, s: &str) -> Result<()> {
    if s.is_empty()
        || s.len() > NAME_MAX
        || s.starts_with('.')
        || !s.chars().all(|c| name_char(c) || c == '.')
    {
        bail!(
            "{field} = {s:?} is not a valid pipeline name (use 1 to {NAME_MAX} of the characters \
             A-Z a-z 0-9 _ - ., not starting with .)"
        );
    }
    Ok(())
}

/// A pipeline name made from an arbitrary file stem: characters outside the safe alphabet become `_`.
pub fn sanitize_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if name_char(c) { c } else { '_' })
        .take(NAME_MAX - SHORT_HASH_LEN - 1)
        .collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// A file name for an instance id: bytes outside `[A-Za-z0-9_=,+.\[\]-]` (and a leading `.`) are
/// percent-encoded, so `/`, `..` and control characters can never reach the file system; the encoding is
/// injective, and an encoding longer than 200 bytes is cut and suffixed with a hash of the id.
pub fn file_name(id: &str) -> String {
    let mut out = String::new();
    for (i, b) in id.bytes().enumerate() {
        let safe = b.is_ascii_alphanumeric() || b"_=,+[]-".contains(&b) || (b == b'.' && i > 0);
        if safe {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    if out.len() > FILE_NAME_MAX {
        let h = blake3::hash(id.as_bytes()).to_hex();
        out.truncate(FILE_NAME_MAX - SHORT_HASH_LEN - 1);
        out = format!("{out}~{}", &h[..SHORT_HASH_LEN]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_exactly_64_lowercase_hex() {
        let good = "0123456789abcdef".repeat(4);
        assert!(is_hash(&good));
        assert!(!is_hash(&good[..63]));
        assert!(!is_hash(&(good.clone() + "0")));
        assert!(!is_hash(&good.to_uppercase()));
        assert!(!is_hash(""));
        assert!(!is_hash(&format!("../{}", &good[3..])));
        let e = check_hash("lock.json instances.x.key", "/etc/passwd").unwrap_err();
        assert!(e.to_string().contains("lock.json instances.x.key"), "{e}");
    }

    #[test]
    fn names_refuse_paths_and_controls() {
        for bad in [
            "",
            "../x",
            "a/b",
            "/abs",
            ".hidden",
            "a\nb",
            "a b",
            &"x".repeat(101),
        ] {
            assert!(check_pipeline_name("pipeline", bad).is_err(), "{bad:?}");
        }
        for bad in ["", "a.b", "a/b", "a\nb", "é"] {
            assert!(check_stage_name("stage", bad).is_err(), "{bad:?}");
        }
        for good in ["paper", "smoke-1", "my_study.v2"] {
            check_pipeline_name("pipeline", good).unwrap();
        }
        assert_eq!(sanitize_name("my study/../x"), "my_study____x");
    }

    #[test]
    fn instance_file_names_never_escape_and_do_not_collide() {
        assert_eq!(file_name("sample_width[width=2]"), "sample_width[width=2]");
        let hostile = file_name("s[arch=\"../../x\"]");
        assert!(!hostile.contains('/') && !hostile.contains('"'), "{hostile}");
        assert_eq!(file_name(".."), "%2E.");
        assert_eq!(file_name("."), "%2E");
        assert_ne!(file_name("a/b"), file_name("a%2Fb"));
        let long = file_name(&"y".repeat(1000));
        assert!(long.len() <= FILE_NAME_MAX, "{}", long.len());
        assert_ne!(long, file_name(&"y".repeat(999)));
    }
}

//! Names people read: usernames, client names, display names. What a person sees must
//! be what the server compares, so invisible and direction-changing characters are
//! refused, and one username has one encoding.

use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

/// The longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 128;

/// Whether `c` is invisible or not text: a control character (`Cc`), a format
/// character (`Cf`: zero-width spaces and joiners, bidi overrides and isolates, the
/// byte-order mark, …), a private-use (`Co`) or an unassigned (`Cn`) code point.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control | GeneralCategory::Format | GeneralCategory::PrivateUse | GeneralCategory::Unassigned
    )
}

/// Whether a name shown to people holds nothing hidden (see [`is_hidden`]).
pub fn shows_as_written(name: &str) -> bool {
    !name.chars().any(is_hidden)
}

/// Why a username is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsernameError {
    /// Empty, or over [`MAX_USERNAME_CHARS`].
    Length,
    /// Spaces, or invisible or control characters.
    Characters,
}

impl std::fmt::Display for UsernameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Length => write!(f, "1-{MAX_USERNAME_CHARS} characters"),
            Self::Characters => write!(
                f,
                "no spaces, and no invisible, control or direction-changing characters"
            ),
        }
    }
}

/// A username in its one canonical form, after RFC 8265's UsernameCasePreserved
/// profile: fullwidth and halfwidth forms mapped to their usual forms, then Unicode
/// NFC, so `tóm` typed precomposed or decomposed is one name. Case is kept (sign-on
/// is case-sensitive). Refused: empty or too long, spaces, and hidden characters.
pub fn canonical_username(typed: &str) -> Result<String, UsernameError> {
    let mapped: String = typed
        .chars()
        .flat_map(|c| {
            // Width mapping (RFC 8265 §3.3.1): the Halfwidth and Fullwidth Forms block.
            let wide = ('\u{FF00}'..='\u{FFEF}').contains(&c);
            let one = c.to_string();
            if wide {
                one.nfkc().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .nfc()
        .collect();
    let n = mapped.chars().count();
    if n == 0 || n > MAX_USERNAME_CHARS {
        return Err(UsernameError::Length);
    }
    if mapped.chars().any(|c| c.is_whitespace() || is_hidden(c)) {
        return Err(UsernameError::Characters);
    }
    Ok(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_one_form() {
        let composed = "t\u{f3}m";
        let decomposed = "to\u{301}m";
        assert_ne!(composed, decomposed);
        assert_eq!(canonical_username(decomposed).unwrap(), composed);
        assert_eq!(canonical_username(composed).unwrap(), composed);
        assert_eq!(canonical_username("\u{ff34}om").unwrap(), "Tom", "fullwidth T");
        assert_eq!(canonical_username("Tom").unwrap(), "Tom", "case is kept");
        assert_eq!(canonical_username(&"日".repeat(128)).unwrap().chars().count(), 128);
    }

    #[test]
    fn hidden_characters_are_refused() {
        for bad in [
            "t\u{200b}om",
            "\u{202e}mot",
            "tom\u{2066}",
            "\u{feff}tom",
            "t om",
            "tom\n",
            "t\u{e000}m",
        ] {
            assert_eq!(canonical_username(bad), Err(UsernameError::Characters), "{bad:?}");
            assert!(!shows_as_written(bad) || bad.contains(' '), "{bad:?}");
        }
        assert_eq!(canonical_username(""), Err(UsernameError::Length));
        assert_eq!(canonical_username(&"a".repeat(129)), Err(UsernameError::Length));
        assert!(shows_as_written("Ünïcødé App ✓"));
        assert!(!shows_as_written("My \u{202e}ppA"));
    }
}

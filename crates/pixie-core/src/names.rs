//! Names people read: usernames, client names, display names. What a person sees must
//! be what the server compares, so invisible and direction-changing characters are
//! refused, and one username has one encoding.

use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
use unicode_security::{GeneralSecurityProfile as _, RestrictionLevel, RestrictionLevelDetection as _};

/// The longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 128;

/// Whether `c` is invisible or not text: a control character (`Cc`), a format
/// character (`Cf`: zero-width spaces and joiners, bidi overrides and isolates, the
/// byte-order mark, …), a private-use (`Co`) or an unassigned (`Cn`) code point, a line
/// or paragraph separator (`Zl`, `Zp`), a default-ignorable code point (variation
/// selectors, the combining grapheme joiner, Hangul fillers, …), or the blank Braille
/// pattern.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || is_default_ignorable(c)
        || c == '\u{2800}'
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15):
/// code points a renderer shows as nothing.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
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
    /// Letters of scripts that do not belong together (`аlice` with a Cyrillic `а`).
    MixedScripts,
}

impl std::fmt::Display for UsernameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Length => write!(f, "1-{MAX_USERNAME_CHARS} characters"),
            Self::Characters => write!(
                f,
                "letters, digits and ASCII punctuation only: no spaces, symbols, look-alike forms, or invisible, control or direction-changing characters"
            ),
            Self::MixedScripts => write!(f, "letters of one script (or Han with Japanese or Korean), not a mix that can imitate another name"),
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
    // Each character: ASCII punctuation (e-mail addresses are usernames), or one
    // Unicode recommends for identifiers (UTS #39 Identifier_Status=Allowed: no
    // symbols, no compatibility forms such as 𝐚 or ⓐ, nothing invisible).
    let allowed = |c: char| c.is_ascii_graphic() || (!is_hidden(c) && c.identifier_allowed());
    if !mapped.chars().all(allowed) {
        return Err(UsernameError::Characters);
    }
    // UTS #39 "highly restrictive": one script, or Han with Japanese or Korean.
    // (Judged on the letters and digits: ASCII punctuation belongs to no script.)
    let letters: String = mapped.chars().filter(|c| !c.is_ascii_punctuation()).collect();
    if letters.as_str().detect_restriction_level() > RestrictionLevel::HighlyRestrictive {
        return Err(UsernameError::MixedScripts);
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
        // Found by an attacker's review: invisible or look-alike, all displayed as "alice".
        for bad in [
            "alice\u{fe0f}",
            "ali\u{34f}ce",
            "alice\u{3164}",
            "alice\u{ffa0}",
            "ali\u{115f}ce",
            "alice\u{2800}",
            "alice\u{17b4}",
            "alice\u{180b}",
            "alice\u{e0100}",
            "\u{1d41a}\u{1d425}ice",
            "\u{24d0}lice",
        ] {
            assert_eq!(canonical_username(bad), Err(UsernameError::Characters), "{bad:?}");
        }
        assert_eq!(
            canonical_username("\u{430}lice"),
            Err(UsernameError::MixedScripts),
            "Cyrillic a"
        );
        for good in [
            "alice",
            "tom@example.com",
            "jean-luc.picard",
            "日本語のユーザー",
            "Ørsted_2",
            "пользователь",
        ] {
            assert!(canonical_username(good).is_ok(), "{good}");
        }
        for bad in [
            "Goog\u{3164}le",
            "Pay\u{fe0f}Pal",
            "Bank\u{34f}",
            "My App\u{2028}Line2",
            "x\u{2029}y",
        ] {
            assert!(!shows_as_written(bad), "{bad:?}");
        }
        assert_eq!(canonical_username(""), Err(UsernameError::Length));
        assert_eq!(canonical_username(&"a".repeat(129)), Err(UsernameError::Length));
        assert!(shows_as_written("Ünïcødé App ✓"));
        assert!(!shows_as_written("My \u{202e}ppA"));
    }
}

/// The most roles a user may have.
pub const MAX_ROLES: usize = 32;

/// Checks a user's roles: at most [`MAX_ROLES`], each 1–64 characters of ASCII
/// letters, digits and `_.:-`, none twice. Returns what is wrong, naming the entry.
pub fn check_roles(roles: &[String]) -> Result<(), String> {
    if roles.len() > MAX_ROLES {
        return Err(format!("roles: at most {MAX_ROLES}"));
    }
    for (i, role) in roles.iter().enumerate() {
        let ok = (1..=64).contains(&role.len())
            && role
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if !ok {
            return Err(format!("roles[{i}]: 1-64 characters of letters, digits and _ . : -"));
        }
        if roles[..i].contains(role) {
            return Err(format!("roles[{i}]: {role} is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod role_tests {
    use super::check_roles;

    #[test]
    fn roles_are_short_plain_words_once_each() {
        let ok: Vec<String> = ["admin", "ops:read", "team_a.b-c"].map(String::from).to_vec();
        assert_eq!(check_roles(&ok), Ok(()));
        assert_eq!(check_roles(&[]), Ok(()));
        for bad in ["", "has space", "ümlaut", &"x".repeat(65), "a\nb"] {
            assert!(
                check_roles(&[bad.to_owned()]).unwrap_err().starts_with("roles[0]"),
                "{bad:?}"
            );
        }
        assert!(check_roles(&["a".into(), "a".into()]).unwrap_err().contains("twice"));
        assert!(check_roles(&vec!["a".to_owned(); 33]).is_err());
    }
}

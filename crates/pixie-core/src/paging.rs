//! Paging of admin lists (CONTRACT §5): `?limit=` and `?after=<cursor>`.
//!
//! A list is ordered by a key that never changes (an id, a username, a creation time
//! and id), and a cursor is the key of the last item of a page; the next page holds
//! what sorts after it. So an item that exists throughout is seen exactly once, however
//! many items are added or removed meanwhile. Cursors are opaque to callers (base64url
//! of the key's parts) so their form can change.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 50;
/// The most items a page may hold.
pub const MAX_LIMIT: i64 = 500;
/// The longest cursor accepted (a key is a few short fields).
const MAX_CURSOR: usize = 1024;

/// Why a paging parameter was refused; names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    /// `limit` is not a number from 1 to [`MAX_LIMIT`].
    #[error("limit: must be a whole number from 1 to {MAX_LIMIT}")]
    Limit,
    /// `after` is not a cursor this list made.
    #[error("after: not a cursor from this list's `next`")]
    Cursor,
}

/// The page size asked for, checked; [`DEFAULT_LIMIT`] when absent.
pub fn limit(given: Option<&str>) -> Result<i64, PagingError> {
    match given {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(PagingError::Limit),
        },
    }
}

/// The cursor of list `kind` (say `users`) for a key made of `parts`.
pub fn cursor(kind: &str, parts: &[&str]) -> String {
    let mut text = format!("pixie:{kind}");
    for p in parts {
        text.push('\n');
        text.push_str(p);
    }
    URL_SAFE_NO_PAD.encode(text)
}

/// The `n` key parts of a cursor [`cursor`] made for list `kind`; a cursor of another
/// list, or anything else, is refused.
pub fn parse_cursor(c: &str, kind: &str, n: usize) -> Result<Vec<String>, PagingError> {
    if c.len() > MAX_CURSOR {
        return Err(PagingError::Cursor);
    }
    let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| PagingError::Cursor)?;
    let text = String::from_utf8(bytes).map_err(|_| PagingError::Cursor)?;
    let mut parts = text.split('\n');
    if parts.next() != Some(&format!("pixie:{kind}")) {
        return Err(PagingError::Cursor);
    }
    let parts: Vec<String> = parts.map(str::to_owned).collect();
    if parts.len() != n {
        return Err(PagingError::Cursor);
    }
    Ok(parts)
}

/// One page from `fetched`, which holds up to `limit + 1` items in list order: the
/// first `limit` items, and a cursor (from `key` of the last of them) when there are
/// more.
pub fn page<T>(mut fetched: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if fetched.len() <= limit {
        return (fetched, None);
    }
    fetched.truncate(limit);
    let next = fetched.last().map(key);
    (fetched, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn limits() {
        assert_eq!(limit(None), Ok(50));
        assert_eq!(limit(Some("1")), Ok(1));
        assert_eq!(limit(Some("500")), Ok(500));
        for bad in ["0", "501", "-1", "", "ten", "1.5", "99999999999999999999"] {
            assert_eq!(limit(Some(bad)), Err(PagingError::Limit), "{bad}");
        }
    }

    #[test]
    fn a_page_names_its_last_item_when_more_follow() {
        assert_eq!(page(vec![1, 2, 3], 3, |i| i.to_string()), (vec![1, 2, 3], None));
        assert_eq!(
            page(vec![1, 2, 3, 4], 3, |i| i.to_string()),
            (vec![1, 2, 3], Some("3".into()))
        );
        assert_eq!(page(Vec::<u8>::new(), 3, |i| i.to_string()), (vec![], None));
    }

    #[test]
    fn foreign_cursors_are_refused() {
        assert_eq!(parse_cursor("!!", "users", 1), Err(PagingError::Cursor));
        assert_eq!(parse_cursor("bm90IGEgY3Vyc29y", "users", 1), Err(PagingError::Cursor));
        assert_eq!(
            parse_cursor(&cursor("users", &["a", "b"]), "users", 1),
            Err(PagingError::Cursor)
        );
        assert_eq!(
            parse_cursor(&cursor("apps", &["a"]), "users", 1),
            Err(PagingError::Cursor)
        );
        assert_eq!(parse_cursor(&"A".repeat(2000), "users", 1), Err(PagingError::Cursor));
    }

    proptest! {
        #[test]
        fn cursors_round_trip(a in "[^\n]{0,40}", b in "[^\n]{0,40}") {
            prop_assert_eq!(parse_cursor(&cursor("k", &[&a, &b]), "k", 2).unwrap(), vec![a, b]);
        }

        #[test]
        fn parse_cursor_never_panics(s in ".{0,200}", n in 0usize..4) {
            let _ = parse_cursor(&s, "k", n);
        }
    }
}

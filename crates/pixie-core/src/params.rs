//! Form and query parameters as RFC 6749 §3.1 reads them: each at most once.

use std::borrow::Cow;

/// Decoded `application/x-www-form-urlencoded` pairs, in order, repeats kept so they
/// can be refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes a query string or form body. Invalid percent-encodings decode lossily;
    /// callers see the replacement character, never a panic.
    pub fn parse(input: &[u8]) -> Self {
        Self {
            pairs: form_urlencoded::parse(input)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// Builds from pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            pairs: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }

    /// The value of `name`, if it appears (the first, if repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether `name` appears more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.pairs.iter().filter(|(k, _)| k == name).take(2).count() > 1
    }

    /// The first parameter name that appears more than once (at its second
    /// appearance), `resource` aside: RFC 8707 lets it repeat. Linear in the number of
    /// pairs: a 64 KiB body holds ~20k names.
    pub fn first_repeated(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::with_capacity(self.pairs.len());
        self.pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| *k != "resource")
            .find(|k| !seen.insert(*k))
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, treating an empty value as absent (RFC 6749 §3.1).
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Encodes the pairs as a form body ([`Params::parse`] reads it back as it was).
    pub fn to_form(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.pairs)
            .finish()
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Appends query parameters to a URI (which may already have a query).
pub fn append_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let query = ser.finish();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{query}")
}

/// Shortens a value for quoting in a message: at most `max` characters, printable only.
pub fn quote(value: &str, max: usize) -> Cow<'_, str> {
    if value.len() <= max && value.chars().all(|c| !c.is_control()) {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(value.chars().filter(|c| !c.is_control()).take(max).collect::<String>() + "…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_and_empties() {
        let p = Params::parse(b"a=1&b=&a=2&c=%ZZ");
        assert_eq!(p.get("a"), Some("1"));
        assert!(p.is_repeated("a"));
        assert!(!p.is_repeated("b"));
        assert_eq!(p.first_repeated(), Some("a"));
        assert_eq!(p.non_empty("b"), None);
        assert_eq!(p.get("c"), Some("%ZZ"));
    }

    #[test]
    fn append() {
        assert_eq!(
            append_query("https://a/cb", &[("code", "x y"), ("state", "s&t")]),
            "https://a/cb?code=x+y&state=s%26t"
        );
        assert_eq!(
            append_query("https://a/cb?k=v", &[("code", "1")]),
            "https://a/cb?k=v&code=1"
        );
    }

    proptest::proptest! {
        /// What a pushed request keeps is read back exactly: any names and values, in
        /// order, repeats included.
        #[test]
        fn a_form_reads_back_as_it_was(pairs in proptest::collection::vec((".{0,12}", ".{0,24}"), 0..12)) {
            let p = Params::from_pairs(pairs.clone());
            let back = Params::parse(p.to_form().as_bytes());
            proptest::prop_assert_eq!(back, p);
        }
    }
}

//! Tables the store commands print for people (`--json` prints the API's JSON instead).

use pixie_core::wire::{Application, Environment, SigningKeyInfo, User};

/// Rows padded into columns under a header; control characters never reach the
/// terminal (a name is shown, not obeyed).
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Vec<String> {
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
    };
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| clean(c)).collect()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(rows.iter().map(|r| line(r.iter().map(String::as_str).collect())));
    out
}

pub fn date(t: i64) -> String {
    // Days since the epoch to a civil date (Howard Hinnant's algorithm), and the time.
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}Z", secs / 3600, secs % 3600 / 60)
}

/// Words of `text` in lines of at most `width` characters (a longer word has a line
/// of its own).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Environments.
pub fn environments(items: &[Environment]) -> Vec<String> {
    let rows = items
        .iter()
        .map(|e| {
            let methods: Vec<&str> = e.pkce.allowed.iter().map(|m| m.as_str()).collect();
            vec![e.id.clone(), e.issuer.clone(), methods.join(",")]
        })
        .collect();
    table(&["ID", "ISSUER", "PKCE ALLOWED"], rows)
}

/// Applications (never a secret).
pub fn applications(items: &[Application]) -> Vec<String> {
    let rows = items
        .iter()
        .map(|a| {
            vec![
                a.client_id.clone(),
                a.metadata.client_name.clone(),
                a.metadata.token_endpoint_auth_method.as_str().to_owned(),
                date(a.client_id_issued_at),
            ]
        })
        .collect();
    table(&["CLIENT ID", "NAME", "AUTH METHOD", "CREATED"], rows)
}

/// Users.
pub fn users(items: &[User]) -> Vec<String> {
    let rows = items
        .iter()
        .map(|u| {
            vec![
                u.username.clone(),
                u.id.clone(),
                u.email.clone().unwrap_or_default(),
                u.roles.join(","),
                if u.disabled { "disabled" } else { "active" }.to_owned(),
            ]
        })
        .collect();
    table(&["USERNAME", "ID", "EMAIL", "ROLES", "STATUS"], rows)
}

/// One user, field by field.
pub fn user(u: &User) -> Vec<String> {
    let rows = vec![
        vec!["id".into(), u.id.clone()],
        vec!["username".into(), u.username.clone()],
        vec!["email".into(), u.email.clone().unwrap_or_default()],
        vec!["name".into(), u.name.clone().unwrap_or_default()],
        vec!["roles".into(), u.roles.join(",")],
        vec!["disabled".into(), u.disabled.to_string()],
        vec!["created".into(), date(u.created_at)],
    ];
    table(&["FIELD", "VALUE"], rows)
}

/// Signing keys.
pub fn keys(items: &[SigningKeyInfo]) -> Vec<String> {
    let rows = items
        .iter()
        .map(|k| {
            vec![
                k.kid.clone(),
                k.alg.clone(),
                k.status.clone(),
                date(k.created_at),
                k.retire_at.map(date).unwrap_or_default(),
            ]
        })
        .collect();
    table(&["KID", "ALG", "STATUS", "CREATED", "RETIRE AT"], rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_words_whole() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("", 6), Vec::<String>::new());
        assert_eq!(wrap("averyveryverylongword x", 5), ["averyveryverylongword", "x"]);
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01 00:00Z");
        assert_eq!(date(951_782_400), "2000-02-29 00:00Z");
        assert_eq!(date(1_796_083_200 + 3_660), "2026-12-01 01:01Z");
    }

    #[test]
    fn cells_are_aligned_and_never_control_characters() {
        let t = table(&["A", "B"], vec![vec!["long value".into(), "x\u{1b}[2J".into()]]);
        assert_eq!(t[0], "A           B");
        assert_eq!(t[1], "long value  x?[2J");
    }
}

//! `DATABASE_URL` as logs and terminals may show it, and the PostgreSQL parameters it may carry.
//!
//! A password can sit in the userinfo (`postgres://user:pw@host/db`) or in a query parameter
//! (`?password=pw`, which sqlx reads), percent-encoded or not. sqlx logs, with its value, every
//! PostgreSQL parameter it does not read (`sslpassword`, `PASSWORD`), so those are refused at
//! load instead of reaching it.

use std::borrow::Cow;

/// What a hidden value is shown as.
const HIDDEN: &str = "***";

/// The query parameters sqlx's PostgreSQL driver reads (as `PgConnectOptions` parses a URL),
/// besides `options[NAME]`. Names are case-sensitive there.
const POSTGRES_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// `url` with the password of its userinfo and the value of every parameter that may carry a
/// secret replaced by `***`. Works on any text, URL or not, and hides more rather than less:
/// the userinfo runs to the last `@`, as a password may hold an unencoded `/`, `?` or `@`.
pub fn redacted(url: &str) -> String {
    let (head, rest) = match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => url.split_at(url.find(':').map_or(0, |at| at + 1)),
    };
    let mut shown = head.to_owned();
    let userinfo = rest
        .rfind('@')
        .filter(|_| head.ends_with("://"))
        .and_then(|at| Some((rest[..at].split_once(':')?.0, &rest[at..])));
    let rest = match userinfo {
        Some((user, after)) => {
            shown.push_str(&format!("{user}:{HIDDEN}"));
            after
        }
        None => rest,
    };
    let Some((location, query)) = rest.split_once('?') else {
        shown.push_str(rest);
        return shown;
    };
    shown.push_str(location);
    shown.push('?');
    // `#` and `;` end a value as surely as `&` does for some parser: split on all three.
    for piece in query.split_inclusive(['&', '#', ';']) {
        let (pair, separator) = match piece.char_indices().last() {
            Some((at, '&' | '#' | ';')) => piece.split_at(at),
            _ => (piece, ""),
        };
        match pair.split_once('=') {
            Some((key, _)) if is_secret_key(key) => shown.push_str(&format!("{key}={HIDDEN}")),
            _ => shown.push_str(pair),
        }
        shown.push_str(separator);
    }
    shown
}

/// Whether a parameter named `key` (as typed: any case, percent- or form-encoded) may hold a
/// secret: `password`, `sslpassword`, `PassWord`, `pass%77ord`, `api_token`…
fn is_secret_key(key: &str) -> bool {
    let name: String = form_urlencoded::parse(key.as_bytes())
        .map(|(name, _)| name)
        .next()
        .unwrap_or(Cow::Borrowed(""))
        .to_lowercase();
    ["pass", "pwd", "secret", "token", "credential"]
        .iter()
        .any(|word| name.contains(word))
}

/// Why a PostgreSQL `url` cannot be used, in words that never repeat a value from it; None
/// when sqlx can read all of it.
pub fn postgres_problem(url: &str) -> Option<String> {
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) => parsed,
        // The parser's messages name the part ("invalid port number"), never its text.
        Err(err) => return Some(format!("not a URL: {err}")),
    };
    let unknown = parsed
        .query_pairs()
        .map(|(key, _)| key)
        .find(|key| !postgres_reads(key))?;
    let named = if !unknown.is_empty()
        && unknown.len() <= 40
        && unknown
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-[]".contains(&b))
    {
        format!("parameter {unknown:?}")
    } else {
        "a parameter".to_owned()
    };
    Some(format!(
        "{named} is not one PostgreSQL connections read (parameter names are case-sensitive; known: {})",
        POSTGRES_PARAMETERS.join(", ")
    ))
}

/// Whether sqlx's PostgreSQL driver reads the parameter `key`.
fn postgres_reads(key: &str) -> bool {
    POSTGRES_PARAMETERS.contains(&key) || (key.starts_with("options[") && key.ends_with(']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Hunter2-s3cret";

    fn assert_hidden(url: &str, expected: &str) {
        let shown = redacted(url);
        assert_eq!(shown, expected, "for {url}");
        assert!(!shown.contains(SECRET), "{shown}");
    }

    #[test]
    fn a_password_in_the_userinfo_is_hidden() {
        assert_hidden(
            &format!("postgres://circlet:{SECRET}@db:5432/circlet"),
            "postgres://circlet:***@db:5432/circlet",
        );
        assert_hidden(
            &format!("postgresql://circlet:{SECRET}@db/circlet?sslmode=require"),
            "postgresql://circlet:***@db/circlet?sslmode=require",
        );
    }

    #[test]
    fn a_password_parameter_is_hidden_in_any_case() {
        for key in ["password", "PASSWORD", "Password", "sslpassword", "SSLPassword"] {
            assert_hidden(
                &format!("postgres://circlet@db/circlet?sslmode=disable&{key}={SECRET}&application_name=c"),
                &format!("postgres://circlet@db/circlet?sslmode=disable&{key}=***&application_name=c"),
            );
        }
        assert_hidden(
            &format!("postgres://circlet@db/circlet?password={SECRET}"),
            "postgres://circlet@db/circlet?password=***",
        );
    }

    #[test]
    fn percent_encoded_keys_and_values_are_hidden() {
        let encoded = "Hunter2%2Ds3cret";
        for url in [
            format!("postgres://circlet:{encoded}@db/circlet"),
            format!("postgres://circlet@db/circlet?password={encoded}"),
            format!("postgres://circlet@db/circlet?pass%77ord={SECRET}"),
            format!("postgres://circlet@db/circlet?%70assword={encoded}"),
            format!("postgres://circlet@db/circlet?ssl+password={SECRET}"),
        ] {
            let shown = redacted(&url);
            assert!(
                !shown.contains(SECRET) && !shown.contains(encoded),
                "{url} → {shown}"
            );
            assert!(shown.contains(HIDDEN), "{shown}");
        }
    }

    #[test]
    fn passwords_with_unencoded_delimiters_are_hidden_whole() {
        for url in [
            "postgres://circlet:pa/Hunter2-s3cret@db/circlet",
            "postgres://circlet:pa?Hunter2-s3cret@db/circlet",
            "postgres://circlet:pa@Hunter2-s3cret@db/circlet",
        ] {
            assert_hidden(url, "postgres://circlet:***@db/circlet");
        }
        // An `@` in a value is no userinfo: the parameters before it are still checked.
        assert_hidden(
            &format!("postgres://db/c?password={SECRET}&application_name=a@b"),
            "postgres://db/c?password=***&application_name=a@b",
        );
        // A value cut by `#` or `;` is still hidden up to there, and what follows is checked too.
        assert_hidden(
            &format!("postgres://db/c?sslmode=disable#password={SECRET}"),
            "postgres://db/c?sslmode=disable#password=***",
        );
        assert_hidden(
            &format!("postgres://db/c?password={SECRET}#x"),
            "postgres://db/c?password=***#x",
        );
    }

    #[test]
    fn urls_without_secrets_are_shown_as_written() {
        for url in [
            "sqlite://circlet.db",
            "sqlite:///var/lib/circlet/my data.db",
            "sqlite::memory:",
            "sqlite://circlet.db?mode=rwc",
            "postgres://circlet@db:5432/circlet?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            "postgres:///circlet?host=/var/run/postgresql",
        ] {
            assert_eq!(redacted(url), url);
        }
        assert_eq!(
            redacted("sqlite://x.db?password=pw"),
            "sqlite://x.db?password=***"
        );
    }

    #[test]
    fn parameters_postgres_connections_ignore_are_named_without_their_value() {
        for (url, named) in [
            ("postgres://db/c?sslpassword=Hunter2-s3cret", "\"sslpassword\""),
            ("postgres://db/c?PASSWORD=Hunter2-s3cret", "\"PASSWORD\""),
            ("postgres://db/c?connect_timeout=10", "\"connect_timeout\""),
            ("postgres://db/c?Hunter2-s3cret@x=1", "a parameter"),
        ] {
            let problem = postgres_problem(url).expect(url);
            assert!(problem.contains(named), "{problem}");
            assert!(!problem.contains("s3cret"), "{problem}");
        }
        let problem = postgres_problem("postgres://u:Hunter2-s3cret@db:port/c").unwrap();
        assert!(
            problem.starts_with("not a URL") && !problem.contains("s3cret"),
            "{problem}"
        );
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://u:pw@db/c?password=pw&sslmode=require&options[search_path]=x&application_name=circlet",
            "postgresql:///c?host=/var/run/postgresql",
        ] {
            assert_eq!(postgres_problem(url), None, "{url}");
        }
    }
}

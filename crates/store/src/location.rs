//! Where a store lives, parsed from the URL the user gave: a SQLite file (a
//! plain path or a `sqlite:` URL) or a PostgreSQL server (`postgres://`).

use std::fmt;
use std::path::PathBuf;

/// A parsed store address.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database; the URL may hold a password, so it is never
    /// shown as is (see [`Location::redacted`]).
    Postgres {
        /// The URL exactly as given, for connecting.
        url: String,
        /// Host and port, or the unix socket directory: what errors name.
        server: String,
    },
}

/// Why a store URL could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error(
        "unsupported store URL scheme `{scheme}:` (use a file path, `sqlite:PATH` or `postgres://...`)"
    )]
    UnsupportedScheme { scheme: String },
    #[error("invalid PostgreSQL URL {url}")]
    InvalidPostgresUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("the store URL is empty")]
    Empty,
}

impl Location {
    /// Parses a store URL: `postgres://` or `postgresql://` → PostgreSQL;
    /// `sqlite:PATH`, `sqlite://PATH` or a plain path → SQLite.
    pub fn parse(url: &str) -> Result<Location, LocationError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(LocationError::Empty);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options: sqlx::postgres::PgConnectOptions = url.parse().map_err(|source| {
                LocationError::InvalidPostgresUrl { url: redact_url(url), source }
            })?;
            let server = match options.get_socket() {
                Some(socket) => format!("{} (unix socket)", socket.display()),
                None => format!("{}:{}", options.get_host(), options.get_port()),
            };
            return Ok(Location::Postgres { url: url.to_owned(), server });
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let path = rest.split_once('?').map_or(rest, |(path, _)| path);
            if path.is_empty() {
                return Err(LocationError::Empty);
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(LocationError::UnsupportedScheme { scheme: scheme.to_owned() });
        }
        Ok(Location::Sqlite(PathBuf::from(url)))
    }

    /// The location for people to read: the file path, or the PostgreSQL URL
    /// with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres { url, .. } => redact_url(url),
        }
    }

    /// What an error should name: "SQLite store PATH" or "PostgreSQL store
    /// at HOST:PORT" (never the password).
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(path) => format!("SQLite store {}", path.display()),
            Location::Postgres { server, .. } => format!("PostgreSQL store at {server}"),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces the password in `scheme://user:password@host...` (and in a
/// `password=` query parameter) with `***`.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end =
            out[authority_start..].find(['/', '?']).map_or(out.len(), |i| authority_start + i);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let userinfo = &out[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                let password_start = authority_start + colon + 1;
                out.replace_range(password_start..authority_start + at, "***");
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let query = query
            .split('&')
            .map(|pair| {
                if pair.to_ascii_lowercase().starts_with("password=") {
                    "password=***".to_owned()
                } else {
                    pair.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        out = format!("{head}{query}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_and_sqlite_urls_are_files() {
        for (url, path) in [
            (".orca/orca.db", ".orca/orca.db"),
            ("/abs/orca.db", "/abs/orca.db"),
            ("sqlite:rel.db", "rel.db"),
            ("sqlite:///abs/x.db", "/abs/x.db"),
            ("sqlite://rel/x.db?mode=rwc", "rel/x.db"),
        ] {
            assert_eq!(
                Location::parse(url).unwrap(),
                Location::Sqlite(PathBuf::from(path)),
                "{url}"
            );
        }
    }

    #[test]
    fn postgres_urls_name_the_server() {
        let location = Location::parse("postgres://orca:s3cret@db.example:6543/orca").unwrap();
        assert!(
            matches!(&location, Location::Postgres { server, .. } if server == "db.example:6543")
        );
        assert_eq!(location.redacted(), "postgres://orca:***@db.example:6543/orca");
        assert!(!format!("{location:?}").contains("s3cret"));
        let socket = Location::parse("postgresql://postgres@localhost/db?host=/tmp/pg").unwrap();
        assert_eq!(socket.describe(), "PostgreSQL store at /tmp/pg (unix socket)");
    }

    #[test]
    fn other_schemes_are_refused() {
        let err = Location::parse("mysql://x/y").unwrap_err();
        assert!(err.to_string().contains("`mysql:`"), "{err}");
        assert!(matches!(Location::parse("  "), Err(LocationError::Empty)));
    }

    #[test]
    fn redaction_covers_userinfo_and_query_passwords() {
        assert_eq!(redact_url("postgres://u:p@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact_url("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(
            redact_url("postgres://h/d?user=u&password=p"),
            "postgres://h/d?user=u&password=***"
        );
        assert_eq!(redact_url("postgres://u:p%40x@h:1/d"), "postgres://u:***@h:1/d");
    }
}

//! Who may see the dashboard. On a loopback address, this machine's users,
//! and only through a loopback host name: a web page elsewhere that points
//! a name of its own at 127.0.0.1 (DNS rebinding) is refused. On any other
//! address, whoever has the token: as `Authorization: Bearer`, as the
//! `orca_token` cookie the page sets once the user typed it, or once as
//! `?token=` (the address printed at start), which sets the cookie.

use std::io::Read as _;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::App;

/// The cookie that carries the token.
const COOKIE: &str = "orca_token";

/// What a request must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// A loopback host name.
    Loopback,
    /// The token.
    Token(String),
}

/// A fresh token: 128 random bits from the operating system, as hex.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub(crate) async fn check(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let access = match &app.options.token {
        Some(token) => Access::Token(token.clone()),
        None => Access::Loopback,
    };
    // The page's script and style hold nothing of the runs; the token
    // prompt needs them before the user has typed the token.
    let public = request.uri().path().starts_with("/assets/");
    match access {
        Access::Loopback => {
            if !loopback_host(request.headers()) {
                return (
                    StatusCode::FORBIDDEN,
                    "the dashboard answers to 127.0.0.1 or localhost only\n",
                )
                    .into_response();
            }
            next.run(request).await
        }
        Access::Token(token) => {
            let from_query = query_token(request.uri().query());
            let shown = bearer(request.headers())
                .or_else(|| cookie(request.headers()))
                .or_else(|| from_query.clone());
            let granted = shown.as_deref().is_some_and(|shown| same(shown, &token));
            if !granted && !public {
                return refused(&request);
            }
            let mut response = next.run(request).await;
            if from_query.is_some_and(|shown| same(&shown, &token)) {
                let value = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
    }
}

/// A 401: a page asks for the token, anything else is told what is missing.
fn refused(request: &Request) -> Response {
    let wants_page =
        request.method() == axum::http::Method::GET && !request.uri().path().starts_with("/api/");
    if wants_page {
        (StatusCode::UNAUTHORIZED, axum::response::Html(crate::pages::token_page())).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "this dashboard needs its token (printed when it started)\n")
            .into_response()
    }
}

fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        // HTTP/1.0 without Host: only a local client sends that.
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|token| token.trim().to_owned())
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(str::to_owned))
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| pair.strip_prefix("token=").map(str::to_owned))
}

/// Compares in time that does not depend on where the texts differ.
fn same(shown: &str, token: &str) -> bool {
    shown.len() == token.len()
        && shown.bytes().zip(token.bytes()).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_loopback_host_names_pass_without_a_token() {
        for ok in ["127.0.0.1:8080", "localhost:1", "[::1]:9", "localhost", "app.localhost:3"] {
            assert!(loopback_host(&host(ok)), "{ok}");
        }
        for refused in
            ["evil.example:8080", "10.0.0.2:80", "[fe80::1]:80", "localhost.evil.example"]
        {
            assert!(!loopback_host(&host(refused)), "{refused}");
        }
    }

    #[test]
    fn the_token_is_read_from_the_header_the_cookie_or_the_query() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("x=1; orca_token=def"));
        assert_eq!(bearer(&headers).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers).as_deref(), Some("def"));
        assert_eq!(query_token(Some("a=1&token=ghi")).as_deref(), Some("ghi"));
        assert!(same("abc", "abc") && !same("abd", "abc") && !same("ab", "abc"));
        let token = new_token().unwrap();
        assert_eq!(token.len(), 32);
        assert_ne!(token, new_token().unwrap());
    }
}

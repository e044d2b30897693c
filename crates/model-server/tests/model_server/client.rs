//! A tiny HTTP/1.1 client over a raw TcpStream: enough to see exactly what
//! the server puts on the wire (status, headers, chunked SSE framing).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response as read off the wire.
#[derive(Debug)]
pub(crate) struct WireResponse {
    pub(crate) status: u16,
    /// Header names lower-cased.
    pub(crate) headers: Vec<(String, String)>,
    /// The de-chunked body.
    pub(crate) body: String,
}

impl WireResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The SSE events: (event name if any, parsed data).
    pub(crate) fn events(&self) -> Vec<(Option<String>, String)> {
        assert!(self.body.ends_with("\n\n"), "an SSE body ends with a blank line: {:?}", self.body);
        self.body
            .trim_end_matches('\n')
            .split("\n\n")
            .map(|frame| {
                let mut event = None;
                let mut data = Vec::new();
                for line in frame.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event = Some(name.to_string());
                    } else if let Some(payload) = line.strip_prefix("data: ") {
                        data.push(payload);
                    } else {
                        panic!("unexpected SSE line {line:?} in {frame:?}");
                    }
                }
                (event, data.join("\n"))
            })
            .collect()
    }
}

pub(crate) fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream
}

pub(crate) fn send(
    stream: &mut TcpStream,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) {
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
}

/// Reads the status line and headers.
pub(crate) fn read_head(reader: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no status line: {line:?}"))
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').unwrap();
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    (status, headers)
}

/// Reads one chunk of a chunked body; None at the last (zero) chunk.
pub(crate) fn read_chunk(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut size = String::new();
    reader.read_line(&mut size).unwrap();
    let size =
        usize::from_str_radix(size.trim(), 16).unwrap_or_else(|_| panic!("chunk size {size:?}"));
    let mut data = vec![0; size + 2];
    reader.read_exact(&mut data).unwrap();
    assert_eq!(&data[size..], b"\r\n");
    data.truncate(size);
    (size > 0).then(|| String::from_utf8(data).unwrap())
}

pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> WireResponse {
    let mut stream = connect(addr);
    send(&mut stream, method, target, headers, body);
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader);
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let mut body = String::new();
    if chunked {
        while let Some(chunk) = read_chunk(&mut reader) {
            body.push_str(&chunk);
        }
    } else if method != "HEAD" {
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut data = vec![0; length];
        reader.read_exact(&mut data).unwrap();
        body = String::from_utf8(data).unwrap();
    }
    WireResponse { status, headers, body }
}

pub(crate) fn post(addr: SocketAddr, target: &str, body: &serde_json::Value) -> WireResponse {
    request(addr, "POST", target, &[], &body.to_string())
}

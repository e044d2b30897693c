//! `orca model-server`: serves a script until SIGTERM; bad scripts are
//! usage errors that name the line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

fn orca() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orca"))
}

const SCRIPT: &str = r#"
[[rule]]
name = "greeting"
marker = "TASK-1"
text = "Hello from the script."
usage = { input = 11, output = 5 }
"#;

fn start(dir: &std::path::Path, extra: &[&str]) -> (Child, BufReader<std::process::ChildStdout>) {
    let script = dir.join("script.toml");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut child = orca()
        .arg("model-server")
        .arg("--script")
        .arg(&script)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

fn read_line(stdout: &mut BufReader<std::process::ChildStdout>) -> String {
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    line
}

/// A non-streaming Messages request over a raw socket; returns the body.
fn ask(addr: &str, prompt: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({
        "model": "m",
        "messages": [{"role": "user", "content": prompt}]
    })
    .to_string();
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v1/messages HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (_, payload) = response.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(payload).unwrap())
}

fn terminate(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn model_server_json_prints_the_address_serves_the_script_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let (mut child, mut stdout) = start(dir.path(), &["--json", "--log", log.to_str().unwrap()]);
    let ready: serde_json::Value = serde_json::from_str(&read_line(&mut stdout)).unwrap();
    let addr = ready["addr"].as_str().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{ready}");
    assert_eq!(ready["base_url"], format!("http://{addr}"));
    assert_eq!(ready["openai_base_url"], format!("http://{addr}/v1"));

    let (status, message) = ask(&addr, "please do TASK-1");
    assert_eq!(status, 200);
    assert_eq!(message["content"][0]["text"], "Hello from the script.");
    assert_eq!(message["usage"]["input_tokens"], 11);
    let (status, error) = ask(&addr, "TASK-2 has no rule");
    assert_eq!(status, 400);
    assert!(error["error"]["message"].as_str().unwrap().contains("no script rule matched"));

    terminate(&child);
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "--json prints one line");
    let logged: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(logged.len(), 2);
    assert_eq!(logged[0]["rule"], "greeting");
    assert_eq!(logged[1]["outcome"], "no rule matched");
}

#[test]
fn model_server_human_output_says_how_to_point_the_clis_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut stdout) = start(dir.path(), &[]);
    let mut text = String::new();
    for _ in 0..4 {
        text.push_str(&read_line(&mut stdout));
    }
    terminate(&child);
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let port = port_of(&text);
    insta::assert_snapshot!(text.replace(&port, "PORT"), @r#"
    model server listening on http://127.0.0.1:PORT
      claude:   ANTHROPIC_BASE_URL=http://127.0.0.1:PORT
      codex:    model provider base_url = "http://127.0.0.1:PORT/v1"
    stop it with Ctrl-C
    "#);
    assert_eq!(stderr.trim(), "model server stopped after 0 requests");
}

/// The port in the first line, `...127.0.0.1:PORT`.
fn port_of(text: &str) -> String {
    let first = text.lines().next().unwrap();
    first.rsplit(':').next().unwrap().to_string()
}

#[test]
fn model_server_rejects_a_bad_script_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bad.toml");
    std::fs::write(&script, "[[rule]]\ntext = \"ok\"\n\n[[rule]]\nmarker = \"T-1\"\n").unwrap();
    let out = orca().arg("model-server").arg("--script").arg(&script).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let stderr = stderr.replace(dir.path().to_str().unwrap(), "DIR");
    insta::assert_snapshot!(stderr, @r"
    error: DIR/bad.toml: TOML error at line 4: the rule has no reply: give it `text`, `tools` or `fault`
      hint: docs/model-server.md describes the script format
    ");
}

#[test]
fn model_server_reports_a_missing_script_as_a_usage_error() {
    let out = orca()
        .args(["model-server", "--json", "--script", "/nonexistent/script.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["kind"], "usage");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("/nonexistent/script.toml"), "{message}");
}

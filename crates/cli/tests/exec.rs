//! `orca exec` and `orca agents`, through the real binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use orca_model_server::{ModelServer, Rule, Script, ToolCall};
use serde_json::Value;

/// A prompt that would do damage if any shell saw it.
const SHELL_TEXT: &str = "TASK-META: touch pwned-1; $(touch pwned-2) `touch pwned-3` && echo x | tee pwned-4 \
                          > pwned-5 & \"$HOME\" '$PATH' \\ * ? [a-z] ~ {b,c} # -p --help doctor -";

fn orca(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orca"));
    command.current_dir(dir).env_remove("ORCA_API_KEY").stdin(Stdio::null());
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(output: &Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        Workspace { dir }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// `orca exec --agent command` running `sh -c SCRIPT sh {prompt_file}`.
    fn exec_sh(&self, prompt: &str, script: &str, extra: &[&str]) -> Command {
        let mut command = orca(self.dir.path());
        command
            .args(["exec", "--agent", "command", "--prompt", prompt, "--workdir"])
            .arg(self.work())
            .arg("--log-dir")
            .arg(self.logs())
            .args(extra)
            .args(["--", "sh", "-c", script, "sh", "{prompt_file}"]);
        command
    }
}

/// Makes a human summary stable: durations and the temp dir vary.
fn normalized(summary: &str, workspace: &Workspace) -> String {
    let duration = regex::Regex::new(r"\b(\d+h\d\dm|\d+m\d\ds|\d+\.\ds|\d+ms)\b").unwrap();
    let root = workspace.dir.path().display().to_string();
    duration.replace_all(&summary.replace(&root, "[TMP]"), "[DURATION]").into_owned()
}

fn assert_nothing_named(dir: &Path, fragment: &str) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        assert!(
            !entry.file_name().to_string_lossy().contains(fragment),
            "found {}",
            entry.path().display()
        );
        if entry.file_type().unwrap().is_dir() {
            assert_nothing_named(&entry.path(), fragment);
        }
    }
}

#[test]
fn exec_command_gets_the_prompt_as_a_file_never_through_a_shell() {
    let workspace = Workspace::new();
    let output = workspace.exec_sh(SHELL_TEXT, r#"cat "$1"; echo"#, &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(std::fs::read_to_string(workspace.logs().join("prompt.md")).unwrap(), SHELL_TEXT);
    assert_eq!(
        std::fs::read_to_string(workspace.logs().join("stdout.log")).unwrap(),
        format!("{SHELL_TEXT}\n")
    );
    assert_nothing_named(workspace.dir.path(), "pwned");
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(workspace.logs().join("run.json")).unwrap())
            .unwrap();
    let args: Vec<&str> =
        run["command"]["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(
        !args.iter().any(|arg| arg.contains("TASK-META")),
        "the prompt is not in argv: {args:?}"
    );
    insta::assert_snapshot!(normalized(&text(&output.stdout), &workspace), @r"
    command: success in [DURATION]
      logs:    [TMP]/logs
    ");
}

#[test]
fn exec_reads_the_prompt_from_a_file() {
    let workspace = Workspace::new();
    let file = workspace.dir.path().join("task.md");
    std::fs::write(&file, SHELL_TEXT).unwrap();
    let mut command = orca(workspace.dir.path());
    command
        .args(["exec", "--agent", "command", "--prompt-file"])
        .arg(&file)
        .arg("--workdir")
        .arg(workspace.work())
        .args(["--log-dir", "logs", "--", "cat", "{prompt_file}"]);
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(std::fs::read_to_string(workspace.logs().join("stdout.log")).unwrap(), SHELL_TEXT);

    let missing = orca(workspace.dir.path())
        .args([
            "exec",
            "--agent",
            "command",
            "--prompt-file",
            "nope.md",
            "--workdir",
            ".",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).starts_with("error: cannot read the prompt file nope.md"));
}

#[test]
fn exec_json_streams_events_then_the_outcome() {
    let workspace = Workspace::new();
    let output = workspace.exec_sh("p", "echo one; echo two", &["--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let lines = json_lines(&output);
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["text", "text", "finished", "outcome"]);
    assert_eq!(lines[0]["text"], "one");
    let outcome = &lines[3];
    assert_eq!(outcome["status"], "success");
    assert_eq!(outcome["adapter"], "command");
    assert_eq!(outcome["exit"]["code"], 0);
    assert_eq!(outcome["log_dir"], workspace.logs().display().to_string());
}

#[test]
fn exec_failure_exits_1_with_the_reason() {
    let workspace = Workspace::new();
    let output = workspace.exec_sh("p", "echo broken >&2; exit 4", &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(normalized(&text(&output.stdout), &workspace), @r"
    command: failed after [DURATION]: exited with code 4; stderr: broken
      logs:    [TMP]/logs
    ");
}

#[test]
fn exec_stops_a_stalled_agent() {
    let workspace = Workspace::new();
    let output = workspace
        .exec_sh(
            "p",
            "echo hi; exec sleep 100",
            &["--json", "--stall-timeout", "400ms", "--grace", "1s"],
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    let outcome = lines.last().unwrap();
    assert_eq!(outcome["kind"], "stalled", "{outcome}");
    assert_eq!(outcome["message"], "no output for 400ms; stopped");
    assert!(lines.iter().any(|l| l["type"] == "stopping" && l["signal"] == "SIGTERM"));
}

#[test]
fn exec_warns_about_an_untested_cli_version_on_stderr() {
    let workspace = Workspace::new();
    let bin = workspace.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // A "codex" that only knows its version; the run itself fails at once.
    fake_cli(&bin, "codex", "codex-cli 0.1.0");
    let output = orca(workspace.dir.path())
        .args(["exec", "--agent", "codex", "--prompt", "p", "--log-dir", "logs", "--workdir"])
        .arg(workspace.work())
        .env("ORCA_AGENT_CODEX", bin.join("codex"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "warning: codex 0.1.0 is installed; orca's codex adapter is tested with 0.169.0 to 0.171.0 (this one is older)\n"
    );
}

#[test]
fn exec_usage_errors_exit_2_with_hints() {
    let workspace = Workspace::new();
    let unknown = orca(workspace.dir.path())
        .args(["exec", "--agent", "nope", "--prompt", "p", "--workdir", "."])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(
        text(&unknown.stderr),
        "error: unknown agent \"nope\"\n  hint: use one of claude, codex, gemini, opencode, qwen, or command\n"
    );

    let missing = orca(workspace.dir.path())
        .args(["exec", "--agent", "gemini", "--prompt", "p", "--workdir", "."])
        .env("PATH", "/nonexistent")
        .env_remove("ORCA_AGENT_GEMINI")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let stderr = text(&missing.stderr);
    assert!(
        stderr.starts_with("error: cannot find the gemini program \"gemini\" on PATH"),
        "{stderr}"
    );
    assert!(stderr.contains("ORCA_AGENT_GEMINI=PATH"), "{stderr}");

    let no_program = orca(workspace.dir.path())
        .args(["exec", "--agent", "command", "--prompt", "p", "--workdir", "."])
        .output()
        .unwrap();
    assert_eq!(no_program.status.code(), Some(2));
    assert!(text(&no_program.stderr).contains("needs a program"));

    let missing_dir = orca(workspace.dir.path())
        .args(["exec", "--agent", "command", "--prompt", "p", "--workdir", "no-such-dir"])
        .args(["--log-dir", "logs", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(missing_dir.status.code(), Some(2));
    assert!(
        text(&missing_dir.stderr).contains("no-such-dir does not exist"),
        "{}",
        text(&missing_dir.stderr)
    );
}

/// Reads JSON lines from a running orca until one matches.
fn read_until(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    for line in lines {
        let value: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if wanted(&value) {
            return value;
        }
    }
    panic!("orca's output ended before the wanted event");
}

fn interrupt(child: &Child) {
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

fn wait_with_patience(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "orca did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_stops_the_agent_gracefully_and_exits_130() {
    let workspace = Workspace::new();
    let script = "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done";
    let mut child =
        workspace.exec_sh("p", script, &["--json"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    read_until(&mut lines, |v| v["text"] == "ready");
    interrupt(&child);
    let outcome = read_until(&mut lines, |v| v["type"] == "outcome");
    assert_eq!(wait_with_patience(&mut child).code(), Some(130));
    assert_eq!(outcome["kind"], "cancelled");
    assert_eq!(outcome["exit"]["code"], 0, "the agent's own TERM handler ran");
}

#[test]
fn second_ctrl_c_kills_the_agent() {
    let workspace = Workspace::new();
    let script = "trap '' TERM; echo ready; while :; do sleep 0.05; done";
    // Only the second Ctrl-C can end this within the test's patience.
    let mut child = workspace
        .exec_sh("p", script, &["--json", "--grace", "10m"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    read_until(&mut lines, |v| v["text"] == "ready");
    interrupt(&child);
    read_until(&mut lines, |v| v["type"] == "stopping" && v["signal"] == "SIGTERM");
    interrupt(&child);
    let outcome = read_until(&mut lines, |v| v["type"] == "outcome");
    assert_eq!(wait_with_patience(&mut child).code(), Some(130));
    assert_eq!(outcome["exit"]["signal"], 9);
}

/// The real claude through `orca exec`, against the scripted model server:
/// a prompt full of shell syntax reaches the model verbatim, and the agent
/// writes its file.
#[test]
fn exec_drives_the_real_claude() {
    let script = Script::new()
        .rule(Rule::tool(ToolCall::write_file("hello.txt", "hi\n")).tool_result(false))
        .rule(Rule::text("Done.").tool_result(true));
    let server = ModelServer::start(script).unwrap();
    let workspace = Workspace::new();
    let output = orca(workspace.dir.path())
        .args([
            "exec",
            "--json",
            "--agent",
            "claude",
            "--isolated",
            "--prompt",
            SHELL_TEXT,
            "--workdir",
        ])
        .arg(workspace.work())
        .arg("--log-dir")
        .arg(workspace.logs())
        .args(["--base-url", &server.base_url(), "--stall-timeout", "60s"])
        .env("ORCA_AGENT_CLAUDE", orca_model_server::claude_bin().unwrap())
        .env("IS_SANDBOX", "1")
        .env("HTTPS_PROXY", server.base_url())
        .env("HTTP_PROXY", server.base_url())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .unwrap();
    let lines = json_lines(&output);
    let outcome = lines.last().unwrap();
    assert_eq!(output.status.code(), Some(0), "{outcome}\n{}", text(&output.stderr));
    assert_eq!(outcome["status"], "success");
    assert_eq!(outcome["usage"]["input_tokens"], 200);
    assert!(outcome["cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(std::fs::read_to_string(workspace.work().join("hello.txt")).unwrap(), "hi\n");
    let requests = server.model_requests();
    let first = serde_json::to_string(&requests[0].body).unwrap();
    assert!(
        first.contains(&serde_json::to_string(SHELL_TEXT).unwrap().trim_matches('"').to_string())
    );
    assert_nothing_named(workspace.dir.path(), "pwned");
    for request in server.requests() {
        assert_ne!(request.method, "CONNECT", "no traffic beyond 127.0.0.1");
    }
}

fn fake_cli(dir: &Path, name: &str, version_line: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\necho '{version_line}'\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn agents_reports_installed_versions_and_mismatches() {
    let workspace = Workspace::new();
    let bin = workspace.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    fake_cli(&bin, "claude", "2.1.197 (Claude Code)");
    // Newer than any codex orca is tested with.
    fake_cli(&bin, "codex", "codex-cli 9.0.0");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let clean = |command: &mut Command| {
        command.env("PATH", &path);
        for name in ["CLAUDE", "CODEX", "GEMINI", "OPENCODE", "QWEN"] {
            command.env_remove(format!("ORCA_AGENT_{name}"));
        }
    };

    let mut json = orca(workspace.dir.path());
    json.args(["agents", "--json"]);
    clean(&mut json);
    let output = json.output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    let agents = value["agents"].as_array().unwrap();
    let names: Vec<&str> = agents.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["claude", "codex", "gemini", "opencode", "qwen", "command"]);
    assert_eq!(agents[0]["installed"], true);
    assert_eq!(agents[0]["version"], "2.1.197");
    assert_eq!(agents[0]["version_status"], "tested");
    assert_eq!(agents[0]["warning"], Value::Null);
    assert_eq!(agents[1]["version"], "9.0.0");
    assert_eq!(agents[1]["tested_version"], "0.169.0");
    assert_eq!(agents[1]["tested_versions"]["pinned"], "0.169.0");
    assert_eq!(agents[1]["version_status"], "newer_than_tested");
    assert!(agents[1]["warning"].as_str().unwrap().contains("tested with 0.169.0"));
    assert_eq!(agents[2]["installed"], false);
    assert_eq!(agents[2]["version_status"], Value::Null);

    let mut human = orca(workspace.dir.path());
    human.arg("agents");
    clean(&mut human);
    let output = human.output().unwrap();
    let stdout = text(&output.stdout).replace(&bin.display().to_string(), "[BIN]");
    insta::assert_snapshot!(stdout, @r"
    agent     installed  version  tested              program
    claude    yes        2.1.197  2.1.197 to 2.1.332  [BIN]/claude
    codex     yes        9.0.0    0.169.0 to 0.171.0  [BIN]/codex
    gemini    no         -        0.61.0              gemini (not found; set ORCA_AGENT_GEMINI)
    opencode  no         -        1.18.33             opencode (not found; set ORCA_AGENT_OPENCODE)
    qwen      no         -        0.24.4              qwen (not found; set ORCA_AGENT_QWEN)
    command   -          -        -                   any program: orca exec --agent command -- PROGRAM ARGS...
    warning: codex 9.0.0 is installed; orca's codex adapter is tested with 0.169.0 to 0.171.0 (this one is newer)
    ");
}

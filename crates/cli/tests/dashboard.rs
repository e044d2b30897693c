//! `orca dashboard`: a real run with `command` agents watched live in
//! headless Chromium (driven over the DevTools protocol), the retry action,
//! and who may connect: 127.0.0.1 by default, the token on other addresses.

#[path = "../../report/tests/browser/mod.rs"]
mod browser;
#[path = "../../report/tests/browser/cdp.rs"]
mod cdp;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::Value;
use support::{Fixture, task};

/// A running `orca dashboard`, stopped when dropped.
struct Served {
    child: Child,
    url: String,
    addr: String,
    token: Option<String>,
}

impl Served {
    fn start(fixture: &Fixture, args: &[&str]) -> Served {
        let mut child = fixture
            .orca()
            .arg("dashboard")
            .args(args)
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let started: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            panic!("orca dashboard printed {line:?} ({e}); stderr: {stderr}")
        });
        Served {
            child,
            url: started["url"].as_str().unwrap().to_owned(),
            addr: started["addr"].as_str().unwrap().to_owned(),
            token: started["token"].as_str().map(str::to_owned),
        }
    }

    /// The port, reached on 127.0.0.1.
    fn local(&self) -> String {
        format!("127.0.0.1:{}", self.addr.rsplit(':').next().unwrap())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request; the status code and the whole answer.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n");
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    (status, answer)
}

/// A fixture whose one-task plan has run, so the store has a run.
fn finished_run() -> (Fixture, String) {
    let fixture = Fixture::new(support::WRITE_OWN_FILE);
    let plan = fixture.plan(&format!("# Plan: One\n\n{}", task("T1", "none", "out-T1.txt", None)));
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let run = events.iter().find(|e| e["event"] == "run_started").unwrap()["run"]
        .as_str()
        .unwrap()
        .to_owned();
    (fixture, run)
}

#[test]
fn the_dashboard_listens_on_127_0_0_1_by_default_and_answers_loopback_names_only() {
    let (fixture, run) = finished_run();
    let served = Served::start(&fixture, &[]);
    assert!(served.addr.starts_with("127.0.0.1:"), "{}", served.addr);
    assert!(served.url.starts_with("http://127.0.0.1:"), "{}", served.url);
    assert_eq!(served.token, None);

    let (status, page) = http(&served.addr, "GET", "/", &[]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!("href=\"/runs/{run}\"")), "{page}");
    let (status, page) = http(&served.addr, "GET", &format!("/runs/{run}"), &[]);
    assert_eq!(status, 200);
    assert!(page.contains("id=\"node-T1\""), "the report's graph: {page}");
    // A web page that points a name of its own at 127.0.0.1 gets nothing.
    let (status, _) = http(&served.addr, "GET", "/", &[("Host", "rebound.example:80")]);
    assert_eq!(status, 403);
    // Read-only unless --allow-actions.
    let (status, answer) = http(
        &served.addr,
        "POST",
        &format!("/api/runs/{run}/tasks/T1/retry"),
        &[("x-orca-action", "1")],
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("--allow-actions"), "{answer}");
}

#[test]
fn bound_to_0_0_0_0_the_dashboard_refuses_requests_without_its_token() {
    let (fixture, run) = finished_run();
    let served = Served::start(&fixture, &["--bind", "0.0.0.0"]);
    assert!(served.addr.starts_with("0.0.0.0:"), "{}", served.addr);
    let token = served.token.clone().expect("a token is made and printed");
    assert!(token.len() >= 32, "{token}");
    let addr = served.local();

    for path in [
        "/".to_owned(),
        format!("/runs/{run}"),
        format!("/api/runs/{run}/view"),
        format!("/api/runs/{run}/events"),
    ] {
        let (status, answer) = http(&addr, "GET", &path, &[]);
        assert_eq!(status, 401, "{path}: {answer}");
        assert!(!answer.contains("node-T1"), "{path} shows nothing of the run");
        let (status, _) = http(&addr, "GET", &path, &[("Authorization", "Bearer not-the-token")]);
        assert_eq!(status, 401, "{path} with a wrong token");
    }
    // The page asks for the token.
    let (_, page) = http(&addr, "GET", "/", &[]);
    assert!(page.contains("id=\"token\""), "{page}");

    let bearer = format!("Bearer {token}");
    let (status, page) = http(&addr, "GET", &format!("/runs/{run}"), &[("Authorization", &bearer)]);
    assert_eq!(status, 200);
    assert!(page.contains("id=\"node-T1\""));
    // Once in the address, then from the cookie it sets.
    let (status, answer) = http(&addr, "GET", &format!("/?token={token}"), &[]);
    assert_eq!(status, 200);
    assert!(answer.contains(&format!("orca_token={token}; Path=/; HttpOnly")), "{answer}");
    let cookie = format!("orca_token={token}");
    let (status, _) = http(&addr, "GET", &format!("/api/runs/{run}/view"), &[("Cookie", &cookie)]);
    assert_eq!(status, 200);
}

/// Lines of `orca run --json` as they come.
fn lines(child: &mut Child) -> Receiver<Value> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str::<Value>(&line)
                && tx.send(value).is_err()
            {
                return;
            }
        }
    });
    rx
}

#[test]
fn a_live_run_in_chromium_tasks_change_state_the_agent_s_tool_calls_show_and_retry_works() {
    let fixture = Fixture::new("");
    let release = fixture.tools.join("release-T1");
    let fixed = fixture.tools.join("fixed");
    // Each task reports a tool call the way a wrapper script can; T1 then
    // waits for the test; T2's verify fails until the test says it is fixed.
    fixture.agent(&format!(
        "echo '{{\"type\":\"tool_use\",\"name\":\"Edit\",\"summary\":\"out-'\"$task\"'.txt\"}}'\n\
         if [ \"$task\" = T1 ]; then while [ ! -f {release} ]; do sleep 0.05; done; fi\n\
         echo \"work of $task\" > \"out-$task.txt\"\n\
",
        release = release.display(),
    ));
    fixture.config("max_attempts = 1");
    let mut plan = String::from("# Plan: Watched\n\n");
    plan += &task("T1", "none", "out-T1.txt", None);
    let verify = format!("ls {}", fixed.display());
    plan += &task("T2", "T1", "out-T2.txt", Some(&verify));
    plan += &task("T3", "T2", "out-T3.txt", None);
    let plan = fixture.plan(&plan);

    let mut orca_run = fixture
        .orca()
        .args(["run", "--plan", plan.to_str().unwrap(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let events = lines(&mut orca_run);
    let run = loop {
        let event = events.recv_timeout(Duration::from_secs(60)).expect("run_started");
        if event["event"] == "run_started" {
            break event["run"].as_str().unwrap().to_owned();
        }
    };
    let served = Served::start(&fixture, &["--allow-actions"]);

    let mut page = cdp::Page::open((1400, 1000));
    page.navigate(&served.url);
    let link = format!("#run-{run} a");
    let href = page.wait_for(
        "the run in the index",
        &format!("document.querySelector('{link}') && document.querySelector('{link}').href"),
    );
    page.navigate(href.as_str().unwrap());
    page.wait_for("the run's page", "document.getElementById('live').textContent === 'live'");
    // Set once: still there at the end means the page never reloaded.
    page.eval("window.loadedOnce = 'yes'");

    // T1 runs: its node is busy, its lane shows the tool call it made.
    page.wait_for("T1 running", "document.querySelector('#node-T1').classList.contains('busy')");
    page.wait_for(
        "T1's lane with its tool call",
        "document.querySelector('#lane-T1 .last-tool').textContent.includes('Edit out-T1.txt')",
    );
    page.click("#node-T1");
    page.wait_for(
        "T1's event stream with the tool call",
        "[...document.querySelectorAll('#stream li')].some(li => li.textContent.includes('agent.tool_use') && li.textContent.includes('Edit out-T1.txt'))",
    );

    // Pause and resume dispatch from the page: orca run acknowledges both.
    page.click("button[data-dispatch=pause]");
    page.wait_for("the confirmation", "document.getElementById('confirm').open");
    page.click("#confirm-yes");
    page.wait_for(
        "dispatch paused",
        "document.getElementById('dispatch-state').textContent === 'dispatch paused'",
    );
    page.click("button[data-dispatch=resume]");
    page.wait_for("the confirmation", "document.getElementById('confirm').open");
    page.click("#confirm-yes");
    page.wait_for("dispatch running", "!document.getElementById('dispatch-state')");

    // The agent goes on; the page follows without a reload.
    std::fs::write(&release, "").unwrap();
    page.wait_for("T1 merged", "document.querySelector('#node-T1').classList.contains('ok')");
    // T1's detail, still open: its prompt and the diff of its attempt.
    page.wait_for(
        "T1's diff",
        "document.getElementById('diff').textContent.includes('+work of T1')",
    );
    page.wait_for("T1's prompt", "document.getElementById('prompt').textContent.includes('T1')");
    page.wait_for("T2 failed", "document.querySelector('#node-T2').classList.contains('bad')");
    page.wait_for("T3 blocked", "document.querySelector('#node-T3').classList.contains('held')");
    page.wait_for(
        "the run failed",
        "document.getElementById('run-state').textContent === 'failed'",
    );
    let code = orca_run.wait().unwrap().code();
    assert_ne!(code, Some(0), "T2 failed");

    // Retry T2 from the page, behind the confirmation.
    page.click("#node-T2");
    page.wait_for("T2's Retry button", "document.querySelector('button[data-action=retry]')");
    page.wait_for(
        "T2's failed verify output",
        "document.getElementById('verify-output').textContent.includes('No such file')",
    );
    page.click("button[data-action=retry]");
    page.wait_for("the confirmation", "document.getElementById('confirm').open");
    page.click("#confirm-yes");
    page.wait_for(
        "the action's answer",
        "document.getElementById('action-result').textContent.includes('T2 retried')",
    );
    page.wait_for(
        "T2 waiting again",
        "document.querySelector('#node-T2').classList.contains('wait')",
    );
    page.wait_for(
        "T3 waiting again",
        "document.querySelector('#node-T3').classList.contains('wait')",
    );
    page.wait_for(
        "the action in T2's event stream",
        "[...document.querySelectorAll('#stream li')].some(li => li.textContent.includes('dashboard.action'))",
    );
    let status: Value =
        serde_json::from_slice(&fixture.orca().args(["status", "--json"]).output().unwrap().stdout)
            .unwrap();
    let state = |key: &str| -> String {
        let task = status["tasks"].as_array().unwrap().iter().find(|t| t["key"] == key).unwrap();
        task["state"].as_str().unwrap().to_owned()
    };
    assert_eq!(state("T2"), "ready", "{status}");
    assert_eq!(state("T3"), "waiting", "{status}");

    // Fixed, resumed: the page shows the rest of the run as it happens.
    std::fs::write(&fixed, "").unwrap();
    let resumed = fixture.orca().args(["resume", "--json"]).output().unwrap();
    assert!(
        resumed.status.success(),
        "{}{}",
        String::from_utf8_lossy(&resumed.stdout),
        String::from_utf8_lossy(&resumed.stderr)
    );
    page.wait_for("T3 merged", "document.querySelector('#node-T3').classList.contains('ok')");
    page.wait_for(
        "the run succeeded",
        "document.getElementById('run-state').textContent === 'succeeded'",
    );
    assert_eq!(page.eval("window.loadedOnce"), Value::from("yes"), "the page never reloaded");

    let shot = browser::artifact("dashboard-run.png");
    page.screenshot(&shot);
    eprintln!("screenshot: {}", shot.display());
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real screenshot");
    let errors = page.errors();
    assert!(errors.is_empty(), "the page reported errors: {errors:#?}");
}

/// The next event of `orca run --json` that `matches`, skipping the rest.
fn next_event(events: &Receiver<Value>, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    loop {
        let event = events
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
        if matches(&event) {
            return event;
        }
    }
}

#[test]
fn pause_resume_and_cancel_from_the_dashboard_reach_the_running_orca_run() {
    let fixture = Fixture::new("");
    // Each task waits for the test's go-ahead, a file named after it (the
    // reviewer does not).
    fixture.agent(&format!(
        "case $task in T*) while [ ! -f {tools}/release-$task ]; do sleep 0.05; done;; esac\n\
         echo \"work of $task\" > \"out-$task.txt\"\n",
        tools = fixture.tools.display()
    ));
    let mut plan = String::from("# Plan: Steered\n\n");
    plan += &task("T1", "none", "out-T1.txt", None);
    plan += &task("T2", "none", "out-T2.txt", None);
    let plan = fixture.plan(&plan);
    let mut orca_run = fixture
        .orca()
        .args(["run", "--plan", plan.to_str().unwrap(), "--agents", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let events = lines(&mut orca_run);
    let run = next_event(&events, "run_started", |e| e["event"] == "run_started")["run"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = next_event(&events, "the first task", |e| e["event"] == "task_started");
    let (first, second) = if first["task"] == "T1" { ("T1", "T2") } else { ("T2", "T1") };
    let served = Served::start(&fixture, &["--allow-actions"]);
    let post = |path: &str| {
        http(&served.addr, "POST", &format!("/api/runs/{run}{path}"), &[("x-orca-action", "1")])
    };

    // Paused: the running attempt goes on, nothing new starts.
    let (status, answer) = post("/dispatch/pause");
    assert_eq!(status, 200, "{answer}");
    next_event(&events, "the pause to reach orca run", |e| e["event"] == "paused");
    std::fs::write(fixture.tools.join(format!("release-{first}")), "").unwrap();
    next_event(&events, "the first task merged", |e| e["event"] == "merged" && e["task"] == first);
    let status_now: Value =
        serde_json::from_slice(&fixture.orca().args(["status", "--json"]).output().unwrap().stdout)
            .unwrap();
    let state = status_now["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == second)
        .unwrap()["state"]
        .clone();
    assert_eq!(state, "ready", "paused: {second} does not start");

    // Resumed: the second task starts; its attempt is cancelled and a
    // fresh one takes over.
    let (status, answer) = post("/dispatch/resume");
    assert_eq!(status, 200, "{answer}");
    next_event(&events, "dispatch resumed", |e| e["event"] == "unpaused");
    next_event(&events, "the second task", |e| e["event"] == "task_started" && e["task"] == second);
    let (status, answer) = post(&format!("/tasks/{second}/cancel?attempt=7"));
    assert_eq!(status, 409, "no attempt 7 runs: {answer}");
    let (status, answer) = post(&format!("/tasks/{second}/cancel?attempt=1"));
    assert_eq!(status, 200, "{answer}");
    let again = next_event(&events, "a fresh attempt", |e| {
        e["event"] == "task_started" && e["task"] == second
    });
    assert_eq!(again["attempt"], 2, "{again}");
    std::fs::write(fixture.tools.join(format!("release-{second}")), "").unwrap();
    assert!(orca_run.wait().unwrap().success(), "the run completes");

    let (_, detail) = http(&served.addr, "GET", &format!("/api/runs/{run}/tasks/{second}"), &[]);
    let body: Value = serde_json::from_str(detail.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let outcomes: Vec<&str> = body["task"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["released", "succeeded"], "{body}");
    // Each request and what orca run did about it is in the run's log.
    let mut log = TcpStream::connect(&served.addr).unwrap();
    write!(
        log,
        "GET /api/runs/{run}/events HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        served.addr
    )
    .unwrap();
    let mut seen = String::new();
    let mut reader = BufReader::new(log);
    let kinds = [
        "control.pause",
        "dispatch.paused",
        "control.resume",
        "dispatch.resumed",
        "control.cancel",
        "attempt.cancelled",
        "run.state",
    ];
    while !kinds.iter().all(|kind| seen.contains(&format!("\"kind\":\"{kind}\""))) {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended; saw {seen}");
        seen.push_str(&line);
    }
}

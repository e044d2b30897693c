//! The harness itself: a shared cluster serves fresh databases; a private one
//! survives an immediate stop and restart.

use std::process::Command;

fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, url])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

#[test]
fn shared_cluster_gives_each_test_its_own_database() {
    let cluster = orca_test_postgres::shared();
    let a = cluster.create_database();
    let b = cluster.create_database();
    assert_ne!(a, b);
    psql(&a, "CREATE TABLE only_in_a (x int)").unwrap();
    assert_eq!(psql(&a, "SELECT count(*) FROM only_in_a").unwrap(), "0");
    assert!(psql(&b, "SELECT count(*) FROM only_in_a").is_err());
}

#[test]
fn shared_cluster_listens_on_a_socket_only() {
    let cluster = orca_test_postgres::shared();
    let url = cluster.create_database();
    assert_eq!(psql(&url, "SHOW listen_addresses").unwrap(), "");
    assert_eq!(psql(&url, "SHOW fsync").unwrap(), "off");
}

#[test]
fn private_cluster_keeps_committed_data_across_an_immediate_restart() {
    let cluster = orca_test_postgres::Cluster::private();
    let url = cluster.create_database();
    psql(&url, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)").unwrap();
    cluster.stop_immediate();
    assert!(psql(&url, "SELECT 1").is_err(), "server should be down");
    cluster.start().unwrap();
    assert_eq!(psql(&url, "SELECT x FROM t").unwrap(), "42");
}

/// Run only by `a_crashed_test_process_does_not_leave_its_server_running`:
/// starts a private cluster, prints where it listens, and waits to be killed.
#[test]
#[ignore = "a helper process for the watchdog test, not a test of its own"]
fn helper_start_a_private_cluster_and_wait_to_be_killed() {
    if std::env::var_os("ORCA_TEST_PG_HELPER").is_none() {
        return;
    }
    let cluster = orca_test_postgres::Cluster::private();
    println!("URL {}", cluster.create_database());
    println!("SOCKET {}", cluster.socket_dir().display());
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[test]
fn a_crashed_test_process_does_not_leave_its_server_running() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "helper_start_a_private_cluster_and_wait_to_be_killed",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("ORCA_TEST_PG_HELPER", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = None;
    let mut socket = None;
    for line in BufReader::new(helper.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("URL ") {
            url = Some(rest.to_owned());
        }
        if let Some(rest) = line.strip_prefix("SOCKET ") {
            socket = Some(rest.to_owned());
            break;
        }
    }
    let (url, socket) = (url.expect("helper printed its URL"), socket.expect("and its socket"));
    assert_eq!(psql(&url, "SELECT 1").unwrap(), "1", "the helper's server is up");
    helper.kill().unwrap();
    helper.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while psql(&url, "SELECT 1").is_ok() || std::path::Path::new(&socket).join("data").exists() {
        assert!(Instant::now() < deadline, "the server of a killed test process is still running");
        std::thread::sleep(Duration::from_millis(100));
    }
}

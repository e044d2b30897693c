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

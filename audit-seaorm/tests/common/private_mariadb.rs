//! A MariaDB server of a test's own, for server settings the shared server does not have and
//! a test cannot change while it runs (`innodb_rollback_on_timeout` is read-only at run time).
//!
//! [`PrivateMariaDb::start`] installs a fresh data directory in a temporary directory
//! (`mariadb-install-db`), starts `mariadbd` on it on a free port of 127.0.0.1 with the given
//! options, waits until it answers, and creates the database `test`. The server is killed when
//! the value is dropped.
//!
//! Policy (as for the shared servers): with `CI=true` a test fails when the server cannot be
//! started; otherwise it is skipped with a loud message on stderr.
#![allow(dead_code, unreachable_pub)] // each test file uses a part of this module

use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const INSTALL_DB: &str = "mariadb-install-db";
const SERVER: &str = "/usr/sbin/mariadbd";

/// A running MariaDB server of this test's own.
pub struct PrivateMariaDb {
    /// `mysql://root@127.0.0.1:PORT/test`.
    pub url: String,
    server: Child,
    _dir: tempfile::TempDir,
}

impl PrivateMariaDb {
    /// A server started with `options` (such as `--innodb-rollback-on-timeout=ON`), or `None`
    /// (after the loud message) when it cannot be started outside CI.
    pub async fn start(options: &[&str]) -> Option<PrivateMariaDb> {
        match PrivateMariaDb::try_start(options).await {
            Ok(server) => Some(server),
            Err(why) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI=true: a private MariaDB server could not be started, so this test cannot run: {why}");
                }
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n################################################################################\n\
                     # SKIPPED: a private MariaDB server could not be started ({why}).\n\
                     # This test did NOT run. Install MariaDB's server ({SERVER}, {INSTALL_DB}); CI=true makes this a failure.\n\
                     ################################################################################\n"
                );
                None
            }
        }
    }

    async fn try_start(options: &[&str]) -> Result<PrivateMariaDb, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
        let data = dir.path().join("data");
        // mariadbd refuses to run as root unless told to.
        let as_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let user: &[&str] = if as_root { &["--user=root"] } else { &[] };

        let installed = Command::new(INSTALL_DB)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(user)
            .output()
            .map_err(|e| format!("{INSTALL_DB}: {e}"))?;
        if !installed.status.success() {
            return Err(format!(
                "{INSTALL_DB} failed ({}): {}",
                installed.status,
                String::from_utf8_lossy(&installed.stderr)
            ));
        }

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port: {e}"))?
            .port();
        let server = Command::new(SERVER)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("mariadb.sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("mariadb.pid").display()))
            .arg(format!("--port={port}"))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
            ])
            .args(user)
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{SERVER}: {e}"))?;
        // From here on, dropping `started` kills the server.
        let mut started = PrivateMariaDb { url: format!("mysql://root@127.0.0.1:{port}/test"), server, _dir: dir };

        let server_url = format!("mysql://root@127.0.0.1:{port}");
        let mut last_error = String::from("no answer");
        for _ in 0..120 {
            if let Ok(Some(status)) = started.server.try_wait() {
                return Err(format!("{SERVER} exited ({status}) before it answered"));
            }
            let mut connect = ConnectOptions::new(server_url.clone());
            connect.max_connections(1).connect_timeout(Duration::from_secs(2)).sqlx_logging(false);
            match Database::connect(connect).await {
                Ok(conn) => {
                    conn.execute_unprepared("CREATE DATABASE IF NOT EXISTS test")
                        .await
                        .map_err(|e| format!("create the database test: {e}"))?;
                    conn.close().await.map_err(|e| format!("close: {e}"))?;
                    return Ok(started);
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        started.stop();
        Err(format!("{SERVER} did not answer on port {port} within 30 s: {last_error}"))
    }

    fn stop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

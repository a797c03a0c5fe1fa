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
    port: u16,
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
        // A temporary directory of its own: installs running side by side in the shared /tmp
        // failed on each other's temporary tables.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let installed = Command::new(INSTALL_DB)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(format!("--tmpdir={}", tmp.display()))
            .args(root_user())
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
        let server = launch(dir.path(), port, options)?;
        // From here on, dropping `started` kills the server.
        let mut started =
            PrivateMariaDb { url: format!("mysql://root@127.0.0.1:{port}/test"), server, port, _dir: dir };
        started.wait_until_it_answers().await?;
        Ok(started)
    }

    /// Kills the server and starts it again on the same data and port with `options` instead
    /// (as an operator restarts a server with another setting while applications run).
    pub async fn restart(&mut self, options: &[&str]) -> Result<(), String> {
        self.stop();
        self.server = launch(self._dir.path(), self.port, options)?;
        self.wait_until_it_answers().await
    }

    /// Waits until the server answers, and creates the database `test` if missing.
    async fn wait_until_it_answers(&mut self) -> Result<(), String> {
        let port = self.port;
        let server_url = format!("mysql://root@127.0.0.1:{port}");
        let mut last_error = String::from("no answer");
        for _ in 0..120 {
            if let Ok(Some(status)) = self.server.try_wait() {
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
                    return Ok(());
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.stop();
        Err(format!("{SERVER} did not answer on port {port} within 30 s: {last_error}"))
    }

    fn stop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// `--user=root` when running as root (mariadbd refuses to run as root unless told to).
fn root_user() -> &'static [&'static str] {
    let as_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if as_root { &["--user=root"] } else { &[] }
}

/// Starts `mariadbd` on the data directory in `dir`, on `port` of 127.0.0.1, with `options`.
fn launch(dir: &std::path::Path, port: u16, options: &[&str]) -> Result<Child, String> {
    Command::new(SERVER)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--socket={}", dir.join("mariadb.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mariadb.pid").display()))
        .arg(format!("--port={port}"))
        .arg(format!("--tmpdir={}", dir.join("tmp").display()))
        .args(["--bind-address=127.0.0.1", "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=32M"])
        .args(root_user())
        .args(options)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{SERVER}: {e}"))
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

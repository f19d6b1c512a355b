//! A real PostgreSQL server for tests: a fresh cluster (`initdb`) in a
//! temporary directory, on a free loopback port, stopped and deleted on drop.
//!
//! PostgreSQL refuses to run as root. When the tests run as root (as they do
//! in CI), `initdb` and `postgres` run as an unprivileged user — `postgres`,
//! the system user Debian's package creates, or `SLUICE_PG_USER` — through
//! `setpriv`, which execs (no intermediate process that a kill would miss),
//! with the temporary directory handed to that user.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::ChildService;
use crate::{Result, TestkitError, free_port};

/// The major versions looked for under `/usr/lib/postgresql`, newest first.
const MAJOR_VERSIONS: &[u32] = &[17, 16, 15, 14, 13];

/// The user every test database is reached as (trust authentication on
/// loopback; no password).
pub const POSTGRES_USER: &str = "postgres";

/// A PostgreSQL server in a child process. Stopped (fast shutdown, then
/// killed) and its data directory deleted on drop.
#[derive(Debug)]
pub struct Postgres {
    service: ChildService,
    port: u16,
    // Declared after `service`: the directory goes once the server is down.
    dir: tempfile::TempDir,
}

/// The unprivileged account the server runs as when the tests run as root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl Postgres {
    /// The directory holding `initdb`, `postgres` and `pg_isready`:
    /// `SLUICE_PG_BIN` when set (and then only there: a wrong setting is an
    /// error, not a reason to use another installation), otherwise
    /// `/usr/lib/postgresql/<major>/bin` (Debian's layout), then `PATH`.
    pub fn bin_dir() -> Result<PathBuf> {
        let mut search: Vec<PathBuf> = MAJOR_VERSIONS
            .iter()
            .map(|major| PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")))
            .collect();
        if let Some(paths) = std::env::var_os("PATH") {
            search.extend(std::env::split_paths(&paths));
        }
        bin_dir_from(
            std::env::var_os("SLUICE_PG_BIN").map(PathBuf::from),
            &search,
        )
    }

    /// Creates a cluster and starts it on a free port; returns once it
    /// accepts connections.
    pub async fn start() -> Result<Self> {
        let bin = Self::bin_dir()?;
        let run_as = run_as()?;
        let spawn_err = |what: &str| {
            let what = what.to_owned();
            move |source| TestkitError::Spawn { what, source }
        };
        // Run as another user, the server must reach its directory: under
        // /tmp rather than a TMPDIR that may sit in root's home.
        let parent = match run_as {
            Some(_) => PathBuf::from("/tmp"),
            None => std::env::temp_dir(),
        };
        let dir = tempfile::Builder::new()
            .prefix("sluice-pg-")
            .tempdir_in(parent)
            .map_err(spawn_err("a temporary directory"))?;
        let data = dir.path().join("data");
        let sockets = dir.path().join("sockets");
        std::fs::create_dir(&sockets).map_err(spawn_err("the socket directory"))?;
        if let Some(user) = run_as {
            for path in [dir.path(), sockets.as_path()] {
                std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                    .map_err(spawn_err("chown of the temporary directory"))?;
            }
        }

        let mut initdb = command(&bin.join("initdb"), run_as, dir.path());
        initdb.arg("-D").arg(&data).args([
            "-U",
            POSTGRES_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        let output = initdb
            .stdin(Stdio::null())
            .output()
            .map_err(spawn_err("initdb"))?;
        if !output.status.success() {
            return Err(TestkitError::NotReady {
                what: "initdb".into(),
                timeout: Duration::ZERO,
                detail: format!(
                    "exited with {}\n{}{}",
                    output.status,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            });
        }

        let port = free_port().map_err(spawn_err("a free port"))?;
        let mut server = command(&bin.join("postgres"), run_as, dir.path());
        server
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .arg("-k")
            .arg(&sockets)
            // Loopback only; durability off: a test cluster lives for one test.
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            // Small and serial: many clusters run at once on a CI machine,
            // whose /dev/shm may be tiny.
            .args([
                "-c",
                "shared_buffers=32MB",
                "-c",
                "max_parallel_workers_per_gather=0",
            ]);
        let service = ChildService::spawn(server)?;
        let mut postgres = Self { service, port, dir };
        postgres.wait_ready(&bin, Duration::from_secs(30)).await?;
        Ok(postgres)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database` (the cluster starts with `postgres`).
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{POSTGRES_USER}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// A connection URL for the `postgres` database.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// Where the cluster lives (data directory and sockets).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server printed so far, for failure messages.
    pub fn log(&self) -> String {
        self.service.log()
    }

    async fn wait_ready(&mut self, bin: &Path, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let last = loop {
            if let Some(status) = self.service.exited() {
                break format!("exited with {status}");
            }
            let probe = Command::new(bin.join("pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    POSTGRES_USER,
                ])
                .stdin(Stdio::null())
                .output();
            let last = match probe {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
                Err(e) => format!("pg_isready: {e}"),
            };
            if Instant::now() > deadline {
                break last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Err(TestkitError::NotReady {
            what: format!("postgres on port {}", self.port),
            timeout,
            detail: format!("{last}\n--- postgres output ---\n{}", self.log()),
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT: fast shutdown (backends end, the postmaster exits).
        // Failing that, `ChildService`'s drop kills it.
        let stopped = Command::new("kill")
            .args(["-INT", &self.service.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if stopped {
            self.service.wait_exit(Duration::from_secs(10));
        }
    }
}

/// The first of `explicit` (alone, when given) or `search` that holds the
/// server's binaries.
fn bin_dir_from(explicit: Option<PathBuf>, search: &[PathBuf]) -> Result<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "postgres", "pg_isready"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(dir) = explicit {
        return if has_all(&dir) {
            Ok(dir)
        } else {
            Err(TestkitError::PostgresMissing {
                looked_at: format!("{} (SLUICE_PG_BIN)", dir.display()),
            })
        };
    }
    search
        .iter()
        .find(|dir| has_all(dir))
        .cloned()
        .ok_or_else(|| TestkitError::PostgresMissing {
            looked_at: "/usr/lib/postgresql/*/bin and PATH".to_owned(),
        })
}

/// A command for one of the server's binaries, run as `run_as` when given.
fn command(binary: &Path, run_as: Option<RunAs>, cwd: &Path) -> Command {
    let mut command = match run_as {
        Some(user) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={}", user.uid))
                .arg(format!("--regid={}", user.gid))
                .arg("--clear-groups")
                .arg("--")
                .arg(binary);
            c
        }
        None => Command::new(binary),
    };
    command
        .current_dir(cwd)
        .env("LC_ALL", "C")
        .env_remove("PGDATA")
        .env_remove("PGPORT")
        .env_remove("PGHOST");
    command
}

/// `None` when this process is not root; otherwise the unprivileged user
/// PostgreSQL will run as.
fn run_as() -> Result<Option<RunAs>> {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|source| TestkitError::Spawn {
            what: "reading /proc/self".into(),
            source,
        })?;
    if euid != 0 {
        return Ok(None);
    }
    let name = std::env::var("SLUICE_PG_USER").unwrap_or_else(|_| "postgres".to_owned());
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let found = passwd_entry(&passwd, &name).filter(|user| user.uid != 0);
    found
        .map(Some)
        .ok_or(TestkitError::PostgresUser { user: name })
}

/// The uid and gid of `name` in an `/etc/passwd` text.
fn passwd_entry(passwd: &str, name: &str) -> Option<RunAs> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(RunAs { uid, gid })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_are_a_typed_error() {
        let nowhere = PathBuf::from("/nonexistent/pg/bin");
        let err = bin_dir_from(Some(nowhere.clone()), &[]).expect_err("no binaries there");
        assert!(
            matches!(err, TestkitError::PostgresMissing { .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/pg/bin") && text.contains("postgresql"),
            "{text}"
        );
        let err = bin_dir_from(None, &[nowhere]).expect_err("none in the search path");
        assert!(err.to_string().contains("SLUICE_PG_BIN"), "{err}");
    }

    #[test]
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104:PostgreSQL:/var/lib/postgresql:/bin/bash\nbad:x:notanumber:1::/:\n";
        let user = passwd_entry(passwd, "postgres").expect("present");
        assert_eq!((user.uid, user.gid), (101, 104));
        assert!(passwd_entry(passwd, "nobody").is_none());
        assert!(passwd_entry(passwd, "bad").is_none());
    }
}

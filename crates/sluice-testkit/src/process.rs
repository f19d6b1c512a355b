//! A service in a child process: its output in a log file, killed on drop.

use std::process::{Child, Command, ExitStatus, Stdio};

use crate::{Result, TestkitError};

#[derive(Debug)]
pub(crate) struct ChildService {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl ChildService {
    /// Starts `command` with stdin closed and stdout and stderr in a log.
    pub(crate) fn spawn(mut command: Command) -> Result<Self> {
        let what = command.get_program().to_string_lossy().into_owned();
        let spawn_err = |source| TestkitError::Spawn {
            what: what.clone(),
            source,
        };
        let log = tempfile::NamedTempFile::new().map_err(spawn_err)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.reopen().map_err(spawn_err)?)
            .stderr(log.reopen().map_err(spawn_err)?)
            .spawn()
            .map_err(spawn_err)?;
        Ok(Self { child, log })
    }

    /// What the service printed so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The process id, to signal it.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the service to exit; true if it did.
    pub(crate) fn wait_exit(&mut self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.exited().is_some() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// The exit status, if the service has stopped.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ChildService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! kafkajs, a Kafka client that is not librdkafka, as a child process: what a
//! foreign producer writes, for tests that read it with sluice.
//!
//! The script is `kafkajs/produce.js` in this crate, its packages pinned by
//! `kafkajs/package-lock.json` and installed by `make kafkajs` (or
//! `npm ci --prefix crates/sluice-testkit/kafkajs`). Node is `SLUICE_NODE`,
//! else `node` on `PATH`. Like Tansu, a missing tool is an error, not a skip.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Result, TestkitError};

/// One record for a foreign client to produce, every part raw bytes: keys,
/// values and header names need not be UTF-8.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForeignRecord {
    pub partition: i32,
    /// `None`: a null key.
    pub key: Option<Vec<u8>>,
    /// `None`: a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// In order, duplicate names kept; `None`: a null header value.
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// A header of a [`ForeignRecord`], from borrowed bytes.
pub fn header(name: &[u8], value: Option<&[u8]>) -> (Vec<u8>, Option<Vec<u8>>) {
    (name.to_vec(), value.map(<[u8]>::to_vec))
}

/// The kafkajs producer script and the Node that runs it.
#[derive(Debug, Clone)]
pub struct Kafkajs {
    node: PathBuf,
    dir: PathBuf,
    timeout: Duration,
    one_batch_per_record: bool,
}

impl Kafkajs {
    /// The folder of the script and its `node_modules`.
    pub fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("kafkajs")
    }

    /// Where Node is looked for: `SLUICE_NODE`, then `node` on `PATH`.
    pub fn node() -> Result<PathBuf> {
        let mut looked_at = Vec::new();
        if let Some(path) = std::env::var_os("SLUICE_NODE") {
            let path = PathBuf::from(path);
            if path.is_file() {
                return Ok(path);
            }
            looked_at.push(format!("SLUICE_NODE={}", path.display()));
        }
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                let path = dir.join("node");
                if path.is_file() {
                    return Ok(path);
                }
            }
        }
        looked_at.push("node on PATH".to_owned());
        Err(TestkitError::NodeMissing {
            looked_at: looked_at.join(", "),
        })
    }

    /// Finds Node and checks that kafkajs is installed. Records are sent
    /// one batch per record, and a run may take a minute.
    pub fn new() -> Result<Self> {
        let node = Self::node()?;
        let dir = Self::dir();
        let installed = dir.join("node_modules/kafkajs/package.json");
        if !installed.is_file() {
            return Err(TestkitError::KafkajsMissing {
                missing: installed.display().to_string(),
            });
        }
        Ok(Self {
            node,
            dir,
            timeout: Duration::from_secs(60),
            one_batch_per_record: true,
        })
    }

    /// How long one run of the script may take before it is killed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// One `send`, so one record batch, per record (the default), or one
    /// `send` for all. Tansu 0.6.0 mishandles a consumer that restarts in the
    /// middle of a batch, so tests that restart consumers keep the default.
    pub fn one_batch_per_record(mut self, yes: bool) -> Self {
        self.one_batch_per_record = yes;
        self
    }

    /// Produces `records` to `topic` (acks all, no compression, not
    /// idempotent, no topic auto-creation) and returns each one's partition
    /// and offset, in order.
    pub async fn produce(
        &self,
        bootstrap: &str,
        topic: &str,
        records: &[ForeignRecord],
    ) -> Result<Vec<(i32, i64)>> {
        let script = self.dir.join("produce.js");
        let failed = |detail: String| TestkitError::ForeignClient {
            script: script.display().to_string(),
            detail,
        };
        let input = serde_json::json!({
            "brokers": bootstrap,
            "topic": topic,
            "one_batch_per_record": self.one_batch_per_record,
            "records": records.iter().map(record_json).collect::<Vec<_>>(),
        })
        .to_string();
        let child = Command::new(&self.node)
            .arg(&script)
            .current_dir(&self.dir)
            .env("KAFKAJS_NO_PARTITIONER_WARNING", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| TestkitError::Spawn {
                what: format!("{} {}", self.node.display(), script.display()),
                source,
            })?;
        let mut child = KillOnDrop(child);
        let stdin = child.0.stdin.take().map(|mut stdin| {
            std::thread::spawn(move || {
                // A script that dies early closes the pipe: its stderr says why.
                let _ = stdin.write_all(input.as_bytes());
            })
        });
        let stdout = read_all(child.0.stdout.take());
        let stderr = read_all(child.0.stderr.take());
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.0.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() > deadline => break Err(self.timeout),
                Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => return Err(failed(format!("waiting for it: {e}"))),
            }
        };
        if status.is_err() {
            let _ = child.0.kill();
            let _ = child.0.wait();
        }
        if let Some(stdin) = stdin {
            let _ = stdin.join();
        }
        let stdout = join(stdout);
        let stderr = join(stderr);
        let status = match status {
            Ok(status) => status,
            Err(timeout) => {
                return Err(failed(format!(
                    "killed after {timeout:?}; its stderr:\n{stderr}"
                )));
            }
        };
        if !status.success() {
            return Err(failed(format!(
                "exited with {status}; its stderr:\n{stderr}"
            )));
        }
        let offsets = stdout
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| failed(format!("unreadable output line {line:?}: {e}")))?;
                let partition = v["partition"].as_i64().and_then(|p| i32::try_from(p).ok());
                match (partition, v["offset"].as_i64()) {
                    (Some(p), Some(o)) => Ok((p, o)),
                    _ => Err(failed(format!("unreadable output line {line:?}"))),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        if offsets.len() != records.len() {
            return Err(failed(format!(
                "{} results for {} records; its stdout:\n{stdout}\nits stderr:\n{stderr}",
                offsets.len(),
                records.len()
            )));
        }
        Ok(offsets)
    }
}

/// A child process killed if the future driving it is dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn read_all(pipe: Option<impl std::io::Read + Send + 'static>) -> Option<JoinHandle<String>> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    })
}

fn join(reader: Option<JoinHandle<String>>) -> String {
    reader.and_then(|r| r.join().ok()).unwrap_or_default()
}

fn record_json(record: &ForeignRecord) -> serde_json::Value {
    let bytes = |b: &Option<Vec<u8>>| {
        b.as_deref()
            .map_or(serde_json::Value::Null, |b| hex(b).into())
    };
    serde_json::json!({
        "partition": record.partition,
        "key": bytes(&record.key),
        "value": bytes(&record.value),
        "headers": record
            .headers
            .iter()
            .map(|(name, value)| serde_json::json!([hex(name), bytes(value)]))
            .collect::<Vec<_>>(),
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_encodes_every_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::hex(&[]), "");
    }
}

//! Confluent's own serializers read what sluice writes, byte for byte.
//!
//! Records encoded here go to `tests/confluent/cross_check.py`, which decodes
//! them with confluent-kafka's `AvroDeserializer` and `ProtobufDeserializer`
//! against a mock registry filled from sluice's manifest (same ids), and
//! re-encodes the Avro ones with `AvroSerializer`: the bytes must be
//! identical. The Python interpreter comes from `SLUICE_PYTHON` (`make test`
//! sets it to the tools venv that `make venv` builds); without it this test
//! fails rather than skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use sluice_core::{Encoder, Event};
use sluice_events::samples::{self, Seed};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("SLUICE_PYTHON").context(
        "SLUICE_PYTHON is not set: it names a Python with confluent-kafka[avro,protobuf,schemaregistry]; `make venv` builds one and `make test` sets it",
    )?;
    Ok(PathBuf::from(path))
}

/// Python classes for the `.proto` files, from the same vendored protoc.
fn python_classes(out: &Path) -> anyhow::Result<()> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let include = protoc_bin_vendored::include_path()?;
    let mut files = vec![PathBuf::from("sluice/options.proto")];
    for entry in std::fs::read_dir(repo().join("proto/sluice/email/v1"))? {
        let name = entry?.file_name();
        files.push(Path::new("sluice/email/v1").join(name));
    }
    let status = Command::new(protoc)
        .arg(format!("--python_out={}", out.display()))
        .arg(format!("-I{}", repo().join("proto").display()))
        .arg(format!(
            "-I{}",
            repo().join("crates/sluice-build/proto").display()
        ))
        .arg(format!("-I{}", include.display()))
        .args(&files)
        .status()?;
    ensure!(status.success(), "protoc --python_out failed");
    Ok(())
}

fn record<E: Event>(event: &E, format: &str, module: &str) -> anyhow::Result<Value> {
    let value = Encoder::new().encode(event)?;
    let message = E::SUBJECT.rsplit('.').next().unwrap_or_default();
    Ok(json!({
        "format": format,
        "subject": E::SUBJECT,
        "module": module,
        "message": message,
        "value_hex": value.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    }))
}

#[test]
fn confluent_python_serializers_read_sluice_records() -> anyhow::Result<()> {
    let python = python()?;
    let out = tempfile::tempdir()?;
    python_classes(out.path())?;
    let seed = Seed::default();
    let m = |name: &str| format!("sluice.email.v1.{name}_pb2");
    let records = vec![
        record(&samples::avro_email_received(&seed), "avro", "")?,
        record(&samples::avro_email_validated(&seed), "avro", "")?,
        record(&samples::avro_email_processed(&seed), "avro", "")?,
        record(&samples::avro_plugin_executed(&seed), "avro", "")?,
        record(&samples::avro_workflow_triggered(&seed), "avro", "")?,
        record(
            &samples::proto_email_received(&seed),
            "protobuf",
            &m("email_received"),
        )?,
        record(
            &samples::proto_email_validated(&seed),
            "protobuf",
            &m("email_validated"),
        )?,
        record(
            &samples::proto_email_processed(&seed),
            "protobuf",
            &m("email_processed"),
        )?,
        record(
            &samples::proto_plugin_executed(&seed),
            "protobuf",
            &m("plugin_executed"),
        )?,
        record(
            &samples::proto_workflow_triggered(&seed),
            "protobuf",
            &m("workflow_triggered"),
        )?,
    ];
    let request = json!({
        "manifest": repo().join("registry/manifest.toml"),
        "python_out": out.path(),
        "records": records,
    });
    let mut child = Command::new(&python)
        .arg(repo().join("crates/sluice-events/tests/confluent/cross_check.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", python.display()))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(request.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "cross_check.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<Value> = String::from_utf8(output.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(
        answers.len() == records.len(),
        "{} answers for {} records",
        answers.len(),
        records.len()
    );

    for (sent, answer) in records.iter().zip(&answers) {
        let subject = &sent["subject"];
        let decoded = &answer["decoded"];
        ensure!(
            decoded["metadata"]["event_id"] == "evt-1",
            "{subject}: {decoded}"
        );
        ensure!(
            decoded["metadata"]["tenant_id"] == "tenant-1",
            "{subject}: {decoded}"
        );
        ensure!(decoded["email_id"] == "email-1", "{subject}: {decoded}");
        if sent["format"] == "avro" {
            ensure!(
                decoded["metadata"]["occurred_at_ms"] == 1_764_000_000_000i64,
                "{subject}: {decoded}"
            );
            ensure!(
                answer["reencoded_hex"] == sent["value_hex"],
                "{subject}: Confluent's AvroSerializer wrote\n{}\nsluice wrote\n{}",
                answer["reencoded_hex"],
                sent["value_hex"]
            );
        }
    }
    let received = &answers[5]["decoded"];
    ensure!(
        received["to"] == json!(["bob@example.com", "carol@example.com"]),
        "{received}"
    );
    ensure!(
        received["attachments"][1]["filename"] == "logo.png",
        "{received}"
    );
    let validated = &answers[6]["decoded"];
    ensure!(validated["verdict"] == "VERDICT_SPAM", "{validated}");
    Ok(())
}

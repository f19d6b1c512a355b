//! `sluice schema` on a project of its own: the gate refuses what is not
//! registered, `register` adds versions and refuses breaking changes.

use std::fs;
use std::path::Path;
use std::process::Command;

const PROTO: &str = r#"
syntax = "proto3";
package shop.v1;
import "sluice/options.proto";
message OrderPlaced {
  option (sluice.event) = { type: "order.placed.v1" key: "order_id" };
  string order_id = 1;
  uint64 amount_cents = 2;
}
"#;

/// Runs `sluice schema ARGS` in `dir`; returns the exit code and stdout.
fn schema(dir: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir)
        .env_remove("SLUICE_REGISTRY")
        .arg("schema")
        .args(args)
        .output()
        .expect("sluice runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn check_and_register_gate_a_project() {
    let project = tempfile::tempdir().expect("temp dir");
    let dir = project.path();
    let proto = dir.join("proto/shop/v1/order.proto");
    fs::create_dir_all(proto.parent().expect("parent")).expect("mkdir");
    fs::write(&proto, PROTO).expect("write proto");

    let (code, out) = schema(dir, &["check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("shop.v1.OrderPlaced: not registered"), "{out}");

    let (code, out) = schema(dir, &["register"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("registered shop.v1.OrderPlaced v1 as id 1"),
        "{out}"
    );
    let (code, out) = schema(dir, &["register"]);
    assert_eq!(
        (code, out.trim()),
        (0, "nothing to register: every subject is up to date")
    );

    let (code, out) = schema(dir, &["check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok  shop.v1.OrderPlaced v1 (id 1)"), "{out}");
    let (code, out) = schema(dir, &["list"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("order.placed.v1"), "{out}");

    fs::write(
        &proto,
        PROTO.replace("uint64 amount_cents", "string amount_cents"),
    )
    .expect("write");
    let (code, out) = schema(dir, &["register"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("changed type from uint64 to string"), "{out}");

    let (code, out) = schema(dir, &["check", "--proto", "nowhere", "--avro", "nowhere"]);
    assert_eq!(code, 2, "{out}");
}

//! The load-test binary on the embedded cluster: a passing run writes its
//! report, a threshold it cannot meet makes it fail and say which.

use std::process::Command;

fn loadtest(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice-loadtest"))
        .args(args)
        .output()
        .expect("the load test starts")
}

/// The output of a run that must pass.
fn passing(args: &[&str]) -> String {
    let output = loadtest(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("result: PASS"), "{stdout}");
    stdout
}

#[test]
fn a_small_run_passes_and_writes_its_report() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let report = dir.path().join("report.json");
    let stdout = passing(&[
        "--events",
        "20000",
        "--baseline",
        "raw",
        "--min-rate",
        "1000",
        "--max-lag-p99-ms",
        "10000",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(stdout.contains("sluice/raw"), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report)?)?;
    assert_eq!(report["passed"], true);
    for run in ["raw", "sluice"] {
        assert_eq!(report[run]["sequence"]["unique"], 20000, "{run}");
        assert_eq!(report[run]["sequence"]["lost"], 0, "{run}");
        assert!(
            report[run]["latency_ms"]["p99"].as_f64().unwrap() > 0.0,
            "{run}"
        );
        assert!(
            report[run]["end_to_end_per_s"].as_f64().unwrap() > 0.0,
            "{run}"
        );
    }
    assert!(report["ratios"]["end_to_end_rate"].as_f64().unwrap() > 0.0);
    Ok(())
}

#[test]
fn an_unmet_threshold_fails_the_run_and_is_named() {
    let output = loadtest(&["--events", "2000", "--min-rate", "1000000000"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  end-to-end rate"), "{stdout}");
    assert!(stdout.contains("result: FAIL"), "{stdout}");
}

#[test]
fn bad_flags_are_refused_with_a_reason() {
    let output = loadtest(&["--duration", "5s"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--duration needs --rate"), "{stderr}");
}

/// A short run on Tansu, a Kafka-protocol broker over TCP: every event
/// arrives once and in order, and the thresholds hold. Tansu's in-memory
/// engine serves fetches slowly (docs/performance.md), so consumer lag is
/// held to seconds here, not to the default 100 ms.
#[tokio::test(flavor = "multi_thread")]
async fn a_short_run_on_tansu_passes() -> anyhow::Result<()> {
    let tansu = sluice_testkit::Tansu::start().await?;
    let brokers = tansu.bootstrap_servers();
    let stdout = passing(&[
        "--brokers",
        &brokers,
        "--events",
        "5000",
        "--partitions",
        "4",
        "--baseline",
        "raw",
        "--min-rate",
        "1000",
        "--max-lag-p99-ms",
        "5000",
    ]);
    assert!(stdout.contains(&format!("broker: {brokers}")), "{stdout}");
    assert!(stdout.contains("pass  lost 0 = 0"), "{stdout}");
    Ok(())
}

#[test]
fn rounds_are_listed_and_the_median_one_is_summarized() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let report = dir.path().join("report.json");
    let stdout = passing(&[
        "--events",
        "5000",
        "--rounds",
        "3",
        "--baseline",
        "raw-bare",
        "--min-rate",
        "1000",
        "--max-lag-p99-ms",
        "10000",
        "--report",
        report.to_str().unwrap(),
    ]);
    for round in 1..=3 {
        assert!(stdout.contains(&format!("round {round}: raw ")), "{stdout}");
    }
    assert_eq!(stdout.matches("(median, below)").count(), 1, "{stdout}");
    assert!(stdout.contains("raw, no headers"), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report)?)?;
    assert_eq!(report["rounds"], 3);
    assert_eq!(report["baseline"], "RawBare");
    let scores = report["round_scores"].as_array().unwrap();
    assert_eq!(scores.len(), 3);
    let mut sorted: Vec<f64> = scores.iter().map(|s| s.as_f64().unwrap()).collect();
    sorted.sort_by(f64::total_cmp);
    let summarized = report["ratios"]["end_to_end_rate"].as_f64().unwrap();
    assert!(
        (summarized - sorted[1]).abs() < 1e-9,
        "{summarized} vs {sorted:?}"
    );
    Ok(())
}

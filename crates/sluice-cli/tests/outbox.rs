//! `sluice outbox` on a real PostgreSQL: status, dead rows, retry.

use std::process::{Command, Stdio};

use anyhow::ensure;
use serde_json::Value;
use sluice_outbox::{Outbox, OutboxConfig};
use sluice_testkit::{Postgres, sequenced};

fn outbox(url: &str, args: &[&str]) -> anyhow::Result<(i32, String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("outbox")
        .args(args)
        .env("SLUICE_OUTBOX_DATABASE_URL", url)
        .stdin(Stdio::null())
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_list_and_retry() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    let pool = sqlx::PgPool::connect(&pg.url()).await?;
    let config = OutboxConfig::default();
    let names = config.names()?;
    sluice_outbox::migrate(&pool, &names).await?;
    let writer = Outbox::new(&config, "/cli-test")?;
    let mut tx = pool.begin().await?;
    writer
        .enqueue_all(
            &mut tx,
            &(0..4).map(|s| sequenced::event(s, "k")).collect::<Vec<_>>(),
        )
        .await?;
    tx.commit().await?;
    // Two rows as a relay leaves rows it cannot publish.
    sqlx::query(&format!(
        "UPDATE {} SET status = 'dead', attempts = 1, error_class = 'unknown_topic', error = 'no topic x' WHERE seq <= 2",
        names.outbox_table()
    ))
    .execute(&pool)
    .await?;

    let url = pg.url();
    let (code, out, err) = outbox(&url, &["status", "--output", "json"])?;
    ensure!(code == 0, "{out}{err}");
    let status: Value = serde_json::from_str(&out)?;
    ensure!(status["pending"] == 2 && status["dead"] == 2, "{status}");
    ensure!(
        status["dead_by_class"][0]["class"] == "unknown_topic",
        "{status}"
    );
    ensure!(
        status["oldest_pending_seconds"].as_f64().is_some(),
        "{status}"
    );

    let (code, out, _) = outbox(&url, &["list", "--state", "dead", "--output", "json"])?;
    ensure!(code == 0);
    let rows: Vec<Value> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(
        rows.len() == 2 && rows[0]["error"] == "no topic x" && rows[0]["key"] == "k",
        "{out}"
    );
    let (code, table, _) = outbox(&url, &["list"])?;
    ensure!(
        code == 0 && table.contains("unknown_topic: no topic x"),
        "{table}"
    );

    let (code, _, err) = outbox(&url, &["retry"])?;
    ensure!(code == 2, "retry without a selection: {code} {err}");
    let (code, out, _) = outbox(&url, &["retry", "--seq", "1"])?;
    ensure!(code == 0 && out.starts_with("1 dead rows"), "{out}");
    let (code, out, _) = outbox(&url, &["retry", "--all"])?;
    ensure!(code == 0 && out.starts_with("1 dead rows"), "{out}");
    let (_, out, _) = outbox(&url, &["status", "--output", "json"])?;
    let status: Value = serde_json::from_str(&out)?;
    ensure!(status["pending"] == 4 && status["dead"] == 0, "{status}");

    // A bad table name is bad input; the password never shows.
    let (code, _, err) = outbox(&url, &["status", "--table", "a;b"])?;
    ensure!(code == 2 && err.contains("a;b"), "{code} {err}");
    let secret = format!("postgres://postgres:s3cret-pw@127.0.0.1:{}/nope", pg.port());
    let (code, out, err) = outbox(&secret, &["status"])?;
    ensure!(code == 1, "{code}");
    ensure!(
        !out.contains("s3cret-pw") && !err.contains("s3cret-pw"),
        "{out}{err}"
    );
    Ok(())
}

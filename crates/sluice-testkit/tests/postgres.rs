//! The PostgreSQL service: starts, answers SQL, and is gone after drop.

use std::net::{Ipv4Addr, TcpStream};
use std::process::Command;

use anyhow::{Context, ensure};
use sluice_testkit::{POSTGRES_USER, Postgres};

fn psql(pg: &Postgres, sql: &str) -> anyhow::Result<String> {
    let out = Command::new(Postgres::bin_dir()?.join("psql"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port().to_string(),
            "-U",
            POSTGRES_USER,
        ])
        .args(["-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .context("running psql")?;
    ensure!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

#[tokio::test]
async fn starts_answers_and_is_gone_after_drop() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    let version = psql(&pg, "SHOW server_version_num")?;
    ensure!(version.parse::<u32>()? >= 130000, "version {version}");
    psql(
        &pg,
        "CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1)",
    )?;
    ensure!(psql(&pg, "SELECT sum(x) FROM t")? == "42");
    ensure!(
        pg.url().starts_with("postgres://postgres@127.0.0.1:"),
        "{}",
        pg.url()
    );
    let (port, dir) = (pg.port(), pg.dir().to_owned());
    ensure!(dir.join("data/PG_VERSION").is_file());
    drop(pg);
    ensure!(!dir.exists(), "{} still exists", dir.display());
    ensure!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "port {port} still accepts connections"
    );
    Ok(())
}

#[tokio::test]
async fn two_servers_at_once() -> anyhow::Result<()> {
    let (a, b) = (Postgres::start().await?, Postgres::start().await?);
    ensure!(a.port() != b.port());
    psql(&a, "CREATE TABLE only_in_a (x int)")?;
    ensure!(
        psql(
            &b,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"
        )? == "0"
    );
    Ok(())
}

//! The container image runs this binary as deployed: the Dockerfile's
//! ENTRYPOINT is the binary it copies in, and its CMD — the image's paths
//! moved under a temporary root, where the test puts what the image's COPY
//! lines and the Deployment's ConfigMap put there — starts it with the
//! Kubernetes bridge.toml pointed at Tansu and moto. The image's HEALTHCHECK
//! passes, an event crosses each route reading `email.received`, and SIGTERM
//! stops the bridge with exit 0 within the Deployment's
//! terminationGracePeriodSeconds.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use common::{Env, SOURCE, Service, wait_for};
use sluice_kafka::KafkaConfig;
use sluice_producer::{Producer, ProducerConfig};
use sluice_testkit::{MOTO_REGION, create_topic, free_port, http_get};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const DOCKERFILE: &str = include_str!("../../../deploy/bridge/Dockerfile");
const BRIDGE_TOML: &str = include_str!("../../../deploy/k8s/bridge/bridge.toml");
const DEPLOYMENT: &str = include_str!("../../../deploy/k8s/bridge/deployment.yaml");

/// The last stage's instructions, continuation lines joined: (keyword, rest).
fn final_stage() -> Vec<(String, String)> {
    let joined = DOCKERFILE.replace("\\\n", " ");
    let lines: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let from = lines
        .iter()
        .rposition(|l| l.to_ascii_uppercase().starts_with("FROM "))
        .expect("a FROM in the Dockerfile");
    lines[from + 1..]
        .iter()
        .map(|&l| {
            let (word, rest) = l.split_once(' ').unwrap_or((l, ""));
            (word.to_ascii_uppercase(), rest.trim().to_owned())
        })
        .collect()
}

fn instruction<'a>(stage: &'a [(String, String)], word: &str) -> anyhow::Result<&'a str> {
    stage
        .iter()
        .rev()
        .find(|(w, _)| w == word)
        .map(|(_, rest)| rest.as_str())
        .with_context(|| format!("no {word} in the Dockerfile's last stage"))
}

/// CMD and ENTRYPOINT must use the exec form: a JSON array.
fn exec_form(text: &str) -> anyhow::Result<Vec<String>> {
    serde_json::from_str(text).with_context(|| format!("not an exec-form JSON array: {text}"))
}

/// An absolute path of the image, under `root`.
fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        std::fs::create_dir_all(to.parent().context("a parent")?)?;
        std::fs::copy(from, to).with_context(|| format!("copy {}", from.display()))?;
    }
    Ok(())
}

/// `terminationGracePeriodSeconds` of deployment.yaml.
fn grace_period() -> anyhow::Result<Duration> {
    let value = DEPLOYMENT
        .lines()
        .find_map(|l| l.trim().strip_prefix("terminationGracePeriodSeconds:"))
        .context("no terminationGracePeriodSeconds in deployment.yaml")?;
    let seconds = value.split('#').next().unwrap_or_default().trim();
    Ok(Duration::from_secs(seconds.parse()?))
}

fn status(port: u16, path: &str) -> anyhow::Result<u16> {
    Ok(http_get(port, path)?.0)
}

/// How long the bridge may take to become healthy, then ready.
const STARTUP: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_command_runs_the_kubernetes_configuration() -> anyhow::Result<()> {
    let stage = final_stage();
    let entrypoint = exec_form(instruction(&stage, "ENTRYPOINT")?)?;
    let cmd = exec_form(instruction(&stage, "CMD")?)?;
    let healthcheck = instruction(&stage, "HEALTHCHECK")?;
    let healthcheck =
        exec_form(&healthcheck[healthcheck.find("CMD [").context("CMD [ in HEALTHCHECK")? + 4..])?;
    let grace = grace_period()?;

    // The image's files: the binary from the build stage is this test's
    // binary; the others come from the repository, as COPY takes them.
    let root = tempfile::tempdir()?;
    for (_, rest) in stage.iter().filter(|(w, _)| w == "COPY") {
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let [.., src, dst] = parts[..] else {
            bail!("COPY {rest}")
        };
        if parts.iter().any(|p| p.starts_with("--from=")) {
            ensure!(
                entrypoint.first().map(String::as_str) == Some(dst)
                    && dst.ends_with("/sluice-bridge"),
                "ENTRYPOINT {entrypoint:?} is not the binary copied to {dst}"
            );
        } else {
            copy_tree(&Path::new(REPO).join(src), &under(root.path(), dst))?;
        }
    }
    let args: Vec<String> = cmd
        .iter()
        .map(|a| {
            if a.starts_with('/') {
                under(root.path(), a).display().to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    let flag = |name: &str| -> anyhow::Result<PathBuf> {
        let at = cmd
            .iter()
            .position(|a| a == name)
            .with_context(|| format!("{name} in CMD"))?;
        Ok(PathBuf::from(&args[at + 1]))
    };
    let registry = flag("--registry")?;
    ensure!(
        registry.is_file(),
        "--registry {registry:?}: not in the image"
    );

    // The ConfigMap's bridge.toml, pointed at this environment.
    let env = Env::start().await?;
    let http_port = free_port()?;
    let mut config: toml::Table = toml::from_str(BRIDGE_TOML)?;
    common::point_at(&mut config, &env, http_port)?;
    let mut topics = Vec::new();
    let mut received_by = Vec::new();
    let routes = config.get_mut("route").and_then(toml::Value::as_array_mut);
    for route in routes.context("no [[route]]")? {
        let text = |value: Option<&toml::Value>, what: &str| {
            value
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("{what} of a route"))
        };
        let name = text(route.get("name"), "name")?;
        // Each destination, made in moto; a bus's events go on to a queue.
        let destination =
            if let Some(sqs) = route.get_mut("sqs").and_then(toml::Value::as_table_mut) {
                let url = text(sqs.get("queue_url"), "sqs.queue_url")?;
                let queue = env
                    .queue(url.rsplit('/').next().unwrap_or(&url), &[])
                    .await?;
                sqs.insert("queue_url".into(), queue.clone().into());
                queue
            } else {
                let bus = text(
                    route.get("eventbridge").and_then(|e| e.get("event_bus")),
                    "eventbridge.event_bus",
                )?;
                env.rule_to_queue(&bus, &format!("{name}-target")).await?
            };
        let route_topics: Vec<String> = route
            .get("topics")
            .and_then(toml::Value::as_array)
            .context("topics of a route")?
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        if route_topics.iter().any(|t| t == "email.received") {
            received_by.push((name, destination));
        }
        // Patterns match what exists; a route is ready with a topic of its own.
        topics.extend(route_topics.into_iter().filter(|t| !t.starts_with('^')));
    }
    ensure!(
        !received_by.is_empty(),
        "no route of bridge.toml reads email.received"
    );
    let config_path = flag("--config")?;
    std::fs::create_dir_all(config_path.parent().context("a parent")?)?;
    std::fs::write(config_path, toml::to_string(&config)?)?;

    let run_healthcheck = || {
        Command::new(&healthcheck[0])
            .args(&healthcheck[1..])
            .env("HEALTHCHECK_PORT", http_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    ensure!(
        !run_healthcheck(),
        "the HEALTHCHECK passes with nothing listening"
    );

    let mut service = Service(
        Command::new(env!("CARGO_BIN_EXE_sluice-bridge"))
            .args(args)
            .current_dir(root.path())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", MOTO_REGION)
            .env_remove("AWS_PROFILE")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()?,
    );
    wait_for("/health answers 200", STARTUP, || {
        Ok(status(http_port, "/health")? == 200)
    })
    .await?;
    topics.sort();
    topics.dedup();
    for topic in &topics {
        create_topic(&env.bootstrap(), topic, 2).await?;
        create_topic(&env.bootstrap(), &format!("{topic}.dlq"), 1).await?;
    }
    wait_for("/ready answers 200", STARTUP, || {
        Ok(status(http_port, "/ready")? == 200)
    })
    .await?;
    ensure!(
        run_healthcheck(),
        "the image's HEALTHCHECK fails on a running bridge"
    );

    let mut producer_config = ProducerConfig::new(KafkaConfig::new(env.bootstrap()));
    producer_config.source = SOURCE.to_owned();
    let producer = Producer::builder(producer_config).build()?;
    for sequence in 0..3 {
        producer.send(common::event(sequence, 3)).await?;
    }
    for (route, queue) in &received_by {
        let messages = env
            .receive(queue, 3)
            .await
            .with_context(|| format!("route {route}"))?;
        ensure!(messages.len() == 3, "route {route}");
    }

    // SIGTERM, as the kubelet sends it; SIGKILL comes after the grace period.
    let child = &mut service.0;
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    ensure!(sent.success(), "kill -TERM");
    let deadline = Instant::now() + grace;
    loop {
        if let Some(exit) = child.try_wait()? {
            ensure!(exit.success(), "the bridge exited with {exit}");
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the bridge did not stop within {grace:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

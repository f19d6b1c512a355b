//! A webhook receiver that records what it got and answers by a script,
//! and the ingress and egress run in-process from a TOML file.

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sluice_webhooks::{Egress, Ingress, WebhooksConfig};
use tokio::net::TcpListener;

/// The Standard Webhooks secret the tests sign and verify with.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// How the receiver answers: given the request's body as JSON and how many
/// times this `webhook-id` came before, a status and extra headers.
pub type Script =
    dyn Fn(&serde_json::Value, usize) -> (u16, Vec<(&'static str, String)>) + Send + Sync;

/// A local HTTP server standing in for a webhook receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(script: Box<Script>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<Script> = Arc::from(script);
        let task = tokio::spawn({
            let received = Arc::clone(&received);
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let received = Arc::clone(&received);
                    let script = Arc::clone(&script);
                    tokio::spawn(async move {
                        let service = service_fn(move |request: Request<Incoming>| {
                            let received = Arc::clone(&received);
                            let script = Arc::clone(&script);
                            async move {
                                let at = Instant::now();
                                let headers: Vec<(String, String)> = request
                                    .headers()
                                    .iter()
                                    .map(|(n, v)| {
                                        (
                                            n.as_str().to_owned(),
                                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                        )
                                    })
                                    .collect();
                                let body = request
                                    .into_body()
                                    .collect()
                                    .await
                                    .unwrap()
                                    .to_bytes()
                                    .to_vec();
                                let json = serde_json::from_slice(&body)
                                    .unwrap_or(serde_json::Value::Null);
                                let mut received = received.lock().unwrap();
                                let id = headers
                                    .iter()
                                    .find(|(n, _)| n == "webhook-id")
                                    .map(|(_, v)| v.clone());
                                let before = received
                                    .iter()
                                    .filter(|r| {
                                        id.is_some() && r.header("webhook-id") == id.as_deref()
                                    })
                                    .count();
                                let (status, extra) = script(&json, before);
                                received.push(Received {
                                    at,
                                    headers,
                                    body,
                                    status,
                                });
                                let mut response =
                                    Response::new(Full::new(Bytes::from_static(b"{}")));
                                *response.status_mut() =
                                    hyper::StatusCode::from_u16(status).unwrap();
                                for (name, value) in extra {
                                    response.headers_mut().insert(name, value.parse().unwrap());
                                }
                                Ok::<_, Infallible>(response)
                            }
                        });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
        Self {
            addr,
            received,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was received.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.received()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received {} requests",
                self.received().len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The ingress and/or egress of `toml`, running until dropped.
pub struct Service {
    pub ingress_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Service {
    pub async fn start(toml: &str) -> Self {
        let config = WebhooksConfig::from_toml(toml).unwrap();
        let registry = Arc::clone(sluice_events::registry());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let stopped = futures::FutureExt::shared(async move {
            let _ = stopped.await;
        });
        let mut tasks = Vec::new();
        let mut ingress_addr = None;
        if let Some(ingress) = &config.ingress {
            let ingress = Ingress::bind(ingress, Some(Arc::clone(&registry)))
                .await
                .unwrap();
            ingress_addr = ingress.local_addr();
            let stopped = stopped.clone();
            tasks.push(tokio::spawn(
                async move { ingress.run(stopped).await.unwrap() },
            ));
        }
        if let Some(egress) = &config.egress {
            let egress = Egress::start(egress, registry).unwrap();
            tasks.push(tokio::spawn(
                async move { egress.run(stopped).await.unwrap() },
            ));
        }
        Self {
            ingress_addr,
            stop: Some(stop),
            tasks,
        }
    }

    pub fn url(&self, source: &str) -> String {
        format!("http://{}/webhooks/{source}", self.ingress_addr.unwrap())
    }

    /// Stops gracefully and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        for task in self.tasks.drain(..) {
            task.await.unwrap();
        }
    }
}

/// A request to `url`, signed the Standard Webhooks way with [`SECRET`].
pub async fn post_signed(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    try_post_signed(client, url, id, body, true).await.unwrap()
}

/// [`post_signed`], or unsigned; an error when no answer came.
pub async fn try_post_signed(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    body: &str,
    signed: bool,
) -> Result<(u16, serde_json::Value), reqwest::Error> {
    let response = signed_request(client, url, id, body, signed).send().await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    Ok((
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    ))
}

/// A POST of `body` as JSON with `id`, signed with [`SECRET`] when
/// `signed`, otherwise with a signature no secret made.
pub fn signed_request(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    body: &str,
    signed: bool,
) -> reqwest::RequestBuilder {
    let secret = sluice_webhooks::signature::Secret::standard(SECRET).unwrap();
    let timestamp = now_secs();
    let signature = if signed {
        sluice_webhooks::signature::standard_signature(&[secret], id, timestamp, body.as_bytes())
    } else {
        "v1,bm90IGEgc2lnbmF0dXJl".to_owned()
    };
    client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_owned())
}

/// A POST with the given headers (content type included), answered as
/// status and JSON.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    body: impl Into<reqwest::Body>,
) -> (u16, serde_json::Value) {
    let mut request = client.post(url).body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// Runs jobs through `tests/standard_webhooks.py`, the Standard Webhooks
/// reference library (PyPI `standardwebhooks`), in `SLUICE_PYTHON`.
pub fn python(jobs: &serde_json::Value) -> Vec<serde_json::Value> {
    use std::io::Write as _;
    let python = std::env::var_os("SLUICE_PYTHON").expect(
        "SLUICE_PYTHON is not set: it names a Python with standardwebhooks; `make venv` builds one and `make test` sets it",
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standard_webhooks.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("SLUICE_PYTHON runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(jobs.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "standard_webhooks.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The shipped binary on `config`, with the repository's registry, the
/// secrets `SHOP_SECRET` and `CRM_SECRET` set to [`SECRET`], its log in
/// `log`.
pub fn spawn_binary(config: &std::path::Path, log: &std::path::Path) -> std::process::Child {
    let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry/manifest.toml");
    std::process::Command::new(env!("CARGO_BIN_EXE_sluice-webhooks"))
        .arg("--config")
        .arg(config)
        .args(["--registry", registry])
        .env("SHOP_SECRET", SECRET)
        .env("CRM_SECRET", SECRET)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Waits until the binary answers `/ready` on `port` with 200.
pub async fn wait_ready(child: &mut std::process::Child, port: u16, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(sluice_testkit::http_get(port, "/ready"), Ok((200, _))) {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "not ready: {:?}\n{}",
                sluice_testkit::http_get(port, "/ready"),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

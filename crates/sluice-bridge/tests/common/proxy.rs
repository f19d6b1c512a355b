//! A fault-injecting HTTP proxy between the AWS SDK and moto.
//!
//! It reads `PutEvents` and `SendMessageBatch` requests (AWS JSON
//! protocol), refuses whole calls as throttled every `throttle_every`-th
//! call, and fails chosen entries on their first sighting with a retriable
//! error: it removes them from the request it forwards and puts the
//! failure in their place in moto's answer, as AWS reports partial
//! failures. It records every entry of every call, so a test can prove
//! that only failed entries were sent again.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Every n-th call of a batch API is refused as throttled (0: never).
    pub throttle_every: usize,
    /// Every n-th entry seen for the first time fails once (0: never).
    pub fail_every: usize,
}

/// What went through the proxy.
#[derive(Debug, Default)]
pub struct Record {
    /// Entries (by identity) of each batch call that reached moto.
    pub forwarded_calls: Vec<Vec<String>>,
    /// Calls refused as throttled, with their entries.
    pub throttled_calls: Vec<Vec<String>>,
    /// Entries failed on purpose.
    pub failed: Vec<String>,
    /// How many calls carried each entry.
    pub sightings: HashMap<String, usize>,
    /// Every entry that reached moto, as sent.
    pub forwarded_entries: Vec<Value>,
    calls: usize,
    entries_seen: usize,
}

pub struct Proxy {
    addr: SocketAddr,
    pub record: Arc<Mutex<Record>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: String, faults: Faults) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let record = Arc::new(Mutex::new(Record::default()));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let shared = Arc::clone(&record);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let client = client.clone();
                let upstream = upstream.clone();
                let record = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let client = client.clone();
                        let upstream = upstream.clone();
                        let record = Arc::clone(&record);
                        async move {
                            Ok::<_, Infallible>(
                                handle(request, &client, &upstream, &record, faults)
                                    .await
                                    .unwrap_or_else(|e| {
                                        text(StatusCode::BAD_GATEWAY, format!("proxy: {e}"))
                                    }),
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, record, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap()
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// Which API a request calls, and how its entries are named.
#[derive(Clone, Copy)]
enum Api {
    PutEvents,
    SendMessageBatch,
}

impl Api {
    /// An entry's identity across resends.
    fn identity(self, entry: &Value) -> String {
        match self {
            Api::PutEvents => entry["Detail"].as_str().unwrap_or_default().to_owned(),
            Api::SendMessageBatch => entry["MessageBody"].as_str().unwrap_or_default().to_owned(),
        }
    }
}

async fn handle(
    request: Request<Incoming>,
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
    record: &Mutex<Record>,
    faults: Faults,
) -> anyhow::Result<Response<Full<Bytes>>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let api = match target.as_str() {
        "AWSEvents.PutEvents" => Some(Api::PutEvents),
        "AmazonSQS.SendMessageBatch" => Some(Api::SendMessageBatch),
        _ => None,
    };
    let Some(api) = api else {
        return forward(client, upstream, &parts, body).await;
    };
    let mut request: Value = serde_json::from_slice(&body)?;
    let entries: Vec<Value> = request["Entries"].as_array().cloned().unwrap_or_default();
    let identities: Vec<String> = entries.iter().map(|e| api.identity(e)).collect();

    let (throttle, fail) = {
        let mut record = record.lock().unwrap();
        record.calls += 1;
        for id in &identities {
            *record.sightings.entry(id.clone()).or_default() += 1;
        }
        if faults.throttle_every > 0 && record.calls.is_multiple_of(faults.throttle_every) {
            record.throttled_calls.push(identities.clone());
            (true, Vec::new())
        } else {
            let mut fail = vec![false; entries.len()];
            for (i, id) in identities.iter().enumerate() {
                if record.sightings[id] == 1 {
                    record.entries_seen += 1;
                    if faults.fail_every > 0
                        && record.entries_seen.is_multiple_of(faults.fail_every)
                    {
                        fail[i] = true;
                        record.failed.push(id.clone());
                    }
                }
            }
            let forwarded = identities
                .iter()
                .zip(&fail)
                .filter(|(_, f)| !**f)
                .map(|(id, _)| id.clone())
                .collect();
            record.forwarded_calls.push(forwarded);
            record.forwarded_entries.extend(
                entries
                    .iter()
                    .zip(&fail)
                    .filter(|(_, f)| !**f)
                    .map(|(e, _)| e.clone()),
            );
            (false, fail)
        }
    };
    if throttle {
        let body = json!({"__type": "ThrottlingException", "message": "Rate exceeded"});
        return Ok(Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amzn-errortype", "ThrottlingException")
            .body(Full::new(Bytes::from(body.to_string())))?);
    }

    let kept: Vec<Value> = entries
        .iter()
        .zip(&fail)
        .filter(|(_, f)| !**f)
        .map(|(e, _)| e.clone())
        .collect();
    let answer: Value = if kept.is_empty() {
        match api {
            Api::PutEvents => json!({"FailedEntryCount": 0, "Entries": []}),
            Api::SendMessageBatch => json!({"Successful": [], "Failed": []}),
        }
    } else {
        request["Entries"] = Value::Array(kept);
        let response = forward(client, upstream, &parts, Bytes::from(request.to_string())).await?;
        if response.status() != StatusCode::OK {
            return Ok(response);
        }
        let bytes = response.into_body().collect().await?.to_bytes();
        serde_json::from_slice(&bytes)?
    };

    let merged = match api {
        Api::PutEvents => {
            let mut upstream_results = answer["Entries"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter();
            let mut failed_count = answer["FailedEntryCount"].as_u64().unwrap_or(0);
            let results: Vec<Value> = fail
                .iter()
                .map(|f| {
                    if *f {
                        failed_count += 1;
                        json!({"ErrorCode": "InternalFailure", "ErrorMessage": "injected failure"})
                    } else {
                        upstream_results.next().unwrap_or(Value::Null)
                    }
                })
                .collect();
            json!({"FailedEntryCount": failed_count, "Entries": results})
        }
        Api::SendMessageBatch => {
            let mut answer = answer;
            let mut failed = answer["Failed"].as_array().cloned().unwrap_or_default();
            for (entry, f) in entries.iter().zip(&fail) {
                if *f {
                    failed.push(json!({
                        "Id": entry["Id"],
                        "SenderFault": false,
                        "Code": "InternalError",
                        "Message": "injected failure"
                    }));
                }
            }
            answer["Failed"] = Value::Array(failed);
            answer
        }
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(merged.to_string())))?)
}

async fn forward(
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> anyhow::Result<Response<Full<Bytes>>> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut builder = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != "content-length" && name != "host" {
            builder = builder.header(name, value);
        }
    }
    let response = client.request(builder.body(Full::new(body))?).await?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let mut response = Response::from_parts(parts, Full::new(bytes));
    response.headers_mut().remove("content-length");
    response.headers_mut().remove("transfer-encoding");
    Ok(response)
}

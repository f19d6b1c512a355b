//! Any bytes, as any event type: the decoder returns a typed error or an
//! event, and never panics, hangs or allocates without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::{Decoder, Envelope};
use sluice_events::{avro, proto, registry};

fuzz_target!(|data: &[u8]| {
    let d = Decoder::new(registry());
    let _ = d.decode::<proto::EmailReceived>(data);
    let _ = d.decode::<proto::EmailValidated>(data);
    let _ = d.decode::<proto::EmailProcessed>(data);
    let _ = d.decode::<proto::PluginExecuted>(data);
    let _ = d.decode::<proto::WorkflowTriggered>(data);
    let _ = d.decode::<avro::EmailReceived>(data);
    let _ = d.decode::<avro::EmailValidated>(data);
    let _ = d.decode::<avro::EmailProcessed>(data);
    let _ = d.decode::<avro::PluginExecuted>(data);
    let _ = d.decode::<avro::WorkflowTriggered>(data);
    // Headers: split the input into name/value pairs at zero bytes.
    let mut parts = data.split(|&b| b == 0);
    let mut headers = Vec::new();
    while let (Some(k), v) = (parts.next(), parts.next()) {
        if let Ok(k) = std::str::from_utf8(k) {
            headers.push((k, v));
        }
    }
    let _ = Envelope::from_headers(headers);
});

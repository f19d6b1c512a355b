//! Codec cost: sluice's framed encode/decode against the bare libraries on
//! the same typed event. The difference is the framing, the registry lookup
//! and, for Avro, the bounds walk before decoding. Target: ≤ 1.1× bare.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use sluice_core::codec::AvroRecord;
use sluice_core::{Decoder, Encoder};
use sluice_events::samples::{self, Seed};
use sluice_events::{avro, proto, registry};

fn protobuf(c: &mut Criterion) {
    let event = samples::proto_email_received(&Seed::default());
    let encoder = Encoder::new();
    let decoder = Decoder::new(registry());
    let framed = encoder.encode(&event).expect("encodes");
    let bare = event.encode_to_vec();
    let mut group = c.benchmark_group("protobuf");
    group.throughput(Throughput::Elements(1));
    let mut buf = Vec::with_capacity(1024);
    group.bench_function("encode/bare-prost", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&event).encode(&mut buf).expect("encodes");
            black_box(&buf);
        })
    });
    group.bench_function("encode/sluice", |b| {
        b.iter(|| {
            buf.clear();
            encoder
                .encode_into(black_box(&event), &mut buf)
                .expect("encodes");
            black_box(&buf);
        })
    });
    group.bench_function("decode/bare-prost", |b| {
        b.iter(|| proto::EmailReceived::decode(black_box(bare.as_slice())).expect("decodes"))
    });
    group.bench_function("decode/sluice", |b| {
        b.iter(|| {
            decoder
                .decode::<proto::EmailReceived>(black_box(&framed))
                .expect("decodes")
        })
    });
    group.finish();
}

fn avro(c: &mut Criterion) {
    let event = samples::avro_email_received(&Seed::default());
    let schema = avro::EmailReceived::avro_schema();
    let encoder = Encoder::new();
    let decoder = Decoder::new(registry());
    let framed = encoder.encode(&event).expect("encodes");
    let bare = framed[5..].to_vec();
    let mut group = c.benchmark_group("avro");
    group.throughput(Throughput::Elements(1));
    let mut buf = Vec::with_capacity(1024);
    group.bench_function("encode/bare-apache-avro", |b| {
        b.iter(|| {
            buf.clear();
            apache_avro::write_avro_datum_ref(schema, black_box(&event), &mut buf)
                .expect("encodes");
            black_box(&buf);
        })
    });
    group.bench_function("encode/sluice", |b| {
        b.iter(|| {
            buf.clear();
            encoder
                .encode_into(black_box(&event), &mut buf)
                .expect("encodes");
            black_box(&buf);
        })
    });
    group.bench_function("decode/bare-apache-avro", |b| {
        b.iter(|| {
            let mut input = black_box(bare.as_slice());
            let value = apache_avro::from_avro_datum(schema, &mut input, None).expect("reads");
            apache_avro::from_value::<avro::EmailReceived>(&value).expect("decodes")
        })
    });
    group.bench_function("decode/sluice", |b| {
        b.iter(|| {
            decoder
                .decode::<avro::EmailReceived>(black_box(&framed))
                .expect("decodes")
        })
    });
    group.finish();
}

criterion_group!(benches, protobuf, avro);
criterion_main!(benches);

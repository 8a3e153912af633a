//! DELIVERY reading throughput on a generated 20 000-intervention document
//! (about 67 MB), against raw quick-xml streaming passes over the same bytes
//! (the ceiling):
//!
//! * `raw_quick_xml_ns_borrowed`: `NsReader::from_reader(&[u8])` +
//!   `read_resolved_event` (borrowed events, no copy): the fastest quick-xml
//!   streaming pass, the fair ceiling of issue 9;
//! * `raw_quick_xml_ns_buffered`: `read_resolved_event_into` with a reused
//!   buffer, the pass the reader over any `BufRead` has to make.
//!
//! Run: `cargo bench --bench delivery_read -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quick_xml::NsReader;
use quick_xml::events::Event;
use saad_gateway::xml::{DeliveryReader, Limits, synthetic};

/// Interventions in the generated DELIVERY: 100 000 (issue 3), or
/// `DELIVERY_BENCH_INTERVENTIONS` for a quicker run.
fn interventions() -> usize {
    std::env::var("DELIVERY_BENCH_INTERVENTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn bench(c: &mut Criterion) {
    let interventions = interventions();
    let bytes = synthetic::delivery(interventions, 42);
    let mut group = c.benchmark_group("delivery_read");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("raw_quick_xml_ns_borrowed", |b| {
        b.iter(|| {
            let mut reader = NsReader::from_reader(bytes.as_slice());
            let mut starts = 0usize;
            loop {
                match reader.read_resolved_event() {
                    Ok((_, Event::Start(_))) => starts += 1,
                    Ok((_, Event::Eof)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            black_box(starts)
        })
    });
    group.bench_function("raw_quick_xml_ns_buffered", |b| {
        b.iter(|| {
            let mut reader = NsReader::from_reader(bytes.as_slice());
            let mut buf = Vec::new();
            let mut starts = 0usize;
            loop {
                match reader.read_resolved_event_into(&mut buf) {
                    Ok((_, Event::Start(_))) => starts += 1,
                    Ok((_, Event::Eof)) | Err(_) => break,
                    Ok(_) => {}
                }
                buf.clear();
            }
            black_box(starts)
        })
    });
    group.bench_function("delivery_reader", |b| {
        b.iter(|| {
            let limits = Limits {
                max_document_bytes: bytes.len() as u64,
                ..Limits::default()
            };
            let mut count = 0usize;
            for line in DeliveryReader::with_limits(bytes.as_slice(), limits) {
                if line.is_ok() {
                    count += 1;
                }
            }
            assert_eq!(count, interventions);
            black_box(count)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

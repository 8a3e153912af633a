//! DELIVERY reading throughput on a generated 100 000-intervention document
//! (about 312 MB; `DELIVERY_BENCH_INTERVENTIONS` for another size), against raw quick-xml streaming passes over the same bytes
//! (the ceiling):
//!
//! * `raw_quick_xml_ns_borrowed`: `NsReader::from_reader(&[u8])` +
//!   `read_resolved_event` (borrowed events, no copy): the fastest quick-xml
//!   streaming pass, the fair ceiling of issue 9;
//! * `raw_quick_xml_ns_buffered`: `read_resolved_event_into` with a reused
//!   buffer, the pass the reader over any `BufRead` has to make.
//!
//! Run: `cargo bench --bench delivery_read -- --warm-up-time 1 --measurement-time 5`
//!
//! For an instruction count (immune to the machine's load), run one pass
//! only with `DELIVERY_READ_ONCE=raw`, `DELIVERY_READ_ONCE=buffered` or
//! `DELIVERY_READ_ONCE=reader` under `valgrind --tool=callgrind` (the
//! document is generated before any), and read the inclusive cost of
//! `raw_borrowed`, `raw_buffered` or `reader` (`callgrind_annotate --inclusive=yes`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
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

/// The fastest quick-xml streaming pass: borrowed namespace-resolved events.
fn raw_borrowed(bytes: &[u8]) -> usize {
    let mut reader = NsReader::from_reader(bytes);
    let mut starts = 0usize;
    loop {
        match reader.read_resolved_event() {
            Ok((_, Event::Start(_))) => starts += 1,
            Ok((_, Event::Eof)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    starts
}

/// The quick-xml pass a reader over any `BufRead` makes: buffered
/// namespace-resolved events.
fn raw_buffered(bytes: &[u8]) -> usize {
    let mut reader = NsReader::from_reader(bytes);
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
    starts
}

/// The reader over the whole document: the number of lines read.
fn reader(bytes: &[u8]) -> usize {
    let limits = Limits {
        max_document_bytes: bytes.len() as u64,
        ..Limits::default()
    };
    DeliveryReader::with_limits(bytes, limits)
        .filter(Result::is_ok)
        .count()
}

fn bench(c: &mut Criterion) {
    let interventions = interventions();
    let bytes = synthetic::delivery(interventions, 42);
    let mut group = c.benchmark_group("delivery_read");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("raw_quick_xml_ns_borrowed", |b| {
        b.iter(|| black_box(raw_borrowed(black_box(&bytes))))
    });
    group.bench_function("raw_quick_xml_ns_buffered", |b| {
        b.iter(|| black_box(raw_buffered(black_box(&bytes))))
    });
    group.bench_function("delivery_reader", |b| {
        b.iter(|| {
            let count = reader(black_box(&bytes));
            assert_eq!(count, interventions);
            black_box(count)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    match std::env::var("DELIVERY_READ_ONCE").as_deref() {
        Ok("raw") => {
            let bytes = synthetic::delivery(interventions(), 42);
            println!("raw: {} start tags", raw_borrowed(black_box(&bytes)));
        }
        Ok("buffered") => {
            let bytes = synthetic::delivery(interventions(), 42);
            println!("buffered: {} start tags", raw_buffered(black_box(&bytes)));
        }
        Ok("reader") => {
            let bytes = synthetic::delivery(interventions(), 42);
            println!("reader: {} lines", reader(black_box(&bytes)));
        }
        Ok(other) => panic!("DELIVERY_READ_ONCE is raw, buffered or reader, not {other}"),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}

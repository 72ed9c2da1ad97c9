//! Cost of recording one measurement in the perf monitor: by name (one hash lookup) and
//! by pre-resolved id (the hot path), plus building a full report for scale.
//!
//! `cargo bench -p ondes-core --bench perf_record -- --warm-up-time 1 --measurement-time 3`
//!
//! The target (issue 4) is < 1 µs per record. Time advances 20 ms per record, so the
//! one-second buckets roll over as in a real stream, and the window is full (every record
//! evicts) after the first 1000 iterations.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ondes_core::perf::{DefaultOp, PerfMonitor};

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("perf_record");

    let mut m = PerfMonitor::default();
    let mut now = 1_000_000u64;
    g.bench_function("record_by_name", |b| {
        b.iter(|| {
            now += 20_000;
            black_box(m.record(black_box("tts_synthesis"), black_box(420_000), true, now)).ok();
        })
    });

    let mut m = PerfMonitor::default();
    let id = DefaultOp::Fanout.id();
    let mut now = 1_000_000u64;
    g.bench_function("record_by_id", |b| {
        b.iter(|| {
            now += 20_000;
            m.record_id(black_box(id), black_box(900), true, now);
        })
    });
    g.finish();

    // a report of all 19 built-ins with full windows: what GET /api/perf costs
    let mut m = PerfMonitor::default();
    for i in 0..1000u64 {
        for op in DefaultOp::ALL {
            m.record_id(op.id(), (i * 7919) % op.default_threshold_us(), i % 50 != 0, i * 20_000);
        }
    }
    c.bench_function("perf_report_19_ops_full", |b| b.iter(|| black_box(m.report(black_box(20_000_000)))));
}

criterion_group!(benches, record);
criterion_main!(benches);

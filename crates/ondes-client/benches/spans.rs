//! The span API's cost on the caller's thread, per measured block: a guard started and
//! dropped (two clocks read, the name and two attributes copied, one `try_send`), and an
//! explicit `record`. Spans are timed in chunks that fit the queue, which is drained between
//! chunks (posting to a port where nothing listens: each post fails at once) outside the
//! timing, so every measured span is queued — none takes the cheaper full-queue path; the
//! counts printed at the end confirm `dropped` is 0.
//!
//! `cargo bench -p ondes-client --bench spans -- --warm-up-time 1 --measurement-time 3`
//!
//! Target: < 2 µs per measured block.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ondes_client::spans::{Spans, SpansOptions};

fn spans(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let _enter = rt.enter();
    let opts = SpansOptions { queue: 16_384, batch: 1000, flush_every: Duration::from_millis(10) };
    let spans = Spans::with_options("http://127.0.0.1:9", "token", opts);
    let attrs = [("model", "large"), ("voice", "fr-2")];
    let mut g = c.benchmark_group("spans");
    // Timed in chunks of CHUNK spans, each into an empty queue (the chunk fits in it), the
    // queue drained between chunks outside the timing: every measured span is queued,
    // none is dropped — the cost a caller pays with a live server that keeps up.
    const CHUNK: u64 = 8_192;
    let timed = |b: &mut criterion::Bencher, one: &dyn Fn()| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK);
                let t0 = std::time::Instant::now();
                for _ in 0..n {
                    one();
                }
                total += t0.elapsed();
                rt.block_on(spans.flush());
                left -= n;
            }
            total
        })
    };
    g.bench_function("start_and_drop_guard", |b| {
        timed(b, &|| {
            let g = spans.start(black_box("llm_response"), black_box(&attrs));
            drop(black_box(g));
        })
    });
    g.bench_function("record", |b| {
        timed(b, &|| {
            spans.record(black_box("tts_synthesis"), black_box(&attrs), Duration::from_micros(420), true)
        })
    });
    g.finish();
    rt.block_on(spans.flush());
    let counts = spans.counts();
    println!("{}", serde_json::json!({"bench": "spans", "counts": counts}));
    println!(
        "spans queued and posted (failed: no server): {}, dropped on a full queue: {}",
        counts.failed, counts.dropped
    );
}

criterion_group!(benches, spans);
criterion_main!(benches);

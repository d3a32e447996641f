//! Criterion bench of the batched 2-D FFT (64 frames of 64² and 128²) on the adapter `auto`
//! picks; throughput counts the minimum traffic (one read and one write per pass).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use num_complex::Complex32;
use ptycho::fft::{Direction, FftPlan};
use ptycho::gpu::{Engine, EngineOptions};

fn fft(c: &mut Criterion) {
    let engine = match Engine::new(&EngineOptions::default()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("no adapter, skipping GPU benches: {e}");
            return;
        }
    };
    let batch = 64usize;
    let mut g = c.benchmark_group("fft");
    for n in [64usize, 128] {
        let plan = FftPlan::new(&engine, n, n, batch, Direction::Forward).unwrap();
        let src = engine
            .upload("src", &vec![Complex32::new(1.0, 0.0); n * n * batch])
            .unwrap();
        let dst = engine.alloc::<Complex32>("dst", n * n * batch).unwrap();
        let scratch = plan.alloc_scratch(&engine).unwrap();
        g.throughput(Throughput::Bytes(
            (plan.passes() * 2 * n * n * batch * 8) as u64,
        ));
        g.bench_function(format!("{n}x{n}x{batch}"), |bch| {
            bch.iter(|| {
                let mut rec = engine.recording("fft");
                plan.record(&engine, &mut rec, &src, &dst, &scratch)
                    .unwrap();
                engine.submit(rec).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = fft
}
criterion_main!(benches);

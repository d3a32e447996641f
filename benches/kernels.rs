//! Criterion benches of the first kernels (cmul, reduce_sum) on the adapter `auto` picks. Every timed closure submits and waits (`Engine::submit` polls until done).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use num_complex::Complex32;
use ptycho::gpu::{Engine, EngineOptions};
use ptycho::linalg::{Cmul, ReduceSum};

fn engine() -> Option<Engine> {
    match Engine::new(&EngineOptions::default()) {
        Ok(e) => Some(e),
        Err(e) => {
            eprintln!("no adapter, skipping GPU benches: {e}");
            None
        }
    }
}

fn kernels(c: &mut Criterion) {
    let Some(engine) = engine() else { return };
    let (n, batch) = (64usize, 64usize);
    let frame = n * n;

    let a = engine
        .upload("a", &vec![Complex32::new(0.5, -0.25); frame * batch])
        .unwrap();
    let b = engine
        .upload("b", &vec![Complex32::new(1.0, 0.5); frame])
        .unwrap();
    let out = engine.alloc::<Complex32>("out", frame * batch).unwrap();
    let cmul = Cmul::new(&engine).unwrap();
    let mut g = c.benchmark_group("cmul");
    g.throughput(Throughput::Bytes((2 * frame * batch + frame) as u64 * 8));
    g.bench_function("64x64x64_broadcast", |bch| {
        bch.iter(|| {
            let mut rec = engine.recording("cmul");
            cmul.record(&engine, &mut rec, &a, &b, &out, frame, false)
                .unwrap();
            engine.submit(rec).unwrap()
        })
    });
    g.finish();

    let len = 1 << 20;
    let x = engine.upload("x", &vec![1.0f32; len]).unwrap();
    let sum = ReduceSum::new(&engine).unwrap();
    let scratch = sum.scratch(&engine, len, 1).unwrap();
    let mut g = c.benchmark_group("reduce_sum");
    g.throughput(Throughput::Bytes(len as u64 * 4));
    g.bench_function("1M", |bch| {
        bch.iter(|| {
            let mut rec = engine.recording("sum");
            sum.record(&engine, &mut rec, &x, len, &scratch).unwrap();
            engine.submit(rec).unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = kernels
}
criterion_main!(benches);

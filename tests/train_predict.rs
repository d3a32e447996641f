//! Inference of gridsize 2 is PtychoPINN's `trimmed_obj`: the object_big merge of the group's
//! predicted patches, cropped to N around the group centre. Checked against the f64 twins of
//! the merge and the crop, applied to the network's own patches.

mod common;

use num_complex::{Complex32, Complex64};
use ptycho::config::Config;
use ptycho::data::group::make_groups;
use ptycho::physics::{MergeGeometry, TranslateGeometry, cpu};
use ptycho::workflow::infer::Predictor;
use ptycho::workflow::train::Trainer;

#[test]
fn gridsize_two_prediction_is_the_cropped_group_canvas() {
    let Some(engine) = common::gpu_or_skip() else {
        return;
    };
    let n = 16;
    let mut cfg = Config::default();
    cfg.data.n = n;
    cfg.data.gridsize = 2;
    let probe = ptycho::simulate::objects::default_probe(n);
    let mut rng = common::Rng::new(4);
    let m = 12;
    let xs: Vec<f64> = (0..m).map(|_| 20.0 + 10.0 * rng.uniform()).collect();
    let ys: Vec<f64> = (0..m).map(|_| 20.0 + 10.0 * rng.uniform()).collect();
    let groups = make_groups(&xs, &ys, 2, 4, 0, 3);
    let x: Vec<f32> = (0..m * n * n).map(|_| rng.uniform() as f32).collect();
    let mut t = Trainer::new(&engine, &cfg, &probe).unwrap();
    t.fit_canvas(&groups);
    let mut p = Predictor::new(&engine, &cfg);
    p.fit_canvas(&groups);
    let canvas = t.canvas();
    assert!(canvas > n && canvas % 2 == 0);
    assert_eq!(
        p.canvas(),
        canvas,
        "training and inference merge on the same canvas"
    );
    let idx: Vec<usize> = (0..groups.len()).collect();
    let got = p
        .predict(&t.net.freeze(&engine).unwrap(), &x, &groups, &idx, 5)
        .unwrap();
    assert_eq!(got.len(), groups.len() * n * n);

    // The network's own patches for the same groups (members group-major).
    let mut xs_in = Vec::new();
    for &mem in &groups.members {
        xs_in.extend_from_slice(&x[mem * n * n..(mem + 1) * n * n]);
    }
    let b = groups.len();
    let acts = t.net.alloc(&engine, b).unwrap();
    let gx = engine.upload("x", &xs_in).unwrap();
    let mut rec = engine.recording("net");
    t.net.forward(&engine, &mut rec, &gx, &acts).unwrap();
    let id = rec.read(&acts.obj);
    let patches: Vec<Complex32> = engine.submit(rec).unwrap().get(id);
    let p64: Vec<Complex64> = patches
        .iter()
        .map(|z| Complex64::new(z.re as f64, z.im as f64))
        .collect();
    let offs: Vec<[f32; 2]> = groups
        .offsets
        .iter()
        .map(|o| [o[0] as f32, o[1] as f32])
        .collect();
    let (canv, _) = cpu::merge_patches(
        &p64,
        &offs,
        &MergeGeometry {
            n,
            m: canvas,
            groups: b,
            members: 4,
        },
    );
    let want = cpu::translate(
        &canv,
        &vec![[0.0, 0.0]; b],
        &TranslateGeometry::reextract(n, canvas, b, 1),
    );
    let got64: Vec<f64> = got
        .iter()
        .flat_map(|z| [z.re as f64, z.im as f64])
        .collect();
    let want64: Vec<f64> = want.iter().flat_map(|z| [z.re, z.im]).collect();
    let (l2, max) = common::rel_errors(&got64, &want64);
    assert!(l2 < 1e-5 && max < 1e-5, "rel L2 {l2:e}, max {max:e}");
    // The crop is not the plain member patch: members are shifted by their offsets.
    let first: Vec<f64> = patches[..n * n]
        .iter()
        .flat_map(|z| [z.re as f64, z.im as f64])
        .collect();
    let (d, _) = common::rel_errors(&got64[..2 * n * n], &first);
    assert!(d > 1e-3, "trimmed object equals the first member's patch");
}

//! Property tests of the data readers against bad input: truncated files, corrupted bytes (of
//! the archive, and of the arrays inside a well-formed archive), random shapes and dtypes, and
//! NaN/Inf values. Every reader must return a clean one-line `Err` (naming the file) or a
//! dataset that satisfies the contract — never panic. A panic is caught with `catch_unwind` and
//! turned into a failure that names the input. With the `hdf5` feature the CXI reader gets the
//! same treatment (`mod cxi` below).

use std::io::{Cursor, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use num_complex::{Complex32, Complex64};
use proptest::prelude::*;
use ptycho::data::Dataset;
use ptycho::data::npz;
use ptycho::data::{DataError, ReadOptions};

/// Cases per property: enough to hit every branch, few enough for a 2-core CI;
/// `PTYCHO_FUZZ_CASES=5000 cargo test --test fuzz_readers` fuzzes deeper.
fn cases() -> u32 {
    std::env::var("PTYCHO_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

fn tmp(name: &str) -> PathBuf {
    static K: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!("ptycho-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(format!("{}-{name}", K.fetch_add(1, Ordering::Relaxed)))
}

/// Checks one reader result: a panic or a multi-line error fails with `input` described; an
/// error must name the file; a dataset must satisfy the contract.
fn check<T>(
    what: &str,
    path: &Path,
    input: &str,
    r: std::thread::Result<Result<T, DataError>>,
    ok: impl FnOnce(&T) -> Result<(), String>,
) -> Result<bool, TestCaseError> {
    let r = match r {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Err(TestCaseError::fail(format!(
                "{what} panicked ({msg}) on {input}"
            )));
        }
    };
    match r {
        Ok(v) => {
            ok(&v).map_err(|e| TestCaseError::fail(format!("{what} on {input}: {e}")))?;
            Ok(true)
        }
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(
                !msg.contains('\n'),
                "{what}: multi-line error on {input}: {msg}"
            );
            prop_assert!(
                msg.contains(&path.display().to_string()),
                "{what}: error does not name the file on {input}: {msg}"
            );
            Ok(false)
        }
    }
}

/// The contract a successfully read dataset satisfies.
fn valid(d: &Dataset) -> Result<(), String> {
    let (m, n) = (d.len(), d.n);
    if m == 0 || d.ycoords.len() != m || !n.is_power_of_two() || n < 8 {
        return Err(format!(
            "bad sizes: M {m}, N {n}, ycoords {}",
            d.ycoords.len()
        ));
    }
    if d.diff.len() != m * n * n || d.probe.is_empty() || d.probe.len() % (n * n) != 0 {
        return Err(format!(
            "diff {} / probe {} values for M {m}, N {n}",
            d.diff.len(),
            d.probe.len()
        ));
    }
    if let Some(v) = d.diff.iter().find(|v| !v.is_finite() || **v < 0.0) {
        return Err(format!("amplitude {v} accepted"));
    }
    let finite = |z: &Complex32| z.re.is_finite() && z.im.is_finite();
    if !d.probe.iter().all(finite) {
        return Err("non-finite probe accepted".into());
    }
    if !d.xcoords.iter().chain(&d.ycoords).all(|v| v.is_finite()) {
        return Err("non-finite position accepted".into());
    }
    if let Some((h, w, o)) = &d.object
        && (o.len() != h * w || !o.iter().all(finite))
    {
        return Err("bad object accepted".into());
    }
    if let Some(p) = &d.patches
        && (p.len() != m * n * n || !p.iter().all(finite))
    {
        return Err("bad patches accepted".into());
    }
    Ok(())
}

/// Runs every NPZ reader on `path`; returns whether `read_dataset` succeeded.
fn run_readers(path: &Path, input: &str) -> Result<bool, TestCaseError> {
    let opts = ReadOptions::default();
    let ds = catch_unwind(AssertUnwindSafe(|| ptycho::data::read_dataset(path, &opts)));
    let ok = check("read_dataset", path, input, ds, valid)?;
    let sim = catch_unwind(AssertUnwindSafe(|| {
        ptycho::data::read_sim_input(path, &opts)
    }));
    check(
        "read_sim_input",
        path,
        input,
        sim,
        |(o, (h, w), p, n, pos)| {
            if o.len() != h * w || !n.is_power_of_two() || p.is_empty() || p.len() % (n * n) != 0 {
                return Err("bad sizes".into());
            }
            match pos {
                Some((x, y)) if x.len() != y.len() => Err("positions differ in length".into()),
                _ => Ok(()),
            }
        },
    )?;
    let pat = catch_unwind(AssertUnwindSafe(|| {
        npz::read_patches(path, "ground_truth_patches")
    }));
    check("read_patches", path, input, pat, |(p, n, x, y)| {
        if p.len() != x.len() * n * n || x.len() != y.len() || x.is_empty() {
            return Err("bad sizes".into());
        }
        Ok(())
    })?;
    let probe = catch_unwind(AssertUnwindSafe(|| ptycho::data::read_probe_modes(path)));
    check("read_probe_modes", path, input, probe, |(p, n)| {
        if !n.is_power_of_two() || p.is_empty() || p.len() % (n * n) != 0 {
            return Err("bad probe size".into());
        }
        Ok(())
    })?;
    Ok(ok)
}

/// A small valid dataset (with metadata, object and patches).
fn sample(m: usize, n: usize) -> Dataset {
    Dataset {
        n,
        xcoords: (0..m).map(|i| 6.0 + i as f64).collect(),
        ycoords: (0..m).map(|i| 7.0 + 0.5 * i as f64).collect(),
        diff: (0..m * n * n).map(|i| (i % 5) as f32 * 0.5).collect(),
        probe: (0..n * n)
            .map(|i| Complex32::new(1.0, i as f32 * 0.01))
            .collect(),
        object: Some((
            20,
            24,
            (0..20 * 24)
                .map(|i| Complex32::from_polar(1.0, i as f32 * 1e-2))
                .collect(),
        )),
        patches: Some(vec![Complex32::new(0.5, 0.25); m * n * n]),
        start: None,
        scan_index: Some(vec![1; m]),
        metadata: serde_json::json!({"N": n, "nphotons": 1e6}),
    }
}

/// The bytes of a valid NPZ written by ptycho, and of a compressed one with the same arrays.
fn valid_files() -> &'static [Vec<u8>; 2] {
    static FILES: std::sync::OnceLock<[Vec<u8>; 2]> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let p = tmp("valid.npz");
        npz::write_dataset(&p, &sample(3, 8)).unwrap();
        let stored = std::fs::read(&p).unwrap();
        // Re-pack every entry deflated (what np.savez_compressed writes).
        let mut zin = zip::ZipArchive::new(Cursor::new(stored.clone())).unwrap();
        let mut zout = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for i in 0..zin.len() {
            let mut e = zin.by_index(i).unwrap();
            let name = e.name().to_string();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            zout.start_file(
                name,
                zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated),
            )
            .unwrap();
            zout.write_all(&bytes).unwrap();
        }
        let deflated = zout.finish().unwrap().into_inner();
        std::fs::remove_file(&p).unwrap();
        [stored, deflated]
    })
}

/// The `.npy` entries of a valid file as (name, bytes).
fn valid_entries() -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(valid_files()[0].clone())).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut b).unwrap();
            (e.name().to_string(), b)
        })
        .collect()
}

/// A zip of the given entries (correct CRCs: corruption happens inside the arrays).
fn zip_entries(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, b) in entries {
        z.start_file(
            name.as_str(),
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        z.write_all(b).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// A random array for the random-shape property.
#[derive(Clone, Debug)]
enum Arr {
    F32(Vec<usize>),
    F64(Vec<usize>),
    I64(Vec<usize>),
    U16(Vec<usize>),
    C64(Vec<usize>),
    C128(Vec<usize>),
}

fn arr() -> impl Strategy<Value = Arr> {
    let shape = prop::collection::vec(
        prop_oneof![Just(0usize), 1usize..4, Just(8), Just(16)],
        0..4,
    );
    (0usize..6, shape).prop_map(|(k, s)| match k {
        0 => Arr::F32(s),
        1 => Arr::F64(s),
        2 => Arr::I64(s),
        3 => Arr::U16(s),
        4 => Arr::C64(s),
        _ => Arr::C128(s),
    })
}

fn add_arr<W: Write + std::io::Seek>(z: &mut zip::ZipWriter<W>, key: &str, a: &Arr) {
    let len = |s: &Vec<usize>| s.iter().product::<usize>();
    match a {
        Arr::F32(s) => npz::add(
            z,
            key,
            s,
            (0..len(s)).map(|i| i as f32 * 0.5).collect::<Vec<_>>(),
        ),
        Arr::F64(s) => npz::add(
            z,
            key,
            s,
            (0..len(s)).map(|i| i as f64 * 0.25).collect::<Vec<_>>(),
        ),
        Arr::I64(s) => npz::add(z, key, s, (0..len(s) as i64).collect::<Vec<_>>()),
        Arr::U16(s) => npz::add(z, key, s, (0..len(s)).map(|i| i as u16).collect::<Vec<_>>()),
        Arr::C64(s) => npz::add(
            z,
            key,
            s,
            (0..len(s))
                .map(|i| Complex32::new(i as f32, 1.0))
                .collect::<Vec<_>>(),
        ),
        Arr::C128(s) => npz::add(
            z,
            key,
            s,
            (0..len(s))
                .map(|i| Complex64::new(1.0, i as f64))
                .collect::<Vec<_>>(),
        ),
    }
    .unwrap();
}

const KEYS: [&str; 8] = [
    "xcoords",
    "ycoords",
    "diff3d",
    "probeGuess",
    "objectGuess",
    "ground_truth_patches",
    "xcoords_start",
    "scan_index",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// A file cut short anywhere is refused cleanly.
    #[test]
    fn truncated_npz_is_a_clean_error(which in 0usize..2, frac in 0.0f64..1.0) {
        let bytes = &valid_files()[which];
        let cut = (bytes.len() as f64 * frac) as usize;
        let p = tmp("trunc.npz");
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let ok = run_readers(&p, &format!("file {which} truncated to {cut} of {} bytes", bytes.len()))?;
        prop_assert!(!ok, "a truncated file was accepted");
        std::fs::remove_file(&p).unwrap();
    }

    /// Random bytes of the archive overwritten: an error or a valid dataset, never a panic.
    #[test]
    fn corrupted_npz_never_panics(
        which in 0usize..2,
        edits in prop::collection::vec((0.0f64..1.0, any::<u8>()), 1..8),
    ) {
        let mut bytes = valid_files()[which].clone();
        let n = bytes.len();
        let mut desc = Vec::new();
        for (f, v) in &edits {
            let i = ((n as f64 * f) as usize).min(n - 1);
            bytes[i] = *v;
            desc.push(format!("[{i}]={v}"));
        }
        let p = tmp("corrupt.npz");
        std::fs::write(&p, &bytes).unwrap();
        run_readers(&p, &format!("file {which} with bytes {}", desc.join(" ")))?;
        std::fs::remove_file(&p).unwrap();
    }

    /// Bytes of one `.npy` entry overwritten inside a well-formed archive (the CRC matches, so
    /// the array parser sees the damage): headers, shapes, dtypes, lengths.
    #[test]
    fn corrupted_arrays_never_panic(
        entry in 0usize..9,
        edits in prop::collection::vec((0usize..140, any::<u8>()), 1..6),
        cut in prop::option::of(0usize..200),
    ) {
        let mut entries = valid_entries();
        let k = entry % entries.len();
        let mut desc = vec![entries[k].0.clone()];
        let b = &mut entries[k].1;
        for (i, v) in &edits {
            if *i < b.len() {
                b[*i] = *v;
                desc.push(format!("[{i}]={v}"));
            }
        }
        if let Some(c) = cut && c < b.len() {
            b.truncate(c);
            desc.push(format!("cut at {c}"));
        }
        let p = tmp("inner.npz");
        std::fs::write(&p, zip_entries(&entries)).unwrap();
        run_readers(&p, &desc.join(" "))?;
        std::fs::remove_file(&p).unwrap();
    }

    /// Every key present or not, each with a random rank, shape and dtype.
    #[test]
    fn random_shapes_never_panic(keys in prop::collection::vec(prop::option::of(arr()), KEYS.len())) {
        let p = tmp("shapes.npz");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
        let mut desc = Vec::new();
        for (key, a) in KEYS.iter().zip(&keys) {
            if let Some(a) = a {
                add_arr(&mut z, key, a);
                desc.push(format!("{key}: {a:?}"));
            }
        }
        z.finish().unwrap();
        run_readers(&p, &desc.join(", "))?;
        std::fs::remove_file(&p).unwrap();
    }

    /// A NaN or ±Inf anywhere in a value array is refused, naming the key.
    #[test]
    fn nan_and_inf_are_refused_naming_the_key(key in 0usize..7, at in 0usize..1000, which in 0usize..3) {
        let bad = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][which];
        let mut d = sample(3, 8);
        d.start = Some((d.xcoords.clone(), d.ycoords.clone()));
        let name = match key {
            0 => { let i = at % 3; d.xcoords[i] = bad; "xcoords" }
            1 => { let i = at % 3; d.ycoords[i] = bad; "ycoords" }
            2 => { let i = at % d.diff.len(); d.diff[i] = bad as f32; "diff3d" }
            3 => { let i = at % d.probe.len(); d.probe[i].im = bad as f32; "probeGuess" }
            4 => { let o = d.object.as_mut().unwrap(); let i = at % o.2.len(); o.2[i].re = bad as f32; "objectGuess" }
            5 => { let p = d.patches.as_mut().unwrap(); let i = at % p.len(); p[i].re = bad as f32; "ground_truth_patches" }
            _ => { let s = d.start.as_mut().unwrap(); s.0[at % 3] = bad; "xcoords_start" }
        };
        let p = tmp("nan.npz");
        npz::write_dataset(&p, &d).unwrap();
        let input = format!("{bad} in {name}");
        let ok = run_readers(&p, &input)?;
        prop_assert!(!ok, "accepted {input}");
        let msg = ptycho::data::read_dataset(&p, &ReadOptions::default()).unwrap_err().to_string();
        prop_assert!(msg.contains(&format!("'{name}'")), "{input}: {msg}");
        std::fs::remove_file(&p).unwrap();
    }
}

/// With the `hdf5` feature: the CXI reader under the same properties.
#[cfg(feature = "hdf5")]
mod cxi {
    use super::*;

    /// Which of the CXI datasets to write, and how.
    #[derive(Clone, Debug)]
    struct Spec {
        data: Option<(usize, Vec<usize>)>,
        translation: Option<Vec<usize>>,
        probe: Option<Vec<usize>>,
        energy: Option<f64>,
        distance: Option<f64>,
        pixel: Option<f64>,
        mask: Option<Vec<usize>>,
        object: Option<Vec<usize>>,
        bad: Option<(usize, f64)>,
    }

    fn shape(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
        prop::collection::vec(
            prop_oneof![Just(0usize), 1usize..4, Just(8), Just(16)],
            0..=max_rank,
        )
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (
            prop::option::of((0usize..6, shape(4))),
            prop::option::of(shape(3)),
            prop::option::of(shape(4)),
            prop::option::of(prop_oneof![
                Just(1.28e-15),
                Just(0.0),
                Just(-1.0),
                Just(8000.0)
            ]),
            prop::option::of(prop_oneof![Just(2.0), Just(0.0)]),
            prop::option::of(prop_oneof![Just(75e-6), Just(-1.0)]),
            prop::option::of(shape(3)),
            prop::option::of(shape(3)),
            prop::option::of((
                0usize..5,
                prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-3.0)],
            )),
        )
            .prop_map(
                |(data, translation, probe, energy, distance, pixel, mask, object, bad)| Spec {
                    data,
                    translation,
                    probe,
                    energy,
                    distance,
                    pixel,
                    mask,
                    object,
                    bad,
                },
            )
    }

    fn len(s: &[usize]) -> usize {
        s.iter().product()
    }

    /// Writes a CXI file after `spec`; `bad` puts a value into one dataset (0 data, 1
    /// translation, 2 probe, 3 mask, 4 object).
    fn write(p: &Path, s: &Spec) -> hdf5::Result<()> {
        let f = hdf5::File::create(p)?;
        let bad = |k: usize, v: &mut [f64]| {
            if let Some((kk, x)) = s.bad
                && kk == k
                && !v.is_empty()
            {
                let i = v.len() / 2;
                v[i] = x;
            }
        };
        if let Some((dtype, sh)) = &s.data {
            let mut v: Vec<f64> = (0..len(sh)).map(|i| (i % 7) as f64).collect();
            bad(0, &mut v);
            let a = ndarray::ArrayD::from_shape_vec(sh.clone(), v).unwrap();
            let b = f.new_dataset_builder();
            let name = "entry_1/data_1/data";
            f.create_group("entry_1").ok();
            f.create_group("entry_1/data_1").ok();
            match dtype {
                0 => b.with_data(&a.mapv(|x| x as u16)).create(name)?,
                1 => b.with_data(&a.mapv(|x| x as i16)).create(name)?,
                2 => b.with_data(&a.mapv(|x| x as u32)).create(name)?,
                3 => b.with_data(&a.mapv(|x| x as f32)).create(name)?,
                4 => b.with_data(&a).create(name)?,
                _ => b
                    .with_data(&a.mapv(|x| Complex32::new(x as f32, 0.0)))
                    .create(name)?,
            };
        }
        let group = |g: &str| {
            let _ = f.create_group(g);
        };
        for g in [
            "entry_1",
            "entry_1/sample_1",
            "entry_1/sample_1/geometry_1",
            "entry_1/instrument_1",
            "entry_1/instrument_1/source_1",
            "entry_1/instrument_1/detector_1",
            "entry_1/image_1",
            "entry_1/image_2",
        ] {
            group(g);
        }
        if let Some(sh) = &s.translation {
            let mut v: Vec<f64> = (0..len(sh)).map(|i| i as f64 * 1e-7).collect();
            bad(1, &mut v);
            f.new_dataset_builder()
                .with_data(&ndarray::ArrayD::from_shape_vec(sh.clone(), v).unwrap())
                .create("entry_1/sample_1/geometry_1/translation")?;
        }
        for (k, path, sh) in [
            (2, "entry_1/image_1/data", &s.probe),
            (4, "entry_1/image_2/data", &s.object),
        ] {
            if let Some(sh) = sh {
                let mut v: Vec<f64> = (0..len(sh)).map(|i| 1.0 + i as f64 * 1e-3).collect();
                bad(k, &mut v);
                let a = ndarray::ArrayD::from_shape_vec(sh.clone(), v).unwrap();
                f.new_dataset_builder()
                    .with_data(&a.mapv(|x| Complex32::new(x as f32, 0.5)))
                    .create(path)?;
            }
        }
        if let Some(sh) = &s.mask {
            let mut v: Vec<f64> = (0..len(sh)).map(|i| (i % 3 == 0) as u8 as f64).collect();
            bad(3, &mut v);
            f.new_dataset_builder()
                .with_data(&ndarray::ArrayD::from_shape_vec(sh.clone(), v).unwrap())
                .create("entry_1/instrument_1/detector_1/mask")?;
        }
        for (path, v) in [
            ("entry_1/instrument_1/source_1/energy", s.energy),
            ("entry_1/instrument_1/detector_1/distance", s.distance),
            ("entry_1/instrument_1/detector_1/x_pixel_size", s.pixel),
            ("entry_1/instrument_1/detector_1/y_pixel_size", s.pixel),
        ] {
            if let Some(v) = v {
                f.new_dataset::<f64>().create(path)?.write_scalar(&v)?;
            }
        }
        Ok(())
    }

    fn run_cxi(path: &Path, input: &str) -> Result<bool, TestCaseError> {
        let opts = ReadOptions::default();
        let ds = catch_unwind(AssertUnwindSafe(|| ptycho::data::read_dataset(path, &opts)));
        let ok = check("read_dataset (CXI)", path, input, ds, valid)?;
        let sim = catch_unwind(AssertUnwindSafe(|| {
            ptycho::data::read_sim_input(path, &opts)
        }));
        check(
            "read_sim_input (CXI)",
            path,
            input,
            sim,
            |(o, (h, w), _, _, _)| {
                (o.len() == h * w)
                    .then_some(())
                    .ok_or_else(|| "bad object size".into())
            },
        )?;
        let probe = catch_unwind(AssertUnwindSafe(|| ptycho::data::read_probe_modes(path)));
        check("read_probe_modes (CXI)", path, input, probe, |_| Ok(()))?;
        Ok(ok)
    }

    /// (file offset, length) of every stored value block of the fixture: contiguous data and
    /// each chunk, as libhdf5 reports them for the pristine file.
    fn value_ranges() -> Vec<(u64, u64)> {
        let f = hdf5::File::open(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tiny.cxi"
        ))
        .unwrap();
        let mut out = Vec::new();
        for p in [
            "entry_1/instrument_1/detector_1/data",
            "entry_1/instrument_1/detector_1/mask",
            "entry_1/instrument_1/detector_1/distance",
            "entry_1/instrument_1/detector_1/x_pixel_size",
            "entry_1/instrument_1/detector_1/y_pixel_size",
            "entry_1/instrument_1/source_1/energy",
            "entry_1/sample_1/geometry_1/translation",
            "entry_1/image_1/data",
        ] {
            let ds = f.dataset(p).unwrap();
            match ds.offset() {
                Some(o) => out.push((o, ds.storage_size())),
                None => {
                    for i in 0..ds.num_chunks().unwrap_or(0) {
                        let c = ds.chunk_info(i).unwrap();
                        out.push((c.addr, c.size));
                    }
                }
            }
        }
        assert!(out.len() >= 8, "{out:?}");
        out
    }

    fn fixture() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tiny.cxi"
        ))
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

        /// Random presence, shapes, dtypes and bad values of every CXI dataset.
        #[test]
        fn random_cxi_files_never_panic(s in spec()) {
            let p = tmp("rand.cxi");
            write(&p, &s).unwrap();
            let input = format!("{s:?}");
            let ok = run_cxi(&p, &input)?;
            if let Some((k, v)) = s.bad
                && ok
            {
                // A bad value may only be accepted where it is never read, or masked away.
                // (−3 is a legal translation, probe, mask or object value; a bad count can fall
                // on a masked pixel.)
                prop_assert!((k != 0 && v == -3.0) || (k == 0 && s.mask.is_some()),
                    "accepted {v} in dataset {k}: {input}");
            }
            std::fs::remove_file(&p).unwrap();
        }

        /// The Ptychodus-layout fixture cut short anywhere is refused cleanly.
        #[test]
        fn truncated_cxi_is_a_clean_error(frac in 0.0f64..1.0) {
            let bytes = fixture();
            let cut = (bytes.len() as f64 * frac) as usize;
            let p = tmp("trunc.cxi");
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let ok = run_cxi(&p, &format!("tiny.cxi truncated to {cut} of {} bytes", bytes.len()))?;
            prop_assert!(!ok, "a truncated file was accepted");
            std::fs::remove_file(&p).unwrap();
        }

        /// Bytes of the fixture's stored values overwritten (raw and LZF-compressed chunks,
        /// contiguous arrays, scalars): NaN, Inf, negative counts, undecodable chunks. An
        /// error or a valid dataset, never a panic. (Corrupting HDF5's own metadata — object
        /// headers, B-trees — can crash libhdf5 1.10 itself inside H5Dread, beyond what a
        /// Rust reader can catch; see specs/data.md.)
        #[test]
        fn corrupted_cxi_values_never_panic(edits in prop::collection::vec((0.0f64..1.0, any::<u8>()), 1..6)) {
            let mut bytes = fixture();
            let ranges = value_ranges();
            let total: u64 = ranges.iter().map(|r| r.1).sum();
            let mut desc = Vec::new();
            for (f, v) in &edits {
                // The f-th fraction of all stored value bytes.
                let mut k = ((total as f64 * f) as u64).min(total - 1);
                let (start, _) = ranges
                    .iter()
                    .find(|r| {
                        let hit = k < r.1;
                        if !hit {
                            k -= r.1;
                        }
                        hit
                    })
                    .unwrap();
                let i = (start + k) as usize;
                bytes[i] = *v;
                desc.push(format!("[{i}]={v}"));
            }
            let p = tmp("values.cxi");
            std::fs::write(&p, &bytes).unwrap();
            run_cxi(&p, &format!("tiny.cxi with bytes {}", desc.join(" ")))?;
            std::fs::remove_file(&p).unwrap();
        }
    }
}

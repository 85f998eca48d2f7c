//! Renders every plot kind from real (test-objective) runs and checks the PNGs decode with
//! the expected size and show more than a blank canvas.

mod common;

use std::path::Path;

use common::{drive, test_config, test_experts};
use cycleqd_qd::plot::{archive_maps, curves, write_all, CurveMetric};
use cycleqd_qd::{Durability, ParentSampler, Run, RunOptions};

/// Decodes a PNG; returns its size and the number of distinct colours.
fn inspect(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> =
        buf[..info.buffer_size()].chunks(channels).collect();
    (info.width, info.height, colours.len())
}

fn finished_run(k: usize, dir: &Path) -> Run<Vec<f32>> {
    let options = RunOptions {
        durability: Durability::OsBuffer,
        ..RunOptions::default()
    };
    let mut run =
        Run::create(dir, test_config(k, 60, 3, 5, ParentSampler::PAPER), options).unwrap();
    run.seed(test_experts(k, k + 1)).unwrap();
    drive(&mut run, 1, |_, _| true);
    run
}

#[test]
fn every_plot_kind_renders_a_readable_png() {
    let tmp = tempfile::tempdir().unwrap();
    // (K, expected archive-map size): one row of K maps (strips for K = 2, squares for
    // K = 3); for K = 4 a row of 3 projections per archive.
    for (k, size) in [(2, (1080, 274)), (3, (1620, 444)), (4, (1400, 1644))] {
        let run = finished_run(k, &tmp.path().join(format!("run{k}")));
        let out = tmp.path().join(format!("plots{k}"));
        let written = write_all(run.cycle(), &out).unwrap();
        assert_eq!(written.len(), 3);
        let (w, h, colours) = inspect(&written[0]);
        assert_eq!((w, h), size, "archive maps for K = {k}");
        assert!(
            colours > 20,
            "archive maps for K = {k} look blank ({colours} colours)"
        );
        for curve in &written[1..] {
            let (w, h, colours) = inspect(curve);
            assert_eq!((w, h), (900, 560));
            assert!(colours > 8, "{} looks blank", curve.display());
        }
    }
}

#[test]
fn plot_inputs_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let run = finished_run(3, &tmp.path().join("run"));
    let path = tmp.path().join("bad.png");
    let err = archive_maps(run.cycle().archives(), &["only".to_string()], &path).unwrap_err();
    assert!(err.to_string().contains("bad.png"), "{err}");
    let err = curves(
        run.cycle().stats(),
        &["a".to_string()],
        CurveMetric::QdScore,
        &path,
    )
    .unwrap_err();
    assert!(err.to_string().contains("expected one per task"), "{err}");
}

//! The GPU SVD (cuSOLVER) against the CPU one; built with `--features cuda`, needs a GPU.
#![cfg(feature = "cuda")]

use cycleqd_recipe::{GpuSvd, ThinSvd};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn gpu_svd_matches_the_cpu_on_tall_and_wide_matrices() {
    let gpu = GpuSvd::new(0).expect("a CUDA GPU");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (m, n) in [(300, 40), (40, 300), (64, 64), (1, 7), (7, 1)] {
        let a: Vec<f32> = (0..m * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let g = gpu.compute("a", &a, m, n).unwrap();
        let c = ThinSvd::compute("a", &a, m, n).unwrap();
        assert_eq!((g.m, g.n, g.rank()), (m, n, m.min(n)));
        assert!(
            g.relative_error(&a) < 1e-5,
            "{m}x{n}: {:.2e}",
            g.relative_error(&a)
        );
        for (x, y) in g.s.iter().zip(&c.s) {
            assert!((x - y).abs() <= 1e-4 * c.s[0], "{m}x{n}: {x} vs {y}");
        }
    }
}

//! The learning-rate schedule: linear warmup, then cosine decay to zero (as Transformers'
//! `get_cosine_schedule_with_warmup`, but staying at zero past the last step).

/// Learning rate at `step` (0-based) of `total` steps.
pub fn cosine_with_warmup(base: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return base * step as f64 / warmup.max(1) as f64;
    }
    let progress = ((step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64).min(1.0);
    base * (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn warms_up_peaks_and_decays_to_zero() {
        assert_eq!(cosine_with_warmup(1.0, 0, 10, 100), 0.0);
        assert_eq!(cosine_with_warmup(1.0, 5, 10, 100), 0.5);
        assert_eq!(cosine_with_warmup(1.0, 10, 10, 100), 1.0);
        assert!((cosine_with_warmup(1.0, 55, 10, 100) - 0.5).abs() < 1e-12);
        assert!(cosine_with_warmup(1.0, 100, 10, 100).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn stays_within_zero_and_base(step in 0usize..500, warmup in 0usize..50, total in 1usize..400) {
            let lr = cosine_with_warmup(2e-3, step, warmup, total);
            prop_assert!((0.0..=2e-3).contains(&lr));
        }

        #[test]
        fn never_increases_after_warmup(step in 0usize..300, warmup in 0usize..50, extra in 1usize..300) {
            let total = warmup + extra;
            let s = warmup + step;
            prop_assert!(cosine_with_warmup(1.0, s + 1, warmup, total) <= cosine_with_warmup(1.0, s, warmup, total) + 1e-12);
        }
    }
}

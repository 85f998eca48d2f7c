//! Undoing llama.cpp's row interleaving of the Q and K projections.
//!
//! Hugging Face Llama rotates the two halves of each head (`rotate_half`); ggml rotates adjacent
//! pairs. llama.cpp's converter therefore reorders the rows of `q_proj` (with `n_head`) and
//! `k_proj` (with `n_head_kv`):
//! `w.reshape(n_head, 2, rows / n_head / 2, *rest).swapaxes(1, 2).reshape(w.shape)`.
//! So GGUF row `h*R + 2*i + j` holds Hugging Face row `h*R + j*(R/2) + i`, with `R` rows per head.

/// Inverts llama.cpp's permutation of a row-major matrix of `rows x cols` (cols is 1 for a bias).
///
/// `n_head` must divide `rows` into heads of an even number of rows; callers check this.
pub fn unpermute_rows(gguf: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
    let per_head = rows / n_head;
    let half = per_head / 2;
    let mut hf = vec![0f32; gguf.len()];
    for h in 0..n_head {
        for j in 0..2 {
            for i in 0..half {
                let dst = (h * per_head + j * half + i) * cols;
                let src = (h * per_head + 2 * i + j) * cols;
                hf[dst..dst + cols].copy_from_slice(&gguf[src..src + cols]);
            }
        }
    }
    hf
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// llama.cpp's forward permutation, written straight from its reshape/swapaxes definition:
    /// view rows as `[n_head][2][half]`, swap the last two axes, read back as `[n_head][half][2]`.
    fn permute_rows(hf: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
        let half = rows / n_head / 2;
        let mut out = Vec::with_capacity(hf.len());
        for h in 0..n_head {
            for i in 0..half {
                for j in 0..2 {
                    let src = (h * 2 * half + j * half + i) * cols;
                    out.extend_from_slice(&hf[src..src + cols]);
                }
            }
        }
        out
    }

    #[test]
    fn matches_a_worked_example() {
        // One head of 4 rows: HF rows [a0 a1 | b0 b1] are stored as [a0 b0 a1 b1].
        let gguf = [10.0, 20.0, 11.0, 21.0];
        assert_eq!(unpermute_rows(&gguf, 4, 1, 1), [10.0, 11.0, 20.0, 21.0]);
    }

    proptest! {
        #[test]
        fn inverts_llama_cpp_permutation(n_head in 1usize..5, half in 1usize..5, cols in 1usize..4) {
            let rows = n_head * half * 2;
            let hf: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
            let gguf = permute_rows(&hf, rows, cols, n_head);
            prop_assert_eq!(unpermute_rows(&gguf, rows, cols, n_head), hf);
        }
    }
}

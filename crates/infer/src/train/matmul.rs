//! Strided f32 matrix products for the trainer, `C (+)= A·B`, on faer's CPU kernels.

use std::marker::PhantomData;

/// A read-only strided view of a matrix inside a slice: element `(i, j)` is
/// `data[offset + i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    data: &'a [f32],
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows x cols` matrix filling `data`.
    pub(crate) fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, 0, rows, cols, cols, 1)
    }

    /// Any strided view; panics when it reaches outside `data` (a bug in the caller).
    pub(crate) fn strided(
        data: &'a [f32],
        offset: usize,
        rows: usize,
        cols: usize,
        rs: usize,
        cs: usize,
    ) -> Self {
        assert!(
            rows == 0 || cols == 0 || offset + (rows - 1) * rs + (cols - 1) * cs < data.len(),
            "matrix view {rows}x{cols} at {offset} (strides {rs}, {cs}) outside {} values",
            data.len()
        );
        Self {
            data,
            offset,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// The transposed view (no copy).
    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// A slice that several rayon tasks write at once, each in a part no other task touches.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut<'a> {
    ptr: *mut f32,
    len: usize,
    _life: PhantomData<&'a mut [f32]>,
}

// SAFETY: only `MatMut::shared` writes through it, whose callers promise disjoint writes.
unsafe impl Send for SharedMut<'_> {}
unsafe impl Sync for SharedMut<'_> {}

impl<'a> SharedMut<'a> {
    pub(crate) fn new(data: &'a mut [f32]) -> Self {
        Self {
            ptr: data.as_mut_ptr(),
            len: data.len(),
            _life: PhantomData,
        }
    }

    /// The `len` values from `offset`.
    ///
    /// # Safety
    /// No other view alive at the same time may cover any of them.
    pub(crate) unsafe fn slice(self, offset: usize, len: usize) -> &'a mut [f32] {
        assert!(
            offset + len <= self.len,
            "{len} values at {offset} outside {}",
            self.len
        );
        std::slice::from_raw_parts_mut(self.ptr.add(offset), len)
    }
}

/// A writable row-strided view of a matrix: element `(i, j)` at `offset + i * rs + j`.
pub(crate) struct MatMut<'a> {
    ptr: *mut f32,
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    _life: PhantomData<&'a mut [f32]>,
}

impl<'a> MatMut<'a> {
    /// A row-major `rows x cols` matrix filling `data`.
    pub(crate) fn rows(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, 0, rows, cols, cols)
    }

    /// `rows x cols` at `offset` with row stride `rs`; panics when it reaches outside `data`.
    pub(crate) fn strided(
        data: &'a mut [f32],
        offset: usize,
        rows: usize,
        cols: usize,
        rs: usize,
    ) -> Self {
        Self::new(data.as_mut_ptr(), data.len(), offset, rows, cols, rs)
    }

    /// As [`Self::strided`], into a slice other tasks write too.
    ///
    /// # Safety
    /// No other view alive at the same time may cover any element of this one.
    pub(crate) unsafe fn shared(
        data: SharedMut<'a>,
        offset: usize,
        rows: usize,
        cols: usize,
        rs: usize,
    ) -> Self {
        Self::new(data.ptr, data.len, offset, rows, cols, rs)
    }

    fn new(ptr: *mut f32, len: usize, offset: usize, rows: usize, cols: usize, rs: usize) -> Self {
        assert!(
            rows == 0 || cols == 0 || offset + (rows - 1) * rs + cols - 1 < len,
            "matrix view {rows}x{cols} at {offset} (row stride {rs}) outside {len} values"
        );
        Self {
            ptr,
            offset,
            rows,
            cols,
            rs,
            _life: PhantomData,
        }
    }
}

/// How many threads one product may use.
#[derive(Clone, Copy)]
pub(crate) enum Threads {
    /// The calling thread only (the caller parallelises over many small products).
    One,
    /// Every thread of the rayon pool.
    All,
}

/// `c = a · b`, or `c += a · b` when `accumulate`, scaled by `scale`.
pub(crate) fn matmul(
    c: MatMut<'_>,
    a: MatRef<'_>,
    b: MatRef<'_>,
    scale: f32,
    accumulate: bool,
    threads: Threads,
) {
    assert!(
        a.rows == c.rows && b.cols == c.cols && a.cols == b.rows,
        "matmul of {}x{} by {}x{} into {}x{}",
        a.rows,
        a.cols,
        b.rows,
        b.cols,
        c.rows,
        c.cols
    );
    if c.rows == 0 || c.cols == 0 {
        return;
    }
    if a.cols == 0 {
        if !accumulate {
            for i in 0..c.rows {
                // SAFETY: inside the view, checked on construction.
                unsafe { std::ptr::write_bytes(c.ptr.add(c.offset + i * c.rs), 0, c.cols) };
            }
        }
        return;
    }
    let par = match threads {
        Threads::All if rayon::current_num_threads() > 1 => {
            faer::Par::rayon(rayon::current_num_threads())
        }
        _ => faer::Par::Seq,
    };
    // SAFETY: the three views were bounds-checked on construction, so every element faer
    // touches lies inside its slice; `c` is written through a mutable borrow (or a disjoint
    // part of one), so it aliases neither input.
    let (c_mat, a_mat, b_mat) = unsafe {
        (
            faer::MatMut::from_raw_parts_mut(c.ptr.add(c.offset), c.rows, c.cols, c.rs as isize, 1),
            faer::MatRef::from_raw_parts(
                a.data.as_ptr().add(a.offset),
                a.rows,
                a.cols,
                a.rs as isize,
                a.cs as isize,
            ),
            faer::MatRef::from_raw_parts(
                b.data.as_ptr().add(b.offset),
                b.rows,
                b.cols,
                b.rs as isize,
                b.cs as isize,
            ),
        )
    };
    let accum = if accumulate {
        faer::Accum::Add
    } else {
        faer::Accum::Replace
    };
    faer::linalg::matmul::matmul(c_mat, accum, a_mat, b_mat, scale, par);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef<'_>, b: MatRef<'_>) -> Vec<f32> {
        let mut out = Vec::new();
        for i in 0..a.rows {
            for j in 0..b.cols {
                let mut s = 0.0;
                for k in 0..a.cols {
                    s += a.data[a.offset + i * a.rs + k * a.cs]
                        * b.data[b.offset + k * b.rs + j * b.cs];
                }
                out.push(s);
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn strided_and_transposed_products_match_the_definition(
            (m, k, n) in (1usize..9, 0usize..9, 1usize..9),
            (ta, tb, accumulate, all) in (proptest::bool::ANY, proptest::bool::ANY, proptest::bool::ANY, proptest::bool::ANY),
            pad in 0usize..3,
            scale in -2.0f32..2.0,
        ) {
            // Each operand sits `pad` values into a buffer with `pad` spare columns per row,
            // stored transposed when asked.
            let make = |rows: usize, cols: usize, t: bool, salt: f32| {
                let (r, c) = if t { (cols, rows) } else { (rows, cols) };
                let rs = c + pad;
                let data: Vec<f32> = (0..pad + r * rs + 1)
                    .map(|i| ((i as f32 + salt) * 0.37).sin())
                    .collect();
                (data, rs)
            };
            let (a_data, a_rs) = make(m, k, ta, 0.5);
            let (b_data, b_rs) = make(k, n, tb, 1.5);
            fn view(data: &[f32], pad: usize, rs: usize, rows: usize, cols: usize, t: bool) -> MatRef<'_> {
                if t {
                    MatRef::strided(data, pad, cols, rows, rs, 1).t()
                } else {
                    MatRef::strided(data, pad, rows, cols, rs, 1)
                }
            }
            let av = view(&a_data, pad, a_rs, m, k, ta);
            let bv = view(&b_data, pad, b_rs, k, n, tb);
            let mut c = vec![1.0f32; m * n];
            let threads = if all { Threads::All } else { Threads::One };
            matmul(MatMut::rows(&mut c, m, n), av, bv, scale, accumulate, threads);
            let base = if accumulate { 1.0 } else { 0.0 };
            for (got, want) in c.iter().zip(naive(av, bv)) {
                proptest::prop_assert!((got - (base + scale * want)).abs() < 1e-4);
            }
        }
    }
}

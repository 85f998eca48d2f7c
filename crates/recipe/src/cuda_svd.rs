//! Thin SVDs on an NVIDIA GPU with cuSOLVER's `Xgesvd` (through cudarc), behind the `cuda`
//! feature: the same [`ThinSvd`] as the CPU path, for large bases on a GPU node.

use std::sync::Arc;

use cudarc::cusolver::{sys, DnHandle};
use cudarc::driver::{CudaContext, CudaStream, DevicePtrMut};

use crate::error::{RecipeError, Result};
use crate::svd::ThinSvd;

/// A GPU and a cuSOLVER handle on its default stream; decompose matrices with
/// [`GpuSvd::compute`], one at a time (cuSOLVER parallelises inside each).
pub struct GpuSvd {
    stream: Arc<CudaStream>,
    handle: DnHandle,
}

fn gpu_error(what: &str, e: impl std::fmt::Debug) -> RecipeError {
    RecipeError::Invalid(format!("GPU SVD: {what}: {e:?}"))
}

/// The error of step `what` on tensor `name`, for `map_err`.
fn failed<E: std::fmt::Debug>(name: &str, what: &str) -> impl Fn(E) -> RecipeError {
    let what = format!("{what} for `{name}`");
    move |e| gpu_error(&what, e)
}

impl GpuSvd {
    /// Opens GPU `ordinal`.
    pub fn new(ordinal: usize) -> Result<Self> {
        let context = CudaContext::new(ordinal).map_err(|e| gpu_error("opening the GPU", e))?;
        let stream = context.default_stream();
        let handle = DnHandle::new(stream.clone())
            .map_err(|e| gpu_error("creating a cuSOLVER handle", e))?;
        Ok(Self { stream, handle })
    }

    /// The thin SVD of the row-major `m x n` matrix `values`, in f32 on the GPU.
    ///
    /// cuSOLVER reads column-major and wants at least as many rows as columns. A row-major
    /// buffer read column-major is the transpose, so a wide matrix (`m <= n`) goes up as
    /// `B = A^T` (`n x m`, tall) untouched: then `B = U_b S V_b^T`, and column-major `U_b` is
    /// row-major `Vh` of A, column-major `V_b^T` is row-major `U` of A. A tall matrix is
    /// transposed on the host first, and its factors back.
    pub fn compute(&self, name: &str, values: &[f32], m: usize, n: usize) -> Result<ThinSvd> {
        if values.len() != m * n {
            return Err(RecipeError::Invalid(format!(
                "tensor `{name}`: {} values are not a {m} x {n} matrix",
                values.len()
            )));
        }
        let k = m.min(n);
        if m <= n {
            let (u_b, s, vt_b) = self.gesvd(name, values, n, m)?;
            return Ok(ThinSvd {
                m,
                n,
                u: vt_b,
                s,
                vh: u_b,
            });
        }
        let column_major = transpose(values, m, n);
        let (u, s, vt) = self.gesvd(name, &column_major, m, n)?;
        Ok(ThinSvd {
            m,
            n,
            u: transpose(&u, k, m),
            s,
            vh: transpose(&vt, n, k),
        })
    }

    /// `Xgesvd` with `jobu = jobvt = 'S'` of the column-major `rows x cols` matrix `a`,
    /// `rows >= cols`: column-major U (`rows x cols`), s, and V^T (`cols x cols`).
    fn gesvd(
        &self,
        name: &str,
        a: &[f32],
        rows: usize,
        cols: usize,
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        let stream = &self.stream;
        let mut a = stream.clone_htod(a).map_err(failed(name, "upload"))?;
        let mut s = stream
            .alloc_zeros::<f32>(cols)
            .map_err(failed(name, "allocation"))?;
        let mut u = stream
            .alloc_zeros::<f32>(rows * cols)
            .map_err(failed(name, "allocation"))?;
        let mut vt = stream
            .alloc_zeros::<f32>(cols * cols)
            .map_err(failed(name, "allocation"))?;
        let mut info = stream
            .alloc_zeros::<i32>(1)
            .map_err(failed(name, "allocation"))?;
        let (f32t, job, r, c) = (
            sys::cudaDataType::CUDA_R_32F,
            b'S' as i8,
            rows as i64,
            cols as i64,
        );
        let mut params: sys::cusolverDnParams_t = std::ptr::null_mut();
        // SAFETY: every pointer comes from a live device allocation of the size cuSOLVER
        // expects for these dimensions, on the handle's stream; params is created and
        // destroyed here.
        unsafe {
            sys::cusolverDnCreateParams(&mut params)
                .result()
                .map_err(failed(name, "cusolverDnCreateParams"))?;
            let (pa, _ga) = a.device_ptr_mut(stream);
            let (ps, _gs) = s.device_ptr_mut(stream);
            let (pu, _gu) = u.device_ptr_mut(stream);
            let (pv, _gv) = vt.device_ptr_mut(stream);
            let (pi, _gi) = info.device_ptr_mut(stream);
            let (mut device_bytes, mut host_bytes) = (0, 0);
            sys::cusolverDnXgesvd_bufferSize(
                self.handle.cu(),
                params,
                job,
                job,
                r,
                c,
                f32t,
                pa as _,
                r,
                f32t,
                ps as _,
                f32t,
                pu as _,
                r,
                f32t,
                pv as _,
                c,
                f32t,
                &mut device_bytes,
                &mut host_bytes,
            )
            .result()
            .map_err(failed(name, "cusolverDnXgesvd_bufferSize"))?;
            let mut device_work = stream
                .alloc_zeros::<u8>(device_bytes.max(1))
                .map_err(failed(name, "allocation"))?;
            let mut host_work = vec![0u8; host_bytes.max(1)];
            let (pw, _gw) = device_work.device_ptr_mut(stream);
            sys::cusolverDnXgesvd(
                self.handle.cu(),
                params,
                job,
                job,
                r,
                c,
                f32t,
                pa as _,
                r,
                f32t,
                ps as _,
                f32t,
                pu as _,
                r,
                f32t,
                pv as _,
                c,
                f32t,
                pw as _,
                device_bytes,
                host_work.as_mut_ptr() as _,
                host_bytes,
                pi as _,
            )
            .result()
            .map_err(failed(name, "cusolverDnXgesvd"))?;
            sys::cusolverDnDestroyParams(params)
                .result()
                .map_err(failed(name, "cusolverDnDestroyParams"))?;
        }
        let info = stream.clone_dtoh(&info).map_err(failed(name, "download"))?[0];
        if info != 0 {
            return Err(RecipeError::Svd {
                name: name.to_string(),
            });
        }
        Ok((
            stream.clone_dtoh(&u).map_err(failed(name, "download"))?,
            stream.clone_dtoh(&s).map_err(failed(name, "download"))?,
            stream.clone_dtoh(&vt).map_err(failed(name, "download"))?,
        ))
    }
}

/// The `cols x rows` row-major transpose of a row-major `rows x cols` matrix.
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = x[i * cols + j];
        }
    }
    out
}

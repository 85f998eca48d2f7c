//! Keeps glibc from returning every large buffer to the kernel during training, generation and
//! scoring.
//!
//! A training step allocates and frees hundreds of activation buffers above glibc's default
//! mmap threshold; each becomes an mmap, a munmap and fresh page faults, which on a 2-core
//! machine nearly halves the speed of the demo's tiny models (docs/demo.md) and cost SmolLM2's
//! steps 30% of their CPU time in the kernel (docs/benchmarks.md). A decode step of a 64-row
//! batch frees dozens of 150-400 KB outputs that glibc's own thresholds returned to the kernel
//! too: 14-16% of generation's samples were the kernel clearing pages. Raising the thresholds
//! keeps those buffers in the heap for reuse. The setting is process-wide and only
//! changes where memory comes from, never what a program computes.

/// Largest mmap threshold glibc accepts on 64-bit (`HEAP_MAX_SIZE / 2`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Free memory the heap keeps at its top instead of returning it: more than one step's
/// activations of a small real model (SmolLM2-135M, 8 x 100 tokens: about 0.7 GB), which
/// otherwise come back as page faults at every step.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 1 << 30;

/// Raises glibc's mmap and trim thresholds (once; a no-op elsewhere).
pub(crate) fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator tuning parameters; both values are valid.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            }
        });
    }
}

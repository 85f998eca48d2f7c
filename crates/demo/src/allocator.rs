//! Keeps glibc from returning every large buffer to the kernel during training.
//!
//! A training step of a tiny model allocates and frees hundreds of activation buffers above
//! glibc's default mmap threshold; each becomes an mmap, a munmap and fresh page faults, which
//! on a 2-core machine nearly halves training speed (measured in docs/demo.md). Raising the
//! thresholds keeps those buffers in the heap for reuse. The setting is process-wide and only
//! changes where memory comes from, never what a program computes.

/// Largest mmap threshold glibc accepts on 64-bit (`HEAP_MAX_SIZE / 2`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Raises glibc's mmap and trim thresholds (once; a no-op elsewhere).
pub(crate) fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator tuning parameters; both values are valid.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 4 * MMAP_THRESHOLD);
            }
        });
    }
}

//! Conversion of stored tensor bytes to f32 and back, in loops the compiler vectorizes.
//!
//! Same values as `DType::decode` / `DType::encode` (encoding is bit for bit the same; a bf16
//! NaN decodes to a NaN whose payload is not re-quieted); they differ in filling pre-sized
//! buffers in blocks instead of pushing element by element, which is several times faster
//! and matters when streaming billions of entries.

use cycleqd_weights::DType;
use half::{bf16, f16};

/// Entries converted per block: one AVX register of f32.
const LANES: usize = 8;

/// Decodes little-endian `bytes` of `dtype` into `out` (replacing its content).
pub fn decode_into(dtype: DType, bytes: &[u8], out: &mut Vec<f32>) {
    // Every entry is overwritten below: resizing without clearing skips zero-filling a
    // reused buffer.
    out.resize(bytes.len() / dtype.size(), 0.0);
    match dtype {
        DType::F32 => decode_blocks::<4>(bytes, out, f32::from_le_bytes),
        DType::BF16 => decode_blocks::<2>(bytes, out, |b| {
            f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16)
        }),
        DType::F16 => decode_blocks::<2>(bytes, out, |b| f16::from_le_bytes(b).to_f32()),
    }
}

fn decode_blocks<const W: usize>(bytes: &[u8], out: &mut [f32], one: impl Fn([u8; W]) -> f32) {
    let mut outs = out.chunks_exact_mut(LANES);
    let mut ins = bytes.chunks_exact(W * LANES);
    for (o, c) in (&mut outs).zip(&mut ins) {
        for (k, o) in o.iter_mut().enumerate() {
            *o = one(c[W * k..W * k + W].try_into().expect("W bytes"));
        }
    }
    for (o, c) in outs
        .into_remainder()
        .iter_mut()
        .zip(ins.remainder().chunks_exact(W))
    {
        *o = one(c.try_into().expect("W bytes"));
    }
}

/// Appends `values` encoded as little-endian `dtype` (rounding to nearest even) to `out`.
pub fn encode_append(dtype: DType, values: &[f32], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + values.len() * dtype.size(), 0);
    let dst = &mut out[start..];
    match dtype {
        DType::F32 => dst
            .chunks_exact_mut(4)
            .zip(values)
            .for_each(|(d, v)| d.copy_from_slice(&v.to_le_bytes())),
        DType::BF16 => dst
            .chunks_exact_mut(2)
            .zip(values)
            .for_each(|(d, v)| d.copy_from_slice(&bf16::from_f32(*v).to_le_bytes())),
        DType::F16 => dst
            .chunks_exact_mut(2)
            .zip(values)
            .for_each(|(d, v)| d.copy_from_slice(&f16::from_f32(*v).to_le_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn same_as_the_weights_crate(bits in proptest::collection::vec(any::<u32>(), 0..200)) {
            let values: Vec<f32> = bits.iter().map(|b| f32::from_bits(*b)).collect();
            for dtype in [DType::F32, DType::F16, DType::BF16] {
                let mut ours = vec![7u8];
                encode_append(dtype, &values, &mut ours);
                let mut theirs = Vec::new();
                dtype.encode(&values, &mut theirs);
                prop_assert_eq!(&ours[1..], &theirs[..]);

                let mut decoded = vec![1.0; 300];
                decode_into(dtype, &theirs, &mut decoded);
                let mut reference = Vec::new();
                dtype.decode(&theirs, &mut reference);
                prop_assert_eq!(decoded.len(), reference.len());
                for (a, b) in decoded.iter().zip(&reference) {
                    prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
                }
            }
        }
    }
}

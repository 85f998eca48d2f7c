//! Dequantization of ggml tensor data to f32, block by block, in parallel over blocks.
//!
//! Each block function follows ggml's reference `dequantize_row_*` (ggml-quants.c) and does the
//! same f32 operations in the same order, so results are bit-identical to ggml and to gguf-py's
//! `gguf.quants.dequantize` (checked against the latter by `tests/gguf_quant_golden.rs`).

use half::{bf16, f16};
use rayon::prelude::*;

use super::ggml_type::GgmlType;

/// Why raw tensor bytes could not be dequantized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DequantizeError {
    /// The type has no f32 conversion here.
    #[error("type {0} cannot be dequantized")]
    Unsupported(GgmlType),
    /// The byte count is not a whole number of blocks.
    #[error("{len} bytes is not a whole number of {ty} blocks of {type_size} bytes")]
    PartialBlock {
        /// The type.
        ty: GgmlType,
        /// Bytes given.
        len: usize,
        /// Bytes per block.
        type_size: usize,
    },
}

/// Elements one parallel task converts; large enough to amortise task overhead.
const ELEMENTS_PER_TASK: usize = 1 << 16;

/// Dequantizes `data`, a whole number of `ty` blocks, to f32 in storage order.
pub fn dequantize(ty: GgmlType, data: &[u8]) -> Result<Vec<f32>, DequantizeError> {
    let block: fn(&[u8], &mut [f32]) = match ty {
        GgmlType::F32 => |b, y| y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        GgmlType::F16 => |b, y| y[0] = f16_at(b, 0),
        GgmlType::BF16 => |b, y| y[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        GgmlType::Q4_0 => q4_0,
        GgmlType::Q4_1 => q4_1,
        GgmlType::Q5_0 => q5_0,
        GgmlType::Q5_1 => q5_1,
        GgmlType::Q8_0 => q8_0,
        GgmlType::Q2_K => q2_k,
        GgmlType::Q3_K => q3_k,
        GgmlType::Q4_K => q4_k,
        GgmlType::Q5_K => q5_k,
        GgmlType::Q6_K => q6_k,
        GgmlType::Q8_K => q8_k,
        other => return Err(DequantizeError::Unsupported(other)),
    };
    // Block geometry comes from a fixed table of small numbers.
    let block_size = ty.block_size() as usize;
    let type_size = ty.type_size() as usize;
    if !data.len().is_multiple_of(type_size) {
        return Err(DequantizeError::PartialBlock {
            ty,
            len: data.len(),
            type_size,
        });
    }
    let n_blocks = data.len() / type_size;
    let mut out = vec![0f32; n_blocks * block_size];
    let blocks_per_task = (ELEMENTS_PER_TASK / block_size).max(1);
    out.par_chunks_mut(blocks_per_task * block_size)
        .zip(data.par_chunks(blocks_per_task * type_size))
        .for_each(|(ys, bytes)| {
            for (y, b) in ys
                .chunks_exact_mut(block_size)
                .zip(bytes.chunks_exact(type_size))
            {
                block(b, y);
            }
        });
    Ok(out)
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// `d: f16, qs: [u8; 16]`; value = (nibble - 8) * d, low nibbles first.
fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qs = &b[2..18];
    for j in 0..16 {
        y[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
        y[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
    }
}

/// `d: f16, m: f16, qs: [u8; 16]`; value = nibble * d + m.
fn q4_1(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qs = &b[4..20];
    for j in 0..16 {
        y[j] = (qs[j] & 0x0F) as f32 * d + m;
        y[j + 16] = (qs[j] >> 4) as f32 * d + m;
    }
}

/// `d: f16, qh: u32, qs: [u8; 16]`; 5-bit values, bit 4 of element j is bit j of `qh`.
fn q5_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..22];
    for j in 0..16 {
        let h0 = (((qh >> j) << 4) & 0x10) as u8;
        let h1 = ((qh >> (j + 12)) & 0x10) as u8;
        y[j] = (((qs[j] & 0x0F) | h0) as i32 - 16) as f32 * d;
        y[j + 16] = (((qs[j] >> 4) | h1) as i32 - 16) as f32 * d;
    }
}

/// `d: f16, m: f16, qh: u32, qs: [u8; 16]`; value = 5-bit q * d + m.
fn q5_1(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let qs = &b[8..24];
    for j in 0..16 {
        let h0 = (((qh >> j) << 4) & 0x10) as u8;
        let h1 = ((qh >> (j + 12)) & 0x10) as u8;
        y[j] = ((qs[j] & 0x0F) | h0) as f32 * d + m;
        y[j + 16] = ((qs[j] >> 4) | h1) as f32 * d + m;
    }
}

/// `d: f16, qs: [i8; 32]`; value = q * d.
fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for (yj, &q) in y.iter_mut().zip(&b[2..34]) {
        *yj = q as i8 as f32 * d;
    }
}

/// `d: f32, qs: [i8; 256], bsums: [i16; 16]`; value = d * q (the sums only speed up dot products).
fn q8_k(b: &[u8], y: &mut [f32]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for (yj, &q) in y.iter_mut().zip(&b[4..260]) {
        *yj = d * q as i8 as f32;
    }
}

/// `scales: [u8; 16], qs: [u8; 64], d: f16, dmin: f16`; 16 groups of 16 two-bit values, each
/// group with a 4-bit scale (low nibble) and 4-bit min (high nibble).
fn q2_k(b: &[u8], y: &mut [f32]) {
    let scales = &b[0..16];
    let d = f16_at(b, 80);
    let min = f16_at(b, 82);
    let mut is = 0;
    let mut out = 0;
    for half in 0..2 {
        let q = &b[16 + 32 * half..16 + 32 * half + 32];
        for shift in [0u32, 2, 4, 6] {
            for part in 0..2 {
                let sc = scales[is];
                is += 1;
                let dl = d * (sc & 0x0F) as f32;
                let ml = min * (sc >> 4) as f32;
                for &ql in &q[16 * part..16 * part + 16] {
                    y[out] = dl * ((ql >> shift) & 3) as f32 - ml;
                    out += 1;
                }
            }
        }
    }
}

/// `hmask: [u8; 32], qs: [u8; 64], scales: [u8; 12], d: f16`; 3-bit values whose high bit is
/// stored inverted in `hmask`, 16 signed 6-bit scales packed into 12 bytes.
fn q3_k(b: &[u8], y: &mut [f32]) {
    let hm = &b[0..32];
    let d_all = f16_at(b, 108);
    let packed = &b[96..108];
    let mut scales = [0i32; 16];
    for (i, s) in scales.iter_mut().enumerate() {
        let low = (packed[i % 8] >> (4 * (i / 8))) & 0x0F;
        let high = (packed[8 + i % 4] >> (2 * (i / 4))) & 0x03;
        *s = (low | (high << 4)) as i32 - 32;
    }
    let mut is = 0;
    let mut out = 0;
    let mut m = 1u8;
    for half in 0..2 {
        let q = &b[32 + 32 * half..32 + 32 * half + 32];
        for shift in [0u32, 2, 4, 6] {
            for part in 0..2 {
                let dl = d_all * scales[is] as f32;
                is += 1;
                for l in 16 * part..16 * part + 16 {
                    let low = ((q[l] >> shift) & 3) as i32;
                    let offset = if hm[l] & m != 0 { 0 } else { 4 };
                    y[out] = dl * (low - offset) as f32;
                    out += 1;
                }
            }
            m <<= 1;
        }
    }
}

/// The j-th 6-bit (scale, min) pair of the 12-byte packed scales used by Q4_K and Q5_K.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// `d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128]`; 8 groups of 32 nibbles.
fn q4_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let min = f16_at(b, 2);
    let scales = &b[4..16];
    for chunk in 0..4 {
        let q = &b[16 + 32 * chunk..16 + 32 * chunk + 32];
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
        let ys = &mut y[64 * chunk..64 * chunk + 64];
        for l in 0..32 {
            ys[l] = d1 * (q[l] & 0x0F) as f32 - m1;
            ys[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
        }
    }
}

/// `d: f16, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128]`; Q4_K plus a fifth bit.
fn q5_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let min = f16_at(b, 2);
    let scales = &b[4..16];
    let qh = &b[16..48];
    for chunk in 0..4 {
        let ql = &b[48 + 32 * chunk..48 + 32 * chunk + 32];
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
        let u1 = 1u8 << (2 * chunk);
        let u2 = 2u8 << (2 * chunk);
        let ys = &mut y[64 * chunk..64 * chunk + 64];
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            ys[l] = d1 * ((ql[l] & 0x0F) + h1) as f32 - m1;
            ys[l + 32] = d2 * ((ql[l] >> 4) + h2) as f32 - m2;
        }
    }
}

/// `ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16`; 6-bit values minus 32.
fn q6_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 208);
    for half in 0..2 {
        let ql = &b[64 * half..64 * half + 64];
        let qh = &b[128 + 32 * half..128 + 32 * half + 32];
        let sc = &b[192 + 8 * half..192 + 8 * half + 8];
        let ys = &mut y[128 * half..128 * half + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            ys[l] = d * sc[is] as i8 as f32 * q1 as f32;
            ys[l + 32] = d * sc[is + 2] as i8 as f32 * q2 as f32;
            ys[l + 64] = d * sc[is + 4] as i8 as f32 * q3 as f32;
            ys[l + 96] = d * sc[is + 6] as i8 as f32 * q4 as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f16_bytes(v: f32) -> [u8; 2] {
        f16::from_f32(v).to_le_bytes()
    }

    #[test]
    fn q8_0_is_scale_times_signed_byte() {
        let mut block = vec![0u8; 34];
        block[..2].copy_from_slice(&f16_bytes(0.5));
        for (j, q) in block[2..].iter_mut().enumerate() {
            *q = (j as i8 - 16) as u8;
        }
        let y = dequantize(GgmlType::Q8_0, &block).unwrap();
        let expected: Vec<f32> = (0..32).map(|j| (j as f32 - 16.0) * 0.5).collect();
        assert_eq!(y, expected);
    }

    #[test]
    fn q4_1_puts_low_nibbles_first() {
        let mut block = vec![0u8; 20];
        block[..2].copy_from_slice(&f16_bytes(2.0));
        block[2..4].copy_from_slice(&f16_bytes(-1.0));
        block[4] = 0x53;
        let y = dequantize(GgmlType::Q4_1, &block).unwrap();
        assert_eq!(y[0], 3.0 * 2.0 - 1.0);
        assert_eq!(y[16], 5.0 * 2.0 - 1.0);
        assert_eq!(y[1], -1.0);
    }

    #[test]
    fn q8_k_is_f32_scale_times_signed_byte() {
        let mut block = vec![0u8; 292];
        block[..4].copy_from_slice(&0.25f32.to_le_bytes());
        for (j, q) in block[4..260].iter_mut().enumerate() {
            *q = (j as u8).wrapping_sub(128);
        }
        // The block sums are not part of the value; garbage there must not matter.
        block[260..].fill(0xAB);
        let y = dequantize(GgmlType::Q8_K, &block).unwrap();
        for (j, v) in y.iter().enumerate() {
            assert_eq!(
                *v,
                0.25 * ((j as u8).wrapping_sub(128) as i8) as f32,
                "element {j}"
            );
        }
    }

    #[test]
    fn plain_float_types_convert_exactly() {
        let f32s: Vec<u8> = [1.5f32, -2.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(dequantize(GgmlType::F32, &f32s).unwrap(), [1.5, -2.25]);
        let f16s: Vec<u8> = [0.1f32, 65504.0]
            .iter()
            .flat_map(|&v| f16_bytes(v))
            .collect();
        assert_eq!(
            dequantize(GgmlType::F16, &f16s).unwrap(),
            [f16::from_f32(0.1).to_f32(), 65504.0]
        );
        let bf16s: Vec<u8> = bf16::from_f32(-3.0).to_le_bytes().to_vec();
        assert_eq!(dequantize(GgmlType::BF16, &bf16s).unwrap(), [-3.0]);
    }

    #[test]
    fn rejects_partial_blocks_and_unsupported_types() {
        assert_eq!(
            dequantize(GgmlType::Q4_0, &[0; 19]),
            Err(DequantizeError::PartialBlock {
                ty: GgmlType::Q4_0,
                len: 19,
                type_size: 18
            })
        );
        assert_eq!(
            dequantize(GgmlType::IQ2_XXS, &[0; 66]),
            Err(DequantizeError::Unsupported(GgmlType::IQ2_XXS))
        );
    }

    proptest! {
        /// Splitting work across tasks must not change any value: a tensor of many blocks
        /// dequantizes to the concatenation of its blocks dequantized one by one.
        #[test]
        fn parallel_equals_block_by_block(seed in any::<u64>(), n_blocks in 1usize..700) {
            let ty = GgmlType::Q4_K;
            let size = ty.type_size() as usize;
            let mut state = seed | 1;
            let mut data: Vec<u8> = (0..n_blocks * size)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            for block in data.chunks_exact_mut(size) {
                block[..2].copy_from_slice(&f16_bytes(0.01));
                block[2..4].copy_from_slice(&f16_bytes(0.002));
            }
            let whole = dequantize(ty, &data).unwrap();
            let pieces: Vec<f32> = data
                .chunks_exact(size)
                .flat_map(|b| dequantize(ty, b).unwrap())
                .collect();
            prop_assert_eq!(whole, pieces);
        }
    }
}

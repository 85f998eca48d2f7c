//! Attention masks for a batch whose rows start at different cache slots (left padding).

use candle_core::{DType, Device, Tensor};

use crate::error::Result;

/// Where the real tokens of each row are, for one forward pass over `t` new slots after `past`
/// cached ones. A row's position `p` sits in slot `start + p`; slots before `start` are padding.
#[derive(Clone, Debug)]
pub(crate) struct SlotLayout {
    /// Per row: the slot of its first real token.
    pub(crate) starts: Vec<usize>,
    /// Slots already in the cache.
    pub(crate) past: usize,
    /// New slots in this pass.
    pub(crate) t: usize,
}

impl SlotLayout {
    /// Rotary positions of the new slots, row-major `(b, t)`; padding slots get position 0.
    pub(crate) fn positions(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.starts.len() * self.t);
        for &start in &self.starts {
            for slot in self.past..self.past + self.t {
                out.push(slot.saturating_sub(start) as u32);
            }
        }
        out
    }

    /// The additive mask `(b, 1, t, past + t)`: 0 where a query slot may see a key slot, −∞
    /// elsewhere. A key is visible when it is real, not in the future, and within `window`
    /// positions. A padding query sees only itself, so that no softmax row is empty.
    /// `None` when nothing needs masking (one row, one new slot, no padding, no window).
    pub(crate) fn mask(
        &self,
        window: Option<usize>,
        device: &Device,
        dtype: DType,
    ) -> Result<Option<Tensor>> {
        let b = self.starts.len();
        let total = self.past + self.t;
        let window_matters = window.is_some_and(|w| w < total);
        if self.t == 1 && self.starts.iter().all(|&s| s == 0) && !window_matters {
            return Ok(None);
        }
        let mut values = Vec::with_capacity(b * self.t * total);
        for &start in &self.starts {
            for q in self.past..total {
                for k in 0..total {
                    let visible = if q < start {
                        k == q
                    } else {
                        k >= start && k <= q && window.is_none_or(|w| q - k < w)
                    };
                    values.push(if visible { 0.0 } else { f32::NEG_INFINITY });
                }
            }
        }
        let mask = Tensor::from_vec(values, (b, 1, self.t, total), device)?;
        Ok(Some(mask.to_dtype(dtype)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible(layout: &SlotLayout, window: Option<usize>) -> Vec<Vec<Vec<bool>>> {
        let m = layout
            .mask(window, &Device::Cpu, DType::F32)
            .unwrap()
            .unwrap();
        m.squeeze(1)
            .unwrap()
            .to_vec3::<f32>()
            .unwrap()
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|q| q.into_iter().map(|v| v == 0.0).collect())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn left_padding_hides_pad_keys_and_counts_positions_from_first_real_token() {
        let layout = SlotLayout {
            starts: vec![0, 2],
            past: 0,
            t: 3,
        };
        assert_eq!(layout.positions(), vec![0, 1, 2, 0, 0, 0]);
        let v = visible(&layout, None);
        assert_eq!(
            v[0],
            vec![
                vec![true, false, false],
                vec![true, true, false],
                vec![true, true, true]
            ]
        );
        assert_eq!(
            v[1],
            vec![
                vec![true, false, false],
                vec![false, true, false],
                vec![false, false, true]
            ]
        );
    }

    #[test]
    fn decode_step_sees_the_whole_real_past() {
        let layout = SlotLayout {
            starts: vec![1, 0],
            past: 3,
            t: 1,
        };
        assert_eq!(layout.positions(), vec![2, 3]);
        let v = visible(&layout, None);
        assert_eq!(v[0], vec![vec![false, true, true, true]]);
        assert_eq!(v[1], vec![vec![true, true, true, true]]);
    }

    #[test]
    fn sliding_window_limits_the_past() {
        let layout = SlotLayout {
            starts: vec![0],
            past: 3,
            t: 1,
        };
        assert_eq!(
            visible(&layout, Some(2))[0],
            vec![vec![false, false, true, true]]
        );
        assert!(layout
            .mask(None, &Device::Cpu, DType::F32)
            .unwrap()
            .is_none());
    }
}

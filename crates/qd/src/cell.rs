//! Cell keys of an archive: the bins of the other tasks' scores, in configured task order.

use serde::{Deserialize, Serialize};

use crate::axis::BcAxis;

/// The key of one archive cell: one bin per BC dimension, listing the other tasks in
/// configured task order with the archive's own task left out.
///
/// Keys order lexicographically, which is the row-major (C order) order of the grid;
/// archives iterate their elites in this order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CellIndex(Vec<u32>);

impl CellIndex {
    /// A key from its bins, one per BC dimension.
    pub fn new(bins: Vec<u32>) -> Self {
        CellIndex(bins)
    }

    /// The bins, one per BC dimension.
    pub fn bins(&self) -> &[u32] {
        &self.0
    }
}

/// Maps a full score vector to the cell of an archive and its quality: the archive of one
/// quality task (BCs: the other tasks), or the fixed-quality ablation's single archive
/// (quality: the mean of all K scores, BCs: all K tasks).
#[derive(Debug, Clone, PartialEq)]
pub struct CellMapping {
    /// The quality task; `None` for the mean of all tasks.
    task: Option<usize>,
    bc_tasks: Vec<usize>,
    axes: Vec<BcAxis>,
    tasks: usize,
}

impl CellMapping {
    /// The mapping of the archive whose quality is task `task`, given every task's axis
    /// (`axes[j]` is used wherever task `j` is a BC).
    ///
    /// # Panics
    /// If `task >= axes.len()`; configs are validated before archives are built.
    pub fn new(task: usize, axes: &[BcAxis]) -> Self {
        assert!(task < axes.len(), "task {task} of {} tasks", axes.len());
        let bc_tasks: Vec<usize> = (0..axes.len()).filter(|&j| j != task).collect();
        let axes_of_tasks = bc_tasks.iter().map(|&j| axes[j].clone()).collect();
        CellMapping {
            task: Some(task),
            bc_tasks,
            axes: axes_of_tasks,
            tasks: axes.len(),
        }
    }

    /// The mapping of the fixed-quality archive: quality = the mean of all scores, one BC
    /// dimension per task.
    pub fn mean(axes: &[BcAxis]) -> Self {
        CellMapping {
            task: None,
            bc_tasks: (0..axes.len()).collect(),
            axes: axes.to_vec(),
            tasks: axes.len(),
        }
    }

    /// The quality task; `None` when the quality is the mean of all tasks.
    pub fn task(&self) -> Option<usize> {
        self.task
    }

    /// The number of tasks K (the length of a score vector).
    pub fn task_count(&self) -> usize {
        self.tasks
    }

    /// The quality of a score vector: the quality task's score, or the mean of all.
    pub fn quality(&self, scores: &[f64]) -> f64 {
        match self.task {
            Some(t) => scores[t],
            None => scores.iter().sum::<f64>() / scores.len() as f64,
        }
    }

    /// The BC tasks, in key order.
    pub fn bc_tasks(&self) -> &[usize] {
        &self.bc_tasks
    }

    /// The BC axes, in key order.
    pub fn axes(&self) -> &[BcAxis] {
        &self.axes
    }

    /// The number of cells, saturating at `u64::MAX`.
    pub fn cell_count(&self) -> u64 {
        self.axes
            .iter()
            .fold(1u64, |n, a| n.saturating_mul(u64::from(a.bins())))
    }

    /// The cell of an individual with these scores (one per task, all K of them), each
    /// dimension binned and clamped with its own axis.
    pub fn cell_of(&self, scores: &[f64]) -> CellIndex {
        CellIndex(
            self.bc_tasks
                .iter()
                .zip(&self.axes)
                .map(|(&j, axis)| axis.bin(scores[j]))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn axes(bins: &[u32]) -> Vec<BcAxis> {
        bins.iter()
            .enumerate()
            .map(|(i, &n)| BcAxis::new(0.0, 0.5 + i as f64 * 0.1, n).unwrap())
            .collect()
    }

    #[test]
    fn key_lists_other_tasks_in_order() {
        let axes = axes(&[15, 15, 15]);
        let m = CellMapping::new(1, &axes);
        assert_eq!(m.bc_tasks(), &[0, 2]);
        // Task 0 has range [0, 0.5], task 2 [0, 0.7]; task 1's score is ignored.
        let cell = m.cell_of(&[0.26, 0.99, 0.01]);
        assert_eq!(cell.bins(), &[7, 0]);
        assert_eq!(m.cell_count(), 225);
    }

    #[test]
    fn each_dimension_clamps_with_its_own_bin_count() {
        // The reference clamps every dimension with the first one's size: with 3 and 20
        // bins a score above the second range must land in bin 19, not 2.
        let axes = axes(&[9, 3, 20]);
        let m = CellMapping::new(0, &axes);
        let cell = m.cell_of(&[0.0, 10.0, 10.0]);
        assert_eq!(cell.bins(), &[2, 19]);
        assert_eq!(m.cell_count(), 60);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Every cell lies inside the grid and each coordinate is its axis' bin.
        #[test]
        fn cells_stay_inside_the_grid(
            bins in proptest::collection::vec(1u32..20, 2..6),
            scores in proptest::collection::vec(-1.0f64..2.0, 6),
            task_pick in 0usize..6,
        ) {
            let axes = axes(&bins);
            let task = task_pick % bins.len();
            let m = CellMapping::new(task, &axes);
            let cell = m.cell_of(&scores[..bins.len()]);
            prop_assert_eq!(cell.bins().len(), bins.len() - 1);
            for ((&b, &j), axis) in cell.bins().iter().zip(m.bc_tasks()).zip(m.axes()) {
                prop_assert!(b < bins[j]);
                prop_assert_eq!(b, axis.bin(scores[j]));
            }
        }
    }
}

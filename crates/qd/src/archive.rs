//! One MAP-Elites archive: the best individual per cell for one quality task.

use std::sync::Arc;

use crate::axis::BcAxis;
use crate::cell::{CellIndex, CellMapping};
use crate::individual::{Individual, IndividualId};

/// An archive's occupant of one cell: a shared individual plus how often this archive
/// handed it out as a parent.
#[derive(Debug, Clone)]
pub struct Elite<G> {
    individual: Arc<Individual<G>>,
    times_sampled: u64,
}

impl<G> Elite<G> {
    pub(crate) fn new(individual: Arc<Individual<G>>, times_sampled: u64) -> Self {
        Elite {
            individual,
            times_sampled,
        }
    }

    /// The individual in this cell.
    pub fn individual(&self) -> &Arc<Individual<G>> {
        &self.individual
    }

    /// Its identity.
    pub fn id(&self) -> IndividualId {
        self.individual.id
    }

    /// Its scores on all tasks.
    pub fn scores(&self) -> &[f64] {
        &self.individual.scores
    }

    /// Its genome.
    pub fn genome(&self) -> &G {
        &self.individual.genome
    }

    /// How many times parent sampling drew it from this archive (a single-elite archive
    /// draws its elite twice per job and counts both).
    pub fn times_sampled(&self) -> u64 {
        self.times_sampled
    }
}

/// What offering an individual to an archive did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Insertion {
    /// It took an empty cell.
    NewCell,
    /// It replaced a worse elite whose quality was `previous`.
    Improved {
        /// The replaced elite's quality.
        previous: f64,
    },
    /// The cell's elite is at least as good (ties keep the earlier occupant).
    Rejected,
}

impl Insertion {
    /// Whether the individual is now in the archive.
    pub fn accepted(&self) -> bool {
        !matches!(self, Insertion::Rejected)
    }
}

/// A MAP-Elites grid whose quality is one task's score and whose BCs are the others'.
///
/// Elites are kept in cell-key order in contiguous vectors, with their score vectors
/// copied into one row-major matrix, so sampling weights and statistics scan flat memory.
#[derive(Debug, Clone)]
pub struct Archive<G> {
    mapping: CellMapping,
    cells: Vec<CellIndex>,
    elites: Vec<Elite<G>>,
    /// `elites.len()` rows of K scores.
    scores: Vec<f64>,
    tasks: usize,
}

impl<G> Archive<G> {
    /// An empty archive for quality task `task`, given every task's axis.
    ///
    /// # Panics
    /// If `task >= axes.len()`.
    pub fn new(task: usize, axes: &[BcAxis]) -> Self {
        Self::with_mapping(CellMapping::new(task, axes))
    }

    /// The fixed-quality ablation's archive: quality = the mean of all K scores, BCs = all
    /// K scores.
    pub fn mean(axes: &[BcAxis]) -> Self {
        Self::with_mapping(CellMapping::mean(axes))
    }

    fn with_mapping(mapping: CellMapping) -> Self {
        Archive {
            tasks: mapping.task_count(),
            mapping,
            cells: Vec::new(),
            elites: Vec::new(),
            scores: Vec::new(),
        }
    }

    /// The quality task; `None` for the mean-quality archive.
    pub fn task(&self) -> Option<usize> {
        self.mapping.task()
    }

    /// The archive's name in tables and plots: its quality task's name, or `mean`.
    pub fn label(&self, tasks: &[String]) -> String {
        match self.task() {
            Some(t) => tasks[t].clone(),
            None => "mean".to_string(),
        }
    }

    /// The number of tasks K.
    pub fn task_count(&self) -> usize {
        self.tasks
    }

    /// The cell mapping (BC tasks and axes).
    pub fn mapping(&self) -> &CellMapping {
        &self.mapping
    }

    /// The cell of an individual with these scores.
    pub fn cell_of(&self, scores: &[f64]) -> CellIndex {
        self.mapping.cell_of(scores)
    }

    /// This archive's quality of a score vector.
    pub fn quality(&self, scores: &[f64]) -> f64 {
        self.mapping.quality(scores)
    }

    /// Offers an individual: it takes its cell if the cell is empty or its quality is
    /// strictly higher than the occupant's.
    pub fn offer(&mut self, individual: &Arc<Individual<G>>) -> Insertion {
        let quality = self.quality(&individual.scores);
        let cell = self.cell_of(&individual.scores);
        match self.cells.binary_search(&cell) {
            Err(at) => {
                self.place(at, cell, Elite::new(Arc::clone(individual), 0));
                Insertion::NewCell
            }
            Ok(at) => {
                let previous = self.mapping.quality(self.elites[at].scores());
                if quality > previous {
                    self.elites[at] = Elite::new(Arc::clone(individual), 0);
                    let k = self.tasks;
                    self.scores[at * k..(at + 1) * k].copy_from_slice(&individual.scores);
                    Insertion::Improved { previous }
                } else {
                    Insertion::Rejected
                }
            }
        }
    }

    /// The elite of a cell, if any.
    pub fn get(&self, cell: &CellIndex) -> Option<&Elite<G>> {
        let at = self.cells.binary_search(cell).ok()?;
        Some(&self.elites[at])
    }

    /// All elites in cell-key order.
    pub fn elites(&self) -> impl ExactSizeIterator<Item = (&CellIndex, &Elite<G>)> {
        self.cells.iter().zip(&self.elites)
    }

    /// The elite at position `index` of [`Archive::elites`].
    pub fn elite_at(&self, index: usize) -> Option<&Elite<G>> {
        self.elites.get(index)
    }

    /// The elites' score vectors in cell-key order, as one row-major matrix of
    /// `len()` rows and K columns.
    pub fn score_matrix(&self) -> &[f64] {
        &self.scores
    }

    /// The elites' qualities in cell-key order.
    pub fn qualities(&self) -> impl ExactSizeIterator<Item = f64> + '_ {
        self.scores
            .chunks_exact(self.tasks)
            .map(|row| self.mapping.quality(row))
    }

    /// The number of elites.
    pub fn len(&self) -> usize {
        self.elites.len()
    }

    /// Whether the archive holds no elite.
    pub fn is_empty(&self) -> bool {
        self.elites.is_empty()
    }

    /// The number of cells of the grid.
    pub fn cell_count(&self) -> u64 {
        self.mapping.cell_count()
    }

    /// The highest-quality elite; among equals, the first in cell order.
    pub fn best(&self) -> Option<&Elite<G>> {
        let mut best: Option<(usize, f64)> = None;
        for (i, q) in self.qualities().enumerate() {
            if best.is_none_or(|(_, b)| q > b) {
                best = Some((i, q));
            }
        }
        best.map(|(i, _)| &self.elites[i])
    }

    /// Counts one draw of the elite at position `index` of [`Archive::elites`].
    pub(crate) fn count_sampled(&mut self, index: usize) {
        self.elites[index].times_sampled += 1;
    }

    /// Puts an elite back into its cell when a snapshot is restored.
    pub(crate) fn restore(&mut self, cell: CellIndex, elite: Elite<G>) {
        match self.cells.binary_search(&cell) {
            Ok(at) => {
                let k = self.tasks;
                self.scores[at * k..(at + 1) * k].copy_from_slice(elite.scores());
                self.elites[at] = elite;
            }
            Err(at) => self.place(at, cell, elite),
        }
    }

    fn place(&mut self, at: usize, cell: CellIndex, elite: Elite<G>) {
        let k = self.tasks;
        self.scores
            .splice(at * k..at * k, elite.scores().iter().copied());
        self.cells.insert(at, cell);
        self.elites.insert(at, elite);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ind(id: u64, scores: Vec<f64>) -> Arc<Individual<()>> {
        Arc::new(Individual {
            id: IndividualId(id),
            generation: id,
            parents: vec![],
            scores,
            genome: (),
        })
    }

    fn axes3() -> Vec<BcAxis> {
        (0..3).map(|_| BcAxis::new(0.0, 1.0, 10).unwrap()).collect()
    }

    #[test]
    fn insertion_rule_and_ties() {
        let mut a = Archive::new(0, &axes3());
        assert_eq!(a.offer(&ind(0, vec![0.5, 0.31, 0.72])), Insertion::NewCell);
        // Same cell (3, 7), lower quality: rejected.
        assert_eq!(a.offer(&ind(1, vec![0.4, 0.35, 0.75])), Insertion::Rejected);
        // Same cell, equal quality: the earlier occupant stays.
        assert_eq!(a.offer(&ind(2, vec![0.5, 0.32, 0.71])), Insertion::Rejected);
        assert_eq!(a.best().unwrap().id(), IndividualId(0));
        // Same cell, better: replaces and reports the old quality.
        assert_eq!(
            a.offer(&ind(3, vec![0.6, 0.33, 0.79])),
            Insertion::Improved { previous: 0.5 }
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a.best().unwrap().id(), IndividualId(3));
        assert_eq!(a.cell_count(), 100);
    }

    #[test]
    fn replacement_resets_the_sample_count() {
        let mut a = Archive::new(1, &axes3());
        a.offer(&ind(0, vec![0.1, 0.5, 0.1]));
        a.count_sampled(0);
        a.count_sampled(0);
        assert_eq!(a.elites().next().unwrap().1.times_sampled(), 2);
        a.offer(&ind(1, vec![0.1, 0.6, 0.1]));
        assert_eq!(a.elites().next().unwrap().1.times_sampled(), 0);
    }

    #[test]
    fn best_prefers_first_in_cell_order_among_equals() {
        let mut a = Archive::new(0, &axes3());
        a.offer(&ind(0, vec![0.5, 0.9, 0.1]));
        a.offer(&ind(1, vec![0.5, 0.1, 0.1]));
        assert_eq!(a.best().unwrap().id(), IndividualId(1));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Inserting never lowers any cell's quality, never empties a cell, and every
        /// cell holds the first individual with the maximal quality offered to it.
        #[test]
        fn insertion_never_lowers_quality(
            offers in proptest::collection::vec(
                proptest::collection::vec(0u8..8, 3), 1..120),
        ) {
            // Coarse score levels make ties and shared cells common.
            let mut a = Archive::new(2, &axes3());
            let mut seen: Vec<Arc<Individual<()>>> = Vec::new();
            for (i, levels) in offers.iter().enumerate() {
                let before: Vec<(CellIndex, f64)> =
                    a.elites().map(|(c, e)| (c.clone(), e.scores()[2])).collect();
                let scores: Vec<f64> = levels.iter().map(|&l| f64::from(l) / 8.0).collect();
                let new = ind(i as u64, scores);
                a.offer(&new);
                seen.push(new);
                for (cell, q) in before {
                    let now = a.get(&cell).expect("a cell never empties");
                    prop_assert!(now.scores()[2] >= q);
                }
            }
            for (cell, elite) in a.elites() {
                let first_best = seen
                    .iter()
                    .filter(|s| &a.cell_of(&s.scores) == cell)
                    .fold(None, |b: Option<&Arc<Individual<()>>>, s| match b {
                        Some(b) if b.scores[2] >= s.scores[2] => Some(b),
                        _ => Some(s),
                    })
                    .unwrap();
                prop_assert_eq!(elite.id(), first_best.id);
            }
        }
    }
}

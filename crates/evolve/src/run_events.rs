//! What a run reports as it goes (stages, basis progress, scores, generations, search
//! evaluations), and where those reports go.

use cycleqd_qd::ResumeReport;
use cycleqd_recipe::BasisEvent;

/// What the loop reports as it goes, for progress bars and logs.
pub enum EvolveEvent<'a> {
    /// A stage starts (models opened, bases, expert scoring, final models).
    Stage(&'a str),
    /// Progress of the SVD bases.
    Basis(BasisEvent<'a>),
    /// A model's scores on a split (experts at the start, final models at the end).
    Scored {
        /// The model, in words.
        what: &'a str,
        /// `test` or `optimize`.
        split: &'a str,
        /// Scores in task order.
        scores: &'a [f64],
    },
    /// The run was resumed.
    Resumed(&'a ResumeReport),
    /// One generation was scored and told.
    Generation(&'a GenerationReport),
    /// A merge-weight search evaluated one candidate.
    Search(&'a SearchReport),
}

/// Where events go: a progress display (called from the loop's thread, and from the
/// basis build's threads under a lock).
pub type EventSink<'a> = dyn FnMut(EvolveEvent<'_>) + Send + 'a;

/// One generation, as progress shows it.
#[derive(Debug, Clone)]
pub struct GenerationReport {
    /// The generation.
    pub generation: u64,
    /// G.
    pub total: u64,
    /// The quality task's name.
    pub quality_task: String,
    /// The child's optimisation-split scores.
    pub scores: Vec<f64>,
    /// Archives the child entered.
    pub accepted: usize,
    /// Per archive, the best quality so far.
    pub best: Vec<f64>,
    /// Per archive, the number of elites.
    pub elites: Vec<usize>,
    /// Generations done by this process and the seconds they took.
    pub done_here: u64,
    /// Seconds since this process started the loop.
    pub elapsed: f64,
}

/// Progress of a weight search, one evaluation at a time.
#[derive(Debug, Clone)]
pub struct SearchReport {
    /// `cma-es` or `nsga2`.
    pub method: &'static str,
    /// Evaluations done (1-based count).
    pub evaluation: u64,
    /// The budget.
    pub total: u64,
    /// The optimiser generation of this evaluation.
    pub generation: u64,
    /// The evaluated weights.
    pub weights: Vec<f64>,
    /// Its optimisation-split scores.
    pub scores: Vec<f64>,
    /// The best mean optimisation-split score so far.
    pub best_mean: f64,
    /// Evaluations done by this process.
    pub done_here: u64,
    /// Seconds since this process started searching.
    pub elapsed: f64,
}

//! Ask/tell optimisers used as merge-weight search baselines: CMA-ES for one objective and
//! NSGA-II for several, plus the dominance, hypervolume and test-problem helpers they need.
//!
//! Both optimisers are pure state machines: `ask` returns the candidates of the current
//! generation (the same ones however often it is called) and `tell` consumes their scores.
//! Every random draw of generation `g` comes from a ChaCha8 stream keyed by `(seed, g)`, so
//! replaying a journal of evaluations through `ask`/`tell`, or resuming from a serialised
//! state, reproduces the run bit for bit. No module does I/O.
//!
//! - [`CmaEs`]: CMA-ES after Hansen's tutorial, minimisation.
//! - [`Nsga2`]: NSGA-II after Deb et al. (2002) with pymoo's default operators.
//! - [`dominance`]: fast non-dominated sort and crowding distance.
//! - [`hypervolume`](mod@hypervolume): exact hypervolume for minimisation.
//! - [`problems`]: sphere, Rosenbrock and ZDT1.

pub mod cmaes;
pub mod dominance;
pub mod error;
pub mod hypervolume;
pub mod nsga2;
pub mod problems;
mod streams;
mod symmetric_eigen;

pub use cmaes::{CmaEs, CmaEsConfig};
pub use error::OptimError;
pub use hypervolume::hypervolume;
pub use nsga2::{Member, Nsga2, Nsga2Config};

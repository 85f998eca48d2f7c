#!/usr/bin/env python3
"""Writes crates/optim/tests/fixtures/zdt1_pymoo.json: the hypervolume that pymoo's default
NSGA-II reaches on ZDT1, which the Rust NSGA-II test (crates/optim/tests/nsga2_zdt1.rs) must
match within 2%.

Setting: `NSGA2(pop_size=100)` with pymoo's defaults on `get_problem("zdt1")` (30 variables,
two objectives), for 200 generations with seeds 0..4 (the asked-for budget) and for 50 with
seeds 0..19 (an early budget, where a weaker operator set would show; at 200 both are near the
front; its per-seed spread is about 0.04, so it takes 20 seeds to pin the mean down).
`n_gen` counts the initial population as the first generation.
The hypervolume of each final non-dominated front (`res.F`) is taken w.r.t. (1.1, 1.1) with
pymoo's HV indicator.

Needs: pip install pymoo   (written against pymoo 0.6.2)
Run:   python3 scripts/pymoo_zdt1_fixture.py [OUT.json]
"""

import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.indicators.hv import HV
from pymoo.optimize import minimize
from pymoo.problems import get_problem

OUT = Path(__file__).resolve().parent.parent / "crates/optim/tests/fixtures/zdt1_pymoo.json"
POPULATION = 100
SEEDS_BY_GENERATIONS = {50: list(range(20)), 200: list(range(5))}
REFERENCE = [1.1, 1.1]


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    problem = get_problem("zdt1")
    assert problem.n_var == 30 and problem.n_obj == 2
    indicator = HV(ref_point=np.array(REFERENCE))
    budgets = []
    for generations, seeds in SEEDS_BY_GENERATIONS.items():
        runs = []
        for seed in seeds:
            algorithm = NSGA2(pop_size=POPULATION)
            res = minimize(problem, algorithm, ("n_gen", generations), seed=seed, verbose=False)
            runs.append(
                {
                    "seed": seed,
                    "hypervolume": float(indicator(res.F)),
                    "front_size": int(len(res.F)),
                    "evaluations": int(res.algorithm.evaluator.n_eval),
                }
            )
            r = runs[-1]
            print(f"n_gen {generations} seed {seed}: hv {r['hypervolume']:.6f}, front {r['front_size']}, evals {r['evaluations']}")
        mean = float(np.mean([r["hypervolume"] for r in runs]))
        budgets.append({"generations": generations, "runs": runs, "mean_hypervolume": mean})
        print(f"n_gen {generations}: mean hv {mean:.6f}")
    fixture = {
        "generator": "scripts/pymoo_zdt1_fixture.py",
        "pymoo_version": version("pymoo"),
        "numpy_version": version("numpy"),
        "problem": "zdt1",
        "n_var": problem.n_var,
        "algorithm": f"NSGA2(pop_size={POPULATION}) with pymoo defaults",
        "population": POPULATION,
        "reference_point": REFERENCE,
        "budgets": budgets,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fixture, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes crates/qd/tests/fixtures/elite_sampler.json: random archives and the elite-
sampling probabilities the spec (docs CYCLEQD.md, "Parent sampling") gives for them,
written out independently in numpy, for the QD core's sampler cross-check.

Setup (PyPI only):
    python3 -m venv /tmp/qd-venv
    /tmp/qd-venv/bin/pip install numpy
    /tmp/qd-venv/bin/python scripts/qd_sampler_fixture.py

The formula: per task t, norm_t(v) = a_lo + (v - min v) * (a_hi - a_lo) / (max v - min v)
over the archive's elites, 1 for a constant column; weight_i = prod_t norm_t(f_t(e_i));
P(first = i) = w_i / sum(w); P(second = j | first = i) = w_j / (sum(w) - w_i) for j != i.
A single elite is drawn twice. Elites are listed in insertion order, each in its own cell
(cells computed with the spec's linspace rule), so inserting them builds the archive.
"""

import json
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/qd/tests/fixtures/elite_sampler.json"
rng = np.random.default_rng(20241021)


def spec_bin(x, lo, hi, n):
    edges = np.linspace(lo, hi, n + 1)
    return int(np.clip(np.searchsorted(edges, x, side="left") - 1, 0, n - 1))


def probabilities(scores, a_lo, a_hi):
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.ones(len(scores))
    for t in range(scores.shape[1]):
        v = scores[:, t]
        if v.max() != v.min():
            weights = weights * (a_lo + (v - v.min()) * (a_hi - a_lo) / (v.max() - v.min()))
    if len(scores) == 1:
        return [1.0], [[1.0]]
    total = weights.sum()
    first = weights / total
    second = [[0.0 if j == i else weights[j] / (total - weights[i]) for j in range(len(scores))]
              for i in range(len(scores))]
    return first.tolist(), second


def make_case(k, n_elites, a_lo, a_hi, levels=None, constant_task=None):
    quality = int(rng.integers(0, k))
    axes = [{"lo": 0.0, "hi": 1.0, "bins": int(rng.integers(3, 16))} for _ in range(k)]
    elites, cells = [], set()
    tries = 0
    while len(elites) < n_elites and tries < 10_000:
        tries += 1
        if levels:
            s = [float(rng.integers(0, levels)) / levels for _ in range(k)]
        else:
            s = [float(x) for x in rng.uniform(0.0, 1.0, k)]
        if constant_task is not None:
            s[constant_task] = 0.375
        cell = tuple(spec_bin(s[j], 0.0, 1.0, axes[j]["bins"]) for j in range(k) if j != quality)
        if cell not in cells:
            cells.add(cell)
            elites.append(s)
    first, second = probabilities(elites, a_lo, a_hi)
    return {
        "quality_task": quality,
        "axes": axes,
        "a_lo": a_lo,
        "a_hi": a_hi,
        "elites": elites,
        "p_first": first,
        "p_second_given_first": second,
    }


def main():
    cases = [
        make_case(3, 1, 0.5, 0.8),
        make_case(3, 2, 0.5, 0.8),
        make_case(2, 2, 0.5, 0.8),
        make_case(3, 12, 0.5, 0.8, constant_task=0),
        make_case(3, 12, 0.5, 0.8, constant_task=2),
        make_case(3, 15, 0.5, 0.8, levels=4),
        make_case(4, 20, 0.5, 0.8, levels=3),
    ]
    for _ in range(14):
        k = int(rng.integers(2, 6))
        a_lo = float(rng.uniform(0.05, 1.0))
        a_hi = a_lo + float(rng.uniform(0.0, 1.5))
        cases.append(make_case(k, int(rng.integers(1, 25)), a_lo, a_hi))
    fixture = {
        "generator": "scripts/qd_sampler_fixture.py",
        "numpy_version": np.__version__,
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()

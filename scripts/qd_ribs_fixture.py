#!/usr/bin/env python3
"""Writes crates/qd/tests/fixtures/ribs_grid_index.json: pyribs' GridArchive cell indices
for random measure points, for the QD core's cell-mapping cross-check.

Setup (PyPI only):
    python3 -m venv /tmp/qd-venv
    /tmp/qd-venv/bin/pip install "ribs==0.12.*" numpy
    /tmp/qd-venv/bin/python scripts/qd_ribs_fixture.py

pyribs computes idx = int((n * (x - lo) + 1e-6) / (hi - lo)), clipped to [0, n - 1].
The spec's rule (numpy linspace edges, bin = #{edges < x} - 1, clamped) agrees with it
everywhere except on and within ~1e-6 / n * (hi - lo) below an interior edge: there
pyribs gives the upper bin and the spec the lower one. The random points therefore keep
a margin from every edge; the edge points are listed apart, with pyribs' answer, so the
Rust test can check that the difference is exactly the documented one.
"""

import json
import pathlib

import numpy as np
import ribs
from ribs.archives import GridArchive

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/qd/tests/fixtures/ribs_grid_index.json"
rng = np.random.default_rng(20241020)


def near_an_edge(x, lo, hi, n):
    edges = np.linspace(lo, hi, n + 1)
    return np.min(np.abs(edges - x)) < 1e-5 * (hi - lo) / n


def make_case(dims):
    bins = [int(rng.integers(1, 21)) for _ in range(dims)]
    ranges = []
    for _ in range(dims):
        lo = float(rng.uniform(-1.0, 1.0))
        width = float(rng.uniform(0.05, 2.0))
        ranges.append((lo, lo + width))
    if dims == 2 and not any(b == 15 for b in bins):
        # The paper's grid: 15 bins on a [0, 0.75] range, as the reference uses for coding.
        bins[0], ranges[0] = 15, (0.0, 0.75)
    archive = GridArchive(solution_dim=1, dims=bins, ranges=ranges)

    points = []
    while len(points) < 60:
        p = []
        for (lo, hi), n in zip(ranges, bins):
            w = hi - lo
            x = float(rng.uniform(lo - 0.3 * w, hi + 0.3 * w))
            while near_an_edge(x, lo, hi, n):
                x = float(rng.uniform(lo - 0.3 * w, hi + 0.3 * w))
            p.append(x)
        points.append(p)
    int_index = archive.index_of(np.array(points))
    grid_index = archive.int_to_grid_index(int_index)

    edge_points, edge_dims, edge_numbers = [], [], []
    base = [p for p in points[0]]
    for d, ((lo, hi), n) in enumerate(zip(ranges, bins)):
        for i, e in enumerate(np.linspace(lo, hi, n + 1)):
            q = list(base)
            q[d] = float(e)
            edge_points.append(q)
            edge_dims.append(d)
            edge_numbers.append(i)
    edge_grid = archive.int_to_grid_index(archive.index_of(np.array(edge_points)))

    return {
        "bins": bins,
        "ranges": [list(r) for r in ranges],
        "points": points,
        "int_index": [int(i) for i in int_index],
        "grid_index": [[int(v) for v in g] for g in grid_index],
        "edge_points": edge_points,
        "edge_dim": edge_dims,
        "edge_number": edge_numbers,
        "edge_grid_index": [[int(v) for v in g] for g in edge_grid],
    }


def main():
    cases = [make_case(d) for d in (1, 1, 2, 2, 2, 3, 3, 4)]
    fixture = {
        "generator": "scripts/qd_ribs_fixture.py",
        "ribs_version": ribs.__version__,
        "numpy_version": np.__version__,
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()

"""Combines the demo-results.json of several seeds into Markdown tables: per model and
skill, the mean test score and the spread (sample standard deviation) over the seeds, in %;
each held-out skill's score, in %, and its retention (the model's score over the base's, per
seed; left out where the base scores 0); and the
experts' pairwise similarities; and how many of the models the searches scored (their
journals beside each demo-results.json) score above 0 on two skills or more.

    python3 scripts/demo_table.py demo-seeds/seed-*/demo-results.json
"""
import glob
import json
import os
import statistics
import sys


def spread(values, scale=100.0, digits=1):
    mean = scale * statistics.mean(values)
    sd = scale * statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    tasks = runs[0]["tasks"]
    held_out = runs[0].get("held_out_tasks", [])
    names = [row["name"].split(" (lambda")[0] for row in runs[0]["rows"]]
    cells = {}
    held = {}
    retention = {}
    for run in runs:
        if run["tasks"] != tasks or run.get("held_out_tasks", []) != held_out:
            sys.exit(f"the runs have different tasks: {run['tasks']} vs {tasks}")
        base = next(r for r in run["rows"] if r["name"] == "base")
        for row in run["rows"]:
            name = row["name"].split(" (lambda")[0]
            scores = row["test"] + [sum(row["test"]) / len(row["test"])]
            cells.setdefault(name, []).append(scores)
            ratios = [
                s / b if b > 0 else float("nan")
                for s, b in zip(row.get("held_out", []), base.get("held_out", []))
            ]
            retention.setdefault(name, []).append(ratios)
            held.setdefault(name, []).append(row.get("held_out", []))

    caption = f"Test-split scores (%), mean ± standard deviation over {len(runs)} seeds"
    if held_out:
        caption += (
            "; held out: the skill's score (%), and over the base's (x base, 1.00 = kept) "
            "where the base scores above 0"
        )
    print(caption + "\n")
    header = tasks + ["mean"] + [f"held out: {t}" for t in held_out]
    print("| model | " + " | ".join(header) + " |")
    print("|---|" + "---:|" * len(header))
    for name in names:
        rows = cells[name]
        columns = [spread([r[i] for r in rows]) for i in range(len(tasks) + 1)]
        for i in range(len(held_out)):
            scores = [r[i] for r in held[name] if i < len(r)]
            ratios = [r[i] for r in retention[name] if i < len(r) and r[i] == r[i]]
            cell = spread(scores) if scores else "n/a"
            if ratios and len(ratios) == len(scores):
                cell += f" ({spread(ratios, 1.0, 2)}x)"
            columns.append(cell)
        print(f"| {name} | " + " | ".join(columns) + " |")

    pairs = {}
    for run in runs:
        for p in run.get("similarity", []):
            pairs.setdefault((p["a"], p["b"]), []).append(p["similarity"])
    if pairs:
        print("\nExperts' similarity (mean cosine of task-vector singular values)\n")
        print("| experts | similarity |")
        print("|---|---:|")
        for (a, b), values in pairs.items():
            print(f"| {a} / {b} | {spread(values, 1.0, 4)} |")

    scored, multi = 0, 0
    for path in paths:
        runs_dir = os.path.join(os.path.dirname(path), "runs")
        for journal in glob.glob(f"{runs_dir}/*/qd/journal.jsonl") + glob.glob(
            f"{runs_dir}/*/search/evaluations.jsonl"
        ):
            for line in open(journal):
                entry = json.loads(line)
                for record in entry.get("seeds") or [entry.get("result", entry)]:
                    scored += 1
                    multi += sum(score > 0 for score in record["scores"]) >= 2
    if scored:
        print(
            f"\nModels the searches scored (journals, experts included): {scored}; "
            f"above 0 on two skills or more: {multi}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])

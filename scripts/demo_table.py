"""Combines the demo-results.json of several seeds into one Markdown table: per model and
skill, the mean test score and the spread (sample standard deviation) over the seeds, in %.

    python3 scripts/demo_table.py demo-seeds/seed-*/demo-results.json
"""
import json
import statistics
import sys


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    tasks = runs[0]["tasks"]
    names = [row["name"].split(" (lambda")[0] for row in runs[0]["rows"]]
    cells = {}
    for run in runs:
        if run["tasks"] != tasks:
            sys.exit(f"the runs have different tasks: {run['tasks']} vs {tasks}")
        for row in run["rows"]:
            name = row["name"].split(" (lambda")[0]
            scores = row["test"] + [sum(row["test"]) / len(row["test"])]
            cells.setdefault(name, []).append(scores)

    def fmt(values):
        mean = 100 * statistics.mean(values)
        spread = 100 * statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{mean:.1f} ± {spread:.1f}"

    print(f"Test-split scores (%), mean ± standard deviation over {len(runs)} seeds\n")
    print("| model | " + " | ".join(tasks) + " | mean |")
    print("|---|" + "---:|" * (len(tasks) + 1))
    for name in names:
        rows = cells[name]
        columns = [fmt([r[i] for r in rows]) for i in range(len(tasks) + 1)]
        print(f"| {name} | " + " | ".join(columns) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])

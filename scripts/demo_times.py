"""Where a demo's time went: each model's training time (from the demo's log) and each
search's wall time (run.toml written -> results.json written), then the baselines.

    python3 scripts/demo_times.py demo-seeds/seed-1 demo-seeds/seed-1.log
"""
import glob
import os
import re
import sys


def main(root, log):
    print("| stage | seconds |")
    print("|---|---:|")
    last = {}
    # `cycleqd finetune` (the SmolLM2 demo) logs "NAME: fine-tuning on ..." and then
    # "step i/n loss ... T s, eta ..."; a stage resumed after a stop logs a second segment,
    # whose time adds to the first's.
    stage, segment = None, 0.0
    for line in open(log, encoding="utf-8", errors="replace"):
        m = re.match(r"\s+([\w-]+): step (\d+)/(\d+) loss [\d.]+ \(([\d.]+) s\)", line)
        if m and m.group(2) == m.group(3):
            last[m.group(1)] = float(m.group(4))
        m = re.match(r"\s+([\w-]+): fine-tuning on ", line)
        if m:
            stage, segment = m.group(1), 0.0
            last.setdefault(stage, 0.0)
        m = re.match(r"step \d+/\d+ loss .* ([\d.]+) s, eta", line)
        if m and stage:
            last[stage] += float(m.group(1)) - segment
            segment = float(m.group(1))
    for name, seconds in last.items():
        print(f"| train {name} | {seconds:.0f} |")
    runs = sorted(glob.glob(f"{root}/runs/*"), key=lambda d: os.path.getmtime(f"{d}/run.toml"))
    mtime = os.path.getmtime
    for run in runs:
        seconds = mtime(f"{run}/results.json") - mtime(f"{run}/run.toml")
        print(f"| search {os.path.basename(run)} | {seconds:.0f} |")
    if runs:
        seconds = mtime(f"{root}/demo.md") - mtime(f"{runs[-1]}/results.json")
        print(f"| baselines and similarity | {seconds:.0f} |")
    total = re.findall(r"^total (\d+) s", open(log, encoding="utf-8", errors="replace").read(), re.M)
    if total:
        print(f"| total | {total[-1]} |")


if __name__ == "__main__":
    main(*sys.argv[1:])

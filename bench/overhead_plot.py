"""Plot pipeline overhead against concurrency from saved `bench/chat_pipeline.py` outputs.

Each file is one run's stdout (the JSON report, then the summary lines). Runs are grouped by
`users` (the burst's concurrent streams); each point is the median over that group's runs.

    $UV run --frozen python bench/overhead_plot.py --series before 'runs/base_b*.json' \
        --series after 'runs/new_b*.json' -o docs/images/overhead.png
"""

import argparse
import glob
import json
import statistics
from collections import defaultdict
from pathlib import Path

from plot import line_plot


def burst_reports(pattern: str) -> list[dict]:
    reports = []
    for path in sorted(glob.glob(pattern)):
        try:
            report, _ = json.JSONDecoder().raw_decode(Path(path).read_text())
        except json.JSONDecodeError:
            print(f"skipped {path}: no report (a run still going, or one that failed)")
            continue
        if "overhead_ms" in report.get("burst", {}):
            reports.append(report)
    return reports


def medians(reports: list[dict], percentile: str) -> tuple[list[int], list[float]]:
    by_users: dict[int, list[float]] = defaultdict(list)
    for report in reports:
        by_users[report["users"]].append(report["burst"]["overhead_ms"][percentile])
    users = sorted(by_users)
    return users, [statistics.median(by_users[u]) for u in users]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", nargs=2, action="append", metavar=("NAME", "GLOB"), required=True)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    series = {}
    for name, pattern in args.series:
        reports = burst_reports(pattern)
        for percentile in ("p50", "p99"):
            series[f"{name} {percentile}"] = medians(reports, percentile)
            print(name, percentile, dict(zip(*series[f"{name} {percentile}"], strict=True)))
    line_plot(
        series,
        args.output,
        title="Pipeline overhead (TTFT minus the model's own), burst, median of runs",
        xlabel="concurrent streams",
        ylabel="ms",
    )


if __name__ == "__main__":
    main()

"""Draws the timelines the cluster scaling tests record (tests/cluster/test_scaling.py, with
ALICE_HPA_TIMELINE / ALICE_KEDA_TIMELINE / ALICE_INFERENCE_TIMELINE set) as the figures of
docs/operations.md and docs/inference.md:

    python bench/cluster_timeline.py hpa  /tmp/hpa.tsv  docs/images/hpa-timeline.png
    python bench/cluster_timeline.py keda /tmp/keda.tsv docs/images/keda-timeline.png
    python bench/cluster_timeline.py inference /tmp/inference.tsv docs/images/inference-timeline.png

The TSV has a header (seconds, phase, replicas, and the metric the autoscaler read) and one row
per sample; the plot shows replicas over time, one step line per phase.
"""

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from plot import line_plot

TITLES = {
    "hpa": "Backend HPA (CPU 70 %): replicas under a bounded load",
    "keda": "Dataflow on KEDA (Kafka lag): replicas while a backlog drains",
    "inference": "Inference on KEDA (slot demand): ready replicas while 8 users chat",
}
LABELS = {
    "after": "load stopped",
    "queued": "events queued",
    "draining": "backlog draining",
    "chatting": "8 users chatting",
    "idle again": "users stopped",
}


def main(kind: str, tsv: Path, png: Path) -> None:
    with tsv.open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    series: dict[str, tuple[list[float], list[float]]] = {}
    previous: tuple[float, float] | None = None
    for row in rows:
        point = (float(row["seconds"]), float(row["replicas"]))
        if row["phase"] not in series:
            series[row["phase"]] = ([], [])
            if previous is not None:  # each phase's line starts where the last one ended
                series[row["phase"]][0].append(previous[0])
                series[row["phase"]][1].append(previous[1])
        series[row["phase"]][0].append(point[0])
        series[row["phase"]][1].append(point[1])
        previous = point
    series = {LABELS.get(phase, phase): line for phase, line in series.items()}
    line_plot(series, png, title=TITLES[kind], xlabel="seconds", ylabel="replicas", steps=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))

"""Line plots for the docs: one PNG from one or more (x, y) series.

Used by the benchmarks (overhead against concurrency) and the cluster scaling tests (replicas over
time). Kept to one function so every figure in docs/ looks the same.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI

import matplotlib.pyplot as plt


def line_plot(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    steps: bool = False,
) -> Path:
    """Draw each named series as a line (a step line for counts such as replicas) and save a PNG."""
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    for name, (xs, ys) in series.items():
        if steps:
            ax.step(xs, ys, where="post", label=name)
        else:
            ax.plot(xs, ys, marker="o", label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

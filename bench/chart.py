"""A PNG of every ratio, one bar per figure, with the line at 1× and each ratio goal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .figures import Figure

__all__ = ["draw_ratios"]

_COLOURS = {True: "#2e7d32", False: "#c62828", None: "#78909c"}


def draw_ratios(path: Path, figures: Sequence[Figure], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [f for f in figures if f.ratio is not None]
    if not shown:
        return
    height = max(4.0, 0.28 * len(shown) + 1.5)
    fig, ax = plt.subplots(figsize=(15, height))
    positions = range(len(shown))[::-1]
    ratios = [f.ratio or 0.0 for f in shown]
    ax.barh(list(positions), ratios, color=[_COLOURS[f.goal_met] for f in shown], height=0.7)
    ax.set_yticks(list(positions))
    ax.set_yticklabels([f"({f.section}) {f.label}  [vs {f.baseline_label}]" for f in shown], fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    for y, figure in zip(positions, shown):
        if figure.goal is not None and figure.goal.what == "ratio":
            ax.plot([figure.goal.limit] * 2, [y - 0.4, y + 0.4], color="black", linewidth=2)
        ax.text(figure.ratio or 0.0, y, f" {figure.ratio:.2f}×", va="center", fontsize=7)
    ax.set_xscale("log")
    ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64) if min(ratios) / 2 <= t <= max(ratios) * 2]
    ax.set_xticks(ticks, [f"{t:g}×" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("ratio to the baseline (log scale; green: goal met, red: missed, grey: no goal; tick: ratio goal)")
    ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.5, right=0.97, top=1 - 0.6 / height, bottom=0.9 / height)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""Section k's chart, ``guard_sessions.png``: the RSS of both curves, and the one login's growth
beside what it would be were nothing let go of and what a tab still leaves."""

from __future__ import annotations

from pathlib import Path

from fastapi_gateway.pages.ownership import MAX_PAGE_SESSIONS_PER_OWNER

from .guard_curves import Curve
from .guard_plan import LOGINS_PER_USER, Plan
from .guard_records import FloodRest

__all__ = ["draw_guard_sessions"]


def draw_guard_sessions(path: Path, plan: Plan, many: Curve, one: Curve, per_tab_kib: float, rest: FloodRest) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    budget = MAX_PAGE_SESSIONS_PER_OWNER
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot([at for at, _ in many.steps], [rss for _, rss in many.steps], marker="o",
              label=f"{plan.logins} logins ({len(plan.users)} users × {LOGINS_PER_USER}), ≤ {budget} tabs each")
    left.plot([at for at, _ in one.steps], [rss for _, rss in one.steps], marker="s",
              label=f"then one login, past its {budget} tabs")
    left.axvline(plan.warm, color="grey", linestyle=":", linewidth=0.8, label="the warm-up's end")
    left.set_ylabel("RSS of the gateway process, MiB")
    left.set_title("RSS as tabs open", fontsize=10)
    start = one.rss(0)
    right.plot([at for at, _ in one.steps], [rss - start for _, rss in one.steps], marker="s", color="C1",
               label="one login past its budget: measured")
    last = one.steps[-1][0]
    right.plot([0, last], [0, per_tab_kib * last / 1024], linestyle=":", color="C0",
               label="at the first curve's rate, were nothing let go of")
    at_budget = one.rss(budget) - start
    right.plot([budget, last], [at_budget, at_budget + rest.total * (last - budget) / 1024], linestyle="--",
               color="C2", label=f"what a tab still leaves (bench, tracemalloc): {rest.total:.1f} KiB")
    right.axvline(budget, color="grey", linestyle="--", linewidth=0.8,
                  label=f"its {budget} sessions full: each tab lets go of its oldest")
    right.set_ylabel("RSS growth since the curve began, MiB")
    right.set_title("the one login: growth since it began", fontsize=10)
    for ax in (left, right):
        ax.set_xlabel("tabs opened in the curve (load event + one upload each)")
        ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        ax.grid(True, linewidth=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("(k) Gradio sessions and uploads tracked by the guard: memory, and its bound")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

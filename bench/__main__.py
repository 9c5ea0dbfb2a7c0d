"""``python -m bench [--quick] [--only a,c,...] [--write-results]``."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .chart import draw_ratios
from .config import BenchConfig
from .figures import Figure
from .machine import CpuShare, describe_machine
from .report import CHARTS, SECTIONS, terminal_table, write_json, write_results_md
from .servers import ServerPool
from .sites import SiteFactory
from .wrk import require_wrk

HERE = Path(__file__).resolve().parent


def _log(message: str) -> None:
    print(message, flush=True)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmarks of the gateway, as ratios to baselines.")
    parser.add_argument("--quick", action="store_true", help="short runs, one repeat: a smoke run of the whole suite")
    parser.add_argument("--only", default="".join(SECTIONS), help="sections to run, e.g. a,c (default: all)")
    parser.add_argument("--write-results", action="store_true", help="also write bench/RESULTS.md from this run")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="where results.json and ratios.png go")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the servers' databases and logs")
    arguments = parser.parse_args(argv)
    arguments.only = "".join(sorted({s.strip() for s in arguments.only.split(",") for s in s} & set(SECTIONS)))
    if not arguments.only:
        parser.error(f"--only: choose among {', '.join(SECTIONS)}")
    return arguments


def _sections(config: BenchConfig, sites: SiteFactory, pool: ServerPool, only: str,
              out: Path) -> list[tuple[str, Callable[[], Any]]]:
    from .footprint import measure_footprint
    from .growth import measure_growth
    from .gradio_events import measure_gradio_events
    from .legacy_load import measure_legacy_load
    from .routing_cost import measure_routing_cost
    from .session_cost import measure_session_cost
    from .transfers import measure_transfers

    chosen: list[tuple[str, Callable[[], Any]]] = []
    if "c" in only:
        chosen.append(("c", lambda: measure_session_cost(config, sites, log=_log)))
    if "a" in only or "b" in only:
        chosen.append(("".join(s for s in "ab" if s in only), lambda: measure_legacy_load(config, sites, pool, only, log=_log)))
    if "d" in only:
        chosen.append(("d", lambda: measure_gradio_events(config, sites, pool, log=_log)))
    if "e" in only:
        chosen.append(("e", lambda: measure_transfers(config, sites, pool, log=_log)))
    if "f" in only:
        chosen.append(("f", lambda: measure_footprint(config, sites, pool, log=_log)))
    if "g" in only:
        chosen.append(("g", lambda: measure_routing_cost(config, sites, pool, out=out, log=_log)))
    if "h" in only:
        chosen.append(("h", lambda: measure_growth(config, sites, pool, out=out, log=_log)))
    if "i" in only:
        from .route_count import measure_route_count

        chosen.append(("i", lambda: measure_route_count(config, sites, pool, out=out, log=_log)))
    if "j" in only:
        from .streams import measure_streams

        chosen.append(("j", lambda: measure_streams(config, sites, pool, out=out, log=_log)))
    if "k" in only:
        from .guard_sessions import measure_guard_sessions

        chosen.append(("k", lambda: measure_guard_sessions(config, sites, pool, out=out, log=_log)))
    return chosen


def main(argv: list[str] | None = None) -> int:
    arguments = _parse(sys.argv[1:] if argv is None else argv)
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    config = BenchConfig.smoke(workdir) if arguments.quick else BenchConfig.real(workdir)
    load = CpuShare()
    machine = describe_machine()
    _log(f"bench: {machine['cores']} cores, {machine['cpu']}; bridge {machine['bridge']}; "
         f"load average {load.load_before[0]:.2f}; sections {arguments.only}; workdir {workdir}")
    figures: list[Figure] = []
    raw: dict[str, Any] = {}
    pool = ServerPool()
    sites = SiteFactory(workdir)
    started = time.perf_counter()
    try:
        with pool.session():
            for name, run in _sections(config, sites, pool, arguments.only, arguments.out):
                _log(f"\n== {', '.join(SECTIONS[s] for s in name)}")
                section_figures, section_raw = run()
                figures += section_figures
                raw[name] = section_raw
    finally:
        if not arguments.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    _log(f"\nbench: {time.perf_counter() - started:.0f} s")
    context = {
        "machine": machine,
        "load": load.finish(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(config).items()},
        "sections": arguments.only,
        "notes": pool.notes,
        "raw": raw,
    }
    order = {s: i for i, s in enumerate(SECTIONS)}
    figures.sort(key=lambda f: order[f.section])
    print(terminal_table(figures))
    write_json(arguments.out / "results.json", figures, context)
    draw_ratios(arguments.out / "ratios.png", figures, f"gateway vs baselines — {machine['date']}, {machine['cores']} cores"
                + (" (quick)" if arguments.quick else ""))
    if arguments.write_results:
        charts = {}
        for section, chart in CHARTS.items():
            if section in arguments.only and (arguments.out / chart).exists():
                shutil.copyfile(arguments.out / chart, HERE / chart)
                charts[section] = chart
        write_results_md(HERE / "RESULTS.md", figures, {**context, "charts": charts})
    _log(f"\nwrote {arguments.out / 'results.json'}, {arguments.out / 'ratios.png'}"
         + (f", {HERE / 'RESULTS.md'}" if arguments.write_results else ""))
    for note in pool.notes:
        _log(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

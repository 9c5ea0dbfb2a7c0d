"""How long and how often the suite measures: the real run and ``--quick``'s smoke run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["BenchConfig"]


@dataclass(frozen=True)
class BenchConfig:
    workdir: Path
    quick: bool = False
    duration: float = 10.0  # seconds of each wrk run
    warmup: float = 3.0
    repeats: int = 3  # best of N, for every wrk figure
    connections: int = 16
    gradio_events: int = 200
    gradio_repeats: int = 3
    transfer_mb: int = 1024  # #17.3: uploads and downloads of 1 GB with flat memory
    transfer_repeats: int = 3
    cold_start_repeats: int = 3
    micro_repeats: int = 7  # timeit repeats (best of N) of the session adapter
    micro_number: int = 300  # calls per timeit repeat
    shadow_settle: float = 1.5  # seconds after a flip: 3 route polls of 0.5 s

    @classmethod
    def real(cls, workdir: Path) -> BenchConfig:
        return cls(workdir=workdir)

    @classmethod
    def smoke(cls, workdir: Path) -> BenchConfig:
        return cls(
            workdir=workdir, quick=True, duration=2.0, warmup=1.0, repeats=1, gradio_events=30, gradio_repeats=1,
            transfer_mb=1024, transfer_repeats=1, cold_start_repeats=1, micro_repeats=2, micro_number=50,
        )

"""Frozen time reaches time.time and Django's timezone.now, and is undone; seeds repeat draws."""

from __future__ import annotations

import random
import time
from datetime import datetime, timezone as dt_timezone

from django.utils import timezone

from fastapi_gateway.parity.determinism import Determinism


def test_frozen_time_reaches_time_and_django_and_is_restored() -> None:
    instant = datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt_timezone.utc)
    with Determinism(frozen_at=instant).applied():
        assert time.time() == instant.timestamp()
        time.sleep(0.01)
        assert time.time() == instant.timestamp()
        assert timezone.now() == instant
    assert abs(time.time() - datetime.now(dt_timezone.utc).timestamp()) < 5
    assert timezone.now().year != 2030


def test_a_naive_instant_means_utc_and_no_freezing_changes_nothing() -> None:
    assert Determinism(frozen_at=datetime(2030, 1, 1)).frozen_at == datetime(2030, 1, 1, tzinfo=dt_timezone.utc)
    before = time.time
    with Determinism().applied():
        assert time.time is before


def test_the_seed_repeats_the_same_draws_for_each_side() -> None:
    determinism = Determinism(seed=7)
    determinism.reseed()
    first = [random.random() for _ in range(3)]
    determinism.reseed()
    assert [random.random() for _ in range(3)] == first

"""``JsonFormatter`` and ``use_json_format``: every record one JSON line, the request id in it."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from fastapi_gateway.logging import JsonFormatter, RequestIdFilter, use_json_format


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    test_logger = logging.getLogger("tests.json_formatter")
    test_logger.addHandler(handler)
    test_logger.propagate = False
    try:
        yield test_logger, stream
    finally:
        test_logger.removeHandler(handler)
        test_logger.propagate = True


def test_a_record_is_one_json_line_with_its_extra_fields(logger: tuple[logging.Logger, io.StringIO]) -> None:
    test_logger, stream = logger
    test_logger.warning("two\nlines %s", "here", extra={"route": "api-tickets", "nothing": None})
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "two\nlines here"
    assert (entry["level"], entry["logger"], entry["route"]) == ("WARNING", "tests.json_formatter", "api-tickets")
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    assert "nothing" not in entry and "request_id" not in entry  # no request being served here


def test_an_object_in_extra_is_left_out(logger: tuple[logging.Logger, io.StringIO]) -> None:
    class Request:  # as Django's django.request records carry theirs
        def __str__(self) -> str:
            return "<WSGIRequest: GET '/reset/?token=s3cret'>"

    test_logger, stream = logger
    test_logger.error("Internal Server Error: /reset/", extra={"status_code": 500, "request": Request()})
    entry = json.loads(stream.getvalue())
    assert entry["status_code"] == 500 and "request" not in entry and "s3cret" not in stream.getvalue()


def test_an_exception_is_a_field_of_its_line(logger: tuple[logging.Logger, io.StringIO]) -> None:
    test_logger, stream = logger
    try:
        raise ValueError("bad value")
    except ValueError:
        test_logger.exception("failed")
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "failed"
    assert entry["exception"].startswith("Traceback") and "ValueError: bad value" in entry["exception"]


def test_a_records_own_request_id_is_kept(logger: tuple[logging.Logger, io.StringIO]) -> None:
    test_logger, stream = logger
    test_logger.warning("from a proxy's request", extra={"request_id": "abc-123"})
    assert json.loads(stream.getvalue())["request_id"] == "abc-123"


def test_text_formats_get_a_dash_outside_a_request() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    assert RequestIdFilter().filter(record) and getattr(record, "request_id") == "-"


def test_a_projects_logging_setting_can_name_it() -> None:
    stream = io.StringIO()
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "fastapi_gateway.logging.JsonFormatter"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream}},
        "loggers": {"tests.dict_config": {"handlers": ["json"], "level": "INFO", "propagate": False}},
    })
    logging.getLogger("tests.dict_config").info("configured")
    assert json.loads(stream.getvalue())["message"] == "configured"
    logging.getLogger("tests.dict_config").handlers.clear()


def _every_handler() -> list[logging.Handler]:
    loggers = [logging.getLogger(), *(each for each in logging.root.manager.loggerDict.values() if isinstance(each, logging.Logger))]
    return [handler for each in loggers for handler in each.handlers]


def test_use_json_format_turns_every_stream_handler_to_json() -> None:
    before = {handler: handler.formatter for handler in _every_handler()}  # pytest's own among them
    stream = io.StringIO()
    plain = logging.StreamHandler(stream)
    plain.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    project_logger = logging.getLogger("tests.project_logging")
    project_logger.addHandler(plain)
    project_logger.propagate = False
    try:
        use_json_format()
        project_logger.error("now JSON")
    finally:
        project_logger.removeHandler(plain)
        project_logger.propagate = True
        for handler, formatter in before.items():
            handler.setFormatter(formatter)
    assert json.loads(stream.getvalue())["message"] == "now JSON"

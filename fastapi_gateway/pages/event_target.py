"""Event requests Gradio would answer with a 500, refused as a 4xx before it looks.

Gradio finds the event a request names — ``fn_index`` in the body, else the ``api_name`` in
the path — with a bare lookup outside its error handling (Gradio 6.31): an unknown
``fn_index`` on ``queue/join``, ``run`` or ``api``, an unknown name on ``run``, ``api`` or
``call``, and on ``call/v2`` a name its API listing leaves out or a parameter it does not
know are each a 500 with a traceback. And its direct-call routes (``run``, ``api``,
``call``) run a private queued event (``api_visibility="private"``) for any caller,
answering each bad value with a 500: its own page never calls such an event there (it goes
through the queue), only a client sending made-up input does. ``check_event_call`` finds
the event as Gradio will, with Gradio's own body model and argument builder, and refuses
all of these; everything else is left to Gradio.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from fastapi_gateway.compat import PredictBody, construct_args
from fastapi_gateway.exceptions import EventCallRefused

__all__ = ["check_event_call"]

_QUEUE_JOIN = "/gradio_api/queue/join"
_RUN = ("/gradio_api/run/", "/gradio_api/api/")  # the event: fn_index in the body, else the name
_CALL_V2 = "/gradio_api/call/v2/"  # by name among the API listing's endpoints; named parameters
_CALL = "/gradio_api/call/"  # by name


def check_event_call(blocks: Any, route_path: str, body: Mapping[str, Any] | None) -> None:
    """Raise ``EventCallRefused`` when Gradio would answer this event request with a 500.

    ``blocks`` is the mounted page (``gradio_app.get_blocks()``), ``route_path`` the path
    under its mount (``/gradio_api/run/name``), ``body`` the parsed JSON body. Any other
    route, or a body Gradio itself refuses (422), passes.
    """
    if route_path.startswith(_CALL_V2):
        _check_api_call(blocks, route_path[len(_CALL_V2):].rstrip("/"), body)
        return
    direct = route_path.startswith((*_RUN, _CALL))
    if not direct and route_path.rstrip("/") != _QUEUE_JOIN:
        return
    fields = _predict_body(body)
    if fields is None:
        return
    fn_index, session_hash = fields
    fns = _event_functions(blocks, session_hash)
    if route_path.startswith(_CALL):
        fn = _named(fns, route_path[len(_CALL):])
    elif fn_index is not None:
        fn = fns.get(fn_index)
        if fn is None:
            raise EventCallRefused(404, f"This page has no event {fn_index}.")
    elif direct:
        prefix = next(prefix for prefix in _RUN if route_path.startswith(prefix))
        fn = _named(fns, route_path[len(prefix):])
    else:
        return  # queue/join without fn_index: Gradio answers 400 itself
    if fn.fn is None:
        raise EventCallRefused(404, "This event runs in the browser only.")
    if direct and fn.api_visibility == "private" and (fn.queue or route_path.startswith(_CALL)):
        raise EventCallRefused(404, "This event is not part of the page's API: the page runs it through the queue.")


def _named(fns: Mapping[int, Any], api_name: str) -> Any:
    api_name = api_name.rstrip("/")
    for fn in fns.values():
        if fn.api_name == api_name:
            return fn
    raise EventCallRefused(404, f"This page has no event named {api_name!r}.")


def _check_api_call(blocks: Any, api_name: str, body: Mapping[str, Any] | None) -> None:
    """``call/v2``: the endpoint must be in the API listing Gradio reads, and the body's
    named parameters must make its arguments (Gradio's own ``construct_args``).

    The listing is the public one: Gradio reads ``?all_endpoints`` (undocumented events too)
    only until it has cached its listing, so an undocumented event is refused here.
    """
    endpoint = blocks.get_api_info()["named_endpoints"].get("/" + api_name)
    if endpoint is None:
        raise EventCallRefused(404, f"This page's API has no endpoint {api_name!r}.")
    parameters = endpoint["parameters"]
    arguments = dict(body or {})
    if endpoint.get("oauth_token") or not any(parameter.get("parameter_name") == "oauth_token" for parameter in parameters):
        arguments.pop("oauth_token", None)
    try:
        construct_args(parameters, (), arguments)
    except (TypeError, ValueError) as exc:
        raise EventCallRefused(422, str(exc)) from exc


def _predict_body(body: Mapping[str, Any] | None) -> tuple[int | None, str | None] | None:
    """``fn_index`` and ``session_hash`` as Gradio's own body model reads them (``"3"`` is
    3); ``None`` for a body that model refuses, which Gradio answers 422 itself."""
    fields = {key: (body or {})[key] for key in ("fn_index", "session_hash") if key in (body or {})}
    try:
        parsed = PredictBody.model_validate({"data": [], **fields})
    except ValidationError:
        return None
    return parsed.fn_index, parsed.session_hash


def _event_functions(blocks: Any, session_hash: str | None) -> Mapping[int, Any]:
    """The events Gradio looks in: the session's own (``gr.render`` adds some), else the page's.

    ``state_holder[...]`` would create the session; only an existing one is read.
    """
    holder = getattr(blocks, "state_holder", None)
    if session_hash and holder is not None and session_hash in holder:
        return holder[session_hash].blocks_config.fns  # type: ignore[no-any-return]
    return blocks.fns  # type: ignore[no-any-return]

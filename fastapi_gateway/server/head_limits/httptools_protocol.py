"""``LimitedHttpToolsProtocol``: uvicorn's httptools protocol, refusing an oversized request
head while it is still being read.

uvicorn with httptools sets no limit of its own (one 8 MiB header, or 100,000 headers, were
served). httptools hands a header field over only when the next one starts, buffering it until
then, so the limits are checked in three places: the request target as its pieces arrive
(``on_url``), each field as it is handed over (``on_header``: how many, how large), and the
bytes read while the parser says nothing (``data_received``): past a request line and a field's
worth, what it is buffering can only be a field over the limit, refused before the rest comes.

It also resets a connection whose answer the app left unfinished (``_ResetUnfinished``): a
legacy stream cut off because its client took nothing for the send timeout, say. uvicorn closes
such a connection gracefully, after the bytes it still buffers, which a client that reads
nothing never takes: the socket, its buffers and its file descriptor stayed for as long as the
client kept acknowledging the kernel's zero-window probes.

And it times the connection as nginx does: a request head must arrive within
``REQUEST_HEAD_TIMEOUT_SECONDS`` of its first byte (of the connection, for the first request;
of the answer ahead of it, for a pipelined one), else 408, and bytes after an answer that begin
no request are closed on as an idle connection is; a body that sends nothing for
``REQUEST_BODY_TIMEOUT_SECONDS`` while the app waits for it resets the connection (the app sees
the client gone: a body cut off never reaches it as complete); an answer whose unsent bytes
make no progress for ``SEND_TIMEOUT_SECONDS`` resets it too, whether the app is still writing,
is done, or uvicorn is closing gracefully after it. uvicorn has none of these: a client sending
a head or a body a byte at a time, or reading nothing of a large answer, held its connection
for ever, and enough of them use up the process's file descriptors, legacy pages included.

The one module leaning on uvicorn's private protocol (the class, ``send_400_response``,
``on_response_complete``, ``STATUS_LINE``, a cycle's ``transport`` and ``response_complete``); ``tests/gateway/server/head_limits/test_httptools_protocol.py``
is where an upgrade of uvicorn that moves them shows. ``make run`` names it to ``uvicorn --http``
and ``python -m fastapi_gateway.server.launcher`` serves with it.
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

from uvicorn.config import Config

from fastapi_gateway.compat import STATUS_LINE, HttpToolsProtocol, ServerState
from fastapi_gateway.conf import gateway_settings
from fastapi_gateway.http.request_id import new_request_id
from fastapi_gateway.server.head_limits.exceptions import (
    HeaderFieldTooLarge, RequestHeadTimeout, RequestHeadTooLarge, RequestLineTooLong, TooManyHeaderFields,
)
from fastapi_gateway.server.head_limits.limits import FIELD_OVERHEAD, LINE_OVERHEAD, RequestHeadLimits, refusal_body

__all__ = ["LimitedHttpToolsProtocol"]


def _limits_for(config: Config) -> RequestHeadLimits:
    """The config's ``request_head_limits`` if a launcher set them, else the ``GATEWAY`` setting's
    ``LIMIT_*`` keys, which the app's backstop reads too; read once per server, kept on its config."""
    limits = getattr(config, "request_head_limits", None)
    if not isinstance(limits, RequestHeadLimits):
        options = gateway_settings()
        limits = RequestHeadLimits(options["LIMIT_REQUEST_LINE"], options["LIMIT_REQUEST_FIELDS"], options["LIMIT_REQUEST_FIELD_SIZE"])
        setattr(config, "request_head_limits", limits)
    return limits


def _timeouts_for(config: Config) -> tuple[float, float, float]:
    """``(REQUEST_HEAD_TIMEOUT_SECONDS, SEND_TIMEOUT_SECONDS, body)``, read once per server as the
    limits are (a test or launcher may set them on the config). The body's is
    ``REQUEST_BODY_TIMEOUT_SECONDS``, or a second past ``LEGACY_BODY_TIMEOUT_SECONDS`` if that is
    longer: on legacy URLs the bridge's own limit answers first, with its 408, and raising it
    for slow clients is not undone here."""
    timeouts = getattr(config, "connection_timeouts", None)
    if not isinstance(timeouts, tuple):
        options = gateway_settings()
        body = max(float(options["REQUEST_BODY_TIMEOUT_SECONDS"]), float(options["LEGACY_BODY_TIMEOUT_SECONDS"]) + 1)
        timeouts = (float(options["REQUEST_HEAD_TIMEOUT_SECONDS"]), float(options["SEND_TIMEOUT_SECONDS"]), body)
        setattr(config, "connection_timeouts", timeouts)
    return timeouts


class _ResetUnfinished:
    """The connection's transport as one request's cycle sees it: ``close()`` while that
    cycle's answer is unfinished and bytes are still waiting to go resets the connection
    instead of waiting for a client that may never read them. The answer is cut short either
    way; the client sees it end early, as with a graceful close. A finished answer, even with
    a pipelined request queued behind it, closes gracefully. Writes go straight to the
    transport (bound methods: no call of this class's per write)."""

    __slots__ = ("_cycle", "_transport", "write", "is_closing")

    def __init__(self, cycle: Any, transport: asyncio.Transport) -> None:
        self._cycle = cycle
        self._transport = transport
        self.write = transport.write
        self.is_closing = transport.is_closing

    def close(self) -> None:
        if not self._cycle.response_complete and self._transport.get_write_buffer_size():
            self._transport.abort()
        else:
            self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """Answers 414 or 431 (as gunicorn does) and closes the connection; a refusal that follows
    pipelined requests waits for their responses. A chunked body's trailer fields, which uvicorn
    adds to the request's headers, count too, but that request is the app's already: a limit
    passed there closes the connection without an answer."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = _limits_for(config)
        self._url_room = self.limits.limit_request_line - LINE_OVERHEAD  # for the method and target
        self._field_room = self.limits.limit_request_field_size - FIELD_OVERHEAD  # for a name and value
        # Bytes read with no callback: a request line's tail and one field at most, when legitimate.
        self._silent_room = self.limits.limit_request_line + self.limits.limit_request_field_size
        self._refusal: RequestHeadTooLarge | None = None
        self._in_head = False
        self._in_message = False
        self._heard = False  # the parser called back during the current read
        self._unheard = 0  # bytes read since it last did
        self._head_timeout, self._send_timeout, self._body_timeout = _timeouts_for(config)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._unsent = 0  # the write buffer's size when the send timer was last armed
        self._timed_cycle: Any = None  # the cycle whose answer it was armed for

    # httptools' callbacks

    def on_message_begin(self) -> None:
        behind = self.cycle is not None and not self.cycle.response_complete
        super().on_message_begin()
        self._in_head = self._in_message = self._heard = True
        # The first request's head is timed from the connection (the timer runs already), one
        # behind an answer still going from that answer's end (on_response_complete), as nginx
        # reads a pipelined request only then.
        if self._head_timer is None and not behind:
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_too_slow)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._heard = True
        if len(self.url) > self._url_room - len(self.parser.get_method()):
            self._exceed(RequestLineTooLong(self.limits.limit_request_line))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._heard = True
        if len(self.headers) >= self.limits.limit_request_fields:
            self._exceed(TooManyHeaderFields(self.limits.limit_request_fields))
        if len(name) + len(value) > self._field_room:
            self._exceed(HeaderFieldTooLarge(self.limits.limit_request_field_size))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous:  # its task is scheduled, not started: it sees this transport
            self.cycle.transport = _ResetUnfinished(self.cycle, self.transport)  # type: ignore[assignment]
        if getattr(self.server_state, "draining", False) and self.cycle is not previous:
            self.shutdown()  # the worker is stopping: this request's answer ends its connection

    def on_body(self, body: bytes) -> None:
        self._heard = True
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        self._stop_body_timer()
        super().on_message_complete()

    # uvicorn's side

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self._head_timeout, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self._stop_body_timer()
        self._stop_send_timer()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._stop_send_timer()  # each pause a period of its own, from its own buffer
        self._time_the_send()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stop_send_timer()  # the client took some: a new period, if any is left to take
        if self.cycle is not None and self.cycle.response_complete:
            self._time_the_send()  # the app writes no more: nothing will pause again

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # the connection ends with the refusal: nothing more is parsed
        self._heard = False
        super().data_received(data)
        # Bytes after an answer that begin no head (a CRLF, the rest of a body the app did not
        # read) cancel uvicorn's keep-alive timer and start nothing: timed as a head would be.
        # (A connection gone to a WebSocket may arm one here: the callbacks leave it alone.)
        if not self._in_head:
            if self._idle():
                if self._head_timer is None:
                    self._head_timer = self.loop.call_later(self._head_timeout, self._head_too_slow)
            elif self._in_message:  # a body on its way to the app: its time runs from its last bytes
                self._stop_body_timer()
                self._body_timer = self.loop.call_later(self._body_timeout, self._body_too_slow)
        if not self._in_message or self._refusal is not None:
            return
        if self._heard:
            self._unheard = 0  # the bytes after the callback go uncounted: never a false refusal
            return
        self._unheard += len(data)
        if self._unheard > self._silent_room:
            self._refuse(HeaderFieldTooLarge(self.limits.limit_request_field_size))

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:  # a parse error of httptools' own, not one of our limits
            super().send_400_response(msg)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._in_head and self._head_timer is None and self._refusal is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_too_slow)  # one behind it
        self._time_the_send()  # a finished answer not yet taken (made whole, or its last bytes)
        if self._refusal is not None and self.cycle.response_complete and not self.transport.is_closing():
            self._send_refusal()

    # the timeouts

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _stop_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _idle(self) -> bool:
        """No answer going and none queued: what comes next can only be a new request."""
        return self.cycle is None or (self.cycle.response_complete and not self.pipeline)

    def _time_the_send(self) -> None:
        if self._send_timer is None and self.transport.get_write_buffer_size():
            self._unsent = self.transport.get_write_buffer_size()
            self._timed_cycle = self.cycle
            self._send_timer = self.loop.call_later(self._send_timeout, self._send_too_slow)

    def _upgraded(self) -> bool:
        """The connection went to a WebSocket protocol: its timers are not this one's to judge."""
        return self.transport.get_protocol() is not self

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._upgraded():
            return  # going already (an answer with Connection: close): nothing to answer on it
        if self._in_head:
            self._refuse(RequestHeadTimeout(self._head_timeout))
        elif self._idle():
            self.transport.close()  # sent nothing, or nothing that began a head: gone quietly, as after keep-alive

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if not self._in_message or self._idle() or self.transport.is_closing() or self._upgraded():
            return
        # The app has not taken what came (reading paused), or has not asked for the body yet and
        # the client rightly waits for its 100 Continue: the wait is the app's, not the client's.
        if self.flow.read_paused or getattr(self.cycle, "waiting_for_100_continue", False):
            self._body_timer = self.loop.call_later(self._body_timeout, self._body_too_slow)
            return
        client = "%s:%d - " % self.client if self.client else ""
        self.logger.warning("%sSent nothing of its request body for %g s: connection reset", client, self._body_timeout)
        self.transport.abort()

    def _send_too_slow(self) -> None:
        """Paused writers wait for the buffer to drain; no new bytes join it meanwhile, so a
        smaller buffer is the client's progress, and only none in a whole period is a stall."""
        if self._upgraded():
            self._send_timer = None
            return
        unsent = self.transport.get_write_buffer_size()
        if self.cycle is not self._timed_cycle:  # a later answer began: a period of its own
            self._send_timer = None
            self._time_the_send()
            return
        if unsent and unsent < self._unsent:
            self._unsent = unsent
            self._send_timer = self.loop.call_later(self._send_timeout, self._send_too_slow)
            return
        self._send_timer = None
        if unsent:  # closing too: uvicorn's graceful close would wait for these bytes for ever
            client = "%s:%d - " % self.client if self.client else ""
            self.logger.warning("%sTook nothing of its answer for %g s: connection reset", client, self._send_timeout)
            self.transport.abort()

    # the refusal

    def _exceed(self, error: RequestHeadTooLarge) -> NoReturn:
        """Refuse and stop the parser: httptools turns the exception into a parse error."""
        self._refuse(error)
        raise error

    def _refuse(self, error: RequestHeadTooLarge) -> None:
        if self._refusal is not None:
            return
        self._refusal = error
        client = "%s:%d - " % self.client if self.client else ""
        self.logger.warning("%sRefused with %d: %s", client, error.status_code, error.detail)
        if not self._in_head:
            self.transport.close()  # a trailer field
        elif self.cycle is None or self.cycle.response_complete:
            self._send_refusal()
        # else: on_response_complete sends it after the responses to the requests before it

    def _send_refusal(self) -> None:
        assert self._refusal is not None
        body = refusal_body(self._refusal)
        head = [STATUS_LINE[self._refusal.status_code]]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n" % len(body)]
        head += [b"x-request-id: %s\r\n\r\n" % new_request_id().encode()]  # the app never saw this request
        self.transport.write(b"".join(head) + body)
        self.transport.close()

"""A plain TCP forwarder: ``python tcp_forward.py LISTEN_HOST:PORT=TARGET_HOST:PORT ...``.

PostgreSQL and Redis listen on 127.0.0.1 of the root network namespace only; the test's
"hosts" (network namespaces) reach them through this, listening on the root side of each
veth link, as a database host's own address would be reached. Standard library only, so
the test needs neither socat nor iptables. Prints ``ready`` once every listener is bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


def _handler(target_host: str, target_port: int, live: set[asyncio.StreamWriter]):  # type: ignore[no-untyped-def]
    async def forward(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        live.add(client_writer)
        try:
            target_reader, target_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            live.discard(client_writer)
            return
        live.add(target_writer)
        await asyncio.gather(_pipe(client_reader, target_writer), _pipe(target_reader, client_writer))
        live.difference_update({client_writer, target_writer})

    return forward


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


async def main(routes: list[str]) -> None:
    servers = []
    live: set[asyncio.StreamWriter] = set()
    for route in routes:
        listen, _, target = route.partition("=")
        listen_host, listen_port = _split(listen)
        servers.append(await asyncio.start_server(_handler(*_split(target), live), listen_host, listen_port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    for server in servers:
        server.close()
    for writer in list(live):
        writer.transport.abort()
    # Since Python 3.12 this waits for every connection a server accepted: cut above, so the
    # handlers end on their own rather than as tasks cancelled at exit.
    await asyncio.gather(*(server.wait_closed() for server in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

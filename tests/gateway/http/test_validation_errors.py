"""The gateway's ``422`` for invalid requests: FastAPI's answer, for any bytes a client sends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from tests.gateway.conftest import BASE_URL, client_for, login
from tests.gateway.pages.gradio_pages import PROBE

pytestmark = pytest.mark.django_db(transaction=True)


class _Item(BaseModel):
    name: str
    size: int = 0


def _probe_router() -> APIRouter:
    router = APIRouter()

    @router.post("/items")
    async def create(item: _Item) -> dict[str, Any]:
        return item.model_dump()

    return router


def _plain_fastapi() -> FastAPI:
    app = FastAPI()
    app.include_router(_probe_router(), prefix="/probe")
    return app


INVALID = [
    pytest.param("multipart/form-data; boundary=abc", b'--abc\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n\x89PNG\xff\r\n--abc--\r\n', id="binary-multipart"),
    pytest.param("application/octet-stream", b"\xff\xfe\x00", id="binary"),
    pytest.param("text/plain; charset=utf-16", "{}".encode("utf-16"), id="utf-16-text"),
    pytest.param("application/json", b'{"name": "x", "size": "\\ud800"}', id="lone-surrogate-echoed"),
]


@pytest.mark.parametrize(("content_type", "body"), INVALID)
async def test_an_undecodable_invalid_body_is_a_422_not_a_500(gateway_factory: Any, content_type: str, body: bytes) -> None:
    async with gateway_factory(api_routers={"/probe": _probe_router()}) as client:
        response = await client.post("/probe/items", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert errors and all({"loc", "msg", "type"} <= set(error) for error in errors)


async def test_bytes_are_echoed_with_undecodable_bytes_escaped(gateway_factory: Any) -> None:
    async with gateway_factory(api_routers={"/probe": _probe_router()}) as client:
        response = await client.post("/probe/items", content=b"name=\xff", headers={"Content-Type": "text/plain"})
    assert response.json()["detail"][0]["input"] == "name=\\xff"


@pytest.mark.parametrize("body", [b'{"size": 1}', b'{"name": "\xc3\xa9", "size": "big"}', b"[]", b'{"name": '])
async def test_other_invalid_bodies_get_fastapis_own_answer(gateway_factory: Any, body: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    async with gateway_factory(api_routers={"/probe": _probe_router()}) as gateway, client_for(_plain_fastapi()) as plain:
        ours = await gateway.post("/probe/items", content=body, headers=headers)
        fastapis = await plain.post("/probe/items", content=body, headers=headers)
    assert ours.status_code == fastapis.status_code == 422
    assert ours.json() == fastapis.json()
    assert ours.headers["content-type"] == fastapis.headers["content-type"]


GRADIO_INVALID = [
    pytest.param("text/plain", '{"data": [], "fn_index": 0, "session_hash": "abcdef123456"}'.encode("utf-16"), id="utf-16-json-as-text"),
    pytest.param("application/octet-stream", '{"data": [], "fn_index": 0, "session_hash": "abcdef123456"}'.encode("utf-32"), id="utf-32-json-as-binary"),
    pytest.param("application/json", b'{"data": "\\ud800", "fn_index": 0, "session_hash": "abcdef123456"}', id="lone-surrogate-echoed"),
]


@pytest.mark.parametrize("route", ["queue/join", "run/whoami"])
@pytest.mark.parametrize(("content_type", "body"), GRADIO_INVALID)
async def test_a_gradio_page_answers_invalid_requests_with_the_same_422(
    gateway_factory: Any, demo_users: Any, demo_password: str, route: str, content_type: str, body: bytes
) -> None:
    """Each Gradio page is a FastAPI app of its own, with FastAPI's handler unless the gateway's is put in."""
    async with gateway_factory(gradio_pages=[PROBE]) as client:
        await login(client, "alice", demo_password)
        response = await client.post(
            f"/ui/probe/gradio_api/{route}", content=body, headers={"Content-Type": content_type, "Origin": BASE_URL}
        )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]

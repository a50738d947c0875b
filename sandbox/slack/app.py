"""Placeholder app: replaced by the real fake (slack)."""

from aiohttp import web

from sandbox.knobs import Knobs
from sandbox.org import Org


def create_app(org: Org, knobs: Knobs) -> web.Application:
    return web.Application()

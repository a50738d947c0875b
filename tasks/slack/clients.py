"""Settings -> a slack_sdk WebClient with the configured CA and Slack's own retry handlers.

Retries (429 with Retry-After, connection errors, 5xx) use slack_sdk.http_retry's ready handlers, so a Slack
outage delays messages without blocking anything else.
"""

from __future__ import annotations

import ssl

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from config.settings import SlackSettings


def slack_client(settings: SlackSettings, *, max_retries: int = 3) -> WebClient:
    """https://docs.slack.dev/tools/python-slack-sdk/web"""
    context = ssl.create_default_context()
    if settings.ca_bundle is not None:
        context.load_verify_locations(cafile=str(settings.ca_bundle))
    return WebClient(
        token=settings.bot_token.get_secret_value(),
        base_url=settings.api_base_url,
        ssl=context,
        timeout=30,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=max_retries),
            ConnectionErrorRetryHandler(max_retry_count=max_retries),
            ServerErrorRetryHandler(max_retry_count=max_retries),
        ],
    )

"""Slack incoming webhooks: the rendered Block Kit message."""

from typing import Any

from services.notifications.channels import Target
from services.notifications.channels.posting import JsonPoster
from services.notifications.rendering import Message


class Slack(JsonPoster):
    def body(self, target: Target, message: Message) -> dict[str, Any]:
        return message.slack

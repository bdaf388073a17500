"""Microsoft Teams (Workflows) webhooks: the rendered Adaptive Card."""

from typing import Any

from services.notifications.channels import Target
from services.notifications.channels.posting import JsonPoster
from services.notifications.rendering import Message


class Teams(JsonPoster):
    def body(self, target: Target, message: Message) -> dict[str, Any]:
        return message.teams

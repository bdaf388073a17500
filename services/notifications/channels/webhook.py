"""Generic webhooks: the event with its rendered text, signed with the channel's key when it has one
(X-Diplomacity-Signature, an HMAC-SHA256 over the exact body)."""

import hashlib
import hmac
from typing import Any

from services.notifications.channels import Target
from services.notifications.channels.posting import JsonPoster
from services.notifications.rendering import Message


class Webhook(JsonPoster):
    def body(self, target: Target, message: Message) -> dict[str, Any]:
        return {"event_id": target.event_id, "event_type": target.event_type, "delivery_id": target.delivery_id,
                "subject": message.subject, "text": message.text, "data": target.data}

    def headers(self, target: Target, raw: bytes) -> dict[str, str]:
        headers = super().headers(target, raw)
        if target.signing_secret:
            digest = hmac.new(target.signing_secret.encode(), raw, hashlib.sha256).hexdigest()
            headers["X-Diplomacity-Signature"] = f"sha256={digest}"
        return headers

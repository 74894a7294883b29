"""The JSON of a message as the API and the stream events show it."""

from __future__ import annotations

from typing import Any

from knowrithm_conversations.models import Message


def message_out(message: Message) -> dict[str, Any]:
    """A message with the reference API's field names (processing_time in seconds)."""
    return {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "role": message.role,
        "content": message.content,
        "content_type": "text",
        "status": message.status,
        "citations": message.citations or [],
        "metadata": message.message_metadata or {},
        "model_used": message.model_used,
        "processing_time": message.latency_ms / 1000 if message.latency_ms is not None else None,
        "input_tokens": message.input_tokens,
        "output_tokens": message.output_tokens,
        "first_token_ms": message.first_token_ms,
        "error": message.error_code,
        "error_message": message.error,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "is_active": message.deleted_at is None,
    }


def completed_event(answer: Message) -> dict[str, Any]:
    """The data of a `completed` stream event: the final answer."""
    return {"conversation_id": str(answer.conversation_id), "message": message_out(answer)}


# A `failed` event names the answer's fields as the stream contract does (`message_id`, and the
# reason as `message`): event key -> key of `message_out`.
FAILED_FIELDS = {"conversation_id": "conversation_id", "message_id": "id", "error": "error",
                 "message": "error_message", "content": "content"}


def failed_event(answer: Message) -> dict[str, Any]:
    """The data of a `failed` stream event: why, and the text generated before it failed."""
    out = message_out(answer)
    return {key: out[field] for key, field in FAILED_FIELDS.items()}

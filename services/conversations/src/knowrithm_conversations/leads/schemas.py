"""Request and response models of the Leads API (field names as the reference API's: a lead's
`full_name`, the list as `{"success": true, "data": {"leads": [...], "pagination": {...}}}`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from knowrithm_common.pagination import Pagination
from knowrithm_conversations.conversations.schemas import ConversationOut, MessageOut
from knowrithm_conversations.feedback.service import FeedbackOut
from knowrithm_conversations.models import LeadStatus

Email = Annotated[EmailStr, Field(max_length=255, description="The lead's email address")]
Phone = Annotated[str, Field(min_length=3, max_length=20, pattern=r"^\+?[0-9 ().\-/]+$",
                             description="Digits, spaces and + ( ) - . /", examples=["+1234567890"])]
FirstName = Annotated[str, Field(min_length=1, max_length=100)]
LastName = Annotated[str, Field(max_length=100)]
Source = Annotated[str, Field(max_length=100, examples=["website_chatbot"])]


class _Input(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    @field_validator("last_name", "phone", "source", "notes", mode="before", check_fields=False)
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        # An empty optional form field means "not given", not "invalid".
        return None if isinstance(value, str) and not value.strip() else value


class LeadRegistration(_Input):
    """A widget visitor's registration (public)."""

    agent_id: uuid.UUID = Field(description="The agent of the widget")
    first_name: FirstName
    last_name: LastName | None = None
    email: Email
    phone: Phone | None = None
    consent_data_processing: bool = Field(
        True, description="The visitor agrees that their details are processed (the reference API's "
        "default: true); false is refused"
    )
    consent_marketing: bool = False
    source: Source | None = None
    start_conversation: bool = Field(True, description="Also start a conversation with the agent")
    title: str | None = Field(None, min_length=1, max_length=255, description="The conversation's title")


class NewLead(_Input):
    """A lead an admin records (super admins name the company)."""

    company_id: uuid.UUID | None = Field(None, description="Required for super admins; else your company")
    agent_id: uuid.UUID | None = Field(None, description="The agent the lead came through, if any")
    first_name: FirstName
    last_name: LastName | None = None
    email: Email
    phone: Phone | None = None
    status: LeadStatus = LeadStatus.NEW
    source: Source | None = None
    notes: str | None = Field(None, max_length=10_000)
    consent_data_processing: bool = True
    consent_marketing: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)


class LeadChanges(_Input):
    """The fields to change; absent fields stay as they are."""

    first_name: FirstName | None = None
    last_name: LastName | None = None
    email: Email | None = None
    phone: Phone | None = None
    status: LeadStatus | None = None
    source: Source | None = None
    notes: str | None = Field(None, max_length=10_000)
    consent_data_processing: bool | None = None
    consent_marketing: bool | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("first_name", "email", "status", "consent_data_processing", "consent_marketing",
                     "metadata")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:  # only an explicit null gets here: defaults are not validated
            raise ValueError("may be left out, but not null")
        return value


class LeadOut(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID | None
    first_name: str
    last_name: str | None
    full_name: str
    email: str | None
    phone: str | None
    status: str = Field(description="new | contacted | qualified | converted | lost")
    source: str | None
    notes: str | None
    consent_data_processing: bool
    consent_marketing: bool
    converted_at: dt.datetime | None
    last_contacted_at: dt.datetime | None
    metadata: dict[str, Any]
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None


class LeadRegistered(BaseModel):
    success: bool = True
    lead: LeadOut
    conversation: ConversationOut | None
    lead_token: str = Field(description="Send as `Authorization: Bearer <lead_token>` from the widget")
    token_type: str = "Bearer"  # noqa: S105 - the scheme's name, not a secret
    expires_at: dt.datetime


class LeadEnvelope(BaseModel):
    success: bool = True
    message: str | None = None
    lead: LeadOut


class LeadPage(BaseModel):
    leads: list[LeadOut]
    pagination: Pagination


class LeadList(BaseModel):
    success: bool = True
    data: LeadPage


class LeadDeleted(BaseModel):
    success: bool = True
    message: str
    lead_id: uuid.UUID


class ExportedConversation(ConversationOut):
    messages: list[MessageOut] = Field(description="every message, deleted ones included, oldest first")


class LeadExport(BaseModel):
    """Everything the service holds about one lead (GDPR access)."""

    success: bool = True
    exported_at: dt.datetime
    lead: LeadOut
    conversations: list[ExportedConversation]
    feedback: list[FeedbackOut]


class LeadErased(BaseModel):
    success: bool = True
    message: str
    lead_id: uuid.UUID
    deleted_conversations: int
    deleted_messages: int
    deleted_feedback: int

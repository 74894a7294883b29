"""Company logos uploaded as image files: checked, kept in the database, served publicly.

The Knowrithm API takes a company's `logo` as a URL or, in a multipart body, as a file
(`POST /company`; the official SDK also sends `PUT /company/{id}` as multipart when given a
logo file). An uploaded logo is stored in `company_logos` and the company's `logo` becomes
its public URL, `<BASE_URL>/api/v1/company/<id>/logo?v=<hash>` (the hash changes with the
image, so the URL can be cached for long). Setting `logo` to a URL or clearing it deletes the
upload. Only raster formats recognised by their first bytes are taken: an SVG can carry script.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from knowrithm_auth.models import Company, CompanyLogo
from knowrithm_common.errors import NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

LOGO_FIELD = "logo"
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),  # after "RIFF" and the size
)


class LogoTooLarge(PayloadTooLarge):
    code = "logo_too_large"


class UnsupportedLogoType(UnsupportedMediaType):
    code, message = "unsupported_logo_type", "The logo must be a PNG, JPEG, GIF or WebP image"


class LogoNotFound(NotFound):
    code, message = "logo_not_found", "This company has no uploaded logo"


@dataclass(frozen=True, slots=True)
class Logo:
    """An uploaded logo that passed the checks."""

    content: bytes
    content_type: str
    sha256: str

    def url(self, base_url: str, company_id: uuid.UUID) -> str:
        return f"{base_url.rstrip('/')}{logo_path(company_id)}?v={self.sha256[:16]}"


def logo_path(company_id: uuid.UUID) -> str:
    return f"/api/v1/company/{company_id}/logo"


def sniff(content: bytes) -> str | None:
    """The image type of `content` by its first bytes, or None."""
    for signature, offset, content_type in _SIGNATURES:
        if content[offset:offset + len(signature)] == signature:
            if content_type != "image/webp" or content.startswith(b"RIFF"):
                return content_type
    return None


async def read_logo(upload: UploadFile, *, max_bytes: int) -> Logo:
    """The uploaded file as a logo, or the 413/415/422 that says why not."""
    content = await upload.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise LogoTooLarge(f"The logo is larger than {max_bytes} bytes")
    if not content:
        raise ValidationFailed(detail=[{"loc": ["body", LOGO_FIELD], "type": "value_error",
                                        "msg": "The logo file is empty"}])
    content_type = sniff(content)
    if content_type is None:
        raise UnsupportedLogoType()
    return Logo(content, content_type, hashlib.sha256(content).hexdigest())


async def store(session: AsyncSession, company_id: uuid.UUID, logo: Logo) -> None:
    """Keep `logo` as the company's uploaded logo (replacing an earlier one)."""
    values = {"company_id": company_id, "content": logo.content, "content_type": logo.content_type,
              "sha256": logo.sha256}
    stmt = insert(CompanyLogo).values(**values)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[CompanyLogo.company_id],
        set_={**values, "updated_at": stmt.excluded.updated_at},
    ))


async def forget_unless_used(session: AsyncSession, company: Company) -> None:
    """Delete the company's uploaded logo once its `logo` no longer points at it."""
    if company.logo is None or logo_path(company.id) not in company.logo:
        await session.execute(delete(CompanyLogo).where(CompanyLogo.company_id == company.id))


async def live_logo(session: AsyncSession, company_id: uuid.UUID) -> CompanyLogo:
    """The uploaded logo of a live company, or 404."""
    found = await session.scalar(
        select(CompanyLogo).join(Company, Company.id == CompanyLogo.company_id)
        .where(CompanyLogo.company_id == company_id, Company.not_deleted())
    )
    if found is None:
        raise LogoNotFound()
    return found

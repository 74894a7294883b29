"""Request bodies parsed by hand: JSON, or a form (with one file) where the Knowrithm API accepts one.

Routes whose body FastAPI cannot declare (JSON or multipart with a logo file; one entry or a
batch) parse it here, with the same error shape as a declared body.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from knowrithm_common.errors import InvalidEncoding, InvalidJSON, UnsupportedMediaType, ValidationFailed
from knowrithm_common.inputs import read_form

M = TypeVar("M", bound=BaseModel)


def validation_detail(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors in the shared error shape's `detail`."""
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


async def parse_body(request: Request, model: type[M], *, allow_form: bool = True) -> M:
    """Validate a JSON (or form, where the spec accepts it) body against `model`."""
    return (await parse_body_with_file(request, model, allow_form=allow_form))[0]


async def parse_body_with_file(
    request: Request, model: type[M], *, allow_form: bool = True, file_field: str | None = None
) -> tuple[M, UploadFile | None]:
    """`parse_body`, where a multipart body may also carry one file, in `file_field`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    raw: Any
    upload: UploadFile | None = None
    if allow_form and content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await read_form(request)
        raw = {}
        for key, value in form.items():
            if isinstance(value, str):
                if value != "":
                    raw[key] = value
            elif key == file_field:
                upload = value
            else:
                raise UnsupportedMediaType(f"Field {key!r} cannot be a file")
    elif content_type in ("application/json", ""):
        try:
            raw = json.loads(await request.body() or b"null")
        except json.JSONDecodeError as exc:
            raise InvalidJSON(detail=str(exc)) from exc
        except UnicodeDecodeError as exc:  # the input guard answers first; kept for plain apps
            raise InvalidEncoding(detail={"position": exc.start}) from exc
    else:
        raise UnsupportedMediaType(f"Unsupported content type {content_type!r}")
    try:
        return model.model_validate(raw), upload
    except ValidationError as exc:
        raise ValidationFailed(detail=validation_detail(exc)) from exc

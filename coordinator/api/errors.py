"""One error body everywhere: `{"code", "message", "fields": [{"field", "message"}]}`."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from coordinator.errors import CoordinatorError, RateLimitedError


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """What every failed request answers."""

    code: str
    message: str
    fields: list[FieldError] = []


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 422, 429)
}


def _body(
    status: int, code: str, message: str, fields: list[FieldError] | None = None
) -> JSONResponse:
    content = ErrorBody(code=code, message=message, fields=fields or []).model_dump()
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(content, status_code=status, headers=headers)


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path")]
    return ".".join(parts) or "request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CoordinatorError)
    async def _ours(request: Request, error: CoordinatorError) -> JSONResponse:
        fields = [FieldError(field=error.field, message=str(error))] if error.field else None
        response = _body(error.status_code, error.code, str(error), fields)
        if isinstance(error, RateLimitedError):
            response.headers["Retry-After"] = str(error.retry_after_s)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [
            FieldError(field=_field_name(tuple(item["loc"])), message=item["msg"])
            for item in error.errors()
        ]
        names = ", ".join(dict.fromkeys(field.field for field in fields))
        return _body(422, "invalid_input", f"invalid input: {names}", fields)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return _body(error.status_code, code, str(error.detail))

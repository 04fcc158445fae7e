"""CSV import and export: `POST /api/v1/import/{kind}` and `GET /api/v1/export/{kind}`.

An import's body is the CSV file itself (`Content-Type: text/csv`, UTF-8, an Excel byte-order
mark allowed), so `curl --data-binary @rooms.csv` works without a form.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse

from coordinator.api.deps import PLANNERS, ActorDep, ClockDep, ScopeDep, SessionDep, SettingsDep
from coordinator.schemas.csv_io import CsvKind, ImportResult
from coordinator.services.accounts import Invitations
from coordinator.services.csv_io import CsvRejectedError, export_csv, import_csv

router = APIRouter(tags=["csv"], dependencies=[PLANNERS])

REJECTED: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "The file was rejected and nothing was written; `rows` lists every problem.",
        "content": {
            "application/json": {
                "example": {
                    "code": "csv_rejected",
                    "message": "rooms not imported: 1 problem(s) in 1 row(s), first at row 3, "
                    "capacity: Input should be greater than or equal to 1",
                    "fields": [{"field": "row 3: capacity", "message": "Input should be ..."}],
                    "rows": [{"row": 3, "column": "capacity", "message": "Input should be ..."}],
                }
            }
        },
    }
}


@router.post("/import/{kind}", response_model=ImportResult, responses=REJECTED)
def import_file(
    kind: CsvKind,
    session: SessionDep,
    actor: ActorDep,
    scope: ScopeDep,
    settings: SettingsDep,
    clock: ClockDep,
    body: Annotated[bytes, Body(media_type="text/csv", description="The CSV file.")],
    dry_run: Annotated[bool, Query(description="Check every row, write nothing.")] = False,
) -> ImportResult | JSONResponse:
    """Import a CSV file all-or-nothing: every row is written, or none and a per-row report."""
    try:
        result = import_csv(
            session,
            kind,
            body,
            actor=actor,
            scope=scope,
            invitations=Invitations(settings, clock()),
            dry_run=dry_run,
        )
    except CsvRejectedError as rejected:
        session.rollback()
        return _rejection(rejected)
    session.commit()
    return result


def _rejection(rejected: CsvRejectedError) -> JSONResponse:
    rows = [problem.model_dump() for problem in rejected.problems]
    fields = [
        {"field": f"row {problem.row}: {problem.column or 'row'}", "message": problem.message}
        for problem in rejected.problems
    ]
    body = {"code": rejected.code, "message": str(rejected), "fields": fields, "rows": rows}
    return JSONResponse(body, status_code=rejected.status_code)


@router.get(
    "/export/{kind}",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The CSV file."}},
)
def export_file(kind: CsvKind, session: SessionDep, scope: ScopeDep) -> Response:
    """Everything of `kind` the caller may see, in the columns the import reads."""
    text = export_csv(session, kind, scope)
    return Response(
        # The byte-order mark is how Excel knows the file is UTF-8.
        content=text.encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind.value}.csv"'},
    )

"""Routes for records that are listed, read, created, changed and deleted.

Most of the domain (places, devices, students, exams, sessions, read-only logs) follows the same
pattern; writing it once keeps every such route scoped and validated the same way. A `Resource`
holds no domain behaviour: its writes are the owning service's verbs (`create`, `update`,
`remove`), so the CSV import, the ingest and the console reach the same rules. Life-cycle
actions (accept an assignment, review a violation, revoke a pass) are explicit routes.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Generic

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from coordinator.api.deps import ActorDep, ScopeDep, SessionDep, SettingsDep, allow
from coordinator.core.config import Settings
from coordinator.db.enums import Role
from coordinator.schemas.common import MAX_ID, Id, Input, Page
from coordinator.services import records
from coordinator.services.audit import Actor
from coordinator.services.records import M, Placement
from coordinator.services.scope import Scope

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip.")]


@dataclass(frozen=True)
class Caller:
    """Who calls a write route: what a service verb needs to know about them."""

    actor: Actor
    scope: Scope
    settings: Settings


Create = Callable[[Session, Any, Caller], M]
Update = Callable[[Session, M, Any, Caller], M]
Remove = Callable[[Session, M, Caller], None]


def creating(verb: Callable[..., M]) -> Create[M]:
    """Adapt a service's create verb `verb(session, *, data, actor, scope)`."""
    return lambda session, body, caller: verb(
        session, data=body, actor=caller.actor, scope=caller.scope
    )


def updating(verb: Callable[..., M]) -> Update[M]:
    """Adapt a service's update verb `verb(session, record, *, changes, actor, scope)`."""
    return lambda session, record, body, caller: verb(
        session, record, changes=body, actor=caller.actor, scope=caller.scope
    )


def removing(verb: Callable[..., None], **fixed: Any) -> Remove[Any]:
    """Adapt a service's delete verb `verb(session, record, *, actor, **fixed)`."""
    return lambda session, record, caller: verb(session, record, actor=caller.actor, **fixed)


class Filters(Input):
    """List filters: query parameters, held to the same field types as bodies."""


def equal_columns(model: type[Any]) -> Callable[[BaseModel], list[ColumnElement[bool]]]:
    """The default list filter: each given query field must equal the column of that name."""

    def conditions(filters: BaseModel) -> list[ColumnElement[bool]]:
        given = filters.model_dump(exclude_none=True)
        return [getattr(model, name) == value for name, value in given.items()]

    return conditions


@dataclass(frozen=True)
class Resource(Generic[M]):
    """One kind of record and who may do what with it; `crud_router` turns it into routes."""

    what: str
    path: str
    model: type[M]
    public: type[BaseModel]
    filters: type[BaseModel]
    readers: tuple[Role, ...]
    writers: tuple[Role, ...] = ()
    create_body: type[BaseModel] | None = None
    create: "Create[M] | None" = None
    update_body: type[BaseModel] | None = None
    update: "Update[M] | None" = None
    remove: "Remove[M] | None" = None
    placement: Placement[M] | None = None
    key: Any = Id
    conditions: Callable[[BaseModel], list[ColumnElement[bool]]] | None = None
    order_by: Callable[[type[M]], list[Any]] | None = None  # default: the primary key

    def find(self, session: Session, record_id: Any, scope: Scope) -> M:
        return records.find(
            session, self.model, record_id, scope=scope, placement=self.placement, what=self.what
        )

    def query(self, filters: BaseModel) -> Select[M]:
        where = (self.conditions or equal_columns(self.model))(filters)
        order = self.order_by(self.model) if self.order_by else self.model.__table__.primary_key
        return select(self.model).where(*where).order_by(*order)


def crud_router(resource: Resource[Any]) -> APIRouter:
    tags: list[str | Enum] = [resource.path.strip("/")]
    router = APIRouter(prefix=resource.path, tags=tags)
    readers = [Depends(allow(*resource.readers))]
    writers = [Depends(allow(*resource.writers))]
    _add_list(router, resource, readers)
    _add_read(router, resource, readers)
    if resource.create:
        _add_create(router, resource, writers)
    if resource.update:
        _add_update(router, resource, writers)
    if resource.remove:
        _add_delete(router, resource, writers)
    return router


def page_of(item: type[BaseModel]) -> type[BaseModel]:
    """`Page[item]` for a class known only at run time."""
    return Page[item]  # type: ignore[valid-type]


def _typed(endpoint: Callable[..., Any], **annotations: Any) -> Callable[..., Any]:
    """Give an endpoint the resource's real classes, which FastAPI reads from its signature."""
    signature = inspect.signature(endpoint)
    parameters = [
        parameter.replace(annotation=annotations.get(name, parameter.annotation))
        for name, parameter in signature.parameters.items()
    ]
    endpoint.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return endpoint


def _add_list(router: APIRouter, resource: Resource[Any], roles: list[Any]) -> None:
    def list_records(
        session: SessionDep,
        scope: ScopeDep,
        filters: BaseModel,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[Any]:
        found, total = records.page(
            session,
            resource.query(filters),
            scope=scope,
            placement=resource.placement,
            limit=limit,
            offset=offset,
        )
        items = [resource.public.model_validate(record) for record in found]
        return Page[Any](items=items, total=total, limit=limit, offset=offset)

    endpoint = _typed(list_records, filters=Annotated[resource.filters, Query()])
    router.add_api_route(
        "",
        endpoint,
        methods=["GET"],
        response_model=page_of(resource.public),
        dependencies=roles,
        summary=f"List {resource.what}s",
    )


def _add_read(router: APIRouter, resource: Resource[Any], roles: list[Any]) -> None:
    def read_record(record_id: Any, session: SessionDep, scope: ScopeDep) -> BaseModel:
        record = resource.find(session, record_id, scope)
        return resource.public.model_validate(record)

    endpoint = _typed(read_record, record_id=resource.key)
    router.add_api_route(
        "/{record_id}",
        endpoint,
        methods=["GET"],
        response_model=resource.public,
        dependencies=roles,
        summary=f"Read a {resource.what}",
    )


def _add_create(router: APIRouter, resource: Resource[Any], roles: list[Any]) -> None:
    def create_record(
        body: BaseModel,
        session: SessionDep,
        scope: ScopeDep,
        actor: ActorDep,
        settings: SettingsDep,
    ) -> BaseModel:
        assert resource.create is not None
        record = resource.create(session, body, Caller(actor, scope, settings))
        session.commit()
        return resource.public.model_validate(record)

    endpoint = _typed(create_record, body=resource.create_body)
    router.add_api_route(
        "",
        endpoint,
        methods=["POST"],
        response_model=resource.public,
        status_code=201,
        dependencies=roles,
        summary=f"Create a {resource.what}",
    )


def _add_update(router: APIRouter, resource: Resource[Any], roles: list[Any]) -> None:
    def update_record(
        record_id: Any,
        body: BaseModel,
        *,
        session: SessionDep,
        scope: ScopeDep,
        actor: ActorDep,
        settings: SettingsDep,
    ) -> BaseModel:
        assert resource.update is not None
        record = resource.find(session, record_id, scope)
        resource.update(session, record, body, Caller(actor, scope, settings))
        session.commit()
        return resource.public.model_validate(record)

    endpoint = _typed(update_record, record_id=resource.key, body=resource.update_body)
    router.add_api_route(
        "/{record_id}",
        endpoint,
        methods=["PATCH"],
        response_model=resource.public,
        dependencies=roles,
        summary=f"Change a {resource.what}",
    )


def _add_delete(router: APIRouter, resource: Resource[Any], roles: list[Any]) -> None:
    def delete_record(
        record_id: Any, session: SessionDep, scope: ScopeDep, actor: ActorDep, settings: SettingsDep
    ) -> Response:
        assert resource.remove is not None
        record = resource.find(session, record_id, scope)
        resource.remove(session, record, Caller(actor, scope, settings))
        session.commit()
        return Response(status_code=204)

    endpoint = _typed(delete_record, record_id=resource.key)
    router.add_api_route(
        "/{record_id}",
        endpoint,
        methods=["DELETE"],
        status_code=204,
        dependencies=roles,
        summary=f"Delete a {resource.what}",
    )

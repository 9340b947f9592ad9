"""A msgspec decoder derived from the pydantic wire models: the fast path for good input.

The pydantic models stay the one definition of the contract (and of its JSON Schema
and rejection reasons); this module translates their fields and constraints into
msgspec structs, which decode about twenty times faster. Anything msgspec refuses
is handed to pydantic, which names the reason; a differential test keeps the two
in agreement.
"""

from __future__ import annotations

import types
from datetime import datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import msgspec
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from events import models

_CONSTRAINTS = {
    annotated_types.MinLen: ("min_length", "min_length"),
    annotated_types.MaxLen: ("max_length", "max_length"),
    annotated_types.Ge: ("ge", "ge"),
    annotated_types.Le: ("le", "le"),
    annotated_types.Gt: ("gt", "gt"),
    annotated_types.Lt: ("lt", "lt"),
}
_AWARE_DATETIME = Annotated[datetime, msgspec.Meta(tz=True)]


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            found.update(_constraints(item.metadata))
        for kind, (attribute, keyword) in _CONSTRAINTS.items():
            if isinstance(item, kind):
                found[keyword] = getattr(item, attribute)
    return found


def _translate(annotation: Any, metadata: list[Any]) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        (member,) = members  # the models only use Optional[...] unions
        return _translate(member, []) | None
    if origin is Annotated:
        base, *extras = get_args(annotation)
        return _translate(base, [*metadata, *extras])
    if annotation is AwareDatetime:
        return _AWARE_DATETIME
    if annotation in (str, int, float):
        constraints = _constraints(metadata)
        return Annotated[annotation, msgspec.Meta(**constraints)] if constraints else annotation
    raise TypeError(f"no msgspec translation for {annotation!r}")


def _struct(model: type[BaseModel]) -> type[msgspec.Struct]:
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    tag = None
    for name, info in model.model_fields.items():
        if get_origin(info.annotation) is Literal:
            (tag,) = get_args(info.annotation)
            continue
        kind = _translate(info.annotation, list(info.metadata))
        fields.append((name, kind) if info.is_required() else (name, kind, info.default))
    return msgspec.defstruct(
        model.__name__, fields, tag_field="type", tag=tag, kw_only=True, frozen=True
    )


WIRE_MODELS: tuple[type[BaseModel], ...] = get_args(get_args(models.WireEvent)[0])
STRUCTS: dict[str, type[msgspec.Struct]] = {model.__name__: _struct(model) for model in WIRE_MODELS}
DECODER = msgspec.json.Decoder(Union[tuple(STRUCTS.values())])  # type: ignore[misc]  # noqa: UP007

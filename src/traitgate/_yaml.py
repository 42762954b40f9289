"""Line-aware YAML loading and pydantic validation with errors that name file:line and field."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from traitgate.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Document:
    """One YAML document: its data, its node tree (for line numbers) and where it came from."""

    path: Path
    data: Any
    node: yaml.Node

    def line_of(self, loc: Sequence[str | int] = ()) -> int:
        """1-based line of the node at a pydantic error location (best effort)."""
        return _node_at(self.node, loc).start_mark.line + 1


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def load_documents(path: Path) -> list[Document]:
    """Parse every YAML document in ``path`` with the safe loader."""
    return parse_documents(path, read_text(path))


def parse_documents(path: Path, text: str) -> list[Document]:
    """Parse every YAML document of ``text`` (read from ``path``) with the safe loader.

    Aliases (``*name``) are refused: expanded, a few lines can stand for billions of values
    (and a recursive one for an endless structure); nesting is limited to MAX_DEPTH."""
    try:
        _check_events(path, text)
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        datas = list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{path}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    except RecursionError:  # (a structure _check_events did not foresee)
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    docs = []
    for node, data in zip(nodes, datas, strict=True):
        if node is None:
            continue
        _reject_duplicate_keys(path, node)
        docs.append(Document(path, data, node))
    if not docs:
        raise ConfigError(f"{path}: file is empty")
    return docs


MAX_DEPTH = 50  # nesting of mappings and sequences (a suite needs 4)


def _check_events(path: Path, text: str) -> None:
    """Refuse aliases and deep nesting before anything is built from the text."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1 if event.start_mark is not None else "?"
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(
                f"{path}:{line}: YAML alias *{event.anchor} is not "
                "supported in suites and gates: write the value out"
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(
                    f"{path}:{line}: nested more than {MAX_DEPTH} levels "
                    "deep (a suite or gate needs a few)"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def validate(model: type[M], doc: Document, data: Any = None) -> M:
    """Validate ``doc`` (or ``data`` read from it) against ``model``; one-line error on failure."""
    payload = doc.data if data is None else data
    if not isinstance(payload, dict):
        raise ConfigError(
            f"{doc.path}:{doc.line_of()}: expected a mapping of fields, got {_short(payload)}"
        )
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ConfigError.of_all(validation_messages(exc, doc, _field_names(model))) from None


def validation_messages(
    exc: ValidationError, doc: Document, known_fields: Collection[str] = ()
) -> list[str]:
    """One line per problem, each naming the file, line and field; an unknown key first
    (it usually explains a "missing" one: a typo)."""
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    return [_message(error, doc, known_fields) for error in errors]


def _message(error: Any, doc: Document, known_fields: Collection[str]) -> str:
    loc = tuple(error["loc"])
    parts = [p for p in loc if _is_field_part(p)]
    if error["type"] == "extra_forbidden" and loc:  # the last part is the user's key, even
        parts = [p for p in loc[:-1] if _is_field_part(p)] + [loc[-1]]  # one named "none"
    field = ".".join(str(p) for p in parts) or "<document>"
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), sorted(known_fields), n=1)
        msg = "unknown field" + (f", did you mean {close[0]!r}?" if close else "")
    got = "" if error["type"] == "missing" else f" (got {_short(error.get('input'))})"
    return f"{doc.path}:{doc.line_of(loc)}: {field}: {msg}{got}"


def _field_names(model: type[BaseModel]) -> set[str]:
    """Every field name of ``model`` and the models nested in it."""
    names: set[str] = set()
    todo: list[type[BaseModel]] = [model]
    while todo:
        current = todo.pop()
        for name, info in current.model_fields.items():
            names.add(name)
            for arg in (info.annotation, *getattr(info.annotation, "__args__", ())):
                if isinstance(arg, type) and issubclass(arg, BaseModel) and arg is not current:
                    todo.append(arg)
    return names


def _is_field_part(part: str | int) -> bool:
    # pydantic puts union member names (e.g. "str", "PromptSpec") and validator tags in loc.
    if isinstance(part, int):
        return True
    is_tag = part[:1].isupper() or not part.isidentifier() or part in _TYPE_TAGS
    return not is_tag


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _node_at(node: yaml.Node, loc: Sequence[str | int]) -> yaml.Node:
    """The node a pydantic location points at. A field whose value is a block list or
    mapping is reported at its key's line, where a reader looks for it."""
    current = node
    for depth, part in enumerate(loc):
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if key_node.value == str(part):
                    rest = loc[depth + 1 :]
                    # the next part is a key written there (even one named like a type tag)
                    keyed = (
                        bool(rest)
                        and isinstance(value_node, yaml.MappingNode)
                        and any(k.value == str(rest[0]) for k, _ in value_node.value)
                    )
                    last = not keyed and all(not _is_field_part(p) for p in rest)
                    is_collection = isinstance(value_node, yaml.CollectionNode)
                    current = key_node if last and is_collection else value_node
                    break
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(current.value)
        ):
            current = current.value[part]
    return current


def _reject_duplicate_keys(path: Path, node: yaml.Node) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise ConfigError(f"{path}:{key_node.start_mark.line + 1}: {key}: duplicate key")
            seen.add(key)
            _reject_duplicate_keys(path, value_node)
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            _reject_duplicate_keys(path, child)

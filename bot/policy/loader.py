"""Load ``policies/*.yml``: parse each file keeping line numbers, validate, merge, cross-check.

Every mistake becomes a ``PolicyProblem(file, line, message)``; all of a directory's problems are
raised together as one ``PolicyError`` so ``sitrep policy lint`` can list them in one go::

    PolicyError                  problems: list[PolicyProblem]

Merging: services by name (the same service in two files is an error), rules and freeze windows
concatenated in file-name order. Files are ``*.yml`` and ``*.yaml`` directly in the directory, in
sorted order; names starting with ``.`` (editor back-ups) are skipped.

Cross-checks after the merge (a rule that can never match is almost always a typo): rule names are
unique, and every service or namespace named in a ``match`` is one a service declares.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.policy.schema import Freeze, Limits, Match, Policy, PolicyFile, Rule, Service

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class PolicyProblem:
    """One mistake in a policy file. ``line`` is 1-based; ``None`` when it concerns the whole file."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


class PolicyError(Exception):
    """The policy could not be loaded; ``problems`` says where and why."""

    def __init__(self, problems: Sequence[PolicyProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class _Parsed:
    """One file's data with the line of every key and list item, by path."""

    file: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Iterable[str | int]) -> int | None:
        path = tuple(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


# --------------------------------------------------------------------------- YAML with lines


def _parse_yaml(text: str, *, file: str) -> _Parsed:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        parsed = _Parsed(file=file, data=None)
        if node is not None:
            parsed.lines[()] = node.start_mark.line + 1
            parsed.data = _build(node, loc=(), loader=loader, parsed=parsed)
        return parsed
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise PolicyError([PolicyProblem(file, mark.line + 1 if mark else None, _yaml_message(exc))]) from exc
    except yaml.YAMLError as exc:
        raise PolicyError([PolicyProblem(file, None, f"YAML error: {exc}")]) from exc
    finally:
        loader.dispose()


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    message = "YAML syntax error: " + "; ".join(parts)
    if exc.problem and "'@'" in exc.problem:
        message += ' (quote user-group handles: "@sre")'
    return message


def _build(node: yaml.Node, *, loc: Loc, loader: yaml.SafeLoader, parsed: _Parsed) -> Any:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise PolicyError([PolicyProblem(parsed.file, line, f"a key must be a plain value, not {key!r}")])
            if key in seen:
                raise PolicyError(
                    [PolicyProblem(parsed.file, line, f"duplicate key {key!r} (the first is on line {seen[key]})")]
                )
            seen[key] = line
        loader.flatten_mapping(node)  # YAML merge keys (<<: *base) first, the mapping's own keys win
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            parsed.lines[(*loc, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, loc=(*loc, key), loader=loader, parsed=parsed)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            parsed.lines[(*loc, index)] = item.start_mark.line + 1
            items.append(_build(item, loc=(*loc, index), loader=loader, parsed=parsed))
        return items
    return loader.construct_object(node, deep=True)


# --------------------------------------------------------------------------- validation


_KNOWN_KEYS = sorted(
    {
        field.alias or name
        for model in (PolicyFile, Service, Rule, Match, Limits, Freeze)
        for name, field in model.model_fields.items()
    }
)


#: error types whose message already quotes the value (schema.py's PydanticCustomError)
_OWN_MESSAGES = {"duration", "rate_limit", "approver", "service_name", "stray_key", "min_approvals", "freeze_order"}


def _path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: Any) -> tuple[Loc, str]:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        key = loc[-1]
        hint = difflib.get_close_matches(str(key), _KNOWN_KEYS, n=1)
        where = f"{_path(loc[:-1])}: " if loc[:-1] else ""
        return loc, f"{where}unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
    if kind == "missing":
        where = f"{_path(loc[:-1])}: " if loc[:-1] else ""
        return loc, f"{where}missing required key {loc[-1]!r}"
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
    text = error["msg"]
    value = error.get("input")
    if kind.startswith(("timezone", "datetime", "date_")):
        text += " (write e.g. 2026-11-27T00:00:00Z)"
    elif kind not in _OWN_MESSAGES and (isinstance(value, str | int | float | bool) or value is None):
        text += f" (got {value!r})"
    return loc, f"{_path(loc)}: {text}" if loc else text


def _validate(model: type[BaseModel], parsed: _Parsed) -> tuple[Any, list[PolicyProblem]]:
    try:
        return model.model_validate(parsed.data), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc, text = _message(error)
            problems.append(PolicyProblem(parsed.file, parsed.line_of(loc), text))
        return None, problems


def parse_policy_text(text: str, *, file: str = "<policy>") -> PolicyFile:
    """One file's text → ``PolicyFile``; raises ``PolicyError`` with file:line problems."""
    policy_file, problems, _ = _load_one(text, file=file)
    if problems:
        raise PolicyError(problems)
    assert policy_file is not None
    return policy_file


def _load_one(text: str, *, file: str) -> tuple[PolicyFile | None, list[PolicyProblem], _Parsed | None]:
    try:
        parsed = _parse_yaml(text, file=file)
    except PolicyError as exc:
        return None, exc.problems, None
    if parsed.data is None:
        return PolicyFile(), [], parsed
    if not isinstance(parsed.data, dict):
        return None, [PolicyProblem(file, parsed.line_of(()), "a policy file is a mapping with "
                                    "services, rules and freeze")], parsed
    policy_file, problems = _validate(PolicyFile, parsed)
    return policy_file, problems, parsed


# --------------------------------------------------------------------------- directory


def policy_files(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix in (".yml", ".yaml") and path.is_file() and not path.name.startswith(".")
    )


def load_policy(directory: Path) -> Policy:
    """Every policy file in ``directory`` merged and checked; raises ``PolicyError``."""
    if not directory.is_dir():
        raise PolicyError([PolicyProblem(str(directory), None, "no such policy directory")])
    paths = policy_files(directory)
    if not paths:
        raise PolicyError(
            [PolicyProblem(str(directory), None, "no policy files (*.yml, *.yaml): everything would be denied")]
        )
    loaded: list[tuple[PolicyFile, _Parsed]] = []
    problems: list[PolicyProblem] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(PolicyProblem(str(path), None, f"cannot read the file: {exc}"))
            continue
        policy_file, file_problems, parsed = _load_one(text, file=str(path))
        problems += file_problems
        if policy_file is not None and parsed is not None:
            loaded.append((policy_file, parsed))
    policy, merge_problems = _merge(loaded)
    problems += merge_problems
    if problems:
        raise PolicyError(problems)
    return policy.model_copy(update={"files": [str(p) for p in paths]})


def _merge(loaded: list[tuple[PolicyFile, _Parsed]]) -> tuple[Policy, list[PolicyProblem]]:
    problems: list[PolicyProblem] = []
    services: dict[str, Service] = {}
    declared_in: dict[str, str] = {}
    rules: list[Rule] = []
    freezes: list[Freeze] = []
    rule_seen: dict[str, str] = {}
    for policy_file, parsed in loaded:
        for name, service in policy_file.services.items():
            if name in services:
                problems.append(PolicyProblem(parsed.file, parsed.line_of(("services", name)),
                                              f"service {name!r} is already declared in {declared_in[name]}"))
                continue
            services[name] = service
            declared_in[name] = f"{parsed.file}:{parsed.line_of(('services', name))}"
        for index, rule in enumerate(policy_file.rules):
            where = f"{parsed.file}:{parsed.line_of(('rules', index))}"
            if rule.name in rule_seen:
                problems.append(PolicyProblem(parsed.file, parsed.line_of(("rules", index, "name")),
                                              f"rule name {rule.name!r} is already used at {rule_seen[rule.name]}"))
            rule_seen.setdefault(rule.name, where)
            rules.append(rule)
        freezes += policy_file.freeze
    namespaces = {service.namespace for service in services.values()}
    for policy_file, parsed in loaded:
        matches = [(("rules", i, "match"), r.match) for i, r in enumerate(policy_file.rules)]
        matches += [(("freeze", i, "match"), f.match) for i, f in enumerate(policy_file.freeze) if f.match]
        for loc, match in matches:
            for key, known in (("service", services), ("namespace", namespaces)):
                for index, value in enumerate(getattr(match, key) or []):
                    if value not in known:
                        hint = difflib.get_close_matches(value, sorted(known), n=1)
                        problems.append(PolicyProblem(
                            parsed.file, parsed.line_of((*loc, key, index)),
                            f"{_path((*loc, key))}: no service declares {key} {value!r}, so this never matches"
                            + (f" (did you mean {hint[0]!r}?)" if hint else ""),
                        ))
    return Policy(services=services, rules=rules, freeze=freezes), problems


class PolicyHolder:
    """The policy in force. Built at start-up (a broken policy raises: refuse to start); ``reload``
    swaps in a new policy only if it loads, else keeps the last good one and returns the error, which
    the caller logs and reports in ``/readyz``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.policy = load_policy(directory)
        self.last_error: PolicyError | None = None

    def reload(self) -> PolicyError | None:
        try:
            policy = load_policy(self.directory)
        except PolicyError as exc:
            self.last_error = exc
            return exc
        self.policy, self.last_error = policy, None
        return None

"""Bicep templates as the project's checks read them, with no Bicep compiler (it cannot be installed here).

Two things: a tree-sitter parse that reports every syntax problem with its line, and an evaluator that turns what a
deployment knows before it runs (literals, parameter values and defaults, variables, conditions, loops over known
lists, the parameters main.bicep passes to its modules) into Python values. Everything only Azure knows (resource
properties, outputs, `uniqueString`, `listKeys`, ...) stays `Unknown`; an `Unknown` derived from a secret (a
`listKeys()` call, a key or connection-string property, a `@secure()` parameter) is marked `secret`, and the mark
follows it through strings, operators, variables and module parameters.

Entry: `syntax_problems(path)`, and `deployed(main_path, parameters)`: the resources a deployment of that file with
those parameter values creates, modules followed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

_PARSER = Parser(Language(tree_sitter_bicep.language()))

# tree-sitter-bicep 1.1 predates the `extension` statement (Bicep's way to load the Microsoft Graph types): such a
# line, and only a line that is exactly that statement, is blanked before parsing. Offsets and lines are kept.
_NAME = rb"[A-Za-z_][A-Za-z0-9_]*"
_EXTENSION_STATEMENT = re.compile(rb"^extension[ \t]+" + _NAME + rb"([ \t]+as[ \t]+" + _NAME + rb")?[ \t]*$", re.M)

# Properties whose value is a credential: reading one taints the result as secret.
_SECRET_PROPERTIES = {
    "primarykey",
    "secondarykey",
    "primarysharedkey",
    "secondarysharedkey",
    "connectionstring",
    "primaryconnectionstring",
    "secondaryconnectionstring",
    "password",
}


@dataclass(frozen=True)
class SyntaxProblem:
    path: Path
    line: int
    column: int
    kind: str  # "ERROR" (text the grammar cannot place) or "MISSING" (a token the grammar expected)
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.kind} {self.text!r}"


@dataclass(frozen=True)
class Unknown:
    """A value only known at deployment time; `text` is its source, `secret` whether a credential flows into it."""

    text: str
    secret: bool = False


@dataclass
class Parameter:
    name: str
    default: Node | None
    decorators: dict[str, list[Node]]

    @property
    def secure(self) -> bool:
        return "secure" in self.decorators


@dataclass
class Declaration:
    """A `resource` or `module` statement."""

    kind: str
    symbol: str
    target: str  # resource: 'Type@api-version'; module: relative path
    body: Node  # the object, the `if (...) {}` or the `[for ...]`
    existing: bool
    line: int


@dataclass
class Template:
    path: Path
    parameters: dict[str, Parameter] = field(default_factory=dict)
    variables: dict[str, Node] = field(default_factory=dict)
    declarations: list[Declaration] = field(default_factory=list)


@dataclass
class DeployedResource:
    type: str  # e.g. Microsoft.App/containerApps
    api_version: str
    symbol: str
    body: object  # the evaluated body: a dict whose values may be Unknown
    path: Path
    line: int
    existing: bool

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line} ({self.symbol})"


def _source(path: Path) -> bytes:
    raw = path.read_bytes()
    return _EXTENSION_STATEMENT.sub(lambda match: b" " * len(match.group(0)), raw)


def _parse(path: Path) -> Node:
    return _PARSER.parse(_source(path)).root_node


def syntax_problems(path: Path) -> list[SyntaxProblem]:
    """Every ERROR and MISSING node of the file's parse tree (none: the file is well-formed Bicep)."""
    problems: list[SyntaxProblem] = []

    def walk(node: Node) -> None:
        if node.type == "ERROR" or node.is_missing:
            kind = "MISSING" if node.is_missing else "ERROR"
            text = node.type if node.is_missing else _text(node)[:60]
            problems.append(SyntaxProblem(path, node.start_point[0] + 1, node.start_point[1] + 1, kind, text))
            if node.type == "ERROR":
                return  # one report per broken region, not one per token inside it
        for child in node.children:
            walk(child)

    walk(_parse(path))
    return problems


def _text(node: Node) -> str:
    return (node.text or b"").decode()


def _named(node: Node) -> list[Node]:
    return [child for child in node.named_children if child.type != "comment"]


def load(path: Path) -> Template:
    """The declarations of one file (syntax problems are the parse check's business: here they raise)."""
    root = _parse(path)
    problems = syntax_problems(path)
    if problems:
        raise ValueError(f"cannot read a template with syntax problems: {problems[0]}")
    template = Template(path)
    decorators: dict[str, list[Node]] = {}
    for node in _named(root):
        if node.type == "decorators":
            for decorator in _named(node):
                call = _named(decorator)[0]
                if call.type == "call_expression":
                    function = call.child_by_field_name("function")
                    arguments = call.child_by_field_name("arguments")
                    decorators[_text(function) if function else ""] = _named(arguments) if arguments else []
                else:
                    decorators[_text(call)] = []
            continue
        children = _named(node)
        if node.type == "parameter_declaration":
            default = children[2] if len(children) > 2 else None
            template.parameters[_text(children[0])] = Parameter(_text(children[0]), default, decorators)
        elif node.type == "variable_declaration":
            template.variables[_text(children[0])] = children[-1]
        elif node.type in ("resource_declaration", "module_declaration"):
            existing = any(child.type == "existing" for child in node.children)
            target = _string_literal(children[1])
            template.declarations.append(
                Declaration(
                    kind=node.type.split("_")[0],
                    symbol=_text(children[0]),
                    target=target,
                    body=children[-1],
                    existing=existing,
                    line=node.start_point[0] + 1,
                )
            )
        decorators = {}
    return template


def _string_literal(node: Node) -> str:
    return "".join(_text(part) for part in _named(node) if part.type == "string_content")


_ESCAPES = {"\\n": "\n", "\\r": "\r", "\\t": "\t", "\\\\": "\\", "\\'": "'", "\\$": "$"}

_Value = object


class Scope:
    """Evaluates expressions of one template, given values for (some of) its parameters."""

    def __init__(self, template: Template, parameters: Mapping[str, object]) -> None:
        self.template = template
        self.given = dict(parameters)
        self.locals: list[dict[str, object]] = []
        self._variables: dict[str, object] = {}

    def parameter(self, name: str) -> object:
        if name in self.given:
            return self.given[name]
        declared = self.template.parameters[name]
        if declared.secure:
            return Unknown(name, secret=True)
        if declared.default is None:
            return Unknown(name)
        return self.value(declared.default)

    def value(self, node: Node) -> object:
        method = getattr(self, "_" + node.type, None)
        if method is None:
            return Unknown(_text(node))
        result: object = method(node)
        return result

    # literals

    def _string(self, node: Node) -> object:
        parts: list[object] = []
        for part in _named(node):
            if part.type == "string_content":
                parts.append(_text(part))
            elif part.type == "escape_sequence":
                parts.append(_ESCAPES.get(_text(part), _text(part)))
            elif part.type == "interpolation":
                parts.append(self.value(_named(part)[0]))
        unknown = [part for part in parts if isinstance(part, Unknown)]
        if unknown:
            # The text of a partly known string is its template, without quotes: 'rediss://${host}:10000/0'.
            template = "".join("${" + part.text + "}" if isinstance(part, Unknown) else _render(part) for part in parts)
            return Unknown(template, secret=any(part.secret for part in unknown))
        return "".join(_render(part) for part in parts)

    def _number(self, node: Node) -> object:
        return int(_text(node))

    def _boolean(self, node: Node) -> object:
        return _text(node) == "true"

    def _null(self, node: Node) -> object:
        return None

    def _object(self, node: Node) -> object:
        result: dict[str, object] = {}
        for prop in _named(node):
            if prop.type != "object_property":
                continue
            key, *rest = _named(prop)
            if not rest:
                continue
            name = _string_literal(key) if key.type == "string" else _text(key)
            result[name] = self.value(rest[-1])
        return result

    def _array(self, node: Node) -> object:
        return [self.value(item) for item in _named(node)]

    def _parenthesized_expression(self, node: Node) -> object:
        return self.value(_named(node)[0])

    # names

    def _identifier(self, node: Node) -> object:
        name = _text(node)
        for frame in reversed(self.locals):
            if name in frame:
                return frame[name]
        if name in self.template.parameters:
            return self.parameter(name)
        if name in self.template.variables:
            if name not in self._variables:
                self._variables[name] = Unknown(name)  # a cycle reads as unknown, not as a crash
                self._variables[name] = self.value(self.template.variables[name])
            return self._variables[name]
        return Unknown(name)

    def _member_expression(self, node: Node) -> object:
        target = node.child_by_field_name("object")
        prop = node.child_by_field_name("property")
        if target is None or prop is None:
            return Unknown(_text(node))
        value = self.value(target)
        name = _text(prop)
        if isinstance(value, dict) and name in value:
            return value[name]
        secret = (isinstance(value, Unknown) and value.secret) or name.lower() in _SECRET_PROPERTIES
        return Unknown(_text(node), secret=secret)

    def _subscript_expression(self, node: Node) -> object:
        target, index = (self.value(child) for child in _named(node)[:2])
        if isinstance(target, list) and isinstance(index, int) and 0 <= index < len(target):
            return target[index]
        if isinstance(target, dict) and isinstance(index, str) and index in target:
            return target[index]
        return Unknown(_text(node), secret=_tainted(target))

    # operators

    def _ternary_expression(self, node: Node) -> object:
        condition = node.child_by_field_name("condition")
        consequence = node.child_by_field_name("consequence")
        alternative = node.child_by_field_name("alternative")
        if condition is None or consequence is None or alternative is None:
            return Unknown(_text(node))
        chosen = self.value(condition)
        if isinstance(chosen, bool):
            return self.value(consequence if chosen else alternative)
        return Unknown(_text(node), secret=_tainted(self.value(consequence)) or _tainted(self.value(alternative)))

    def _unary_expression(self, node: Node) -> object:
        operator = node.child_by_field_name("operator")
        argument = node.child_by_field_name("argument")
        if operator is None or argument is None:
            return Unknown(_text(node))
        value = self.value(argument)
        if _text(operator) == "!" and isinstance(value, bool):
            return not value
        if _text(operator) == "-" and isinstance(value, int):
            return -value
        return Unknown(_text(node), secret=_tainted(value))

    def _binary_expression(self, node: Node) -> object:
        left_node = node.child_by_field_name("left")
        right_node = node.child_by_field_name("right")
        operator_node = node.child_by_field_name("operator")
        if left_node is None or right_node is None or operator_node is None:
            return Unknown(_text(node))
        operator = _text(operator_node)
        left = self.value(left_node)
        if operator == "&&" and left is False:
            return False
        if operator == "||" and left is True:
            return True
        if operator == "??" and not isinstance(left, Unknown):
            return left if left is not None else self.value(right_node)
        right = self.value(right_node)
        if isinstance(left, Unknown) or isinstance(right, Unknown):
            return Unknown(_text(node), secret=_tainted(left) or _tainted(right))
        return _apply(operator, left, right, _text(node))

    # loops and calls

    def _for_statement(self, node: Node) -> object:
        children = _named(node)
        body = node.child_by_field_name("body") or children[-1]
        head = children[0]
        if head.type == "for_loop_parameters":
            names = [_text(child) for child in _named(head)]
            iterable_node = children[1]
        else:
            names = [_text(head)]
            iterable_node = children[1]
        iterable = self.value(iterable_node)
        if not isinstance(iterable, list):
            return Unknown(_text(node), secret=_tainted(iterable))
        results: list[object] = []
        for index, item in enumerate(iterable):
            frame = {names[0]: item}
            if len(names) > 1:
                frame[names[1]] = index
            self.locals.append(frame)
            try:
                if body.type == "if_statement":
                    condition, inner = _named(body)[0], _named(body)[-1]
                    keep = self.value(condition)
                    if keep is False:
                        continue
                    results.append(self.value(inner))
                else:
                    results.append(self.value(body))
            finally:
                self.locals.pop()
        return results

    def _call_expression(self, node: Node) -> object:
        function = node.child_by_field_name("function")
        arguments = node.child_by_field_name("arguments")
        if function is None:
            return Unknown(_text(node))
        args = [self.value(argument) for argument in _named(arguments)] if arguments else []
        name = _text(function)
        if function.type != "identifier" or name.lower().startswith("list"):
            # resource.listKeys(), listKeys(...), and any method call: a deployment-time value, a credential if list*
            secret = name.split(".")[-1].lower().startswith("list") or any(_tainted(arg) for arg in args)
            return Unknown(_text(node), secret=secret)
        if any(isinstance(arg, Unknown) for arg in args):
            return Unknown(_text(node), secret=any(_tainted(arg) for arg in args))
        builtin = _BUILTINS.get(name)
        if builtin is None:
            return Unknown(_text(node))
        try:
            return builtin(*args)
        except (TypeError, ValueError, IndexError, KeyError):
            return Unknown(_text(node))


def _tainted(value: object) -> bool:
    if isinstance(value, Unknown):
        return value.secret
    if isinstance(value, dict):
        return any(_tainted(item) for item in value.values())
    if isinstance(value, list):
        return any(_tainted(item) for item in value)
    return False


def _render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


def _apply(operator: str, left: object, right: object, text: str) -> object:
    comparisons = {"==": left == right, "!=": left != right}
    if operator in comparisons:
        return comparisons[operator]
    if isinstance(left, bool) and isinstance(right, bool):
        if operator == "&&":
            return left and right
        if operator == "||":
            return left or right
    if isinstance(left, int) and isinstance(right, int) and not isinstance(left, bool):
        arithmetic: dict[str, Callable[[], object]] = {
            "+": lambda: left + right,
            "-": lambda: left - right,
            "*": lambda: left * right,
            "<": lambda: left < right,
            "<=": lambda: left <= right,
            ">": lambda: left > right,
            ">=": lambda: left >= right,
        }
        if operator in arithmetic:
            return arithmetic[operator]()
    return Unknown(text)


def _concat(*items: object) -> object:
    if all(isinstance(item, list) for item in items):
        return [element for item in items for element in item]  # type: ignore[attr-defined]
    return "".join(_render(item) for item in items)


def _union(*items: object) -> object:
    merged: dict[str, object] = {}
    for item in items:
        if not isinstance(item, dict):
            raise TypeError("union of non-objects")
        merged.update(item)
    return merged


def _json(text: object) -> object:
    return json.loads(str(text)) if isinstance(text, str) else text


_BUILTINS: dict[str, Callable[..., object]] = {
    "string": _render,
    "int": int,
    "bool": bool,
    "json": _json,
    "concat": _concat,
    "union": _union,
    "empty": lambda value: value in ("", None) or value == [] or value == {},
    "join": lambda items, separator: separator.join(_render(item) for item in items),
    "toLower": lambda value: str(value).lower(),
    "toUpper": lambda value: str(value).upper(),
    "replace": lambda value, old, new: str(value).replace(str(old), str(new)),
    "take": lambda value, count: value[:count],
    "length": len,
    "contains": lambda container, item: item in container,
    "range": lambda start, count: list(range(start, start + count)),
}


def deployed(path: Path, parameters: Mapping[str, object] | None = None) -> list[DeployedResource]:
    """What deploying `path` with these parameter values (the rest at their defaults) creates, modules followed.

    A resource or module whose condition is known to be false is left out; one whose condition is unknown is kept.
    """
    return list(_walk(Path(path).resolve(), dict(parameters or {})))


def _walk(path: Path, parameters: dict[str, object]) -> Iterator[DeployedResource]:
    template = load(path)
    scope = Scope(template, parameters)
    for declaration in template.declarations:
        for body in _instances(scope, declaration.body):
            if declaration.kind == "module":
                module_parameters = body.get("params", {}) if isinstance(body, dict) else {}
                if not isinstance(module_parameters, dict):
                    module_parameters = {}
                yield from _walk((path.parent / declaration.target).resolve(), module_parameters)
                continue
            resource_type, _, api_version = declaration.target.partition("@")
            yield DeployedResource(
                type=resource_type,
                api_version=api_version,
                symbol=declaration.symbol,
                body=body,
                path=path,
                line=declaration.line,
                existing=declaration.existing,
            )


def _instances(scope: Scope, body: Node) -> list[object]:
    """The bodies a declaration produces: none (false condition), one, or one per loop item."""
    if body.type == "if_statement":
        condition, inner = _named(body)[0], _named(body)[-1]
        return [] if scope.value(condition) is False else [scope.value(inner)]
    value = scope.value(body)
    if body.type == "for_statement":
        return value if isinstance(value, list) else [value]
    return [value]

"""Which merge fields steer a template, and which it only shows (for shape rendering).

An email's templates are rendered in the sandbox once per *shape*, not once per recipient.
A field the templates only output (``{{ last_name }}``, ``{{ monetary | money }}``) does not
change what they do; a field they test, compare, loop over, filter or compute with does.
``analyse`` reads the templates' syntax trees (with the templates they extend, include and
the macros they call) and sorts every name they read into the two kinds:

- *shown* fields, also when only tested for truth (``{% if x %}``), compared with a constant
  (``x > 60``, ``x in ('a', 'b')``) or for definedness, or passed to a macro that uses them
  only so: the shape holds the test results; the sandbox sees a ``StandIn`` that answers
  those tests as the value does and renders as a token, so each place it is shown becomes a
  hole the recipient's value is put into.
- *steering* fields, everything else: the shape holds their exact value (and type).

A construct whose effect on output cannot be followed (``{% filter %}``, ``{% autoescape %}``,
an import ``with context``, a computed template name) makes ``analyse`` give None, and those
templates are rendered per recipient as before. The analysis only needs to be safe, not
complete: a field it cannot place is steering, which costs shapes, never correctness, and
email.py still renders the first recipient of every shape in full and compares.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import os
import re
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, nodes
from jinja2.nodes import EvalContext
from markupsafe import escape

from crmreport.personalise.styles import Layout, all_plain, interleave, learn_layout
from crmreport.personalise.templating import (
    Probe,
    country,
    format_date,
    format_number,
    money,
    money_writer,
)

# Filters the holes format with themselves (templating's own, per value, in the context).
FORMATTERS = frozenset({"money", "date", "number", "country"})
# Read by those filters from the context: always steering, so each shape has one of each.
_CONTEXT_FIELDS = ("campaign_locale", "currency", "locale")
_DEFAULT = frozenset({"default", "d"})
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "lteq": operator.le,
    "gt": operator.gt, "gteq": operator.ge,
    "in": lambda value, const: value in const, "notin": lambda value, const: value not in const}
_FLIPPED = {"eq": "eq", "ne": "ne", "lt": "gt", "lteq": "gteq", "gt": "lt", "gteq": "lteq"}
OUT, TEST, VALUE = "out", "test", "value"  # what the value at a place in the tree is used for


class Unsafe(Exception):
    """A construct whose effect on the output the analysis does not follow."""


@dataclass
class Use:
    """How the templates use one name."""

    shown: bool = False
    truth: bool = False
    steer: bool = False
    tests: dict[str, tuple[str, Any]] = field(default_factory=dict)  # repr -> (op, constant)

    def merge(self, other: Use) -> None:
        self.shown |= other.shown
        self.truth |= other.truth
        self.steer |= other.steer
        self.tests.update(other.tests)


_MISSING = object()  # a field the recipient does not have (key part)


@dataclass(frozen=True)
class Spec:
    """Per name the templates read: how much of its value decides the shape."""

    steering: tuple[str, ...]
    shown: tuple[tuple[str, bool, tuple[tuple[Callable[[Any, Any], bool], Any], ...]], ...]
    tested: tuple[tuple[str, bool, tuple[tuple[Callable[[Any, Any], bool], Any], ...]], ...]

    # What of a recipient's values decides the shape (raises what a comparison raises): a
    # function written for this spec, each value read once and tested in line. Written when
    # the spec is built, so a name or comparison it cannot write fails there, once.
    key: Callable[[Mapping[str, Any]], tuple[Any, ...]] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _key_function(self))

    @property
    def stand_ins(self) -> frozenset[str]:
        return frozenset(name for name, _, _ in self.shown)


# The comparisons a key makes, as Python writes them (the value on the left).
_SYMBOLS = {operator.eq: "==", operator.ne: "!=", operator.lt: "<", operator.le: "<=",
            operator.gt: ">", operator.ge: ">=", _OPS["in"]: "in", _OPS["notin"]: "not in"}


def _key_function(spec: Spec) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """Spec.key's function: per steering field its text, or its type and repr (1 and 1.0,
    or "1" and 1, steer apart), or _MISSING; per shown or tested field its truth where the
    templates test it and each comparison's result, or _MISSING. Field names and constants
    reach the code as literals and names bound here, never as code; a comparison without a
    symbol in _SYMBOLS raises ValueError."""
    names: dict[str, Any] = {"MISSING": _MISSING}
    lines = ["def key(values):", "    get = values.get"]
    parts = []
    for number, name in enumerate(spec.steering):
        value = f"s{number}"
        lines.append(f"    {value} = get({_literal(name)}, MISSING)")
        parts.append(f"{value} if type({value}) is str or {value} is MISSING "
                     f"else (type({value}), repr({value}))")
    constants = 0  # c0, c1, ...: the comparisons' constants, bound in names
    for number, (name, truth, tests) in enumerate((*spec.shown, *spec.tested)):
        value = f"v{number}"
        lines.append(f"    {value} = get({_literal(name)}, MISSING)")
        results = [f"bool({value})" if truth else "None"]
        for op, const in tests:
            if op not in _SYMBOLS:
                raise ValueError(f"no symbol for the comparison {op!r}")
            constant = f"c{constants}"
            constants += 1
            names[constant] = const
            results.append(f"({value} {_SYMBOLS[op]} {constant})")
        parts.append(f"MISSING if {value} is MISSING else ({', '.join(results)},)")
    lines.append(f"    return ({''.join(part + ', ' for part in parts)})")
    exec("\n".join(lines), names)  # the code above: names, symbols and literals only
    key: Callable[[Mapping[str, Any]], tuple[Any, ...]] = names["key"]
    return key


def _literal(name: str) -> str:
    """A field name as a literal in written code: only a str itself (a subclass's repr could
    be any text), checked whether or not asserts run."""
    if type(name) is not str:
        raise TypeError(f"a field name that is not a str: {type(name).__name__}")
    return repr(name)


def spec(uses: Mapping[str, Use], fixed: Collection[str] = ()) -> Spec:
    """``fixed``: names to key by value even if only shown (few values: fewer holes to fill)."""
    def tests(use: Use) -> tuple[tuple[Callable[[Any, Any], bool], Any], ...]:
        return tuple((_OPS[op], const) for _, (op, const) in sorted(use.tests.items()))

    names = sorted(uses)
    steering = [n for n in names if uses[n].steer or n in _CONTEXT_FIELDS or n in fixed]
    rest = [n for n in names if n not in steering]
    return Spec(tuple(sorted({*steering, *_CONTEXT_FIELDS})),
                tuple((n, uses[n].truth, tests(uses[n])) for n in rest if uses[n].shown),
                tuple((n, uses[n].truth, tests(uses[n])) for n in rest if not uses[n].shown))


def analyse(env: Environment, names: list[str], fixed: Collection[str] = ()) -> Spec | None:
    """The shape spec of templates rendered together from one context, or None (unsafe)."""
    uses: dict[str, Use] = {}
    try:
        for name in names:  # each with its own imports: "m" may be the text or HTML macros
            walker = _Walker(env)
            walker.template(name)
            walker.finish()
            for field_name, use in walker.uses.items():
                uses.setdefault(field_name, Use()).merge(use)
    except Unsafe:
        return None
    return spec(uses, fixed)


class _Walker:
    """Walks syntax trees, recording each context name's uses (``tracked``: only those
    names, as for a macro's parameters; None: every name not assigned in the templates)."""

    def __init__(self, env: Environment, tracked: frozenset[str] | None = None):
        self.env = env
        self.tracked = tracked
        self.uses: dict[str, Use] = {}
        self.assigned: set[str] = set()
        self.stored: set[str] = set()  # names set, looped over or taken as parameters
        self.imports: dict[str, tuple[str, str | None]] = {}  # alias -> (template, macro)
        self.seen: set[str] = set()
        self.trees: list[nodes.Template] = []
        self.self_blocks: set[str] = set()
        self.macros: dict[tuple[str, str], tuple[list[str], dict[str, Use]] | None] = {}
        self.steer_all = 0  # inside a macro, call block or captured block of the template

    def template(self, name: str) -> None:
        if name in self.seen:
            return
        self.seen.add(name)
        tree = _parse(self.env, name)
        self.trees.append(tree)
        self.assigned |= _assigned(tree)
        self.stored |= {n.name for n in tree.find_all(nodes.Name) if n.ctx != "load"}
        self.walk(tree, VALUE)

    def finish(self) -> None:
        """A block the templates call as ``self.name()`` gives a value: its fields steer."""
        for tree in self.trees:
            for block in tree.find_all(nodes.Block):
                if block.name in self.self_blocks:
                    for found in block.find_all(nodes.Name):
                        self.use(found.name, VALUE)

    def use(self, name: str, role: str) -> Use | None:
        if self.tracked is not None and name not in self.tracked:
            return None
        use = self.uses.setdefault(name, Use())
        if role == VALUE or self.steer_all or name in self.assigned:
            use.steer = True
        elif role == OUT:
            use.shown = True
        elif role == TEST:
            use.truth = True
        return use

    def walk(self, node: nodes.Node, role: str) -> None:
        visit = getattr(self, f"visit_{type(node).__name__}", None)
        if visit is not None:
            visit(node, role)
        else:
            for child in node.iter_child_nodes():
                self.walk(child, VALUE)

    # --- statements ---------------------------------------------------------------------

    def visit_Output(self, node: nodes.Output, role: str) -> None:
        for child in node.nodes:
            self.walk(child, OUT)

    def visit_If(self, node: nodes.If, role: str) -> None:
        self.walk(node.test, TEST)
        for child in [*node.body, *node.elif_, *node.else_]:
            self.walk(child, VALUE)

    def visit_Extends(self, node: nodes.Extends, role: str) -> None:
        self.template(_const_name(node.template))

    def visit_Include(self, node: nodes.Include, role: str) -> None:
        if not node.with_context:
            raise Unsafe("include without context")
        self.template(_const_name(node.template))

    def visit_Import(self, node: nodes.Import, role: str) -> None:
        self._import(node.with_context, node.target, (_const_name(node.template), None))

    def visit_FromImport(self, node: nodes.FromImport, role: str) -> None:
        template = _const_name(node.template)
        for entry in node.names:
            name, alias = entry if isinstance(entry, tuple) else (entry, entry)
            self._import(node.with_context, alias, (template, name))

    def _import(self, with_context: bool, alias: str, what: tuple[str, str | None]) -> None:
        if with_context or self.imports.get(alias, what) != what:
            raise Unsafe("import with context, or one name for two imports")
        self.imports[alias] = what

    def visit_Macro(self, node: nodes.Macro, role: str) -> None:
        self._steering(node)

    def visit_CallBlock(self, node: nodes.CallBlock, role: str) -> None:
        self._steering(node)

    def visit_AssignBlock(self, node: nodes.AssignBlock, role: str) -> None:
        self._steering(node)  # what it captures becomes a value

    def _steering(self, node: nodes.Node) -> None:
        """Output that becomes a value (a macro the template defines, a captured block): its
        fields steer."""
        self.steer_all += 1
        try:
            for child in node.iter_child_nodes():
                self.walk(child, VALUE)
        finally:
            self.steer_all -= 1

    def visit_FilterBlock(self, node: nodes.Node, role: str) -> None:
        raise Unsafe("filter block")

    def visit_ScopedEvalContextModifier(self, node: nodes.Node, role: str) -> None:
        raise Unsafe("autoescape block")

    def visit_EvalContextModifier(self, node: nodes.Node, role: str) -> None:
        raise Unsafe("autoescape block")

    # --- expressions --------------------------------------------------------------------

    def visit_Name(self, node: nodes.Name, role: str) -> None:
        if node.ctx == "load":
            self.use(node.name, role)

    def visit_Not(self, node: nodes.Not, role: str) -> None:
        self.walk(node.node, TEST)  # the result is the operand's truth

    def visit_And(self, node: nodes.And, role: str) -> None:
        self._both(node, role)

    def visit_Or(self, node: nodes.Or, role: str) -> None:
        self._both(node, role)

    def _both(self, node: nodes.And | nodes.Or, role: str) -> None:
        inner = TEST if role == TEST else VALUE  # ``a or b`` as a value is one of them
        self.walk(node.left, inner)
        self.walk(node.right, inner)

    def visit_CondExpr(self, node: nodes.CondExpr, role: str) -> None:
        self.walk(node.test, TEST)
        self.walk(node.expr1, role)
        if node.expr2 is not None:
            self.walk(node.expr2, role)

    def visit_Test(self, node: nodes.Test, role: str) -> None:
        if node.name in ("defined", "undefined") and isinstance(node.node, nodes.Name) \
                and not node.args and not node.kwargs:
            self.use(node.node.name, "defined")  # whether it is there is part of every key
            return
        for child in node.iter_child_nodes():
            self.walk(child, VALUE)

    def visit_Compare(self, node: nodes.Compare, role: str) -> None:
        """``x <op> constant`` (either way round): the key holds the comparison's result."""
        if len(node.ops) == 1:
            left, op, right = node.expr, node.ops[0].op, node.ops[0].expr
            if isinstance(right, nodes.Name) and _is_const(left) and op in _FLIPPED:
                left, op, right = right, _FLIPPED[op], left
            const = _const(self.env, right)
            if isinstance(left, nodes.Name) and left.ctx == "load" and const is not _MISSING \
                    and op in _OPS:
                use = self.use(left.name, "defined")
                if use is not None:
                    use.tests[f"{op} {const!r}"] = (op, const)
                return
        for child in node.iter_child_nodes():
            self.walk(child, VALUE)

    def visit_Filter(self, node: nodes.Filter, role: str) -> None:
        if node.node is not None and _passes_through(node):
            self.walk(node.node, role)  # a defined value passes through unchanged
        elif node.name in FORMATTERS and role == OUT and isinstance(node.node, nodes.Name) \
                and _constant_arguments(node):
            self.use(node.node.name, OUT)
        else:
            for child in node.iter_child_nodes():
                self.walk(child, VALUE)

    def visit_Call(self, node: nodes.Call, role: str) -> None:
        target = node.node
        if isinstance(target, nodes.Getattr) and isinstance(target.node, nodes.Name) \
                and target.node.name == "self":
            self.self_blocks.add(target.attr)
        if role == OUT and self.tracked is None and not node.dyn_args and not node.dyn_kwargs:
            macro = self._macro(target)
            if macro is not None:
                self._call(node, *macro)
                return
        if isinstance(target, nodes.Name) and target.name == "super" and role != OUT:
            raise Unsafe("super() used as a value")
        for child in node.iter_child_nodes():
            self.walk(child, VALUE)

    def _macro(self, target: nodes.Expr) -> tuple[list[str], dict[str, Use]] | None:
        """The parameters of an imported macro and how its body uses them."""
        if isinstance(target, nodes.Getattr) and isinstance(target.node, nodes.Name):
            alias = target.node.name
            template, macro = self.imports.get(alias, ("", "-"))
            name = target.attr if macro is None else None
        elif isinstance(target, nodes.Name):
            alias = target.name
            template, name = self.imports.get(alias, ("", None))
        else:
            return None
        if not template or not name or alias in self.stored:  # set to something else too
            return None
        key = (template, name)
        if key not in self.macros:
            self.macros[key] = _macro_uses(self.env, template, name)
        return self.macros[key]

    def _call(self, node: nodes.Call, params: list[str], uses: dict[str, Use]) -> None:
        """Each argument is used as its parameter is; a plain field takes those uses."""
        passed = [*zip(params, node.args, strict=False), *((k.key, k.value) for k in node.kwargs)]
        for param, arg in passed:
            inner = arg
            while isinstance(inner, nodes.Filter) and inner.node is not None \
                    and _passes_through(inner):
                inner = inner.node
            if param not in params:  # taken by the macro's **kwargs
                self.walk(arg, VALUE)
            elif _is_const(arg) or param not in uses:
                continue  # a constant, or a parameter the macro does not read
            elif isinstance(inner, nodes.Name) and inner.ctx == "load":
                mine = self.use(inner.name, "defined")
                if mine is not None:
                    mine.merge(uses[param])
            else:
                self.walk(arg, VALUE)
        for arg in node.args[len(params):]:  # taken by the macro's varargs
            self.walk(arg, VALUE)


def _constant_arguments(node: nodes.Filter) -> bool:
    return not node.dyn_args and not node.dyn_kwargs and all(
        _is_const(a) for a in [*node.args, *(k.value for k in node.kwargs)])


def _passes_through(node: nodes.Filter) -> bool:
    """``x | default(constant)``: x itself whenever x is defined (definedness is keyed)."""
    return node.name in _DEFAULT and len(node.args) <= 1 and not node.kwargs \
        and _constant_arguments(node)


def _macro_uses(env: Environment, template: str, name: str
                ) -> tuple[list[str], dict[str, Use]] | None:
    tree = _parse(env, template)
    for macro in tree.find_all(nodes.Macro):
        if macro.name == name:
            params = [arg.name for arg in macro.args]
            walker = _Walker(env, frozenset(params))
            walker.assigned = set().union(*(_assigned(child) for child in macro.body))
            for child in macro.body:
                walker.walk(child, VALUE)
            if walker.self_blocks:
                return None
            return params, walker.uses
    return None


# Syntax trees per environment: every pair of templates imports the same macros.
_TREES: weakref.WeakKeyDictionary[Environment, dict[str, nodes.Template]] = \
    weakref.WeakKeyDictionary()


def _parse(env: Environment, name: str) -> nodes.Template:
    trees = _TREES.setdefault(env, {})
    if name not in trees:
        if env.loader is None:
            raise Unsafe("no loader")
        source, filename, _ = env.loader.get_source(env, name)
        trees[name] = env.parse(source, name, filename)
    return trees[name]


def _assigned(tree: nodes.Node) -> set[str]:
    """Every name the tree sets, loops over, takes as a parameter or imports as."""
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    names |= {n.target for n in tree.find_all(nodes.Import)}
    for imported in tree.find_all(nodes.FromImport):
        names |= {e[1] if isinstance(e, tuple) else e for e in imported.names}
    names |= {m.name for m in tree.find_all(nodes.Macro)}
    return names


def _const_name(node: nodes.Expr) -> str:
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    raise Unsafe("a template name computed at render time")


def _is_const(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Const | nodes.Tuple | nodes.List) and not any(
        True for _ in node.find_all((nodes.Name, nodes.Call, nodes.Filter)))


def _const(env: Environment, node: nodes.Node) -> Any:
    if not _is_const(node):
        return _MISSING
    assert isinstance(node, nodes.Expr)
    try:
        return node.as_const(EvalContext(env))
    except nodes.Impossible:
        return _MISSING


# --- stand-ins ---------------------------------------------------------------------------

# A stand-in's token: private-use characters around a key random to this process (so no
# merge value can forge one) and the stand-in's number, then how it came out: a raw quote
# (str()) or the quote escaped once (escape()). Anything else means it was altered.
OPEN, CLOSE = "\ue010", "\ue011"
RAW, ESCAPED = '"', "&#34;"
_NONCE = os.urandom(8).hex()
_TOKEN = re.compile(f"{OPEN}{_NONCE}(\\d+)({RAW}|{ESCAPED}){CLOSE}")


@dataclass(frozen=True)
class Hole:
    name: str
    filter: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()


class StandIn(Probe):
    """A shown field in the shape render: tests answer as the value does, output is a token.

    Anything else a template could do with it (attributes, items, arithmetic, other filters,
    hashing) fails, so the shape is not used."""

    __slots__ = ("_holes", "_number", "_value")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, value: Any, hole: Hole, holes: list[Hole]):
        self._value, self._holes = value, holes
        self._number = len(holes)
        holes.append(hole)

    def __str__(self) -> str:
        return f"{OPEN}{_NONCE}{self._number}{RAW}{CLOSE}"

    def __html__(self) -> str:
        return f"{OPEN}{_NONCE}{self._number}{ESCAPED}{CLOSE}"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return bool(self._value == other)

    def __ne__(self, other: object) -> bool:
        return bool(self._value != other)

    def __lt__(self, other: Any) -> bool:
        return bool(self._value < other)

    def __le__(self, other: Any) -> bool:
        return bool(self._value <= other)

    def __gt__(self, other: Any) -> bool:
        return bool(self._value > other)

    def __ge__(self, other: Any) -> bool:
        return bool(self._value >= other)

    def filtered(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if name in _DEFAULT and len(args) <= 1 and not kwargs:
            return self
        hole = self._holes[self._number]
        if name in FORMATTERS and hole.filter is None:
            return str(StandIn(self._value, Hole(hole.name, name, args,
                                                 tuple(sorted(kwargs.items()))), self._holes))
        raise Unsafe(f"filter {name} on a shown field")


def split(text: str) -> tuple[list[str], list[tuple[int, bool]]]:
    """``text`` as its literal pieces and, between them, (stand-in number, escaped) holes.

    Raises Unsafe where a token came out altered (cut, escaped twice, changed by a filter)."""
    found = _TOKEN.split(text)
    pieces = found[::3]
    if any(OPEN in piece or CLOSE in piece for piece in pieces):
        raise Unsafe("a stand-in came out altered")
    holes = [(int(number), mark == ESCAPED) for number, mark in zip(found[1::3], found[2::3],
                                                                     strict=True)]
    return pieces, holes


# --- shapes ------------------------------------------------------------------------------

# How a hole that formats is filled: the filter itself, in the recipient's context.
_FORMAT: dict[str, Callable[..., str]] = {"money": money, "date": format_date,
                                          "number": format_number, "country": country}


@dataclass(frozen=True)
class Part:
    """Literal pieces with one recipient text (by its index) between each two."""

    pieces: tuple[str, ...]
    slots: tuple[int, ...]

    def join(self, texts: Sequence[str]) -> str:
        return interleave(self.pieces, map(texts.__getitem__, self.slots))

    @functools.cached_property
    def pick(self) -> Callable[[Sequence[str]], Sequence[str]]:
        """A recipient's texts -> the texts in this part's slots, in order (in C: an
        itemgetter, which gives a lone item rather than a tuple of one)."""
        if len(self.slots) > 1:
            return operator.itemgetter(*self.slots)
        return lambda texts: tuple(map(texts.__getitem__, self.slots))


@dataclass(frozen=True)
class Encoded:
    """A part's transfer encoding with its template's own lines encoded once.

    For an encoder that works line by line (quoted-printable: each line is encoded on its own),
    the encoding of the whole is the encodings of its lines in turn; so only the lines a value
    falls on are encoded per recipient, whatever the value holds."""

    items: tuple[bytes | Part, ...]  # encoded lines, or lines with slots (by value index)
    encode: Callable[[str], bytes]

    def fill(self, values: Sequence[str]) -> bytes:
        encode = self.encode
        return b"".join([item if isinstance(item, bytes) else encode(item.join(values))
                         for item in self.items])


def encoded(pieces: tuple[str, ...], encode: Callable[[str], bytes]) -> Encoded | None:
    """``pieces`` (a slot between each two) split into lines, those without a slot encoded;
    None where a CR could pair with a value's LF (line ends are only found at LF)."""
    if any("\r" in piece for piece in pieces):
        return None
    items: list[bytes | Part] = []
    static: list[str] = []  # whole lines of template text, encoded together
    line: list[str | int] = []  # the line being read, from its start

    def end_line() -> None:
        if any(type(x) is int for x in line):
            if static:
                items.append(encode("".join(static)))
                static.clear()
            pieces, slots = [""], []
            for x in line:
                if type(x) is int:
                    slots.append(x)
                    pieces.append("")
                else:
                    pieces[-1] += str(x)
            items.append(Part(tuple(pieces), tuple(slots)))
        else:
            static.extend(str(x) for x in line)
        line.clear()

    for number, piece in enumerate(pieces):
        if number:
            line.append(number - 1)
        first, *rest = piece.split("\n")
        line.append(first)
        for text in rest:
            line.append("\n")
            end_line()
            line.append(text)
    end_line()
    if static:
        items.append(encode("".join(static)))
    return Encoded(tuple(items), encode)


@dataclass(slots=True)
class Filled:
    """One recipient's content (the parts as UTF-8), and how to make its parts' transfer
    encodings from the shape's encoded lines where it can (made only for a part that needs
    them)."""

    subject: str
    text: bytes
    html: bytes
    text_body: Callable[[], bytes] | None = None
    html_body: Callable[[], bytes] | None = None
    # At least the octets of the text's and the HTML's longest line, where the shape knows.
    text_longest: int | None = None
    html_longest: int | None = None
    # The shape, when both parts are its pieces (tidied text, inlined layout) and the values.
    shape: Shape | None = None
    # Whether the text's and the HTML's pieces and values can hold no CR, NUL or boundary
    # (see free_of); then only their lines' length decides whether they go as they are.
    text_free: bool = False
    html_free: bool = False


@dataclass(frozen=True)
class Shape:
    """An email's subject, text and HTML for every recipient with one key, less the values."""

    # Per recipient value: its field, and the formatting filter bound to the shape's locale
    # and currency (None: shown as it is).
    writers: tuple[tuple[str, Callable[[Any], str] | None], ...]
    texts: tuple[tuple[int, bool], ...]  # what each recipient text is: (value, escaped)
    subject: Part
    text: Part  # as rendered
    tidy: Part  # tidied, for values that leave the lines as they are
    html: Part  # before CSS inlining
    layout: Layout | None  # after CSS inlining, when the slots allow
    text_body: Encoded | None  # the tidied text's encoding
    html_body: Encoded | None  # the inlined layout's encoding
    text_longest: int  # octets of the longest line of the tidied text without its values
    html_longest: int  # and of the inlined layout's
    # The tidied text's and the inlined layout's pieces as UTF-8, encoded once: an email
    # encodes only its values.
    tidy_utf8: tuple[bytes, ...] = ()
    layout_utf8: tuple[bytes, ...] = ()
    # Whether the tidied text's and the layout's pieces are free_of the boundary's start.
    tidy_free: bool = False
    layout_free: bool = False

    @functools.cached_property
    def tidy_octets(self) -> int:
        """The tidied text's pieces' octets: a filled text's less these are its values'."""
        return sum(map(len, self.tidy_utf8))

    @functools.cached_property
    def layout_octets(self) -> int:
        """The inlined layout's pieces' octets, likewise."""
        return sum(map(len, self.layout_utf8))

    @functools.cached_property
    def texts_of(self) -> Callable[[Mapping[str, Any]], list[str]]:
        """A recipient's values -> the texts the shape's parts take (Part.slots index them):
        a function written for this shape, each value read and formatted once, then
        shown as it is or escaped."""
        return _texts_function(self.writers, self.texts)

    def fill(self, values: Mapping[str, Any], tidy: Callable[[str], str],
             inline: Callable[[str], str]) -> Filled:
        """The content rendering, tidying and inlining give, and what encodings it can."""
        texts = self.texts_of(values)
        subject = " ".join(self.subject.join(texts).split()) if self.subject.slots \
            else self.subject.pieces[0]  # normalised when learnt
        text_values = self.tidy.pick(texts)
        text_body, text_longest, text_free = None, None, False
        if keep_lines(text_values):
            text = interleave(self.tidy_utf8, map(str.encode, text_values))
            if self.text_body:
                text_body = functools.partial(self.text_body.fill, text_values)
            # Bounds the longest line: the pieces' longest and all the values' octets.
            text_longest = self.text_longest + len(text) - self.tidy_octets
            text_free = self.tidy_free and _unmarked("".join(text_values))
        else:
            text = tidy(self.text.join(texts)).encode()
        html_values = self.html.pick(texts)
        if self.layout is None or not all_plain(html_values):
            return Filled(subject, text, inline(self.html.join(texts)).encode(), text_body,
                          None, text_longest, text_free=text_free)
        written = self.layout.written(html_values)
        html = interleave(self.layout_utf8, map(str.encode, written))
        html_body = functools.partial(self.html_body.fill, written) if self.html_body else None
        return Filled(subject, text, html, text_body, html_body,
                      text_longest, self.html_longest + len(html) - self.layout_octets,
                      self if text_longest is not None else None, text_free,
                      self.layout_free and _unmarked("".join(written)))


def _unmarked(values: str) -> bool:
    """Whether values (joined) hold no "=", CR or NUL: with pieces free_of the boundary's
    start, neither the boundary nor a CR or NUL can then be in the part."""
    return "=" not in values and "\r" not in values and "\x00" not in values


def free_of(pieces: Sequence[str], start: str) -> bool:
    """Whether ``pieces``, with values free of "=", CR and NUL between them (_unmarked), can
    make no text holding ``start`` (which begins with "="), CR or NUL: its "=" would be a
    piece's, so the piece holds ``start`` or ends with a beginning of it."""
    return not any("\r" in piece or "\x00" in piece or start in piece
                   or any(piece.endswith(start[:size]) for size in range(1, len(start)))
                   for piece in pieces)


def _texts_function(writers: tuple[tuple[str, Callable[[Any], str] | None], ...],
                    texts: tuple[tuple[int, bool], ...]
                    ) -> Callable[[Mapping[str, Any]], list[str]]:
    """Shape.texts_of's function. Field names reach the code as literals, the formatting
    functions as bound names, never as code."""
    names: dict[str, Any] = {"escaped": _escaped}
    lines = ["def texts(values):"]
    for number, (name, write) in enumerate(writers):
        if write is None:
            lines.append(f"    v{number} = values[{_literal(name)}]")
        else:
            names[f"w{number}"] = write
            lines.append(f"    v{number} = w{number}(values[{_literal(name)}])")
    shown = [f"escaped(v{number})" if escaped else f"str(v{number})"
             for number, escaped in texts]
    lines.append(f"    return [{', '.join(shown)}]")
    exec("\n".join(lines), names)  # the code above: names and literals only
    function: Callable[[Mapping[str, Any]], list[str]] = names["texts"]
    return function


def _escaped(value: Any) -> str:
    """``str(escape(value))``; text by the same five replacements without making a Markup."""
    if type(value) is str:
        return (value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
                .replace("'", "&#39;").replace('"', "&#34;"))
    return str(escape(value))


# A text value that tidying could treat otherwise than a stand-in, among values joined by
# _SEP: a line break, whitespace at its end (_SEP is whitespace too: a value holding it is
# only taken the slow way).
_SEP = "\x1f"
_SPACE_BEFORE_SEP = re.compile(f"\\s{_SEP}")


def keep_lines(values: Sequence[str]) -> bool:
    """Whether tidying treats every value as it treats a stand-in: no line break, nothing
    to strip (searches over all of them at once: the values joined by _SEP)."""
    if not values:
        return True
    joined = _SEP.join(values)
    return ("" not in values and "\n" not in joined and "\r" not in joined
            and not joined[-1].isspace() and _SPACE_BEFORE_SEP.search(joined) is None)


def learn(holes: list[Hole], rendered: tuple[str, str, str], context: Mapping[str, Any],
          tidy: Callable[[str], str], inline: Callable[[str], str],
          encode: Callable[[str], bytes], boundary_start: str) -> Shape:
    """The shape of (subject, text, html) rendered with stand-ins from ``context``; raises
    Unsafe. ``boundary_start``: how every MIME boundary of the emails begins ("=" first)."""
    index: dict[tuple[int, bool], int] = {}

    def part(text: str, html: bool = False) -> Part:
        pieces, found = split(text)
        for number, escaped in found:
            if number >= len(holes) or (html and not escaped):  # unescaped in HTML: markup
                raise Unsafe("a value is written into HTML unescaped")
        slots = tuple(index.setdefault(hole, len(index)) for hole in found)
        return Part(tuple(pieces), slots)

    subject, body, html = (part(rendered[0]), part(rendered[1]), part(rendered[2], html=True))
    if not subject.slots:
        subject = Part((" ".join(subject.pieces[0].split()),), ())
    tidied = part(tidy(rendered[1]))
    if sorted(tidied.slots) != sorted(body.slots):
        raise Unsafe("tidying the text changed its holes")
    layout = learn_layout(list(html.pieces), inline)
    used = list(dict.fromkeys(holes[n] for n, _ in index))  # a value shown twice: once
    return Shape(tuple((hole.name, _writer(hole, context)) for hole in used),
                 tuple((used.index(holes[n]), escaped) for n, escaped in index),
                 subject, body, tidied, html, layout, encoded(tidied.pieces, encode),
                 encoded(layout.pieces, encode) if layout else None,
                 _longest(tidied.pieces), _longest(layout.pieces) if layout else 0,
                 _utf8(tidied.pieces), _utf8(layout.pieces) if layout else (),
                 free_of(tidied.pieces, boundary_start),
                 layout is not None and free_of(layout.pieces, boundary_start))


def _utf8(pieces: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(piece.encode() for piece in pieces)


def _longest(pieces: tuple[str, ...]) -> int:
    """The octets of the longest line ``pieces`` make with nothing in their slots."""
    return max(map(len, "".join(pieces).encode().split(b"\n")))


def _writer(hole: Hole, context: Mapping[str, Any]) -> Callable[[Any], str] | None:
    """The hole's filter as a function of the value alone: what else it reads from the
    context (the locale and currency fields) is the same for every recipient of a shape."""
    if hole.filter is None:
        return None
    if hole.filter == "money":
        return money_writer(context, *hole.args, **dict(hole.kwargs))
    fixed = {name: context.get(name) for name in _CONTEXT_FIELDS}
    write = functools.partial(_formatted, _FORMAT[hole.filter], fixed, hole.args,
                              dict(hole.kwargs))
    if hole.filter != "date":
        return write
    # Most recipients of a shape share a few dates (a coupon's last day): each written once.
    # Only exact dates are cached: not to tell equal values apart (a datetime or a text is
    # never equal to a date, so the cache could not mix them up), but to keep it to values
    # that are hashable and few.
    cached = functools.lru_cache(maxsize=256)(write)
    return lambda value: cached(value) if type(value) is dt.date else write(value)


def _formatted(format_filter: Callable[..., str], context: Mapping[str, Any],
               args: tuple[Any, ...], kwargs: dict[str, Any], value: Any) -> str:
    return format_filter(context, value, *args, **kwargs)

"""Output the way docker/cli writes it: tabwriter tables, `--format` templates, sizes.

Nothing here imports grpc; protobuf is touched only by `to_docker_dict`, which is
handed a message and so runs after the generated code is loaded anyway.

* `tabwrite` is Go's text/tabwriter (elastic tabstops, cells padded per column
  block); docker tables use minwidth 10, padding 3 (`render_table`), `docker
  version`/`info` use minwidth 20, padding 1.
* `Template` is a subset of Go's text/template as docker's `--format` uses it:
  `{{.Field.Sub}}`, `{{json .}}`, `{{index .Map "k"}}`, pipelines `|`, `if/else`,
  `range` (with `$k, $v :=`), `with`, and docker's helpers (json, join, split,
  upper, lower, title, truncate, pad, println, printf, len, eq/ne/lt/le/gt/ge,
  not/and/or). `format_output` adds docker's `table` prefix and the keywords
  `table` and `json`.
* `to_docker_dict` renders a pyd.dockerd.v1 message as Docker's JSON shape, using
  each field's `json_name` and the conventions listed in types.proto.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

# ------------------------------------------------------------------ tabwriter


def tabwrite(text: str, minwidth: int = 0, padding: int = 1, padchar: str = " ") -> str:
    """Align tab-separated cells the way Go's text/tabwriter does (flags 0).

    A cell is text ending in a tab; the last cell of a line is not part of a
    column. Consecutive lines that have a cell in column N form a column block,
    and every cell of the block is padded to the block's widest cell plus
    `padding`, at least `minwidth`.
    """
    trailing_nl = text.endswith("\n")
    raw = text[:-1] if trailing_nl else text
    lines = [line.split("\t") for line in raw.split("\n")]
    out: list[str] = []

    def write_lines(line0: int, line1: int, widths: list[int]) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            parts: list[str] = []
            for j, cell in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(cell + padchar * (widths[j] - len(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def fmt(line0: int, line1: int, widths: list[int]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            # A cell in this column starts a block: flush the lines above it.
            write_lines(line0, this, widths)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            fmt(line0, this, [*widths, width])
            line0 = this
        write_lines(line0, line1, widths)

    fmt(0, len(lines), [])
    return "\n".join(out) + ("\n" if trailing_nl else "")


def render_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A docker table (`docker ps`, `docker images`): columns padded with 3 spaces."""
    text = "".join("\t".join(r) + "\n" for r in [header, *rows])
    return tabwrite(text, minwidth=10, padding=3)


# ------------------------------------------------------------------- sizes

_DECIMAL = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
_BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]


def _go_g4(value: float) -> str:
    """Go's `%.4g`."""
    s = f"{value:.4g}"
    if "e" in s:
        mant, exp = s.split("e")
        sign, digits = exp[0], exp[1:].lstrip("0")
        s = f"{mant}e{sign}{digits.rjust(2, '0')}"
    return s


def _custom_size(size: float, base: float, units: list[str]) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return _go_g4(size) + units[i]


def human_size(size: float) -> str:
    """go-units HumanSize: decimal units, 4 significant digits ("1.23MB")."""
    return _custom_size(size, 1000.0, _DECIMAL)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units ("15.29GiB"), as `docker info` prints memory."""
    return _custom_size(size, 1024.0, _BINARY)


# -------------------------------------------------------------------- time

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339_nano(seconds: int, nanos: int) -> str:
    """Go's time.RFC3339Nano in UTC: fractional seconds with trailing zeros cut."""
    base = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    return base + frac + "Z"


def ansic(dt: datetime) -> str:
    """Go's time.ANSIC ("Mon Jan _2 15:04:05 2006"), what `docker version` shows."""
    return dt.strftime("%a %b ") + f"{dt.day:>2}" + dt.strftime(" %H:%M:%S %Y")


def reformat_date(value: str) -> str:
    """An RFC 3339 time as ANSIC in local time; anything else unchanged (docker's reformatDate)."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return ansic(dt.astimezone())


# ----------------------------------------------------- protobuf → Docker JSON

_INLINE_FIELDS = {("pyd.dockerd.v1.HostConfig", "resources")}
_LIST_WRAPPERS = {"pyd.dockerd.v1.PortBindings"}
_PAIR_MESSAGES = {"pyd.dockerd.v1.DriverStatus"}
_TIMESTAMP = "google.protobuf.Timestamp"


def to_docker_dict(message: Any) -> dict[str, Any]:
    """A pyd.dockerd.v1 message as Docker's JSON object (keys are `json_name`s).

    Every field is present, as Go's encoder writes zero values; unset message
    fields are null, unset Timestamps Go's zero time, int64 stays a number.
    """
    result = _message_value(message)
    assert isinstance(result, dict)
    return result


def _message_value(message: Any) -> Any:
    desc = message.DESCRIPTOR
    name = desc.full_name
    if name == _TIMESTAMP:
        if message.seconds == 0 and message.nanos == 0:
            return GO_ZERO_TIME
        return rfc3339_nano(message.seconds, message.nanos)
    if name in _LIST_WRAPPERS:
        items = [_message_value(m) for m in message.items]
        return items or None
    if name in _PAIR_MESSAGES:
        return [message.key, message.value]
    out: dict[str, Any] = {}
    for fd in desc.fields:
        value = getattr(message, fd.name)
        if (name, fd.name) in _INLINE_FIELDS:
            out.update(_message_value(value))
            continue
        out[fd.json_name] = _field_value(message, fd, value)
    return out


def _field_value(message: Any, fd: Any, value: Any) -> Any:
    from google.protobuf.descriptor import FieldDescriptor

    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        value_fd = fd.message_type.fields_by_name["value"]
        if value_fd.message_type is not None:
            if value_fd.message_type.full_name == "google.protobuf.Empty":
                return {k: {} for k in value}
            return {k: _message_value(v) for k, v in value.items()}
        return {k: _scalar(value_fd, v) for k, v in value.items()}
    if _is_repeated(fd):
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            return [_message_value(v) for v in value]
        return [_scalar(fd, v) for v in value]
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        if fd.message_type.full_name == _TIMESTAMP:
            return _message_value(value)
        if not message.HasField(fd.name):
            return None
        return _message_value(value)
    if fd.has_presence and not message.HasField(fd.name):
        return None
    return _scalar(fd, value)


def _is_repeated(fd: Any) -> bool:
    flag = getattr(fd, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return bool(fd.label == fd.LABEL_REPEATED)


def _scalar(fd: Any, value: Any) -> Any:
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return value


# ------------------------------------------------------------- Go templates


class TemplateError(Exception):
    """A --format template that does not parse or cannot be executed."""


class _Missing:
    """A map key that is not there: Go prints `<no value>`."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()


def go_print(value: Any) -> str:
    """Render a value as Go's fmt `%v` does for the JSON-ish values templates see."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        items = " ".join(f"{k}:{go_print(v)}" for k, v in sorted(value.items()))
        return f"map[{items}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    return str(value)


def _go_float(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "0"
    exp = math.floor(math.log10(abs(value)))
    if exp < -4 or exp >= 21:
        mant, e = f"{value:e}".split("e")
        mant = repr(float(mant)).rstrip("0").rstrip(".")
        return f"{mant}e{e[0]}{e[1:].lstrip('0').rjust(2, '0')}"
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def go_json(value: Any) -> str:
    """Go's json.Marshal: compact, with <, > and & escaped."""
    import json

    text = json.dumps(_jsonable(value), separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _jsonable(value: Any) -> Any:
    if value is MISSING:
        return None
    if hasattr(value, "DESCRIPTOR"):
        return to_docker_dict(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _truthy(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | Mapping | list | tuple):
        return len(value) > 0
    return True


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, Mapping):
            item = item.get(key, MISSING)
        elif isinstance(item, list | tuple):
            try:
                item = item[int(key)]
            except (IndexError, ValueError) as e:
                raise TemplateError(f"error calling index: index out of range: {key}") from e
        else:
            kind = type(item).__name__
            raise TemplateError(f"error calling index: can't index item of type {kind}")
    return item


def _truncate(s: Any, n: int) -> str:
    text = go_print(s)
    return text[:n]


def _pad(s: Any, left: int, right: int) -> str:
    return " " * left + go_print(s) + " " * right


def _printf(fmt: str, *args: Any) -> str:
    """Go's printf for the verbs templates use: %v %s %d %f %q %t."""
    values = iter(args)

    def sub(m: re.Match[str]) -> str:
        spec = m.group(0)
        if spec == "%%":
            return "%"
        verb, flags = spec[-1], spec[:-1]
        v = next(values, MISSING)
        if verb == "d" and isinstance(v, int | float) and not isinstance(v, bool):
            return (flags + "d") % int(v)
        if verb == "f" and isinstance(v, int | float) and not isinstance(v, bool):
            return (flags + "f") % float(v)
        if verb == "q":
            return go_json(go_print(v))
        return (flags + "s") % go_print(v)

    return re.sub(r"%%|%[-+ 0#]*\d*(?:\.\d+)?[vsdqtf]", sub, fmt)


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def f(a: Any, b: Any) -> bool:
        return op(a, b)

    return f


FUNCS: dict[str, Callable[..., Any]] = {
    "json": go_json,
    "index": _index,
    "len": lambda v: len(v),
    "join": lambda items, sep: sep.join(go_print(i) for i in items),
    "split": lambda s, sep: s.split(sep),
    "upper": lambda s: go_print(s).upper(),
    "lower": lambda s: go_print(s).lower(),
    "title": lambda s: go_print(s).title(),
    "truncate": _truncate,
    "pad": _pad,
    "print": lambda *a: "".join(go_print(x) for x in a),
    "println": lambda *a: " ".join(go_print(x) for x in a) + "\n",
    "printf": _printf,
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": _cmp(lambda a, b: a != b),
    "lt": _cmp(lambda a, b: a < b),
    "le": _cmp(lambda a, b: a <= b),
    "gt": _cmp(lambda a, b: a > b),
    "ge": _cmp(lambda a, b: a >= b),
    "not": lambda a: not _truthy(a),
    "and": lambda *a: next((x for x in a if not _truthy(x)), a[-1]),
    "or": lambda *a: next((x for x in a if _truthy(x)), a[-1]),
}

# Tokens inside an action.
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<var>\$[A-Za-z0-9_]*)
    | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<decl>:=)
    | (?P<punct>[()|,])
    )""",
    re.VERBOSE,
)


class _Tok:
    __slots__ = ("kind", "text")

    def __init__(self, kind: str, text: str) -> None:
        self.kind = kind
        self.text = text


def _lex_action(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"template: :1: unexpected {src[pos:].strip()[:1]!r} in command")
        kind = m.lastgroup or ""
        toks.append(_Tok(kind, m.group(kind)))
        pos = m.end()
    return toks


# Expression trees: ("field", [names]) on dot; ("var", name, [names]); ("lit", v);
# ("call", fname, [args]); ("pipe", [cmds]); a command is a list of operands.


class _Pipe:
    __slots__ = ("cmds", "decl")

    def __init__(self, decl: list[str], cmds: list[list[Any]]) -> None:
        self.decl = decl
        self.cmds = cmds


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise TemplateError("template: :1: unexpected end of action")
        self.i += 1
        return tok

    def pipeline(self, allow_decl: bool = True) -> _Pipe:
        decl: list[str] = []
        if allow_decl:
            j = self.i
            names: list[str] = []
            while j < len(self.toks) and self.toks[j].kind == "var":
                names.append(self.toks[j].text)
                if j + 1 < len(self.toks) and self.toks[j + 1].text == ",":
                    j += 2
                    continue
                j += 1
                break
            if names and j < len(self.toks) and self.toks[j].kind == "decl":
                decl = names
                self.i = j + 1
        cmds = [self.command()]
        while (tok := self.peek()) is not None and tok.text == "|":
            self.next()
            cmds.append(self.command())
        return _Pipe(decl, cmds)

    def command(self) -> list[Any]:
        operands: list[Any] = []
        while (tok := self.peek()) is not None and tok.text not in ("|", ")"):
            operands.append(self.operand())
        if not operands:
            raise TemplateError("template: :1: missing value for command")
        return operands

    def operand(self) -> Any:
        tok = self.next()
        if tok.kind == "str":
            text = tok.text
            if text.startswith("`"):
                value = text[1:-1]
            else:
                import json

                value = json.loads(text)
            return ("lit", value)
        if tok.kind == "num":
            return ("lit", float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "field":
            names = [] if tok.text == "." else tok.text[1:].split(".")
            return ("field", names)
        if tok.kind == "var":
            names = []
            nxt = self.peek()
            if nxt is not None and nxt.kind == "field" and nxt.text != ".":
                self.next()
                names = nxt.text[1:].split(".")
            return ("var", tok.text, names)
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                return ("lit", tok.text == "true")
            if tok.text == "nil":
                return ("lit", None)
            if tok.text not in FUNCS:
                raise TemplateError(f'template: :1: function "{tok.text}" not defined')
            return ("func", tok.text)
        if tok.text == "(":
            pipe = self.pipeline(allow_decl=False)
            close = self.next()
            if close.text != ")":
                raise TemplateError("template: :1: unclosed left paren")
            return ("sub", pipe)
        raise TemplateError(f"template: :1: unexpected {tok.text!r} in operand")


class _Node:
    __slots__ = ("body", "else_body", "kind", "pipe", "text")

    def __init__(self, kind: str, text: str = "", pipe: _Pipe | None = None) -> None:
        self.kind = kind  # text | action | if | range | with
        self.text = text
        self.pipe = pipe
        self.body: list[_Node] = []
        self.else_body: list[_Node] = []


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)


class Template:
    """A parsed Go template (the subset docker's --format needs)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes = self._parse(source)

    @staticmethod
    def _parse(source: str) -> list[_Node]:
        pieces: list[tuple[str, str]] = []
        pos = 0
        for m in _ACTION.finditer(source):
            text = source[pos : m.start()]
            if m.group(1):
                text = text.rstrip(" \t\r\n")
            pieces.append(("text", text))
            pieces.append(("action", m.group(2).strip()))
            pos = m.end()
            if m.group(3):
                rest = source[pos:]
                pos += len(rest) - len(rest.lstrip(" \t\r\n"))
        tail = source[pos:]
        if "{{" in tail:
            raise TemplateError("template: :1: unclosed action")
        pieces.append(("text", tail))

        root: list[_Node] = []
        stack: list[tuple[_Node, list[_Node]]] = []
        current = root
        for kind, text in pieces:
            if kind == "text":
                if text:
                    current.append(_Node("text", text=text))
                continue
            if text.startswith("/*"):
                continue
            word = text.split(None, 1)[0] if text else ""
            rest = text[len(word) :].strip()
            if word in ("if", "range", "with"):
                node = _Node(word, pipe=_Parser(_lex_action(rest)).pipeline())
                current.append(node)
                stack.append((node, current))
                current = node.body
            elif word == "else":
                if not stack:
                    raise TemplateError("template: :1: unexpected {{else}}")
                node, _parent = stack[-1]
                if rest.startswith("if "):
                    # {{else if X}} is {{else}}{{if X}} ... sharing one {{end}}.
                    inner = _Node("if", pipe=_Parser(_lex_action(rest[3:])).pipeline())
                    inner.text = "elseif"
                    node.else_body.append(inner)
                    stack.append((inner, node.else_body))
                    current = inner.body
                else:
                    current = node.else_body
            elif word == "end":
                if not stack:
                    raise TemplateError("template: :1: unexpected {{end}}")
                node, parent = stack.pop()
                while node.text == "elseif":
                    node, parent = stack.pop()
                current = parent
            else:
                current.append(_Node("action", pipe=_Parser(_lex_action(text)).pipeline()))
        if stack:
            raise TemplateError("template: :1: unexpected EOF")
        return root

    def execute(self, data: Any) -> str:
        """Run the template on `data` (dicts, lists, or objects with attributes)."""
        out: list[str] = []
        self._run(self.nodes, data, {"$": data}, out)
        return "".join(out)

    def _run(self, nodes: list[_Node], dot: Any, env: dict[str, Any], out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                assert node.pipe is not None
                value = self._pipe(node.pipe, dot, env)
                if not node.pipe.decl:
                    out.append(go_print(value))
            elif node.kind in ("if", "with"):
                assert node.pipe is not None
                value = self._pipe(node.pipe, dot, env)
                if _truthy(value):
                    self._run(node.body, value if node.kind == "with" else dot, env, out)
                else:
                    self._run(node.else_body, dot, env, out)
            elif node.kind == "range":
                assert node.pipe is not None
                pipe = _Pipe([], node.pipe.cmds)
                value = self._pipe(pipe, dot, env)
                items: list[tuple[Any, Any]]
                if isinstance(value, Mapping):
                    items = sorted(value.items(), key=lambda kv: str(kv[0]))
                elif isinstance(value, list | tuple):
                    items = list(enumerate(value))
                elif value is None or value is MISSING:
                    items = []
                elif isinstance(value, int):
                    items = [(i, i) for i in range(value)]
                else:
                    raise TemplateError(f"range can't iterate over {go_print(value)}")
                if not items:
                    self._run(node.else_body, dot, env, out)
                for key, item in items:
                    scope = dict(env)
                    if len(node.pipe.decl) == 1:
                        scope[node.pipe.decl[0]] = item
                    elif len(node.pipe.decl) == 2:
                        scope[node.pipe.decl[0]] = key
                        scope[node.pipe.decl[1]] = item
                    self._run(node.body, item, scope, out)

    def _pipe(self, pipe: _Pipe, dot: Any, env: dict[str, Any]) -> Any:
        value: Any = MISSING
        first = True
        for cmd in pipe.cmds:
            value = self._cmd(cmd, dot, env, None if first else (value,))
            first = False
        for name in pipe.decl:
            env[name] = value
        return value

    def _cmd(self, cmd: list[Any], dot: Any, env: dict[str, Any], piped: tuple[Any] | None) -> Any:
        head = cmd[0]
        if head[0] == "func":
            args = [self._operand(o, dot, env) for o in cmd[1:]]
            if piped:
                args.append(piped[0])
            try:
                return FUNCS[head[1]](*args)
            except TemplateError:
                raise
            except Exception as e:
                raise TemplateError(f"template: :1: error calling {head[1]}: {e}") from e
        if len(cmd) > 1 or piped:
            raise TemplateError("template: :1: can't give argument to non-function")
        return self._operand(head, dot, env)

    def _operand(self, op: Any, dot: Any, env: dict[str, Any]) -> Any:
        kind = op[0]
        if kind == "lit":
            return op[1]
        if kind == "field":
            return _fields(dot, op[1])
        if kind == "var":
            if op[1] not in env:
                raise TemplateError(f'template: :1: undefined variable "{op[1]}"')
            return _fields(env[op[1]], op[2])
        if kind == "sub":
            return self._pipe(op[1], dot, env)
        if kind == "func":
            return FUNCS[op[1]]()
        raise TemplateError("template: :1: bad operand")


def _fields(value: Any, names: list[str]) -> Any:
    for name in names:
        if value is MISSING or value is None:
            return MISSING
        if isinstance(value, Mapping):
            value = value.get(name, MISSING)
            continue
        attr = getattr(value, name, MISSING)
        if attr is MISSING:
            raise TemplateError(
                f'template: :1: executing "" at <.{name}>: can\'t evaluate field {name} '
                f"in type {type(value).__name__}"
            )
        value = attr() if callable(attr) else attr
    return value


# --------------------------------------------------------------- --format


def _prepare(fmt: str) -> tuple[bool, str]:
    """(is_table, template text) with docker's `table` prefix and \\t, \\n escapes."""
    is_table = fmt == "table" or fmt.startswith("table ")
    text = fmt[len("table") :] if is_table else fmt
    text = text.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return is_table, text


class _Header:
    """What a table template's header row is run on: each field yields its title."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = headers

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._headers.get(name, name.upper())


def format_output(
    fmt: str,
    rows: Iterable[Any],
    *,
    default_table: str = "",
    headers: Mapping[str, str] | None = None,
) -> str:
    """Render rows with a docker `--format` value.

    `fmt` may be empty or "table" (use `default_table`), "json" (`{{json .}}`
    per row), "table TEMPLATE" (a header row plus tabwriter alignment, minwidth
    10, padding 3), or a plain template (one line per row, no alignment).
    """
    if fmt in ("", "table"):
        fmt = default_table or "{{json .}}"
    elif fmt == "json":
        fmt = "{{json .}}"
    is_table, text = _prepare(fmt)
    tmpl = Template(text)
    lines: list[str] = []
    if is_table:
        lines.append(tmpl.execute(_Header(headers or {})))
    lines.extend(tmpl.execute(row) for row in rows)
    body = "".join(line + "\n" for line in lines)
    if is_table:
        return tabwrite(body, minwidth=10, padding=3)
    return body


def format_one(fmt: str, data: Any) -> str:
    """Render one object with a non-table template (`version`, `info`, `inspect`)."""
    if fmt == "json":
        fmt = "{{json .}}"
    _is_table, text = _prepare(fmt)
    return Template(text).execute(data) + "\n"


# ------------------------------------------------------ docker's column helpers


def human_size_precision(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision (docker ps/images sizes use 3 digits)."""
    i = 0
    while size >= 1000.0 and i < len(_DECIMAL) - 1:
        size /= 1000.0
        i += 1
    s = f"{size:.{precision}g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant}e{exp[0]}{exp[1:].lstrip('0').rjust(2, '0')}"
    return s + _DECIMAL[i]


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "2 minutes", "About an hour"."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def ellipsis(text: str, width: int) -> str:
    """docker's formatter.Ellipsis: cut to `width` characters, the last one "…"."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width == 1:
        return text[0]
    return text[: width - 1] + "…"


def go_quote(text: str) -> str:
    """Go's strconv.Quote: double quotes, Go escapes for non-printable characters."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\a\b\f\n\r\t\v":
            out.append(
                {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(
                    ch, "\\v"
                )
            )
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def truncate_id(ident: str) -> str:
    """stringid.TruncateID: drop "sha256:", keep 12 characters."""
    if ":" in ident:
        ident = ident.split(":", 1)[1]
    return ident[:12]


def display_ports(ports: Iterable[tuple[str, int, int, str]]) -> str:
    """docker's DisplayablePorts over (ip, private, public, type) tuples."""
    ordered = sorted(ports, key=lambda p: (p[1], p[0], p[2], p[3]))
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []

    def form(key: str, first: int, last: int) -> str:
        ip, _, kind = key.rpartition("/")
        group = str(first) if first == last else f"{first}-{last}"
        if ip:
            group = f"{ip}:{group}->{group}"
        return f"{group}/{kind}"

    for ip, private, public, kind in ordered:
        key = kind
        if ip:
            if public != private:
                host = f"[{ip}]" if ":" in ip else ip
                mappings.append(f"{host}:{public}->{private}/{kind}")
                continue
            key = f"{ip}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
            order.append(key)
            continue
        if private == group[1] + 1:
            group[1] = private
            continue
        result.append(form(key, group[0], group[1]))
        groups[key] = [private, private]
    result.extend(form(k, groups[k][0], groups[k][1]) for k in order)
    result.extend(mappings)
    return ", ".join(result)


def json_indent(value: Any) -> str:
    """json.MarshalIndent(v, "", "    ") as `docker inspect` prints it."""
    import json

    text = json.dumps(_jsonable(value), indent=4, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def since(ts_seconds: float, now: float | None = None) -> str:
    """ "2 minutes ago" for a Unix time (docker's CREATED columns)."""
    import time

    now = time.time() if now is None else now
    return human_duration(now - ts_seconds) + " ago"

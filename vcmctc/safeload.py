"""Reading YAML and JSON from files vcmctc does not control, with limits.

Manifests, CTC editions, anchor files, ground truth and task outputs are read here. Whatever
they hold, reading them ends quickly with data or with a one-line
:class:`~vcmctc.errors.UserError` naming the file (and the line where there is one):

- **size**: a file larger than ``max_bytes`` is refused before it is read (YAML 16 MiB, JSON
  1 GiB by default);
- **YAML aliases** (``*name``) are refused, so an alias "bomb" (a few KB that expand to billions
  of nodes) fails in milliseconds; merge keys (``<<``) and Python-specific tags are refused too
  (safe tags only);
- **nesting** deeper than ``max_depth`` (100) levels is refused, in YAML and JSON, instead of a
  RecursionError here or later in whatever walks the data;
- **duplicate keys** in a mapping or JSON object are an error naming the key and the line
  (YAML and JSON parsers otherwise keep the last value silently).

YAML is parsed with libyaml (PyYAML's ``CSafeLoader``) when PyYAML was built with it, else with
the pure-Python ``SafeLoader``; the checks are the same: the document is composed into nodes, the
node graph is walked (a node reached twice is an alias; depth; merge keys) and only then
constructed, by a safe constructor that refuses duplicate keys.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from vcmctc.errors import UserError

YAML_MAX_BYTES = 16 * 1024 * 1024
JSON_MAX_BYTES = 1024 * 1024 * 1024
MAX_DEPTH = 100


# --------------------------------------------------------------------------------------------
# files

def read_bytes(path: str | os.PathLike, max_bytes: int, *, what: str = "file") -> bytearray:
    """The bytes of a regular file of at most ``max_bytes`` bytes, else a UserError (missing,
    a directory or a device, too large). Never reads more than ``max_bytes + 1`` bytes."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserError("file not found", file=path) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror}", file=path) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UserError(f"is a directory, expected a {what}", file=path)
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"is not a regular file, expected a {what}", file=path)
        if st.st_size > max_bytes:
            raise UserError(f"{what} of {st.st_size} bytes is larger than the limit of "
                            f"{max_bytes} bytes", file=path)
        # read into one buffer (no second copy of a large file); one byte more than the
        # limit tells a file that grew after fstat
        data = bytearray(min(st.st_size, max_bytes) + 1)
        view, got = memoryview(data), 0
        while got < len(data):
            n = os.readv(fd, [view[got:]])
            if n == 0:
                break
            got += n
        view.release()
        del data[got:]
        while len(data) <= max_bytes:  # the file grew after fstat: read on, up to the limit
            chunk = os.read(fd, min(max_bytes + 1 - len(data), 1 << 24))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror}", file=path) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew while being read
        raise UserError(f"{what} is larger than the limit of {max_bytes} bytes", file=path)
    return data


# --------------------------------------------------------------------------------------------
# YAML

USE_LIBYAML = True  # tests set False to check the pure-Python loader gives the same answers
_loaders: dict[bool, type] = {}


def _loader_class() -> type:
    """A safe loader (libyaml's when available) whose constructor refuses duplicate keys."""
    import yaml

    libyaml = USE_LIBYAML and bool(getattr(yaml, "__with_libyaml__", False))
    if libyaml in _loaders:
        return _loaders[libyaml]
    from yaml.constructor import ConstructorError, SafeConstructor
    from yaml.nodes import MappingNode

    class _StrictConstructor(SafeConstructor):
        def construct_mapping(self, node, deep=False):
            if not isinstance(node, MappingNode):
                raise ConstructorError(None, None, f"expected a mapping node, but found {node.id}",
                                       node.start_mark)
            mapping: dict = {}
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    hash(key)
                except TypeError:
                    raise ConstructorError("while constructing a mapping", node.start_mark,
                                           "found an unhashable key", key_node.start_mark) from None
                if key in mapping:
                    raise _Duplicate(key, key_node.start_mark.line + 1)
                mapping[key] = self.construct_object(value_node, deep=deep)
            return mapping

    if libyaml:
        from yaml._yaml import CParser
        from yaml.resolver import Resolver

        class _Loader(CParser, _StrictConstructor, Resolver):
            def __init__(self, stream):
                CParser.__init__(self, stream)
                _StrictConstructor.__init__(self)
                Resolver.__init__(self)
    else:
        from yaml.composer import Composer
        from yaml.parser import Parser
        from yaml.reader import Reader
        from yaml.resolver import Resolver
        from yaml.scanner import Scanner

        class _Loader(Reader, Scanner, Parser, Composer, _StrictConstructor, Resolver):
            def __init__(self, stream):
                Reader.__init__(self, stream)
                Scanner.__init__(self)
                Parser.__init__(self)
                Composer.__init__(self)
                _StrictConstructor.__init__(self)
                Resolver.__init__(self)
    _loaders[libyaml] = _Loader
    return _Loader


class _Duplicate(Exception):
    def __init__(self, key: Any, line: int | None):
        super().__init__(key)
        self.key, self.line = key, line


def _alias_line(text: str | bytes) -> int | None:
    """Line of the first alias (``*name``) in a YAML text (events only: nothing is expanded)."""
    import yaml

    loader = _loader_class()(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent):
                return event.start_mark.line + 1
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def _check_nodes(root, source: object, text: str | bytes, max_depth: int) -> None:
    """Walk a composed node graph without recursion: aliases (a node reached twice), merge
    keys and nesting depth (levels of sequences and mappings, as JSON's)."""
    from yaml.nodes import MappingNode, SequenceNode

    seen: set[int] = set()
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            line = _alias_line(text)
            raise UserError("YAML aliases (*name) are not allowed; write the value out",
                            file=source, line=line if line is not None else node.start_mark.line + 1)
        seen.add(id(node))
        if depth > max_depth and isinstance(node, (SequenceNode, MappingNode)):
            raise UserError(f"nested deeper than {max_depth} levels", file=source,
                            line=node.start_mark.line + 1)
        if isinstance(node, SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                if key.tag == "tag:yaml.org,2002:merge":
                    raise UserError("YAML merge keys (<<) are not allowed; write the keys out",
                                    file=source, line=key.start_mark.line + 1)
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))


def loads_yaml(text: str | bytes, *, source: object = "<text>", max_depth: int = MAX_DEPTH) -> Any:
    """Parse one YAML document with the limits of this module; ``source`` names it in errors.
    An empty document is None."""
    import yaml

    loader = _loader_class()(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_nodes(node, source, text, max_depth)
            return loader.construct_document(node)
        except _Duplicate as exc:
            raise UserError(f"duplicate key {exc.key!r} (each key may appear once in a mapping)",
                            file=source, line=exc.line) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise UserError(f"invalid YAML: {problem}", file=source,
                            line=mark.line + 1 if mark is not None else None) from None
        except RecursionError:  # the pure-Python composer recurses; libyaml does not
            raise UserError(f"invalid YAML: nested too deep (limit {max_depth} levels)",
                            file=source) from None
        except UnicodeDecodeError as exc:
            raise UserError(f"not UTF-8 text ({exc.reason})", file=source) from None
    finally:
        loader.dispose()


def load_yaml(path: str | os.PathLike, *, max_bytes: int = YAML_MAX_BYTES,
              max_depth: int = MAX_DEPTH) -> Any:
    """Read and parse a YAML file (see the module's limits)."""
    data = read_bytes(path, max_bytes, what="YAML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason})", file=path) from None
    return loads_yaml(text, source=path, max_depth=max_depth)


# --------------------------------------------------------------------------------------------
# JSON

def _unique_pairs(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key, None)
            seen.add(key)
    return out


def _duplicate_where(text: str) -> tuple[int, int] | None:
    """(line, column) of the object holding the first duplicate key: parsed again with the
    pure-Python scanner, which knows where each object starts (only on that error path)."""
    import json.decoder
    import json.scanner

    decoder = json.JSONDecoder()

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None):
        s, end = s_and_end

        def hook(pairs):
            try:
                return _unique_pairs(pairs)
            except _Duplicate as exc:
                exc.line = s.count("\n", 0, end - 1) + 1
                exc.column = end - s.rfind("\n", 0, end - 1) - 1
                raise
        return json.decoder.JSONObject(s_and_end, strict, scan_once, None, hook, memo)

    decoder.parse_object = parse_object
    scan = json.scanner.py_make_scanner(decoder)
    start = len(text) - len(text.lstrip(" \t\n\r"))
    try:
        scan(text, start)
    except _Duplicate as exc:
        return exc.line, exc.column
    except (ValueError, RecursionError, StopIteration):
        return None
    return None


def _check_depth(data: Any, source: object, max_depth: int) -> None:
    """Refuse containers nested deeper than ``max_depth`` (iterative, level by level)."""
    level = [data] if isinstance(data, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            raise UserError(f"JSON nested deeper than {max_depth} levels", file=source)
        nxt: list = []
        for item in level:
            values = item.values() if isinstance(item, dict) else item
            nxt += [v for v in values if isinstance(v, (dict, list))]
        level = nxt


def _text_depth(text: str | bytes | bytearray) -> int | None:
    """Nesting depth of a JSON text that parsed, read from its brackets outside strings (a
    ``[`` or ``{`` outside a string opens a container, ``]`` or ``}`` closes one), or None when
    the text is not UTF-8 without backslashes (then a quote may be escaped: walk the data).

    In UTF-8 the bytes of ``"`` and of the brackets never occur inside a multi-byte character,
    and without backslashes every ``"`` starts or ends a string, so the strings are exactly the
    spans between the 1st and 2nd quote, the 3rd and 4th... This scans bytes in numpy instead
    of visiting every container in Python."""
    import numpy as np

    if isinstance(text, str):
        try:
            text = text.encode("utf-8")
        except UnicodeEncodeError:   # lone surrogates
            return None
    if b"\\" in text or json.detect_encoding(text) != "utf-8":
        return None
    buf = np.frombuffer(text, dtype=np.uint8)
    quotes = np.flatnonzero(buf == 34)
    opens = np.flatnonzero((buf == 91) | (buf == 123))
    closes = np.flatnonzero((buf == 93) | (buf == 125))
    # a bracket is outside the strings when an even number of quotes precede it
    opens = opens[np.searchsorted(quotes, opens) % 2 == 0]
    closes = closes[np.searchsorted(quotes, closes) % 2 == 0]
    if not len(opens):
        return 0
    where = np.concatenate((opens, closes))
    step = np.concatenate((np.ones(len(opens), np.int64), np.full(len(closes), -1, np.int64)))
    return int(np.cumsum(step[np.argsort(where, kind="stable")]).max())


def loads_json(text: str | bytes | bytearray, *, source: object = "<text>", max_depth: int = MAX_DEPTH) -> Any:
    """Parse a JSON text with the limits of this module; ``source`` names it in errors."""
    try:
        data = json.loads(text, object_pairs_hook=_unique_pairs)
    except _Duplicate as exc:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode(json.detect_encoding(text), "replace")
        where = _duplicate_where(text)
        at = f" in the object at column {where[1]}" if where else ""
        raise UserError(f"duplicate key {exc.key!r}{at} (each key may appear once in an object)",
                        file=source, line=where[0] if where else None) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason})", file=source) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"invalid JSON: {exc.msg} (column {exc.colno})", file=source,
                        line=exc.lineno) from None
    except RecursionError:
        raise UserError(f"JSON nested deeper than {max_depth} levels", file=source) from None
    if isinstance(data, (dict, list)):
        depth = _text_depth(text)
        if depth is None:
            _check_depth(data, source, max_depth)
        elif depth > max_depth:
            raise UserError(f"JSON nested deeper than {max_depth} levels", file=source)
    return data


def load_json(path: str | os.PathLike, *, max_bytes: int = JSON_MAX_BYTES,
              max_depth: int = MAX_DEPTH) -> Any:
    """Read and parse a JSON file (see the module's limits)."""
    return loads_json(read_bytes(path, max_bytes, what="JSON file"), source=path,
                      max_depth=max_depth)

"""Import cycles between the modules of each crate of the workspace, read from the source.

For every crate (each lib, bin, test, bench, example and build-script target `cargo metadata`
lists for a workspace member) it builds the module tree from the `mod` declarations, then reads
every path that can name one of the crate's modules:

- `use` trees (`use crate::a::{b, c::D as E, *};`, `use super::x;`, `use child::Y;`),
- `crate::…`, `super::…` and `self::…` paths anywhere in the code,
- paths starting with a child module or with a name a `use` imported (`store::memory::X` after
  `use crate::store;`),
- strings holding nothing but such a path (`#[serde(with = "crate::ids::millis")]`).

Each path resolves to the module it lands in, following `use` bindings (a re-export, or a parent's
import a child reaches through `super::`) to where the name comes from: going through a re-export
is not a dependency on the module that re-exports. The path draws an edge from the file it is
written in to the file of that module. A `mod x;` declaration is not an edge: it places `x` in the
tree, it does not use it. Comments, doc comments (intra-doc links) and `$crate` paths in macros
are not read. Code under `#[cfg(test)]` (a `mod tests { … }`, a test-only `use` or function) is
not read either: tests may use whatever they test with, and no production module depends on them.

Every strongly connected component of more than one file is an import cycle; it is reported with
its files and, for each edge inside it, the first line that makes it.

    python3 scripts/modules/cycles.py [--allow FILE] [--root DIR]

exits 1 if it finds a cycle the allowlist does not name, or if an allowlist entry names a cycle
that no longer exists as written (the list must say exactly which cycles remain). An allowlist
line is one cycle: its files, relative to the root, separated by spaces; `#` starts a comment.
"""

import argparse
import bisect
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# ---------------------------------------------------------------- reading the source

PATH_STRING = re.compile(r"(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+")
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|::|\S")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SourceError(Exception):
    """The source cannot be read the way the checker needs (it says where)."""


def strip(text):
    """`text` with comments and the contents of string and char literals blanked (newlines
    kept, so offsets and lines stay), and the strings that hold nothing but a crate path, as
    (offset, path)."""
    out = list(text)
    path_strings = []
    length = len(text)
    i = 0

    def blank(start, end):
        for k in range(start, end):
            if out[k] != "\n":
                out[k] = " "

    def ident_char(k):
        return 0 <= k < length and (text[k].isalnum() or text[k] == "_")

    while i < length:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = length if end < 0 else end
            blank(i, end)
            i = end
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < length and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c in "rbc" and not ident_char(i - 1) and re.match(r"(?:br|cr|r)#*\"", text[i:]):
            raw = re.match(r"(?:br|cr|r)(#*)\"", text[i:])
            start = i + raw.end()
            close = '"' + raw.group(1)
            end = text.find(close, start)
            end = length if end < 0 else end
            blank(start, end)
            i = end + len(close)
        elif c == '"' or (c in "bc" and not ident_char(i - 1) and text.startswith('"', i + 1)):
            start = i + (1 if c == '"' else 2)
            j = start
            while j < length and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if PATH_STRING.fullmatch(text[start:j]):
                path_strings.append((start, text[start:j]))
            blank(start, j)
            i = j + 1
        elif c == "'":
            if text.startswith("\\", i + 1):
                end = text.find("'", i + 2)
                end = length if end < 0 else end
                blank(i + 1, end)
                i = end + 1
            elif i + 2 < length and text[i + 2] == "'":
                blank(i + 1, i + 2)
                i += 3
            else:
                i += 1  # a lifetime or a label
        else:
            i += 1
    return "".join(out), path_strings


@dataclass
class Token:
    text: str
    offset: int
    path_string: bool = False  # a string holding a crate path (its text is the path)


def tokens(stripped, path_strings=()):
    """The code's tokens, with the path strings among them at their offsets."""
    found = [Token(m.group(0), m.start()) for m in TOKEN.finditer(stripped)]
    found.extend(Token(path, offset, path_string=True) for offset, path in path_strings)
    return sorted(found, key=lambda token: token.offset)


def parse_use_tree(toks, i, prefix):
    """Parses a use tree from toks[i]; returns ([(segments, name or None, glob)], next index).
    `name` is the name the tree binds (the last segment, or its `as` alias; None for `as _`)."""
    found = []
    segments = list(prefix)
    if i < len(toks) and toks[i].text == "::":
        segments.append("::")  # an absolute path: another crate
        i += 1
    while i < len(toks):
        text = toks[i].text
        if text == "{":
            i += 1
            while i < len(toks) and toks[i].text != "}":
                inner, i = parse_use_tree(toks, i, segments)
                found.extend(inner)
                if i < len(toks) and toks[i].text == ",":
                    i += 1
            return found, i + 1
        if text == "*":
            found.append((tuple(segments), None, True))
            return found, i + 1
        if IDENT.fullmatch(text):
            if text == "self" and segments and i + 1 < len(toks) and toks[i + 1].text != "::":
                name = segments[-1]  # `use a::{self}` binds `a`
            else:
                segments.append(text)
                name = text
            i += 1
            if i < len(toks) and toks[i].text == "::":
                i += 1
                continue
            if i + 1 < len(toks) and toks[i].text == "as":
                name = None if toks[i + 1].text == "_" else toks[i + 1].text
                i += 2
            found.append((tuple(segments), name, False))
            return found, i
        raise SourceError(f"unexpected {text!r} in a use tree")
    return found, i


# ---------------------------------------------------------------- the module tree


@dataclass
class Module:
    path: tuple
    file: Path
    children: dict = field(default_factory=dict)  # name -> module path
    bindings: dict = field(default_factory=dict)  # name -> (here, segments)


@dataclass
class Reference:
    """A path written in `file` at `line`, inside module `here`."""

    file: Path
    line: int
    here: tuple
    segments: tuple


class Crate:
    """A crate's modules and the paths its files write."""

    def __init__(self, root_file):
        root_file = Path(root_file)
        self.modules = {}
        self.references = []
        self.files = []
        self._read_file(root_file, (), root_file.parent)

    def _read_file(self, file, path, child_dir):
        try:
            text = file.read_text()
        except OSError as error:
            raise SourceError(f"{file}: {error.strerror}") from error
        self.files.append(file)
        self.modules[path] = Module(path, file)
        _FileReader(self, file, text, path, child_dir).read()

    def declare(self, parent, name, directory, file, line):
        candidates = [directory / f"{name}.rs", directory / name / "mod.rs"]
        existing = [candidate for candidate in candidates if candidate.is_file()]
        if not existing:
            raise SourceError(
                f"{file}:{line}: mod {name}; has no file ({candidates[0]} or {candidates[1]})"
            )
        child_file = existing[0]
        child = parent + (name,)
        self.modules[parent].children[name] = child
        child_dir = child_file.parent if child_file.name == "mod.rs" else child_file.parent / name
        self._read_file(child_file, child, child_dir)

    # ------------------------------------------------------------ resolving paths

    def resolve(self, here, segments, seen=None):
        """The module path `segments`, written in module `here`, lands in; None when it leaves
        the crate (another crate, the prelude, a local name)."""
        seen = set() if seen is None else seen
        if not segments or segments[0] == "::":
            return None
        key = (here, segments)
        if key in seen:
            return None
        seen.add(key)
        first, rest = segments[0], list(segments[1:])
        if first == "crate":
            current = ()
        elif first in ("self", "super"):
            current = here
            rest = list(segments)
            while rest and rest[0] in ("self", "super"):
                if rest.pop(0) == "super":
                    current = current[:-1]
        elif first in self.modules[here].children:
            current = self.modules[here].children[first]
        elif first in self.modules[here].bindings:
            origin, target = self.modules[here].bindings[first]
            if target == segments[:1]:  # `use x;` of another crate
                return None
            return self._through_binding(origin, target, rest, seen)
        else:
            return None
        while rest:
            name = rest[0]
            module = self.modules[current]
            if name in module.children:
                current = module.children[name]
                rest.pop(0)
            elif name in module.bindings:
                origin, target = module.bindings[name]
                return self._through_binding(origin, target, rest[1:], seen)
            else:
                break
        return current

    def _through_binding(self, origin, target, rest, seen):
        return self.resolve(origin, tuple(target) + tuple(rest), seen)

    def edges(self):
        """{(from file, to file): first (line, path text)} over every path between two files."""
        found = {}
        for reference in self.references:
            target = self.resolve(reference.here, reference.segments)
            if target is None:
                continue
            to_file = self.modules[target].file
            if to_file == reference.file:
                continue
            key = (reference.file, to_file)
            evidence = (reference.line, "::".join(reference.segments))
            if key not in found or evidence < found[key]:
                found[key] = evidence
        return found


class _FileReader:
    """Walks one file's tokens, keeping track of the module and test code it is in."""

    def __init__(self, crate, file, text, path, child_dir):
        self.crate = crate
        self.file = file
        stripped, path_strings = strip(text)
        self.toks = tokens(stripped, path_strings)
        self.newlines = [k for k, c in enumerate(text) if c == "\n"]
        # The enclosing blocks: (inline module path, or None for any other block; the directory
        # of its child modules' files; whether it is test code).
        self.stack = [(path, child_dir, False)]
        self.test_attribute = False  # a #[cfg(test)] waits for its item

    def line_of(self, offset):
        return bisect.bisect_left(self.newlines, offset) + 1

    def here(self):
        return next(entry[0] for entry in reversed(self.stack) if entry[0] is not None)

    def in_test(self):
        return self.test_attribute or any(entry[2] for entry in self.stack)

    def text(self, i):
        return self.toks[i].text if 0 <= i < len(self.toks) else ""

    def read(self):
        i = 0
        while i < len(self.toks):
            token = self.toks[i]
            if token.path_string:
                if not self.in_test():
                    self.refer(token.offset, tuple(token.text.split("::")))
                i += 1
            elif token.text == "#" and self.text(i + 1) in ("[", "!"):
                i = self.attribute(i)
            elif (
                token.text == "mod"
                and IDENT.fullmatch(self.text(i + 1))
                and self.text(i + 2) in (";", "{")
            ):
                i = self.module(i)
            # (`impl Trait + use<'a>` is precise capturing, not an import)
            elif token.text == "use" and self.text(i - 1) != "::" and self.text(i + 1) != "<":
                i = self.use(i)
            elif token.text == "{":
                self.stack.append((None, None, self.in_test()))
                self.test_attribute = False
                i += 1
            elif token.text in ("}", ";"):
                if token.text == "}" and len(self.stack) > 1:
                    self.stack.pop()
                self.test_attribute = False
                i += 1
            else:
                i = self.path(i)

    def attribute(self, i):
        """Reads `#[…]` or `#![…]`; returns the index after it."""
        start = i + (2 if self.text(i + 1) == "[" else 3)
        depth, j = 1, start
        while j < len(self.toks) and depth:
            depth += {"[": 1, "]": -1}.get(self.toks[j].text, 0)
            j += 1
        inside = self.toks[start : j - 1]
        attribute = " ".join(token.text for token in inside if not token.path_string)
        for token in inside:
            if token.path_string and not self.in_test():
                self.refer(token.offset, tuple(token.text.split("::")))
        if attribute == "cfg ( test )":
            self.test_attribute = True
        elif attribute.startswith("path ="):
            line = self.line_of(self.toks[i].offset)
            raise SourceError(f"{self.file}:{line}: #[path] is not supported")
        return j

    def module(self, i):
        """Reads `mod name;` (the module's file) or opens `mod name {`."""
        name, opens = self.text(i + 1), self.text(i + 2) == "{"
        parent = self.here()
        directory = self.stack[-1][1]
        if opens:
            child = parent + (name,)
            self.crate.modules[parent].children[name] = child
            self.crate.modules[child] = Module(child, self.file)
            self.stack.append((child, directory / name if directory else None, self.in_test()))
        elif not self.in_test():
            line = self.line_of(self.toks[i].offset)
            if directory is None:
                raise SourceError(f"{self.file}:{line}: mod {name}; inside a block")
            self.crate.declare(parent, name, directory, self.file, line)
        self.test_attribute = False
        return i + 3

    def use(self, i):
        """Reads a `use` item: a path for each leaf of its tree, and the names it binds."""
        end, depth = i + 1, 0
        while end < len(self.toks) and not (self.toks[end].text == ";" and depth == 0):
            depth += {"{": 1, "}": -1}.get(self.toks[end].text, 0)
            end += 1
        if not self.in_test():
            trees, _ = parse_use_tree(self.toks[:end], i + 1, ())
            here = self.here()
            for segments, name, glob in trees:
                self.refer(self.toks[i].offset, segments)
                if name is not None and not glob:
                    self.crate.modules[here].bindings[name] = (here, segments)
        self.test_attribute = False
        return end + 1

    def path(self, i):
        """Reads `a::b::c` starting at token i, if one starts there (not `$crate::…`)."""
        if (
            self.in_test()
            or not IDENT.fullmatch(self.text(i))
            or self.text(i - 1) in ("::", "$")
            or self.text(i + 1) != "::"
        ):
            return i + 1
        segments, j = [self.text(i)], i + 1
        while self.text(j) == "::" and IDENT.fullmatch(self.text(j + 1)):
            segments.append(self.text(j + 1))
            j += 2
        self.refer(self.toks[i].offset, tuple(segments))
        return j

    def refer(self, offset, segments):
        self.crate.references.append(
            Reference(self.file, self.line_of(offset), self.here(), segments)
        )


# ---------------------------------------------------------------- cycles


def strongly_connected(nodes, edges):
    """Tarjan's strongly connected components of the graph, each a sorted list."""
    successors = {node: [] for node in nodes}
    for origin, target in edges:
        successors[origin].append(target)
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for successor in successors[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


@dataclass
class Cycle:
    """Files that import each other, with the first line making each edge among them."""

    files: list
    edges: list  # (from file, line, to file, path text)


def crate_cycles(root_file):
    """The import cycles of the crate whose root file is `root_file`."""
    crate = Crate(root_file)
    edges = crate.edges()
    cycles = []
    for component in strongly_connected(crate.files, edges):
        if len(component) < 2:
            continue
        members = set(component)
        inside = sorted(
            (origin, line, target, text)
            for (origin, target), (line, text) in edges.items()
            if origin in members and target in members
        )
        cycles.append(Cycle(component, inside))
    return cycles


# ---------------------------------------------------------------- the workspace


def workspace_crates(root):
    """(label, root file) of every target of every workspace member."""
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    members = set(metadata["workspace_members"])
    crates = []
    for package in metadata["packages"]:
        if package["id"] not in members:
            continue
        for target in package["targets"]:
            label = f"{package['name']} ({'/'.join(target['kind'])} {target['name']})"
            crates.append((label, Path(target["src_path"])))
    return sorted(crates, key=lambda crate: str(crate[1]))


def read_allowlist(path):
    """The allowed cycles, each a frozenset of root-relative files."""
    allowed = []
    for line in Path(path).read_text().splitlines():
        files = line.split("#", 1)[0].split()
        if files:
            allowed.append(frozenset(files))
    return allowed


def check(root, crates, allowed):
    """(report lines, ok) for `crates` ((label, root file) pairs) under `root`: ok when every
    cycle found is one of `allowed` and every allowed cycle is found."""
    root = Path(root).resolve()
    lines, unexpected, seen = [], 0, set()
    checked = set()
    for label, root_file in crates:
        try:
            cycles = crate_cycles(root_file)
        except SourceError as error:
            lines.append(f"{label}: cannot read: {error}")
            unexpected += 1
            continue
        for cycle in cycles:
            files = [str(Path(file).resolve().relative_to(root)) for file in cycle.files]
            key = frozenset(files)
            if key in checked:
                continue  # the same files in another target (a lib and its bin, …)
            checked.add(key)
            verdict = "allowed" if key in allowed else "NOT ALLOWED"
            if key in allowed:
                seen.add(key)
            else:
                unexpected += 1
            lines.append(f"{label}: import cycle among {len(files)} files ({verdict}):")
            lines.extend(f"  {file}" for file in files)
            for origin, line, target, text in cycle.edges:
                origin = Path(origin).resolve().relative_to(root)
                target = Path(target).resolve().relative_to(root)
                lines.append(f"    {origin}:{line} -> {target}  ({text})")
    for stale in allowed:
        if stale not in seen:
            unexpected += 1
            lines.append(
                "allowlist names a cycle that does not exist (any more, or not with exactly these "
                f"files): {' '.join(sorted(stale))}"
            )
    return lines, unexpected == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=Path(__file__).resolve().parents[2], type=Path)
    parser.add_argument("--allow", type=Path, help="the allowed cycles, one a line")
    args = parser.parse_args(argv)
    allowed = read_allowlist(args.allow) if args.allow else []
    lines, ok = check(args.root, workspace_crates(args.root), allowed)
    for line in lines:
        print(line)
    if ok:
        allowed_note = f" but the {len(allowed)} allowed in {args.allow}" if allowed else ""
        print(f"module cycles: none{allowed_note}")
        return 0
    print(
        "module cycles: a cycle the allowlist does not name, an allowlist entry that names no "
        "cycle, or a crate that cannot be read (see above)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())

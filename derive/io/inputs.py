"""Reading what users give derive: text files that must be regular, UTF-8 and under the size cap of
the work budget, and YAML read strictly (no aliases, no duplicate keys).

A 688-byte YAML file of nested aliases ("billion laughs") expands to gigabytes in a plain
``yaml.safe_load``; ``/dev/zero`` never ends; a Latin-1 file raised UnicodeDecodeError; a mapping
with a key written twice silently kept the last value. Each is now a one-line ``SpecError``.

>>> load_yaml_text("a: 1\\nb: [1, 2]", "spec.yaml")
{'a': 1, 'b': [1, 2]}
"""
from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

from ..core import budget
from ..core.errors import SpecError


def read_text(path, what: str = "file") -> str:
    """The text of a regular UTF-8 file of at most ``max_file_bytes`` bytes."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block us
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file ({what})") from None
    except IsADirectoryError:
        raise SpecError(f"{path} is a folder; give a {what}") from None
    except OSError as e:
        raise SpecError(f"{path}: cannot read ({e.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise SpecError(f"{path} is a folder; give a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(f"{path} is not a regular file (a device, pipe or socket); give a {what}")
        budget.check_file_size(info.st_size, path)
        limit = budget.current().max_file_bytes
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = None
            data = f.read(limit + 1)
        budget.check_file_size(len(data), path)  # it grew while we read it
    except OSError as e:
        raise SpecError(f"{path}: cannot read ({e.strerror})") from None
    finally:
        if fd is not None:
            os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise SpecError(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} on line {line}); "
                        f"save it as UTF-8") from None
    if "\x00" in text:
        raise SpecError(f"{path}: contains NUL bytes; give a text {what}")
    return text.removeprefix("\ufeff")


@functools.lru_cache(maxsize=None)
def _strict_loader(fast: bool = False):
    """The strict loader; ``fast``: on libyaml's C parser (ten times faster: a 10⁵-item list
    took seconds in the pure-Python one), whose aliases ``load_yaml_text`` refuses beforehand."""
    import yaml
    base = yaml.CSafeLoader if fast else yaml.SafeLoader

    class StrictLoader(base):
        """SafeLoader without aliases (they expand: billion laughs) and with duplicate keys refused."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"aliases (*{event.anchor}) are not allowed in derive files; "
                    f"write the value out", event.start_mark)
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        None, None, "a mapping key must be a plain value", key_node.start_mark) from None
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} appears twice (first on line {seen[key]}); "
                        f"keep one", key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep)

        def construct_yaml_int(self, node):
            # counted before int() converts it: past Python's int-string limit int() raises a
            # plain ValueError, and a long integer is the budget's to refuse
            text = str(node.value)
            if len(text) > budget.current().max_digits and \
                    sum(c.isdigit() for c in text) > budget.current().max_digits:
                digits = sum(c.isdigit() for c in text)
                raise budget.BudgetError("max_digits", f"line {node.start_mark.line + 1}: the integer "
                                         f"{text[:20]}… has "
                                         f"{digits} digits, more than the limit max_digits = "
                                         f"{budget.current().max_digits}")
            return super().construct_yaml_int(node)

    StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
    return StrictLoader


def load_yaml_text(text: str, source) -> object:
    """Parse YAML text strictly; errors name the file, line and column."""
    import yaml
    try:
        if getattr(yaml, "__with_libyaml__", False):
            limit, count = budget.current().max_yaml_values, 0
            for event in yaml.parse(text, Loader=yaml.CSafeLoader):  # C: aliases found first
                count += 1
                if count > limit:  # before the (pure-Python) construction of each value
                    raise budget.BudgetError(
                        "max_yaml_values", f"line {event.start_mark.line + 1}: the file holds more "
                        f"than {limit} values, the limit max_yaml_values")
                if isinstance(event, yaml.AliasEvent):
                    raise yaml.composer.ComposerError(
                        None, None, f"aliases (*{event.anchor}) are not allowed in derive files; "
                        f"write the value out", event.start_mark)
            return yaml.load(text, Loader=_strict_loader(fast=True))  # noqa: S506 - a SafeLoader subclass
        return yaml.load(text, Loader=_strict_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"{source}: malformed YAML{where}: {problem}") from None
    except RecursionError:
        raise SpecError(f"{source}: the YAML is nested too deeply") from None
    except budget.BudgetError as e:
        raise e.located(str(source)) from None


def load_yaml_file(path, what: str = "YAML file") -> object:
    return load_yaml_text(read_text(path, what), path)


def load_npz(path, what: str = "answers file") -> dict:
    """The arrays of a numpy ``.npz`` archive, each member limited by what its headers declare
    *before* anything is inflated or allocated: the archive's own size and the sum of its members'
    uncompressed sizes at most ``max_file_bytes`` (a zip bomb inflates 800 MB from 1 MB), every
    array's shape × item size equal to its member's size (a header may declare (10⁵, 10⁵)),
    numbers only (no strings, objects or records), and never a pickle."""
    import zipfile

    import numpy as np
    from numpy.lib import format as npy
    path = Path(path)
    limit = budget.current().max_file_bytes
    try:
        budget.check_file_size(os.stat(path).st_size, path)
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file ({what})") from None
    except IsADirectoryError:
        raise SpecError(f"{path} is a folder; give a {what}") from None
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise SpecError(f"{path}: not a numpy .npz archive of answer arrays ({e})") from None
    out = {}
    with archive:
        members = archive.infolist()
        budget.check_nodes(len(members), f"{path}")
        total = sum(m.file_size for m in members)
        if total > limit:
            raise budget.BudgetError("max_file_bytes", f"{path} inflates to {total} bytes, more than "
                                     f"the limit max_file_bytes = {limit}")
        for member in members:
            key = member.filename.removesuffix(".npy")
            try:
                with archive.open(member) as f:
                    version = npy.read_magic(f)
                    reader = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
                    if reader is None:
                        raise ValueError(f"npy format version {version} is not supported")
                    shape, fortran, dtype = reader(f, max_header_size=10_000)
                    if dtype.kind not in "biuf" or dtype.hasobject or dtype.fields is not None:
                        raise SpecError(f"{path}: array {key!r} holds {dtype} values; answers are "
                                        f"numbers (save them as floats or integers)")
                    count = 1
                    for n in shape:
                        count *= int(n)
                    body = member.file_size - f.tell()
                    if count * dtype.itemsize != body:
                        raise SpecError(f"{path}: array {key!r} declares shape {tuple(shape)} "
                                        f"({count * dtype.itemsize} bytes) but holds {body} bytes")
                    data = f.read(body)
                    if len(data) != body:
                        raise SpecError(f"{path}: array {key!r} is truncated")
                    array = np.frombuffer(data, dtype=dtype)
                    out[key] = (array.reshape(shape[::-1]).T if fortran else array.reshape(shape)).copy()
            except SpecError:
                raise
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as e:
                raise SpecError(f"{path}: array {key!r} is not a readable numpy array ({e})") from None
    return out


__all__ = ["read_text", "load_yaml_text", "load_yaml_file", "load_npz"]

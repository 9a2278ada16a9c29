"""Read plain data out of a pickle without unpickling it.

``pickle.load`` runs whatever callables the file names (``os.system`` among
them). This module never does: it walks the opcodes with
:func:`pickletools.genops` and rebuilds only dicts, lists, tuples, strings,
numbers, booleans and None. Anything else (a GLOBAL, an object, a REDUCE) turns
into an :class:`Opaque` placeholder and is dropped by the callers, with one
exception decoded by hand: a NumPy float scalar (``numpy.core.multiarray.scalar``
applied to a ``float64``/``float32`` dtype and its raw bytes), which is how a
Keras History dict often stores its numbers. No module is ever imported.
"""

from __future__ import annotations

import pickletools
import struct
from dataclasses import dataclass, field
from typing import Any

_NUMPY_SCALAR = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}
_NUMPY_DTYPE = {("numpy", "dtype")}
_CODECS_ENCODE = ("_codecs", "encode")  # protocol 2 writes bytes as _codecs.encode(str, "latin1")
_FLOAT_FORMATS = {"f8": "d", "f4": "f"}
MAX_OPCODES = 5_000_000


class UnsafePickle(ValueError):
    """The stream is not a pickle this walker can follow (or it is damaged)."""


@dataclass
class Opaque:
    """Something the walker refused to build (an object, a callable's result).

    ``contents`` keeps the plain data that went into it (call arguments, the
    state given to BUILD), so a dict stored inside, say, a NumPy object array
    can still be found.
    """

    what: str
    contents: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class _Global:
    module: str
    name: str


@dataclass
class _DType:
    code: str            # "f8", "f4", ...
    byte_order: str = "<"


class _Mark:
    pass


def _sequence(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def safe_load(data: bytes) -> Any:
    """The pickled value with every non-data part replaced by :class:`Opaque`.

    Raises UnsafePickle when the bytes are not a well-formed pickle.
    """
    walker = _Walker()
    try:
        for count, (opcode, arg, _pos) in enumerate(pickletools.genops(data)):
            if count > MAX_OPCODES:
                raise UnsafePickle("the pickle is too long")
            if opcode.name == "STOP":
                return walker.pop()
            walker.step(opcode.name, arg)
    except UnsafePickle:
        raise
    except (ValueError, IndexError, KeyError, TypeError, struct.error, RecursionError) as exc:
        raise UnsafePickle(f"not a readable pickle ({type(exc).__name__}: {exc})") from None
    raise UnsafePickle("the pickle has no STOP opcode (truncated)")


class _Walker:
    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}

    # ------------------------------------------------------------ stack
    def push(self, value: Any) -> None:
        self.stack.append(value)

    def pop(self) -> Any:
        if not self.stack:
            raise UnsafePickle("stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        """Items pushed since the last MARK, the MARK removed."""
        for index in range(len(self.stack) - 1, -1, -1):
            if isinstance(self.stack[index], _Mark):
                items = self.stack[index + 1:]
                del self.stack[index:]
                return items
        raise UnsafePickle("MARK missing")

    # ------------------------------------------------------------- step
    def step(self, name: str, arg: Any) -> None:
        handler = getattr(self, f"op_{name}", None)
        if handler is not None:
            handler(arg)
        elif name in _PUSH_ARG:
            self.push(arg)
        elif name in _PUSH_CONSTANT:
            self.push(_PUSH_CONSTANT[name])
        elif name in _IGNORED:
            return
        else:
            raise UnsafePickle(f"opcode {name} is not supported")

    def op_MARK(self, _arg: Any) -> None:
        self.push(_Mark())

    def op_POP(self, _arg: Any) -> None:
        self.pop()

    def op_POP_MARK(self, _arg: Any) -> None:
        self.pop_mark()

    def op_DUP(self, _arg: Any) -> None:
        self.push(self.stack[-1])

    # containers
    def op_EMPTY_DICT(self, _arg: Any) -> None:
        self.push({})

    def op_EMPTY_LIST(self, _arg: Any) -> None:
        self.push([])

    def op_EMPTY_TUPLE(self, _arg: Any) -> None:
        self.push(())

    def op_EMPTY_SET(self, _arg: Any) -> None:
        self.push([])  # a set is data too; a list keeps it hashable-free

    def op_DICT(self, _arg: Any) -> None:
        items = self.pop_mark()
        self.push(self._pairs_into({}, items))

    def op_LIST(self, _arg: Any) -> None:
        self.push(self.pop_mark())

    def op_TUPLE(self, _arg: Any) -> None:
        self.push(tuple(self.pop_mark()))

    def op_FROZENSET(self, _arg: Any) -> None:
        self.push(self.pop_mark())

    def op_TUPLE1(self, _arg: Any) -> None:
        self.push((self.pop(),))

    def op_TUPLE2(self, _arg: Any) -> None:
        second = self.pop()
        self.push((self.pop(), second))

    def op_TUPLE3(self, _arg: Any) -> None:
        third, second = self.pop(), self.pop()
        self.push((self.pop(), second, third))

    def op_APPEND(self, _arg: Any) -> None:
        value = self.pop()
        target = self.stack[-1]
        if isinstance(target, list):
            target.append(value)

    def op_APPENDS(self, _arg: Any) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if isinstance(target, list):
            target.extend(items)

    op_ADDITEMS = op_APPENDS

    def op_SETITEM(self, _arg: Any) -> None:
        value, key = self.pop(), self.pop()
        target = self.stack[-1]
        if isinstance(target, dict):
            self._pairs_into(target, [key, value])

    def op_SETITEMS(self, _arg: Any) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if isinstance(target, dict):
            self._pairs_into(target, items)

    @staticmethod
    def _pairs_into(target: dict[Any, Any], items: list[Any]) -> dict[Any, Any]:
        for key, value in zip(items[0::2], items[1::2]):
            if isinstance(key, (str, int, float, bool)) or key is None:
                target[key] = value
        return target

    # memo
    def op_MEMOIZE(self, _arg: Any) -> None:
        self.memo[len(self.memo)] = self.stack[-1]

    def op_PUT(self, arg: Any) -> None:
        self.memo[int(arg)] = self.stack[-1]

    op_BINPUT = op_PUT
    op_LONG_BINPUT = op_PUT

    def op_GET(self, arg: Any) -> None:
        self.push(self.memo[int(arg)])

    op_BINGET = op_GET
    op_LONG_BINGET = op_GET

    # callables: recorded, never resolved
    def op_GLOBAL(self, arg: Any) -> None:
        module, _, name = str(arg).partition(" ")
        self.push(_Global(module, name))

    def op_STACK_GLOBAL(self, _arg: Any) -> None:
        name, module = self.pop(), self.pop()
        self.push(_Global(str(module), str(name)) if isinstance(module, str) and isinstance(name, str) else Opaque("global"))

    def op_REDUCE(self, _arg: Any) -> None:
        args, func = self.pop(), self.pop()
        self.push(_reduce(func, args))

    def op_NEWOBJ(self, _arg: Any) -> None:
        args, _cls = self.pop(), self.pop()
        self.push(Opaque("object", [args]))

    def op_NEWOBJ_EX(self, _arg: Any) -> None:
        kwargs, args, _cls = self.pop(), self.pop(), self.pop()
        self.push(Opaque("object", [args, kwargs]))

    def op_OBJ(self, _arg: Any) -> None:
        self.push(Opaque("object", self.pop_mark()[1:]))

    def op_INST(self, _arg: Any) -> None:
        self.push(Opaque("object", self.pop_mark()))

    def op_BUILD(self, _arg: Any) -> None:
        state = self.pop()
        target = self.stack[-1]
        if isinstance(target, _DType):
            order = _sequence(state)[1:2]
            target.byte_order = order[0] if order and isinstance(order[0], str) else target.byte_order
        elif isinstance(target, Opaque):
            target.contents.append(state)

    def op_PERSID(self, _arg: Any) -> None:
        self.push(Opaque("persistent id"))

    def op_BINPERSID(self, _arg: Any) -> None:
        self.pop()
        self.push(Opaque("persistent id"))

    def op_EXT1(self, _arg: Any) -> None:
        self.push(Opaque("extension"))

    op_EXT2 = op_EXT1
    op_EXT4 = op_EXT1

    def op_NEXT_BUFFER(self, _arg: Any) -> None:
        self.push(Opaque("out-of-band buffer"))


def _reduce(func: Any, args: Any) -> Any:
    """The few calls whose result is plain data, computed here without calling anything."""
    args = _sequence(args)
    if not isinstance(func, _Global):
        return Opaque("call")
    key = (func.module, func.name)
    if key in _NUMPY_DTYPE and args and isinstance(args[0], str):
        return _DType(args[0])
    if key in _NUMPY_SCALAR and len(args) == 2 and isinstance(args[0], _DType) and isinstance(args[1], bytes):
        return _numpy_float(args[0], args[1])
    if key == _CODECS_ENCODE and len(args) == 2 and isinstance(args[0], str) and args[1] == "latin1":
        return args[0].encode("latin-1")
    return Opaque(f"{func.module}.{func.name}", [args])


def _numpy_float(dtype: _DType, payload: bytes) -> float | Opaque:
    code = _FLOAT_FORMATS.get(dtype.code)
    if code is None or struct.calcsize(code) != len(payload):
        return Opaque(f"numpy scalar {dtype.code}")
    endian = ">" if dtype.byte_order == ">" else "<"
    return struct.unpack(endian + code, payload)[0]


_PUSH_ARG = {
    "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE",
    "STRING", "BINSTRING", "SHORT_BINSTRING",
    "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
    "BINFLOAT", "FLOAT",
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
}
_PUSH_CONSTANT: dict[str, Any] = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_IGNORED = {"PROTO", "FRAME", "READONLY_BUFFER"}

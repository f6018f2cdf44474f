"""Record: frozen-dataclass semantics without importing ``dataclasses`` at start-up.

Why: ``dataclasses`` pulls in ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``) and generates
code with ``exec`` for every class; for the nine models that cost ~35 ms of portctl's start-up,
more than the whole rest of the CLI. A Record subclass is declared like a dataclass (annotated
fields, defaults, ``field(default_factory=...)``), is immutable, compares and hashes by value, and
type checkers treat it as a dataclass (PEP 681 ``dataclass_transform``). ``dataclasses.fields``,
``asdict`` and ``replace`` keep working: ``__dataclass_fields__`` is built on first use, from a
twin made by ``dataclasses.make_dataclass``. Every public annotation is a field (a class-level
constant goes without an annotation, or with a leading underscore).

This module imports nothing at run time.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, TypeVar, dataclass_transform

    T = TypeVar("T")
    R = TypeVar("R", bound="Record")
else:
    def dataclass_transform(**_kw: object) -> object:
        return lambda cls: cls


_MISSING = object()


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is made fresh for each instance (like dataclasses.field)."""
    return _Factory(default_factory)  # type: ignore[return-value]


class _LazyDataclassFields:
    """``__dataclass_fields__`` for the dataclasses module's functions, built on first access
    by ``dataclasses.make_dataclass`` (its public API: no private field markers copied)."""

    def __get__(self, obj: object, cls: type[Record]) -> dict[str, Any]:
        cached = cls.__dict__.get("_dc_fields")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        import dataclasses

        specs: list[Any] = []
        for name in cls._fields:
            default = cls._defaults.get(name, _MISSING)
            kind = cls._annotations.get(name, "")
            if isinstance(default, _Factory):
                specs.append((name, kind, dataclasses.field(default_factory=default.make)))
            elif default is _MISSING:
                specs.append((name, kind))
            else:
                specs.append((name, kind, dataclasses.field(default=default)))
        twin = dataclasses.make_dataclass(cls.__name__, specs, frozen=True)
        out: dict[str, Any] = {f.name: f for f in dataclasses.fields(twin)}
        cls._dc_fields = out  # type: ignore[attr-defined]
        return out


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Record:
    """Base class: subclasses list their fields as annotations, with optional defaults."""

    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _annotations: ClassVar[dict[str, Any]] = {}
    __dataclass_fields__: ClassVar[Any] = _LazyDataclassFields()
    __dataclass_params__: ClassVar[Any] = None

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        annotations: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            own = klass.__dict__.get("__annotations__", {})  # noqa: RUF063 (no inspect import)
            for name, ann in own.items():
                if name.startswith("_"):  # class-level constants: no annotation, or _private
                    continue
                annotations[name] = ann
                if name in klass.__dict__:
                    defaults[name] = klass.__dict__[name]
                else:
                    defaults.pop(name, None)
        cls._fields = tuple(annotations)
        cls._defaults = defaults
        cls._annotations = annotations
        cls._dc_fields = None  # type: ignore[attr-defined]
        for name in cls._fields:  # instance values live in __dict__; drop class-level defaults
            if name in cls.__dict__:
                delattr(cls, name)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if len(args) > len(cls._fields):
            raise TypeError(f"{cls.__name__}() takes {len(cls._fields)} positional arguments")
        values = dict(zip(cls._fields, args, strict=False))
        for name, value in kwargs.items():
            if name not in cls._defaults and name not in cls._fields:
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {name!r}")
            if name in values:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
            values[name] = value
        for name in cls._fields:
            if name not in values:
                default = cls._defaults.get(name, _MISSING)
                if default is _MISSING:
                    raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
                values[name] = default.make() if isinstance(default, _Factory) else default
        object.__setattr__(self, "__dict__", values)
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen; use .replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={self.__dict__[n]!r}" for n in self._fields)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(_hashable(self.__dict__[n]) for n in self._fields))

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "__dict__", dict(state))

    def replace(self: R, **changes: Any) -> R:
        """A copy with some fields changed (dataclasses.replace)."""
        return type(self)(**{**self.__dict__, **changes})

    def fields_dict(self) -> dict[str, Any]:
        """The fields and their values, shallow (nested records stay records)."""
        return {n: self.__dict__[n] for n in self._fields}


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_plain(value: Any) -> Any:
    """Records, tuples and lists of them -> dicts and lists, recursively (dataclasses.asdict).

    Scalars are copied without a recursive call: this runs for every allocation the API returns
    and every audit entry, so it is on the hot path."""
    if isinstance(value, Record):
        d = value.__dict__
        return {n: d[n] if type(d[n]) in _SCALARS else to_plain(d[n]) for n in value._fields}
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _SCALARS else to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: v if type(v) in _SCALARS else to_plain(v) for k, v in value.items()}
    return value

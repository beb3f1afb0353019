"""Entry-point plugin loading for catalogs and solvers.

Groups: ``boute.gpus``, ``boute.models``, ``boute.prices`` (each entry point names a
callable returning an iterable of catalog objects, or the iterable itself) and
``boute.solvers`` (each names a solver class). Built-ins are registered the same way
as third-party plugins, in boute's own ``pyproject.toml``.

Rules: a duplicate name is an error naming both sources; a plugin that fails to
import is recorded in :attr:`Catalog.problems` by name and skipped, and the rest
still load.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import attrs

from boute.engine.catalog import GPUType, LLMSpec, PriceEntry
from boute.engine.errors import BouteError, CatalogError, InputError, PluginError, did_you_mean

__all__ = ["Catalog", "load_catalog", "load_solver_classes", "GROUPS"]

log = logging.getLogger(__name__)

GROUPS = {"gpus": "boute.gpus", "models": "boute.models", "prices": "boute.prices"}
SOLVER_GROUP = "boute.solvers"


def _describe(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    dist_name = getattr(dist, "name", None) or "?"
    return f"entry point '{ep.name}' = {ep.value} (package {dist_name})"


def _load_group(group: str, expected: type, problems: list[str], eps: Iterable[EntryPoint] | None = None):
    """Load every entry point of ``group``; yield (object, source description)."""
    for ep in sorted(eps if eps is not None else entry_points(group=group), key=lambda e: (e.name, e.value)):
        where = _describe(ep)
        try:
            target = ep.load()
            items = target() if callable(target) else target
            items = list(items)
        except BouteError as exc:  # a catalog object failed its own validation
            problems.append(f"{group}: {where} rejected: {exc.one_line()}")
            log.warning("plugin %s rejected: %s", where, exc.one_line())
            continue
        except Exception as exc:  # noqa: BLE001 - any plugin failure is reported, not fatal
            problems.append(f"{group}: {where} failed to load: {type(exc).__name__}: {exc}")
            log.warning("plugin %s failed to load: %s", where, exc)
            continue
        for item in items:
            if not isinstance(item, expected):
                problems.append(f"{group}: {where} returned a {type(item).__name__}, not a {expected.__name__}; skipped")
                continue
            yield item, where


@attrs.frozen(kw_only=True)
class Catalog:
    """Every GPU type, LLM and price the installed plugins provide."""

    gpus: dict[str, GPUType]
    models: dict[str, LLMSpec]
    prices: tuple[PriceEntry, ...]
    sources: dict[str, str]
    """``kind:name`` -> the entry point that provided it."""
    problems: tuple[str, ...] = ()
    """Plugins that failed to load, by name (they were skipped)."""

    @classmethod
    def from_objects(
        cls,
        gpus: Iterable[GPUType] = (),
        models: Iterable[LLMSpec] = (),
        prices: Iterable[PriceEntry] = (),
        source: str = "in-memory",
    ) -> "Catalog":
        """Build a catalog from objects (tests, other schedulers); duplicates are errors."""
        return _assemble([(g, source) for g in gpus], [(m, source) for m in models], [(p, source) for p in prices], [])

    def _lookup(self, kind: str, table: dict[str, Any], name: str, field: str):
        if name in table:
            return table[name]
        key = _norm(name)
        for obj in table.values():
            keys = {_norm(obj.name), *(_norm(a) for a in obj.aliases), _norm(getattr(obj, "hf_id", "") or obj.name)}
            if key in keys:
                return obj
        names = list(table) + [a for o in table.values() for a in o.aliases]
        raise InputError(f"{field}: unknown {kind} {name!r}", hint=did_you_mean(name, names))

    def gpu(self, name: str, field: str = "gpu") -> GPUType:
        """The GPU type called ``name`` (canonical name or alias, any case)."""
        return self._lookup("GPU type", self.gpus, name, field)

    def model(self, name: str, field: str = "model") -> LLMSpec:
        """The LLM called ``name`` (canonical name, alias or Hugging Face id)."""
        return self._lookup("model", self.models, name, field)

    @property
    def price_sets(self) -> tuple[str, ...]:
        """Names of the price sets the catalog holds, sorted."""
        return tuple(sorted({p.price_set for p in self.prices}))

    def price(self, gpu: str, price_set: str) -> PriceEntry:
        """The price of ``gpu`` in ``price_set``; a clear error if the set lacks it."""
        if price_set not in self.price_sets:
            raise InputError(f"price_set: unknown price set {price_set!r}", hint=did_you_mean(price_set, self.price_sets))
        for p in self.prices:
            if p.price_set == price_set and p.gpu == gpu:
                return p
        have = sorted(p.gpu for p in self.prices if p.price_set == price_set)
        raise InputError(
            f"price_set: {price_set!r} has no price for GPU {gpu!r}",
            hint=f"it prices {', '.join(have)}; add price_overrides: {{{gpu}: <USD per GPU-hour>}} or pick another set",
        )


def _norm(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum())


def _assemble(gpus, models, prices, problems) -> Catalog:
    sources: dict[str, str] = {}
    tables: dict[str, dict] = {"gpu": {}, "model": {}}
    for kind, items in (("gpu", gpus), ("model", models)):
        seen_names: dict[str, str] = {}
        for obj, where in items:
            for key in (obj.name, *obj.aliases, *((obj.hf_id,) if kind == "model" else ())):
                k = _norm(key)
                if k in seen_names and seen_names[k] != obj.name:
                    raise PluginError(
                        f"duplicate {kind} name {key!r}: registered by {sources[f'{kind}:{seen_names[k]}']} and by {where}",
                        hint="rename one of them or uninstall one plugin",
                    )
            if obj.name in tables[kind]:
                raise PluginError(
                    f"duplicate {kind} name {obj.name!r}: registered by {sources[f'{kind}:{obj.name}']} and by {where}",
                    hint="rename one of them or uninstall one plugin",
                )
            for key in (obj.name, *obj.aliases, *((obj.hf_id,) if kind == "model" else ())):
                seen_names[_norm(key)] = obj.name
            tables[kind][obj.name] = obj
            sources[f"{kind}:{obj.name}"] = where
    price_list: list[PriceEntry] = []
    seen_prices: dict[tuple[str, str], str] = {}
    for p, where in prices:
        key = (p.price_set, p.gpu)
        if key in seen_prices:
            raise PluginError(
                f"duplicate price for {p.gpu!r} in set {p.price_set!r}: from {seen_prices[key]} and from {where}",
                hint="each price set holds one price per GPU type",
            )
        if p.gpu not in tables["gpu"]:
            problems.append(f"prices: {where} prices unknown GPU {p.gpu!r} in set {p.price_set!r}; skipped")
            continue
        seen_prices[key] = where
        price_list.append(p)
        sources[f"price:{p.price_set}/{p.gpu}"] = where
    return Catalog(
        gpus=dict(sorted(tables["gpu"].items())),
        models=dict(sorted(tables["model"].items())),
        prices=tuple(sorted(price_list, key=lambda p: (p.price_set, p.gpu))),
        sources=sources,
        problems=tuple(problems),
    )


@functools.cache
def load_catalog() -> Catalog:
    """Load every installed catalog plugin (cached for the process)."""
    problems: list[str] = []
    gpus = list(_load_group(GROUPS["gpus"], GPUType, problems))
    models = list(_load_group(GROUPS["models"], LLMSpec, problems))
    prices = list(_load_group(GROUPS["prices"], PriceEntry, problems))
    if not gpus or not models:
        raise CatalogError(
            "no GPU types or no models are installed (the boute.gpus / boute.models entry points are empty)",
            hint="install boute with 'pip install -e .' so its entry points are registered",
        )
    return _assemble(gpus, models, prices, problems)


def load_solver_classes() -> tuple[dict[str, Callable[..., Any]], tuple[str, ...]]:
    """Solver classes registered under ``boute.solvers`` and the load problems."""
    problems: list[str] = []
    found: dict[str, Callable[..., Any]] = {}
    where: dict[str, str] = {}
    for ep in sorted(entry_points(group=SOLVER_GROUP), key=lambda e: e.name):
        try:
            cls = ep.load()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{SOLVER_GROUP}: {_describe(ep)} failed to load: {type(exc).__name__}: {exc}")
            continue
        if ep.name in found:
            raise PluginError(
                f"duplicate solver name {ep.name!r}: registered by {where[ep.name]} and by {_describe(ep)}",
                hint="rename one of them or uninstall one plugin",
            )
        found[ep.name] = cls
        where[ep.name] = _describe(ep)
    return found, tuple(problems)

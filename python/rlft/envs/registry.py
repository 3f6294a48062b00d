"""Name -> env factory. ``make`` turns keyword options into the env's config dataclass, so an
unknown option is an error that names it, before anything is built."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

_REGISTRY: dict[str, "EnvEntry"] = {}


@dataclass(frozen=True)
class EnvEntry:
    name: str
    config_class: type
    env_class: Callable[..., Any]
    description: str


def register(name: str, config_class: type, env_class: Callable[..., Any], description: str,
             aliases: tuple[str, ...] = ()) -> None:
    entry = EnvEntry(name, config_class, env_class, description)
    for key in (name, *aliases):
        _REGISTRY[key] = entry


def registered() -> dict[str, EnvEntry]:
    return dict(_REGISTRY)


def make(name: str, num_envs: int = 1, seed: int = 0, num_threads: int = 1,
         config: Any = None, **options: Any) -> Any:
    """Builds a vectorised env: ``make("mab", num_envs=64, seed=0, num_arms=10)``.

    Options are the fields of the env's config dataclass; alternatively pass a ready
    ``config`` (options then override its fields).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown env {name!r}; known envs: {sorted(_REGISTRY)}")
    entry = _REGISTRY[name]
    fields = {f.name for f in dataclasses.fields(entry.config_class)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for env {name!r}; "
                        f"known options: {sorted(fields)}")
    if config is None:
        config = entry.config_class(**options)
    else:
        if not isinstance(config, entry.config_class):
            raise TypeError(f"config for env {name!r} must be a {entry.config_class.__name__}, "
                            f"got {type(config).__name__}")
        config = dataclasses.replace(config, **options)
    return entry.env_class(config, num_envs=num_envs, seed=seed, num_threads=num_threads)

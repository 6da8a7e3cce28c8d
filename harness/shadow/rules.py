"""Per-tag tolerances of a shadow diff, from a TOML rules file.

```toml
[default]                 # every tag; each key optional
abs_tol = 1e-9            # value units, on top of the tag's CompDev + ExcDev
rel_tol = 1e-9            # fraction of |value|
skew_s = 0.5              # clock skew between the writers that is not a discrepancy
max_offset_s = 10.0       # how far a constant time offset is searched for
max_mismatch_fraction = 0 # share of compared points allowed outside tolerance
comp_max_s = 600.0        # the legacy's CompMax: longer silences are gaps on a lossy tag
min_run_s = 5.0           # shortest stretch reported as a gap or a stuck sensor
rollup_rel_tol = 1e-6     # rollup average agreement (relative)

[tags."acme.*.tubing_pressure"]   # glob on the catalogue path; later tables win
abs_tol = 0.5
```

A tag's effective rules are ``[default]`` overlaid by every ``[tags.GLOB]`` table
that matches its path, in file order.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RuleSet", "Rules", "RulesError"]


class RulesError(ValueError):
    """The rules file is unreadable or names an unknown key; the message says which."""


@dataclass(frozen=True)
class Rules:
    abs_tol: float = 1e-9
    rel_tol: float = 1e-9
    skew_s: float = 0.5
    max_offset_s: float = 10.0
    max_mismatch_fraction: float = 0.0
    comp_max_s: float = 600.0
    min_run_s: float = 5.0
    rollup_rel_tol: float = 1e-6

    def overlaid(self, table: dict[str, Any], where: str) -> Rules:
        known = {f.name for f in dataclasses.fields(self)}
        for key, value in table.items():
            if key not in known:
                raise RulesError(
                    f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(known))}"
                )
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise RulesError(f"{where}: {key} = {value!r} must be a number >= 0")
        return dataclasses.replace(self, **{k: float(v) for k, v in table.items()})


@dataclass(frozen=True)
class RuleSet:
    default: Rules = Rules()
    patterns: tuple[tuple[str, dict[str, Any]], ...] = ()

    @classmethod
    def load(cls, path: str | Path) -> RuleSet:
        try:
            doc = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise RulesError(f"cannot read rules file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise RulesError(f"rules file {path} is not valid TOML: {exc}") from None
        extra = set(doc) - {"default", "tags"}
        if extra:
            raise RulesError(
                f"rules file {path}: unknown table(s) {sorted(extra)}; "
                'use [default] and [tags."GLOB"]'
            )
        default = Rules().overlaid(doc.get("default", {}), f"{path} [default]")
        patterns = tuple((str(g), dict(t)) for g, t in doc.get("tags", {}).items())
        for glob, table in patterns:
            default.overlaid(table, f"{path} [tags.{glob!r}]")  # validate early
        return cls(default, patterns)

    def for_tag(self, name: str) -> Rules:
        rules = self.default
        for glob, table in self.patterns:
            if fnmatch.fnmatchcase(name, glob):
                rules = rules.overlaid(table, glob)
        return rules

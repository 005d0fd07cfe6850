"""Rule sets: Sigma YAML files → compiled SQL, cached by the files' content.

    >>> rs = load_ruleset()                      # the shipped pack    # doctest: +SKIP
    >>> [r.title for r in rs.rules if r.reason]  # what did not compile

A :class:`RuleSQL` is everything a run needs, as plain data (JSON in the cache): the
rule's metadata (id, title, level, author, source file), and either its condition as SQL
over one detection view, its correlation (type, referenced rules, group-by, window), or
the reason it cannot run.  Compiling is pySigma parsing plus :mod:`.compile`; it is
done once per distinct set of rule files (``$XDG_CACHE_HOME/knox/detect/<key>.json``).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from knox_analytics.errors import InputError, UsageError
from knox_analytics.store.cache import cache_key

#: Sigma levels, lowest first (``--fail-on``).
LEVELS = ("informational", "low", "medium", "high", "critical")
#: group-by names knox understands beyond a category's fields: the scopes.
SCOPES = {"Host": "host", "Session": "sid", "LogonId": "sid", "ProcessInstance": "instance",
          "ProcessTree": "tree", "ProcessId": "pid", "User": "effective_user",
          "LoginUser": "login_user", "DestinationIp": "destination_ip",
          "SourceIp": "source_ip", "Image": "image", "TargetFilename": "target_filename"}
#: Correlation types knox runs.
CORRELATIONS = ("event_count", "value_count", "temporal", "temporal_ordered")
_COMPILER_VERSION = "1"


@dataclass
class RuleSQL:
    """One rule, compiled (``where`` or ``correlation``) or not (``reason``)."""

    key: str  # unique within the set: the rule's id, else its name, else file#n
    title: str
    level: str
    author: str
    path: str
    rule_id: str | None = None
    name: str | None = None
    view: str | None = None
    where: str | None = None
    columns: list[str] = field(default_factory=list)
    lowered: list[str] = field(default_factory=list)
    correlation: dict[str, Any] | None = None
    reason: str | None = None
    alerts: bool = True  # False: only feeds a correlation (Sigma `generate: false`)

    @property
    def compiled(self) -> bool:
        return self.reason is None


@dataclass
class RuleSet:
    """Compiled rules in dependency order (a correlation after the rules it reads)."""

    key: str
    rules: list[RuleSQL]

    def by_key(self) -> dict[str, RuleSQL]:
        return {r.key: r for r in self.rules}


#: The folders of ``knox_analytics/rules`` that make the default pack (``bsmtrace/`` holds
#: bsmtrace's examples, run with ``--rules``).
PACK = ("sigmahq", "knox")


def pack_dir() -> Path:
    """The shipped rules (``knox_analytics/rules``)."""
    return Path(str(resources.files("knox_analytics") / "rules"))


def rule_files(paths: list[Path] | None = None) -> list[Path]:
    """The ``.yml``/``.yaml`` files of ``paths`` (files or directories, recursively);
    the shipped pack when none are given."""
    out: list[Path] = []
    for p in paths or [pack_dir() / d for d in PACK]:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(x for x in p.rglob("*") if x.suffix in (".yml", ".yaml")
                              and x.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"{p}: no such rule file or directory")
    if not out:
        raise InputError(f"no Sigma rule (.yml) in {', '.join(map(str, paths or []))}")
    return out


def load_ruleset(paths: list[Path] | None = None, *, cache: bool = True) -> RuleSet:
    """Compile the rules of ``paths`` (the pack when None), from the cache when the same
    files were compiled before."""
    files = rule_files(paths)
    texts = [(str(f), f.read_bytes()) for f in files]
    key = cache_key(_COMPILER_VERSION, _compiler_source(),
                    *(f"{n}\0{t.hex()}" for n, t in texts))
    cached = _cache_path(key) if cache else None
    if cached is not None and cached.is_file():
        try:
            data = json.loads(cached.read_text())
            return RuleSet(key, [RuleSQL(**r) for r in data])
        except (ValueError, TypeError):
            pass  # a cache from another version: compile again
    ruleset = RuleSet(key, compile_files(files))
    if cached is not None:
        _write_cache(cached, [asdict(r) for r in ruleset.rules])
    return ruleset


def _compiler_source() -> str:
    here = Path(__file__).parent
    return "".join((here / n).read_text() for n in ("compile.py", "fields.py", "rules.py"))


def _cache_path(key: str) -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "knox" / "detect" / f"{key}.json"


def _write_cache(path: Path, data: list[dict[str, Any]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".rules-", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # no cache: the next run compiles again, nothing is lost


def compile_files(files: list[Path]) -> list[RuleSQL]:
    """Parse ``files`` with pySigma and compile each rule (never raises for one bad rule:
    its ``reason`` says why)."""
    try:
        from sigma.collection import SigmaCollection
        from sigma.correlations import SigmaCorrelationRule
        from sigma.rule import SigmaRule
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise UsageError("knox detect needs pySigma: pip install 'knox-analytics[detect]'"
                         ) from exc

    out: list[RuleSQL] = []
    parsed: list[tuple[Any, Path]] = []
    for f in files:
        try:
            coll = SigmaCollection.from_yaml(f.read_text(), collect_errors=True)
        except Exception as exc:
            out.append(_bad(f, 0, f"not a Sigma rule: {_one_line(exc)}"))
            continue
        for n, rule in enumerate(coll.rules):
            parsed.append((rule, f))
            rule._knox_index = n  # type: ignore[attr-defined]
    names = {}
    for rule, f in parsed:
        for ref in (str(rule.id) if rule.id else None, rule.name):
            if ref:
                names[ref] = _key(rule, f)
    view_cols = _view_columns()
    referenced: dict[str, bool] = {}
    for rule, _f in parsed:
        if isinstance(rule, SigmaCorrelationRule):
            for ref in rule.rules or []:
                k = names.get(ref.reference)
                if k is not None:
                    referenced[k] = referenced.get(k, False) or bool(rule.generate)
    for rule, f in parsed:
        meta = _meta(rule, f)
        if rule.errors:
            meta.reason = f"invalid rule: {_one_line(rule.errors[0])}"
        elif isinstance(rule, SigmaCorrelationRule):
            _correlation(rule, meta, names)
        elif isinstance(rule, SigmaRule):
            _base(rule, meta, view_cols)
        else:
            meta.reason = f"unknown rule kind {type(rule).__name__}"
        if meta.key in referenced:
            meta.alerts = referenced[meta.key]
        out.append(meta)
    return _ordered(out)


def _key(rule: Any, f: Path) -> str:
    if rule.id:
        return str(rule.id)
    if rule.name:
        return str(rule.name)
    return f"{f}#{getattr(rule, '_knox_index', 0)}"


def _meta(rule: Any, f: Path) -> RuleSQL:
    level = str(rule.level.name).lower() if rule.level else "medium"
    return RuleSQL(key=_key(rule, f), title=rule.title or f.stem, level=level,
                   author=rule.author or "", path=_shown_path(f),
                   rule_id=str(rule.id) if rule.id else None, name=rule.name)


def _shown_path(f: Path) -> str:
    """A rule file as alerts name it: ``pack:knox/x.yml`` for a shipped rule."""
    try:
        return "pack:" + f.resolve().relative_to(pack_dir().resolve()).as_posix()
    except ValueError:
        return str(f)


def _bad(f: Path, n: int, reason: str) -> RuleSQL:
    return RuleSQL(key=f"{f}#{n}", title=f.stem, level="medium", author="", path=_shown_path(f),
                   reason=reason)


def _base(rule: Any, meta: RuleSQL, view_cols: dict[str, set[str]]) -> None:
    from knox_analytics.detect.compile import Unsupported, category_of, compile_condition

    try:
        category = category_of(rule.logsource)
        if getattr(rule.detection, "timeframe", None):
            raise Unsupported("timeframe: Sigma v1 aggregation; write a correlation rule")
        wheres, columns, lowered = [], set(), set()
        for cond in rule.detection.parsed_condition:
            tree = cond.parse()
            c = compile_condition(tree, category, view_cols.get(category.view, set()))
            wheres.append(c.where)
            columns |= c.columns
            lowered |= c.lowered
    except Unsupported as exc:
        meta.reason = str(exc)
        return
    except Exception as exc:
        meta.reason = f"condition: {_one_line(exc)}"
        return
    meta.view = category.view
    meta.where = " OR ".join(wheres) if len(wheres) > 1 else wheres[0]
    meta.columns = sorted(columns)
    meta.lowered = sorted(lowered)


def _correlation(rule: Any, meta: RuleSQL, names: dict[str, str]) -> None:
    kind = rule.type.name.lower()
    if kind not in CORRELATIONS:
        meta.reason = f"correlation type {kind}: knox runs {', '.join(CORRELATIONS)}"
        return
    refs = []
    for ref in rule.rules or []:
        k = names.get(ref.reference)
        if k is None:
            meta.reason = f"correlation refers to unknown rule {ref.reference!r}"
            return
        refs.append(k)
    cond = rule.condition
    op = getattr(getattr(cond, "op", None), "name", "GTE").lower()
    count = getattr(cond, "count", None)
    fieldref = getattr(cond, "fieldref", None)
    if kind == "value_count" and not fieldref:
        meta.reason = "value_count needs condition.field"
        return
    across = bool(rule.custom_attributes.get("across-hosts"))
    meta.correlation = {
        "type": kind, "rules": refs, "group_by": list(rule.group_by or []),
        "timespan_ms": int(rule.timespan.seconds) * 1000,
        "op": op, "count": count if count is not None else (len(refs) if kind.startswith(
            "temporal") else 1),
        "field": fieldref if isinstance(fieldref, str) else None,
        "across_hosts": across,
        "aliases": {a: {names.get(str(k.reference), str(k.reference)): v
                        for k, v in al.mapping.items()}
                    for a, al in rule.aliases.aliases.items()},
    }


def _ordered(rules: list[RuleSQL]) -> list[RuleSQL]:
    """Base rules first, then correlations once what they read is placed; a correlation
    whose rules cannot run cannot run either (and says so)."""
    by_key = {r.key: r for r in rules}
    placed: dict[str, RuleSQL] = {}
    pending = [r for r in rules]
    while pending:
        progress = False
        for r in list(pending):
            deps = r.correlation["rules"] if r.correlation else []
            if all(d in placed for d in deps):
                bad = [d for d in deps if not by_key[d].compiled]
                if bad and r.reason is None:
                    r.reason = f"refers to {by_key[bad[0]].title!r}, which does not compile"
                placed[r.key] = r
                pending.remove(r)
                progress = True
        if not progress:
            for r in pending:
                r.reason = r.reason or "correlation rules refer to each other in a circle"
                placed[r.key] = r
            break
    return list(placed.values())


def _view_columns() -> dict[str, set[str]]:
    """Each detection view's columns (a rule may name them directly), from an empty
    catalog."""
    from knox_analytics.catalog import Catalog
    from knox_analytics.detect.views import define_views

    with Catalog() as cat:
        define_views(cat)
        from knox_analytics.detect.fields import CATEGORIES

        return {c.view: set(cat.con.sql(f"SELECT * FROM {c.view} LIMIT 0").columns)
                for c in CATEGORIES.values()}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]

"""Deep merge with provenance: the rules of overlays and stack `extends`.

- mappings merge key by key; `$patch: replace` replaces a mapping whole, `$patch: delete` removes it;
- lists whose items all have a `name` merge by name (an item `name: "*"` applies to every entry);
- any other value replaces the one below it.
Every value taken from the upper document keeps the upper document's location.
"""

from __future__ import annotations

from typing import Any

from kfconf.core.errors import Diagnostic
from kfconf.core.source import PathT, SourceMap

PATCH = "$patch"


def _named(items: list[Any]) -> bool:
    return all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items)


def merge(
    base: Any, base_src: SourceMap, upper: Any, upper_src: SourceMap, path: PathT = (), upath: PathT = ()
) -> tuple[Any, list[Diagnostic]]:
    """Merge `upper` onto `base` at `path`; `base_src` is updated in place with upper's locations."""
    diags: list[Diagnostic] = []
    if isinstance(upper, dict):
        directive = upper.get(PATCH)
        if directive is not None and directive not in ("replace", "delete", "merge"):
            diags.append(Diagnostic("KF304", f"expected $patch: replace, delete or merge, got {directive!r}",
                                    upper_src.at((*upath, PATCH)), (*upath, PATCH)))
        body = {k: v for k, v in upper.items() if k != PATCH} if directive is not None else upper
        if directive == "replace" or not isinstance(base, dict):
            if isinstance(base, dict | list):  # a scalar has no locations below it to drop
                base_src.drop_under(path)
            base_src.graft(path, upper_src, upath)
            return _strip(body), diags
        out = dict(base)
        for k, v in body.items():
            if isinstance(v, dict) and v.get(PATCH) == "delete":
                out.pop(k, None)
                base_src.drop_under((*path, k))
                continue
            below = out.get(k)
            if not isinstance(v, dict | list):  # most overlay values: a scalar replaces what is below
                out[k] = _leaf(below, base_src, v, upper_src, (*path, k), (*upath, k))
                continue
            if below is None:
                # a list or mapping new to the base (or null there) still merges, so `name: "*"` and
                # `$patch` apply to nothing
                below = type(v)()
            out[k], d = merge(below, base_src, v, upper_src, (*path, k), (*upath, k))
            diags.extend(d)
        if upath in upper_src.by_path:
            base_src.by_path.setdefault(path, upper_src.by_path[upath])
        return out, diags
    if isinstance(upper, list) and isinstance(base, list) and upper and _named(upper) and _named(base):
        out_list = list(base)
        index = {item["name"]: i for i, item in enumerate(out_list)}
        for j, item in enumerate(upper):
            name = item["name"]
            targets = list(range(len(out_list))) if name == "*" else [index[name]] if name in index else []
            if item.get(PATCH) == "delete":
                for i in sorted(targets, reverse=True):
                    del out_list[i]
                    _shift_list(base_src, path, i)
                index = {it["name"]: i for i, it in enumerate(out_list)}
                continue
            if not targets:
                if name == "*":
                    continue
                out_list.append(_strip(item))
                index[name] = len(out_list) - 1
                base_src.graft((*path, len(out_list) - 1), upper_src, (*upath, j))
                continue
            patch = {k: v for k, v in item.items() if not (name == "*" and k == "name")}
            for i in targets:
                out_list[i], d = merge(out_list[i], base_src, patch, upper_src, (*path, i), (*upath, j))
                diags.extend(d)
        return out_list, diags
    if isinstance(upper, dict | list):
        if isinstance(base, dict | list):
            base_src.drop_under(path)
        base_src.graft(path, upper_src, upath)
        return _strip(upper), diags
    return _leaf(base, base_src, upper, upper_src, path, upath), diags


def _leaf(base: Any, base_src: SourceMap, upper: Any, upper_src: SourceMap, path: PathT, upath: PathT) -> Any:
    """A scalar from the upper document replaces what is below it; its own location is all it brings."""
    if isinstance(base, dict | list):  # a scalar has no locations below it to drop
        base_src.drop_under(path)
    loc = upper_src.by_path.get(upath)
    if loc is not None:
        base_src.by_path[path] = loc
    return upper


def _strip(value: Any) -> Any:
    """Remove $patch directives from values that land without anything below them."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != PATCH}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _shift_list(src: SourceMap, path: PathT, removed: int) -> None:
    n = len(path)
    moved: dict[PathT, Any] = {}
    for p in list(src.by_path):
        index = p[n] if p[:n] == path and len(p) > n else None
        if isinstance(index, int) and index >= removed:
            loc = src.by_path.pop(p)
            if index > removed:
                moved[(*path, index - 1, *p[n + 1:])] = loc
    src.by_path.update(moved)

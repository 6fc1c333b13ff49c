"""The DAG runner: steps run as soon as the steps they come after are done, in parallel within the
machine's cores; a failed step blocks what depends on it (independent branches go on); a step whose
content hash (its resolved spec + input files + the outputs of the steps before it) matches an earlier
successful run is not run again and its earlier output is reused.

Which steps are cached: data, training, tuning and container steps (they produce outputs). Registry and
serving steps always run: they are quick and act on local state (the registry database, a server) that
may have changed since.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import re
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfconf.core.errors import FindingsError, KfconfError
from kfconf.local.artifacts import hash_json, output_hash
from kfconf.local.context import Outcome, RunSession, StepFailed, StepRun
from kfconf.local.runs import StepLog

CACHE_VERSION = 1
CACHED_SECTIONS = ("data", "training", "tuning", "container")


@dataclass
class Node:
    name: str
    """The step name (a pipeline step, or the entry's name for a single target)."""
    ref: str
    """`SECTION/NAME`, or `container/STEP` for a pipeline's container step."""
    entry: Any
    after: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def section(self) -> str:
        return self.ref.partition("/")[0]


def local_runner(section: str) -> Any:
    """The component's local module (`kfconf.components.<key>.local`), or the container runner."""
    import importlib

    if section == "container":
        return importlib.import_module("kfconf.local.container")
    from kfconf.components import BY_KEY

    comp = BY_KEY.get(section)
    if comp is None or comp.local is None:
        return None
    return importlib.import_module(comp.local.partition(":")[0])


class Cores:
    """A budget of CPU cores shared by the running steps."""

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self.free = self.total
        self._cond = threading.Condition()

    def acquire(self, n: int, cancel: threading.Event) -> int:
        n = max(0, min(n, self.total))
        with self._cond:
            while self.free < n and not cancel.is_set():
                self._cond.wait(0.2)
            self.free -= n
        return n

    def release(self, n: int) -> None:
        with self._cond:
            self.free += n
            self._cond.notify_all()


def _spark_cores(master: str, total: int) -> int:
    m = re.match(r"local\[(\d+|\*)", master)
    if m:
        return total if m.group(1) == "*" else int(m.group(1))
    return 1


def cost(session: RunSession, node: Node, total: int) -> int:
    sec = node.section
    if sec == "data":
        return 1 if session.options.spark_master and not session.options.spark_master.startswith("local") \
            else _spark_cores(session.engines.master, total)
    if sec == "training":
        return int(node.entry.nodes) * int(node.entry.procs_per_node)
    if sec == "tuning":
        return 0 if session.options.ray_address else session.engines.ray_cpus
    if sec == "container":
        return 1
    return 0


def entry_spec(entry: Any) -> Any:
    dump = getattr(entry, "model_dump", None)
    return dump(mode="json", by_alias=True) if dump is not None else entry


def step_key(session: RunSession, node: Node, upstream: Mapping[str, Outcome],
             produced: Mapping[str, Path]) -> str:
    mod = local_runner(node.section)
    fp = getattr(mod, "fingerprint", None)
    parts = {
        "cache": CACHE_VERSION,
        "ref": node.ref,
        "spec": entry_spec(node.entry),
        "params": node.params,
        "inputs": fp(session, node.entry, produced) if fp is not None else {},
        "upstream": {n: o.output_hash or o.key or o.status for n, o in sorted(upstream.items())},
    }
    return hash_json(parts)


def _ancestors(name: str, nodes: Mapping[str, Node]) -> set[str]:
    seen: set[str] = set()
    stack = list(nodes[name].after)
    while stack:
        n = stack.pop()
        if n in seen or n not in nodes:
            continue
        seen.add(n)
        stack.extend(nodes[n].after)
    return seen


def run_dag(session: RunSession, nodes: list[Node],
            on_outcome: Callable[[Node, Outcome], None] | None = None) -> dict[str, Outcome]:
    by_name = {n.name: n for n in nodes}
    total = session.options.max_cores or os.cpu_count() or 1
    cores = Cores(total)
    outcomes: dict[str, Outcome] = {}
    produced: dict[str, Path] = {}
    lock = threading.Lock()
    progress = session.progress

    def finish(node: Node, out: Outcome) -> None:
        with lock:
            outcomes[node.name] = out
            if out.output_dir is not None and out.status in ("done", "cached"):
                produced[node.ref] = out.output_dir
        note = out.message
        if out.status in ("done", "cached") and out.outputs.get("summary"):
            note = str(out.outputs["summary"])
        progress.state(node.name, out.status, note)
        session.run.record(node.name, ref=node.ref, status=out.status, seconds=round(out.seconds, 3),
                           message=out.message, key=out.key, outputDir=str(out.output_dir) if out.output_dir
                           else None, outputs=out.outputs, log=str(session.run.log_path(node.name)))
        if on_outcome is not None:
            on_outcome(node, out)

    def work(node: Node) -> Outcome:
        t0 = time.time()
        log = StepLog(session.run.log_path(node.name), redact=session.secrets.used)
        try:
            return _work(node, log, t0)
        except StepFailed as e:
            log.note(f"failed: {e}")
            return Outcome("failed", message=str(e), seconds=time.time() - t0)
        except FindingsError as e:
            log.note("failed:\n" + str(e))
            first = e.diagnostics[0].render().splitlines()[0] if e.diagnostics else str(e)
            return Outcome("failed", message=first, seconds=time.time() - t0)
        except KfconfError as e:
            log.note(f"failed: {e}")
            return Outcome("failed", message=str(e), seconds=time.time() - t0)
        except Exception as e:
            log.write(traceback.format_exc())
            return Outcome("failed", message=f"{type(e).__name__}: {e}", seconds=time.time() - t0)
        finally:
            log.close()
            if main is not None:
                main.wake()

    def _work(node: Node, log: StepLog, t0: float) -> Outcome:
        mod = local_runner(node.section)
        if mod is None:
            raise StepFailed(f"{node.section} has no local runner")
        with lock:
            upstream = {a: outcomes[a] for a in _ancestors(node.name, by_name) if a in outcomes}
            known = dict(produced)
        cacheable = node.section in CACHED_SECTIONS
        key = step_key(session, node, {a: upstream[a] for a in node.after if a in upstream}, known) \
            if cacheable else None
        log.note(f"step {node.name}: {node.ref}" + (f" (key {key[:16]})" if key else ""))
        if key is not None and session.options.use_cache:
            rec = session.store.lookup(node.ref, key)
            if rec is not None:
                log.note(f"inputs unchanged since run {rec.run_id}: reusing {rec.output_dir}")
                session.store.set_latest(node.ref, key)
                return Outcome("cached", rec.outputs, rec.output_dir, f"from run {rec.run_id}",
                               time.time() - t0, key, rec.output_hash)
        out_dir = session.store.prepare(node.ref, key) if key is not None else session.run.step_dir(node.name)
        step = StepRun(session, node.name, node.ref, node.entry, log, session.run.step_dir(node.name), out_dir,
                       params=node.params, inputs=upstream, produced=known)
        n = cores.acquire(cost(session, node, total), session.cancel)
        try:
            if session.cancel.is_set():
                return Outcome("blocked", message="run stopped", seconds=time.time() - t0)
            progress.state(node.name, "running")
            step.started = time.time()
            result = mod.run(step, node.entry)
        finally:
            cores.release(n)
        result.seconds = time.time() - t0
        if result.status == "done" and key is not None:
            rec = session.store.commit(node.ref, key, result.outputs, session.run.id)
            result.key, result.output_hash, result.output_dir = key, rec.output_hash, rec.output_dir
        elif result.status == "done" and result.output_dir is not None:
            result.output_hash = output_hash(result.output_dir, result.outputs)
        return result

    pending = [n.name for n in nodes]
    running: dict[cf.Future[Outcome], Node] = {}
    main = session.engines.main if session.engines.main is not None and \
        session.engines.main.thread is threading.current_thread() else None
    pool = cf.ThreadPoolExecutor(max_workers=max(1, len(nodes)), thread_name_prefix="kfconf-step")
    try:
        while pending or running:
            for name in list(pending):
                node = by_name[name]
                deps = [d for d in node.after if d in by_name]
                if not all(d in outcomes for d in deps):
                    continue
                pending.remove(name)
                bad = [d for d in deps if not outcomes[d].ok]
                if bad or session.cancel.is_set():
                    why = f"not run: {', '.join(bad)} failed" if bad else "not run: run stopped"
                    finish(node, Outcome("blocked", message=why))
                    continue
                progress.state(name, "waiting")
                running[pool.submit(work, node)] = node
            if not running:
                if pending:  # a dependency on a step that is not in the DAG: cannot happen after checks
                    for name in pending:
                        finish(by_name[name], Outcome("blocked", message="unknown dependency"))
                    pending.clear()
                break
            if main is not None:  # serve the steps' calls that must run on this thread (Ray start-up)
                main.pump(0.5)
            done, _ = cf.wait(list(running), timeout=0 if main is not None else 0.5,
                              return_when=cf.FIRST_COMPLETED)
            for fut in done:
                node = running.pop(fut)
                finish(node, fut.result())
    except BaseException:
        session.cancel.set()
        if main is not None:
            main.close()  # a step waiting on the main thread gets an error instead of waiting forever
        raise
    finally:
        pool.shutdown(wait=not session.cancel.is_set(), cancel_futures=True)
    return outcomes

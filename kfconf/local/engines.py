"""The engines a local run shares between its steps: one Spark session and one Ray runtime.

Both are started on first use and stopped at the end of the run, unless they were already running in this
process when the run started (a test session's shared Spark session, a notebook's Ray) — then they are
reused and left alone. Everything listens on 127.0.0.1 unless `--spark-master` / `--ray-address` points
at an existing cluster.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import queue
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfconf.core.errors import EngineMissing
from kfconf.local.env import LOOPBACK, loopback_env

DEFAULT_SPARK_MASTER = "local[2]"
DEFAULT_RAY_CPUS = 2

_LOCK = threading.RLock()


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def require(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise EngineMissing(f"{what} needs the [local] extra ({module} is not installed: {e}); "
                            "install it with: pip install 'kfconf[local]'")


def apply_loopback_env() -> None:
    for k, v in loopback_env().items():
        os.environ.setdefault(k, v)


def _is_loopback_master(master: str) -> bool:
    if master.startswith("local"):
        return True
    host = master.split("://", 1)[-1].split(":", 1)[0]
    return host in ("127.0.0.1", "localhost")


def spark_conf(master: str, log_config: Path | None, warehouse: Path | None) -> dict[str, str]:
    """The session configuration of a local run (loopback driver, no UI, few shuffle partitions)."""
    conf = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.adaptive.enabled": "true",
    }
    if _is_loopback_master(master):
        conf["spark.driver.host"] = LOOPBACK
        conf["spark.driver.bindAddress"] = LOOPBACK
    if log_config is not None:
        conf["spark.driver.extraJavaOptions"] = f"-Dlog4j.configurationFile=file:{log_config}"
    if warehouse is not None:
        conf["spark.sql.warehouse.dir"] = str(warehouse)
    return conf


LOG4J = """\
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{HH:mm:ss.SSS}} %p %c{{1}}: %m%n
logger.spark.name = org.apache.spark
logger.spark.level = warn
"""


@contextlib.contextmanager
def _jvm_output_to(path: Path | None) -> Any:
    """The Spark JVM's own stdout/stderr (launcher warnings) go to the run's spark.log, not the terminal."""
    if path is None:
        yield
        return
    import pyspark.java_gateway as gw

    orig = gw.Popen
    fh = open(path, "ab")  # noqa: SIM115 - the JVM keeps writing to it after this block

    def popen(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("stdout", fh)
        kwargs.setdefault("stderr", fh)
        return orig(*args, **kwargs)

    gw.Popen = popen  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        gw.Popen = orig  # type: ignore[misc]
        fh.close()


def _ray_node_pids() -> list[Any]:
    """The processes of the local Ray node this run started, with their children (the dashboard and
    runtime-env agents that raylet starts outlive `ray.shutdown()` otherwise)."""
    try:
        import psutil
        import ray._private.worker as rw

        node = rw._global_node
        if node is None:
            return []
        procs: list[Any] = []
        for _, proc in node.live_processes():
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(proc.pid)  # remembers its start time: safe against pid reuse
                procs += [p, *p.children(recursive=True)]
        return procs
    except Exception:
        return []


def _reap(procs: list[Any], grace: float = 0.5) -> None:
    if not procs:
        return
    import psutil

    alive = [p for p in procs if p.is_running()]
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(alive, timeout=grace)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()


def _ray_logging(path: Path | None) -> None:
    """Ray's driver-side warnings go to the run folder's ray-driver.log, not the terminal."""
    log = logging.getLogger("ray")
    log.setLevel(logging.WARNING)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for h in list(log.handlers):  # Ray's own stderr handler, or ours from an earlier run
            log.removeHandler(h)
        handler._kfconf = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.propagate = False
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)


class MainThread:
    """Runs calls from step threads on the thread that owns the run (Ray must start and stop there: a
    runtime started from another thread hangs remote calls from other threads and shuts down slowly)."""

    def __init__(self) -> None:
        self.thread = threading.current_thread()
        self._calls: queue.Queue[tuple[Any, concurrent.futures.Future[Any]]] = queue.Queue()
        self.open = True

    def call(self, fn: Any) -> Any:
        if threading.current_thread() is self.thread or not self.open:
            return fn()
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._calls.put((fn, fut))
        return fut.result()

    def wake(self) -> None:
        """Make a waiting `pump` return now (a step finished)."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._calls.put((lambda: None, fut))

    def pump(self, timeout: float) -> None:
        """Serve pending calls (on the owning thread), waiting up to `timeout` for the first."""
        try:
            fn, fut = self._calls.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn())
                except BaseException as e:
                    fut.set_exception(e)
                    if not isinstance(e, Exception):
                        raise
            try:
                fn, fut = self._calls.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        self.open = False
        while True:
            try:
                _, fut = self._calls.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                fut.set_exception(RuntimeError("the run stopped"))


@dataclass
class Engines:
    spark_master: str | None = None
    ray_address: str | None = None
    log_dir: Path | None = None
    state_dir: Path | None = None
    ray_cpus: int = DEFAULT_RAY_CPUS
    spark_lock: threading.Lock = field(default_factory=threading.Lock)
    main: MainThread | None = None
    _spark: Any = None
    _spark_owned: bool = False
    _ray_owned: bool = False

    @property
    def master(self) -> str:
        return self.spark_master or DEFAULT_SPARK_MASTER

    # -- Spark -------------------------------------------------------------------------------------
    def spark(self) -> Any:
        """The run's Spark session (created on first use, shared by every data step)."""
        with _LOCK:
            if self._spark is not None:
                return self._spark
            require("pyspark", "a Spark data step")
            from pyspark.sql import SparkSession

            active = SparkSession.getActiveSession() or SparkSession._instantiatedSession
            if active is not None and getattr(active.sparkContext, "_jsc", None) is None:
                active = None  # stopped
            if active is not None and (self.spark_master is None or active.sparkContext.master == self.master):
                self._spark, self._spark_owned = active, False
                return active
            if active is not None:
                active.stop()
            apply_loopback_env()
            log_config = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                log_config = self.log_dir / "spark-log4j2.properties"
                log_config.write_text(LOG4J.format(path=self.log_dir / "spark.log"), encoding="utf-8")
            warehouse = self.state_dir / "spark-warehouse" if self.state_dir else None
            builder = SparkSession.builder.master(self.master).appName("kfconf-run")
            for k, v in spark_conf(self.master, log_config, warehouse).items():
                builder = builder.config(k, v)
            with _jvm_output_to(self.log_dir / "spark.log" if self.log_dir else None):
                self._spark = builder.getOrCreate()
            self._spark.sparkContext.setLogLevel("WARN")
            self._spark_owned = True
            return self._spark

    # -- Ray ---------------------------------------------------------------------------------------
    def ray(self) -> Any:
        """Ray, initialised once per run (on the run's own thread): a local runtime on 127.0.0.1, or
        `--ray-address`."""
        if self.main is not None:
            return self.main.call(self._ray)
        return self._ray()

    def _ray(self) -> Any:
        with _LOCK:
            # Ray 2.60 sends its token to an explicit address only in token mode (`address="auto"` finds it
            # by itself), and reads the mode when it is imported: with a token at hand, say so
            token = bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                         or (Path.home() / ".ray" / "auth_token").is_file())
            if self.ray_address and token and "RAY_AUTH_MODE" not in os.environ and "ray" not in sys.modules:
                os.environ["RAY_AUTH_MODE"] = "token"
            ray = require("ray", "a tuning step")
            require("ray.tune", "a tuning step")
            if ray.is_initialized():
                return ray
            apply_loopback_env()
            # start-up warnings (SIGTERM handler off a main thread, token auth) are dropped; later ones go to
            # the run folder's ray-driver.log
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": True, "logging_level": logging.ERROR}
            if self.ray_address:
                kwargs["address"] = self.ray_address
                kwargs.pop("include_dashboard")
            else:  # a private runtime, even when `ray start` left a cluster on this machine
                os.environ.pop("RAY_ADDRESS", None)
                kwargs["address"] = "local"
                kwargs["num_cpus"] = self.ray_cpus
            ray.init(**kwargs)
            _ray_logging(self.log_dir / "ray-driver.log" if self.log_dir else None)
            self._ray_owned = True
            return ray

    def close(self) -> None:
        with _LOCK:
            if self._spark is not None and self._spark_owned:
                with contextlib.suppress(Exception):
                    self._spark.stop()
            self._spark = None
            if self._ray_owned:
                pids = _ray_node_pids() if not self.ray_address else []
                with contextlib.suppress(Exception):
                    import ray

                    ray.shutdown()
                _reap(pids)
                self._ray_owned = False

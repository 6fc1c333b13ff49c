"""How to start the processes of one training job (torchrun agents or one plain process).

Light on purpose (no spec models): a tuning trial builds its commands in a Ray worker from this.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfconf.local.engines import free_port
from kfconf.local.env import LOOPBACK, PathMap, expand, render_args

WORKSPACE = "/workspace"
PYTHONS = ("python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}")


@dataclass
class Launcher:
    """How to start the processes of one training job; picklable (a tuning trial builds it in a Ray worker)."""

    command: list[str]
    args: dict[str, Any] | list[str]
    nodes: int
    procs_per_node: int
    cwd: str
    env: dict[str, str]
    """The base environment (not path-mapped)."""
    user_env: dict[str, str] = field(default_factory=dict)
    """The entry's env: container paths in it are mapped."""
    path_map: dict[str, str] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict)
    torch: bool = True
    timeout: float | None = None
    output_uri: str | None = None
    """The entry's `output:` storage URI: mapped to the local output folder in args and env."""

    @property
    def world(self) -> int:
        return self.nodes * self.procs_per_node

    def argv_tail(self, overrides: Mapping[str, Any] | None = None) -> list[str]:
        pm = PathMap({k: Path(v) for k, v in self.path_map.items()})
        args = render_args(self.args, overrides)
        return pm.map_all([expand(a, self.template) for a in [*self.command[1:], *args]])

    def commands(self, overrides: Mapping[str, Any] | None = None, *, output_dir: str | None = None,
                 workspace: str | None = None, extra_env: Mapping[str, str] | None = None,
                 port: int | None = None) -> list[tuple[list[str], dict[str, str]]]:
        """(argv, env) per node. `workspace` replaces the `/workspace` mapping (a trial's own folder)."""
        port = port or free_port()
        pm = dict(self.path_map)
        if workspace is not None:
            pm[WORKSPACE] = workspace
        if self.output_uri and output_dir is not None:
            pm[self.output_uri.rstrip("/")] = output_dir
        launcher = Launcher(**{**self.__dict__, "path_map": pm})
        tail = launcher.argv_tail(overrides)
        prog = self.command[0]
        base = dict(self.env)
        if output_dir is not None:
            base["KFCONF_OUTPUT_DIR"] = output_dir
        if workspace is not None:
            base["KFCONF_DATASET_DIR"] = os.path.join(workspace, "dataset")
            base["KFCONF_MODEL_DIR"] = os.path.join(workspace, "model")
        pmap = PathMap({k: Path(v) for k, v in pm.items()})
        base.update({k: pmap.map(expand(v, self.template)) for k, v in self.user_env.items()})
        base.update(extra_env or {})
        base.update({"PET_NNODES": str(self.nodes), "PET_NPROC_PER_NODE": str(self.procs_per_node),
                     "PET_MASTER_ADDR": LOOPBACK, "PET_MASTER_PORT": str(port), "OMP_NUM_THREADS": "1",
                     "GLOO_SOCKET_IFNAME": "lo", "PYTHONUNBUFFERED": "1"})
        out = []
        for rank in range(self.nodes):
            env = {**base, "PET_NODE_RANK": str(rank)}
            if self.world == 1 or not self.torch:
                env.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1",
                            "GROUP_RANK": "0", "GROUP_WORLD_SIZE": "1", "ROLE_RANK": "0", "ROLE_NAME": "default",
                            "ROLE_WORLD_SIZE": "1", "MASTER_ADDR": LOOPBACK, "MASTER_PORT": str(port),
                            "TORCHELASTIC_RESTART_COUNT": "0", "TORCHELASTIC_MAX_RESTARTS": "0",
                            "TORCHELASTIC_RUN_ID": "none"})
                argv = [sys.executable, *tail] if prog in PYTHONS else [prog, *tail]
            elif prog == "torchrun" or (prog in PYTHONS and tail and tail[0] not in ("-c",)):
                argv = [sys.executable, "-m", "torch.distributed.run", *tail]
            else:
                exe = sys.executable if prog in PYTHONS else prog
                argv = [sys.executable, "-m", "torch.distributed.run", "--no-python", exe, *tail]
            out.append((argv, env))
        return out

"""The local model server: KServe's `ModelServer` on 127.0.0.1, one registered model, no gRPC.

Protocols (both, whatever the entry's `protocol` says):
  KServe V1               GET /v1/models/NAME, POST /v1/models/NAME:predict  {"instances": [...]}
  Open Inference (V2)     GET /v2/health/live|ready, GET /v2/models/NAME[/ready], POST /v2/models/NAME/infer

Why KServe's own server: it is the code that answers in the cluster (same routes, errors and payloads).
It binds a hard-coded 0.0.0.0 (kserve 0.21 `RESTServer`), so the REST server class is replaced by a
subclass that binds 127.0.0.1 before the server starts; gRPC is off. `kserve.model_server` parses
`sys.argv` when imported, so the server runs in its own process (`python -m kfconf.local.serve …`) with
only its own arguments; it also exits when the `kfconf run` that started it goes away.

Model formats: `pytorch` (a TorchScript file, `model.pt` or the only `*.pt`/`*.pth`), `sklearn`
(`model.joblib`/`model.pkl` or the only such file), and `huggingface` when the folder holds a TorchScript
export (the HuggingFace runtime itself is not run locally). Inputs: V1 `instances` (nested lists); V2
`inputs` tensors (FP32/FP64/INT64/INT32 …); outputs as the model returns them.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

TORCH_FORMATS = ("pytorch", "torch", "torchscript", "huggingface")
SKLEARN_FORMATS = ("sklearn", "scikit-learn")


class UnsupportedModel(Exception):
    pass


def model_file(model_dir: Path, fmt: str) -> tuple[str, Path]:
    """(kind "torch"|"sklearn", file) for a model folder (or file) of format `fmt`."""
    fmt = (fmt or "").lower()
    if model_dir.is_file():
        candidates = [model_dir]
        model_dir = model_dir.parent
    else:
        candidates = sorted(p for p in model_dir.rglob("*") if p.is_file())
    torch_files = [p for p in candidates if p.suffix in (".pt", ".pth", ".torchscript")]
    sk_files = [p for p in candidates if p.suffix in (".joblib", ".pkl", ".pickle")]
    if fmt in SKLEARN_FORMATS or (not fmt and sk_files and not torch_files):
        pick = [p for p in sk_files if p.stem == "model"] or sk_files
        if len(pick) >= 1:
            return "sklearn", pick[0]
        raise UnsupportedModel(f"no scikit-learn model file (model.joblib, *.pkl) in {model_dir}")
    if fmt in TORCH_FORMATS or not fmt:
        pick = [p for p in torch_files if p.stem == "model"] or torch_files
        if pick:
            return "torch", pick[0]
        what = "a TorchScript export (model.pt)" if fmt == "huggingface" else "a TorchScript file (model.pt)"
        raise UnsupportedModel(f"no {what} in {model_dir}"
                               + (": the HuggingFace runtime is not run locally" if fmt == "huggingface" else ""))
    raise UnsupportedModel(f"model format {fmt!r} has no local server (pytorch, sklearn, huggingface exported to "
                           "TorchScript)")


_DTYPES = {"float32": "FP32", "float64": "FP64", "float16": "FP16", "int64": "INT64", "int32": "INT32",
           "int16": "INT16", "int8": "INT8", "uint8": "UINT8", "bool": "BOOL"}


def _datatype(arr: Any) -> str:
    return _DTYPES.get(str(arr.dtype), "BYTES")


def _build_model(name: str, kind: str, path: Path) -> Any:
    import numpy as np
    from kserve import Model
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

    class LocalModel(Model):
        def __init__(self) -> None:
            super().__init__(name)
            self.impl: Any = None

        def load(self) -> bool:
            if kind == "torch":
                import torch

                torch.set_num_threads(1)
                self.impl = torch.jit.load(str(path), map_location="cpu")
                self.impl.eval()
            else:
                import joblib

                self.impl = joblib.load(path)
            self.ready = True
            return True

        def _run(self, arrays: list[Any]) -> list[Any]:
            if kind == "sklearn":
                return [np.asarray(self.impl.predict(arrays[0]))]
            import torch

            tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
            with torch.no_grad():
                try:
                    out = self.impl(*tensors)
                except RuntimeError:
                    if not any(t.dtype in (torch.int64, torch.int32) for t in tensors):
                        raise
                    out = self.impl(*[t.float() if t.dtype in (torch.int64, torch.int32) else t for t in tensors])
            outs = out if isinstance(out, tuple | list) else [out]
            return [o.detach().cpu().numpy() if hasattr(o, "detach") else np.asarray(o) for o in outs]

        @staticmethod
        def _v1_array(instances: Any) -> Any:
            arr = np.asarray(instances)
            if arr.dtype == np.float64 and kind == "torch":
                arr = arr.astype(np.float32)
            return arr

        async def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
            if isinstance(payload, InferRequest):
                arrays = [i.as_numpy() for i in payload.inputs]
                if kind == "torch":
                    arrays = [a.astype(np.float32) if a.dtype == np.float64 else a for a in arrays]
                outs = self._run(arrays)
                return InferResponse(
                    response_id=payload.id or str(uuid.uuid4()), model_name=self.name,
                    infer_outputs=[InferOutput(name=f"output-{i}", shape=list(o.shape), datatype=_datatype(o),
                                               data=o.flatten().tolist()) for i, o in enumerate(outs)])
            instances = payload.get("instances", payload.get("inputs")) if isinstance(payload, dict) else payload
            if instances is None:
                from kserve.errors import InvalidInput

                raise InvalidInput('expected {"instances": [...]}')
            outs = self._run([self._v1_array(instances)])
            return {"predictions": outs[0].tolist()}

    return LocalModel()


def _loopback_rest_server(host: str) -> None:
    """kserve 0.21's RESTServer binds 0.0.0.0; bind `host` instead."""
    import kserve.model_server as ms
    from kserve.protocol.rest.server import RESTServer

    class LoopbackRESTServer(RESTServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.config.host = host

    ms.RESTServer = LoopbackRESTServer


def _watch_parent(ppid: int) -> None:
    def loop() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != ppid:
                os._exit(0)

    threading.Thread(target=loop, daemon=True, name="watch-parent").start()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kfconf.local.serve")
    p.add_argument("--name", required=True)
    p.add_argument("--model", required=True, help="model folder or file")
    p.add_argument("--format", default="")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    args = p.parse_args(argv)
    sys.argv = [sys.argv[0]]  # kserve.model_server parses sys.argv at import
    _watch_parent(os.getppid())
    try:
        kind, path = model_file(Path(args.model), args.format)
    except UnsupportedModel as e:
        print(f"kfconf serve: {e}", file=sys.stderr)
        return 3
    from kserve import ModelServer

    _loopback_rest_server(args.host)
    model = _build_model(args.name, kind, path)
    model.load()
    print(f"kfconf serve: {args.name} ({kind}, {path}) on http://{args.host}:{args.port}", flush=True)
    ModelServer(http_port=args.port, enable_grpc=False, workers=1, enable_docs_url=False).start([model])
    return 0


if __name__ == "__main__":
    sys.exit(main())

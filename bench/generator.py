"""Generate N realistic ml-project.yaml projects for the benchmarks, deterministically from a seed.

Projects differ in size and shape the way a monorepo of ML teams does: a one-job trainer, a batch
feature pipeline, an LLM fine-tune, a serving-only service, and "full" projects that use every
section with several entries. Each has overlays for dev, staging and prod (prod extends staging and
includes built-in overlays), and every generated project validates without errors.

Layout: ROOT/<team>/<project>/{ml-project.yaml, overlays/{dev,staging,prod}.yaml, jobs/*.py}.
Same (n, seed) → byte-identical files. Project i's shape depends only on (seed, i), so the first k
projects of a larger run equal a run with n=k.
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SHAPES = ("tiny", "trainer", "batch", "llm", "serving", "full", "full")
TEAMS = ("growth", "risk", "search", "ads", "support", "vision", "fraud", "pricing")
WORDS = ("churn", "ltv", "ranker", "fraud", "forecast", "intent", "vision", "spam", "price", "reco", "embed",
         "toxic", "eta", "demand", "match", "anomaly", "caption", "ocr", "asr", "topic")
FORMATS = ("pytorch", "sklearn", "xgboost", "lightgbm", "onnx", "huggingface", "tensorflow")
NOTEBOOK_IMAGES = ("jupyter-scipy", "jupyter-pytorch", "jupyter-pytorch-cuda", "jupyter-tensorflow",
                   "codeserver-python")
ALGORITHMS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("random", {"random_state": 7}),
    ("tpe", {"gamma": 0.25, "n_EI_candidates": 24}),
    ("multivariate-tpe", {"n_startup_trials": 5}),
    ("bayesianoptimization", {"base_estimator": "GP", "acq_func": "gp_hedge"}),
    ("cmaes", {"sigma": 0.5}),
    ("sobol", {}),
)
ENV_VALUES: dict[str, tuple[str | int, ...]] = {
    "LOG_LEVEL": ("info", "debug", "warning"), "REGION": ("eu-west-1", "us-east-1"),
    "BUCKET": ("s3://acme-ml/tmp", "s3://acme-ml/scratch"), "WORKERS": (2, 4, 8), "MODE": ("batch", "fast"),
}
STACKS = ("kubeflow-latest",) * 6 + ("kubeflow-26.03",) * 3 + ("kubeflow-legacy",)
ENVS = ("dev", "staging", "prod")


# The generator asks kfconf's stacks what each release supports, so generated projects stay valid as
# stacks learn more of the platform's rules.

@cache
def _stack(name: str) -> Any:
    from kfconf.spec.stacks import load_stack

    return load_stack(name)


def _runtime(stack: str, name: str) -> dict[str, Any]:
    """What the stack says about a training runtime (initializers differ between Trainer releases)."""
    return dict(_stack(stack).runtimes.get("training", {}).get(name) or {})


def _trainer(stack: str, key: str) -> Any:
    return _stack(stack).component("trainer").get(key, True)


@cache
def _serving(stack: str) -> dict[str, tuple[str | None, str | None, bool]]:
    """format → (a version KServe matches on, the protocol to ask for, whether its runtime takes GPUs), for
    every format of FORMATS that a runtime of the stack auto-selects."""
    from kfconf.components.serving.runtimes import auto_runtime, parse_format

    st = _stack(stack)
    runtimes = st.runtimes.get("serving", {})
    out: dict[str, tuple[str | None, str | None, bool]] = {}
    for fmt in FORMATS:
        for protocol in (None, "v2"):
            plain = auto_runtime(st, fmt, None, protocol)
            if plain is None:
                continue
            versions = sorted({v for rt in runtimes.values() for f in rt.get("formats") or []
                               for n, v in [parse_format(str(f))] if n == fmt and v})
            version = next((v for v in versions if auto_runtime(st, fmt, v, protocol)), None)
            chosen = [plain, *([auto_runtime(st, fmt, version, protocol)] if version else [])]
            out[fmt] = (version, protocol, all(runtimes[c].get("gpu", True) for c in chosen if c))
            break
    return out


def _kserve(stack: str) -> dict[str, Any]:
    return dict(_stack(stack).component("kserve"))


class _Dumper(yaml.SafeDumper):
    """Block style for structure, flow style for small leaf mappings and lists — as people write specs."""


def _dump(doc: dict[str, Any], header: str = "") -> str:
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=110, allow_unicode=True)
    return header + body


def _resources(r: random.Random, gpu_ok: bool, big: bool = False) -> dict[str, Any]:
    cpu = r.choice((1, 2, 4, 8, 16) if big else (1, 2, 4))
    out: dict[str, Any] = {"cpu": cpu, "memory": f"{cpu * r.choice((2, 4, 8))}Gi"}
    if gpu_ok and r.random() < 0.5:
        out["gpu"] = r.choice((1, 1, 2, 4))
    if r.random() < 0.2:
        out["limits"] = {"cpu": cpu * 2}
    return out


def _env(r: random.Random, prefix: str) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for key, values in list(ENV_VALUES.items())[: r.randint(0, len(ENV_VALUES))]:
        env[f"{prefix}_{key}"] = r.choice(values)
    if r.random() < 0.4:
        env["WANDB_API_KEY"] = {"secret": "wandb", "key": "api-key"}
    if r.random() < 0.2:
        env["FEATURE_FLAGS"] = {"configMap": "flags", "key": "all"}
    return env


def _placement(r: random.Random) -> dict[str, Any]:
    return {"nodeSelector": {"node.kubernetes.io/instance-type": r.choice(("m6i.4xlarge", "c6i.8xlarge"))},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]}


class _Project:
    """One project: spec, overlays and the job files its data entries name."""

    def __init__(self, seed: int, index: int) -> None:
        self.r = random.Random(f"{seed}:{index}")
        r = self.r
        self.index = index
        self.shape = r.choice(SHAPES)
        self.team = r.choice(TEAMS)
        self.name = f"{r.choice(WORDS)}-{self.shape}-{index:04d}"
        self.stack = r.choice(STACKS)
        self.scale = {"tiny": 1, "trainer": 1, "batch": 2, "llm": 1, "serving": 2, "full": 3}[self.shape]
        self.files: dict[str, str] = {}
        self.spec: dict[str, Any] = {}
        self.build()

    # sections ------------------------------------------------------------------------------------------------
    def profile(self) -> dict[str, Any]:
        r = self.r
        out: dict[str, Any] = {"namespace": f"{self.team}-{self.name}"[:63],
                               "owner": f"{self.team}-lead@example.com"}
        out["contributors"] = [f"eng{r.randint(1, 99)}@example.com" for _ in range(r.randint(0, 4))]
        if r.random() < 0.8:
            quota: dict[str, Any] = {"cpu": str(r.choice((16, 32, 64, 128))), "memory": f"{r.choice((64, 256, 512))}Gi"}
            if r.random() < 0.6:
                quota["gpu"] = r.choice((4, 8, 16))
            if r.random() < 0.3:
                quota["storage"] = f"{r.choice((100, 500, 1000))}Gi"
            out["quota"] = quota
        if self.shape in ("llm", "full") and r.random() < 0.7:
            out["podDefaults"] = [{"name": "hf-token", "description": "HuggingFace token",
                                   "secretVolumes": {"hf-credentials": "/etc/hf"}}]
        return out

    def data(self) -> list[dict[str, Any]]:
        r = self.r
        out = []
        for i in range(r.randint(1, 1 + self.scale)):
            name = ("features", "ingest", "labels", "backfill", "aggregates")[i]
            file = f"jobs/{name}.py"
            self.files[file] = f"# Spark job {name} of {self.name}\nprint('{name}')\n"
            job: dict[str, Any] = {"name": name, "file": file, "image": "spark",
                                   "args": ["--date", "{{ run.date }}", "--out", name],
                                   "driver": {"cores": 1, "memory": r.choice(("1g", "2g"))},
                                   "executors": {"count": r.choice((2, 4, 8, 16)), "cores": r.choice((1, 2, 4)),
                                                 "memory": r.choice(("2g", "4g", "8g"))}}
            if r.random() < 0.5:
                job["schedule"] = f"{r.randint(0, 59)} {r.randint(0, 23)} * * *"
            if r.random() < 0.4:
                job["conf"] = {"spark.sql.shuffle.partitions": r.choice((64, 200, 400)),
                               "spark.dynamicAllocation.enabled": False}
            if r.random() < 0.3:
                job["env"] = _env(r, "SPARK")
            if r.random() < 0.2:
                job["placement"] = _placement(r)
            out.append(job)
        return out

    def training(self, llm: bool = False) -> list[dict[str, Any]]:
        r = self.r
        out = []
        for i in range(r.randint(1, self.scale)):
            name = ("model", "baseline", "large")[i] if not llm else ("finetune", "lora", "distill")[i]
            runtime = "torch-distributed"
            others = [rt for rt in (("deepspeed-distributed", "torchtune-llama3.2-1b") if llm else
                                    ("deepspeed-distributed", "xgboost-distributed"))
                      if _runtime(self.stack, rt)]
            if others and r.random() < 0.25:
                runtime = r.choice(others)
            job: dict[str, Any] = {"name": name, "runtime": runtime, "image": "trainer",
                                   "command": ["python", "finetune.py" if llm else "train.py"],
                                   "args": {"lr": r.choice((0.01, 0.001, 0.0002)), "epochs": r.randint(1, 20),
                                            "batch-size": r.choice((32, 64, 128))},
                                   "nodes": r.choice((1, 1, 2, 4)), "procsPerNode": r.choice((1, 2, 4)),
                                   "resources": _resources(r, True, big=True)}
            caps = _runtime(self.stack, runtime)
            if caps.get("datasetInitializer", caps.get("initializers", True)) and (llm or r.random() < 0.6):
                job["dataset"] = {"uri": "hf://acme/support-tickets" if llm else f"s3://acme-ml/{self.name}/features"}
                if llm:
                    job["dataset"]["secret"] = "hf-credentials"
            if llm and caps.get("modelInitializer", caps.get("initializers", True)):
                job["model"] = {"uri": "hf://Qwen/Qwen2.5-0.5B", "secret": "hf-credentials"}
            env = _env(r, "TRAIN")
            if llm:
                env["HF_TOKEN"] = {"secret": "hf-credentials", "key": "token"}
            if env:
                job["env"] = env
            if r.random() < 0.3:
                job["volumes"] = [{"name": "scratch", "mountPath": "/scratch", "emptyDir": True}]
            if r.random() < 0.2 and _trainer(self.stack, "activeDeadlineSeconds"):
                job["timeoutSeconds"] = r.choice((3600, 14400))
            out.append(job)
        return out

    def tuning(self, trainings: list[dict[str, Any]]) -> list[dict[str, Any]]:
        r = self.r
        out = []
        for i, trial in enumerate(trainings[: r.randint(1, len(trainings))]):
            algo, settings = r.choice(ALGORITHMS)
            trials = r.choice((12, 24, 40))
            params: dict[str, Any] = {"lr": {"type": "double", "min": 0.0001, "max": 0.1,
                                             "distribution": "logUniform"},
                                      "epochs": {"type": "int", "min": 1, "max": 30}}
            if algo != "cmaes" and r.random() < 0.6:
                params["batch-size"] = {"type": "categorical", "values": ["32", "64", "128"]}
            job: dict[str, Any] = {"name": f"{trial['name']}-hpo-{i}", "trial": f"training/{trial['name']}",
                                   "objective": {"metric": "val_auc", "goal": "maximize",
                                                 "target": r.choice((0.9, 0.92, 0.95))},
                                   "algorithm": {"name": algo, "settings": settings} if settings else {"name": algo},
                                   "parameters": params,
                                   "budget": {"trials": trials, "parallel": r.choice((2, 4)), "failures": 3}}
            if r.random() < 0.4:
                job["objective"]["additional"] = ["val_loss"]
            if r.random() < 0.4:
                job["earlyStopping"] = {"name": "medianstop", "settings": {"min_trials_required": 3}}
            out.append(job)
        return out

    def registry(self, sources: list[str], fmt: str) -> list[dict[str, Any]]:
        r = self.r
        out = []
        for i, src in enumerate(sources):
            version = _serving(self.stack)[fmt][0]
            entry: dict[str, Any] = {"name": f"{self.name.split('-')[0]}-{i}", "from": src,
                                     "version": f"v{r.randint(1, 9)}",
                                     "format": {"name": fmt, "version": version} if version and r.random() < 0.5
                                     else fmt,
                                     "description": f"{self.name} model {i}"}
            if r.random() < 0.5:
                entry["metadata"] = {"framework": fmt, "dataset": "features"}
            out.append(entry)
        return out

    def serving(self, models: list[str], fmt: str) -> list[dict[str, Any]]:
        r = self.r
        out = []
        for i, model in enumerate(models):
            entry: dict[str, Any] = {"name": f"{self.name.split('-')[0]}-svc-{i}", "model": model}
            if not model.startswith("registry/"):
                entry["format"] = fmt
            _, protocol, gpu = _serving(self.stack)[fmt]
            kserve = _kserve(self.stack)
            if protocol:
                entry["protocol"] = protocol
            lo = r.choice((1, 1, 2))
            entry["replicas"] = {"min": lo, "max": lo + r.choice((1, 3, 7))}
            entry["resources"] = _resources(r, gpu)
            if r.random() < 0.4:
                entry["canary"] = {"percent": r.choice((5, 10, 20)), "model": f"s3://acme-ml/{self.name}/candidate-{i}"}
                if kserve.get("canary") != "list" and kserve.get("deploymentMode", "Standard") == "Standard":
                    entry["deploymentMode"] = "Knative"  # a percent canary splits Knative revisions
            elif r.random() < 0.15:
                entry["deploymentMode"] = "Knative"
            if r.random() < 0.6:
                knative = entry.get("deploymentMode", kserve.get("deploymentMode", "Standard")) == "Knative"
                metrics = ("cpu", "concurrency", "rps") if knative else ("cpu", "memory")
                entry["autoscaling"] = {"metric": r.choice(metrics), "target": 70}
            if r.random() < 0.3:
                entry["env"] = _env(r, "SERVE")
            if r.random() < 0.15:
                entry["transformer"] = {"image": f"ghcr.io/acme/{self.name}-transformer:1.0",
                                        "resources": {"cpu": 1, "memory": "1Gi"}}
            out.append(entry)
        return out

    def pipelines(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        r = self.r
        steps: list[dict[str, Any]] = []
        prev: str | None = None
        for key in ("data", "tuning", "training", "registry", "serving"):
            for e in spec.get(key, [])[:2]:
                step: dict[str, Any] = {"name": f"{key[:4]}-{e['name']}"[:63], "run": f"{key}/{e['name']}"}
                if prev:
                    step["after"] = [prev]
                steps.append(step)
                prev = step["name"]
        if r.random() < 0.5 and steps:
            steps.append({"name": "report", "after": [steps[0]["name"]],
                          "container": {"image": "python:3.11-slim", "command": ["python", "-c", "print('done')"]}})
        pipe: dict[str, Any] = {"name": "nightly", "default": True, "steps": steps}
        if r.random() < 0.6:
            pipe["schedule"] = f"0 {r.randint(0, 23)} * * *"
        if r.random() < 0.3:
            pipe["parameters"] = {"date": "today", "full": False}
        return [pipe]

    def notebooks(self, gpu: bool) -> list[dict[str, Any]]:
        r = self.r
        out = []
        for i in range(r.randint(1, 2)):
            nb: dict[str, Any] = {"name": ("explore", "debug")[i], "image": r.choice(NOTEBOOK_IMAGES),
                                  "resources": _resources(r, gpu)}
            if r.random() < 0.3:
                nb["volumes"] = [{"name": "work", "mountPath": "/home/jovyan/work", "claim": f"{self.name}-work"[:63]}]
            out.append(nb)
        return out

    # the whole project -------------------------------------------------------------------------------------
    def build(self) -> None:
        r = self.r
        shape = self.shape
        spec: dict[str, Any] = {"stack": self.stack, "profile": self.profile()}
        spec["source"] = {"path": ".", "imageWorkdir": "/app"}
        spec["images"] = {"trainer": f"ghcr.io/acme/{self.name}-train:1.{r.randint(0, 9)}.{r.randint(0, 20)}",
                          "spark": f"ghcr.io/acme/{self.name}-spark:1.0.{r.randint(0, 20)}"}
        served = _serving(self.stack)
        fmt = "huggingface" if shape == "llm" and "huggingface" in served else r.choice(sorted(served))
        if shape in ("batch", "full"):
            spec["data"] = self.data()
        if shape in ("tiny", "trainer", "full", "llm"):
            spec["training"] = self.training(llm=shape == "llm")
        if shape == "full" or (shape == "trainer" and r.random() < 0.5):
            spec["tuning"] = self.tuning(spec["training"])
        if shape in ("trainer", "full", "llm"):
            sources = [f"tuning/{t['name']}" for t in spec.get("tuning", [])] or [
                f"training/{t['name']}" for t in spec["training"][:1]]
            spec["registry"] = self.registry(sources, fmt)
        if shape in ("trainer", "full", "llm"):
            spec["serving"] = self.serving([f"registry/{m['name']}" for m in spec["registry"]], fmt)
        elif shape == "serving":
            spec["serving"] = self.serving([f"s3://acme-ml/{self.name}/model-{i}" for i in range(r.randint(1, 3))],
                                           fmt)
        if shape in ("batch", "full", "llm") or r.random() < 0.2:
            spec["pipelines"] = self.pipelines(spec) if any(k in spec for k in ("data", "training", "serving")) \
                else []
            if not spec["pipelines"]:
                del spec["pipelines"]
        if shape in ("full", "llm") or r.random() < 0.3:
            spec["notebooks"] = self.notebooks(gpu=True)
            if "podDefaults" in spec["profile"]:
                spec["notebooks"][0]["podDefaults"] = ["hf-token"]
        self.spec = spec
        doc = {"apiVersion": "kfconf.dev/v1alpha1", "kind": "MLProject",
               "metadata": {"name": self.name, "owner": spec["profile"]["owner"],
                            "description": f"{shape} project {self.index} of team {self.team}",
                            "labels": {"team": self.team, "cost-center": f"cc-{r.randint(100, 999)}"}},
               "spec": spec}
        header = "# yaml-language-server: $schema=https://kfconf.dev/schemas/ml-project.schema.json\n"
        self.files["ml-project.yaml"] = _dump(doc, header)
        for env in ENVS:
            self.files[f"overlays/{env}.yaml"] = _dump(self.overlay(env))

    def overlay(self, env: str) -> dict[str, Any]:
        """dev shrinks everything; staging sets serving replicas; prod extends staging and hardens."""
        r = self.r
        spec = self.spec
        body: dict[str, Any] = {}
        out: dict[str, Any] = {"apiVersion": "kfconf.dev/v1alpha1", "kind": "Overlay"}
        if env == "dev":
            if "training" in spec:
                body["training"] = [{"name": t["name"], "nodes": 1, "procsPerNode": 1,
                                     "resources": {"cpu": 1, "memory": "2Gi", "gpu": 0}} for t in spec["training"]]
            if "tuning" in spec:
                body["tuning"] = [{"name": t["name"], "budget": {"trials": 4, "parallel": 2, "failures": 1}}
                                  for t in spec["tuning"]]
            if "data" in spec:
                body["data"] = [{"name": "*", "executors": {"count": 1}}]
            if "serving" in spec:
                body["serving"] = [{"name": s["name"], "canary": {"$patch": "delete"}} if "canary" in s else
                                   {"name": s["name"], "replicas": {"min": 1, "max": 1}} for s in spec["serving"]]
        elif env == "staging":
            if "serving" in spec:
                body["serving"] = [{"name": s["name"], "replicas": {"min": 2, "max": s["replicas"]["max"] + 1}}
                                   for s in spec["serving"]]
            if "data" in spec and r.random() < 0.5:
                body["data"] = [{"name": spec["data"][0]["name"], "conf": {"spark.eventLog.enabled": True}}]
        else:
            out["extends"] = "staging"
            # built-in overlays only where their "*" entries have something to apply to: an include whose
            # section the spec lacks adds a nameless "*" entry (reported to the lead as a merge bug)
            includes = ["prod-hardening"] if "serving" in spec else []
            if "training" in spec and r.random() < 0.3:
                includes.append("spot" if "data" in spec and r.random() < 0.5 else "gpu")
            if includes:
                out["include"] = includes
            body["images"] = {"trainer": f"ghcr.io/acme/{self.name}-train@sha256:{r.getrandbits(256):064x}"}
            if "training" in spec:
                t = spec["training"][0]
                body["training"] = [{"name": t["name"], "nodes": t["nodes"] * 2}]
            if "serving" in spec:
                s = spec["serving"][0]
                body["serving"] = [{"name": s["name"], "replicas": {"min": 3, "max": s["replicas"]["max"] + 4}}]
            if "notebooks" in spec:
                body["notebooks"] = [{"name": nb["name"], "$patch": "delete"} for nb in spec["notebooks"]]
        if body:
            out["spec"] = body
        return out


def generate(root: Path, n: int, seed: int) -> list[Path]:
    """Write N projects under ROOT; return their folders in a stable order."""
    out: list[Path] = []
    for i in range(n):
        p = _Project(seed, i)
        folder = root / f"team-{p.team}" / p.name
        for rel, text in p.files.items():
            f = folder / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text, encoding="utf-8")
        out.append(folder)
    return out


def shapes(n: int, seed: int) -> dict[str, int]:
    """How many projects of each shape a (n, seed) run generates — for reports."""
    counts: dict[str, int] = {}
    for i in range(n):
        s = _Project(seed, i).shape
        counts[s] = counts.get(s, 0) + 1
    return counts

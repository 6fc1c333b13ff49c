"""Local execution: `kfconf run` runs the resolved spec on this machine with real engines.

    runner.py     run a target (an entry or a pipeline): preflight, run folder, progress, engines
    dag.py        the DAG runner: parallel within the cores, artifacts between steps, content-hash cache
    context.py    RunSession (one `kfconf run`) and StepRun (one step), what component runners receive
    artifacts.py  the artifact store `.kfconf/artifacts/SECTION/NAME/KEY/` and content hashes
    runs.py       run ids and run folders `.kfconf/runs/ID/` (one log per step, run.json)
    progress.py   live display on a terminal, plain lines otherwise
    engines.py    the shared Spark session and Ray runtime, loopback settings
    procs.py      subprocesses: log capture, secret redaction, process groups, clean stop
    env.py        secrets and config maps, argument rendering, path mapping, templating
    uris.py       dataset/model initializer URIs → local folders (file, data outputs, caches)
    metrics.py    Katib's StdOut metrics collector format
    registry.py   the local model registry (SQLite, Model Registry concepts)
    serve.py      the local model server (KServe ModelServer on 127.0.0.1)

The heavy engines (pyspark, torch, ray, kserve) are imported only inside the functions that use them.
"""

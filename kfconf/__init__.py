"""kfconf: a declarative GitOps configuration compiler for ML projects on Kubeflow.

The import stays light on purpose: heavy engines (torch, pyspark, ray, kserve) and the Kubernetes
client load only inside the commands that need them.
"""

__version__ = "0.1.0"

"""The environment variables each Trainer runtime plugin sets in the trainer's pods itself (the Trainer's
pkg/runtime/framework/plugins): the spec may not set them (checks.py), nor may a rendered TrainJob (rules.py)."""

from __future__ import annotations

RESERVED_ENV = {
    "torch": ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT"),
    "mpi": ("OMPI_MCA_orte_default_hostfile", "OMPI_MCA_plm_rsh_args", "OMPI_MCA_orte_keep_fqdn_hostnames",
            "OMPI_MCA_orte_set_default_slots"),
    "xgboost": ("DMLC_TRACKER_URI", "DMLC_TRACKER_PORT", "DMLC_TASK_ID", "DMLC_NUM_WORKER"),
}
"""Plugin → the variables it sets."""
FRAMEWORK_POLICY = {"torch": "torch", "torchtune": "torch", "deepspeed": "mpi", "mlx": "mpi", "xgboost": "xgboost"}
"""A runtime's framework label → the plugin that serves it."""
ANY_RESERVED = frozenset(n for names in RESERVED_ENV.values() for n in names)

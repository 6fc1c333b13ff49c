"""Churn features (Spark): synthetic customer activity → normalised per-customer features + label.

    spark-submit jobs/features.py --rows 2000 --out features

A relative --out is written under $KFCONF_OUTPUT_DIR when kfconf runs the job (the step's output folder in
the local artifact store), else under the working directory; a URI (s3://…) is written as is.
"""

from __future__ import annotations

import argparse
import os

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

FEATURES = ["tenure", "monthly_charges", "support_calls", "contract", "late_payments", "usage_drop"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--out", default="features")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--date", default=None, help="partition date (unused by the synthetic source)")
    args = p.parse_args()
    out = args.out
    if "://" not in out and not os.path.isabs(out):
        out = os.path.join(os.environ.get("KFCONF_OUTPUT_DIR", os.getcwd()), out)

    spark = SparkSession.builder.appName("churn-features").getOrCreate()
    s = args.seed
    raw = (
        spark.range(args.rows)
        .withColumn("tenure", F.floor(F.rand(s) * 72) + 1)
        .withColumn("monthly_charges", F.round(F.rand(s + 1) * 100 + 20, 2))
        .withColumn("support_calls", F.floor(F.rand(s + 2) * F.rand(s + 3) * 10))
        .withColumn("contract", F.floor(F.rand(s + 4) * 3))
        .withColumn("late_payments", F.floor(F.rand(s + 5) * 4))
        .withColumn("usage_drop", F.rand(s + 6))
    )
    logit = (
        -1.2 + 0.45 * F.col("support_calls") - 0.035 * F.col("tenure") + 0.012 * F.col("monthly_charges")
        - 0.8 * F.col("contract") + 0.35 * F.col("late_payments") + 1.5 * F.col("usage_drop")
        + (F.rand(s + 7) - 0.5) * 1.5
    )
    labelled = raw.withColumn("label", (F.rand(s + 8) < 1 / (1 + F.exp(-logit))).cast("float"))
    stats = labelled.agg(*[F.mean(c).alias(f"{c}_mean") for c in FEATURES],
                         *[F.stddev(c).alias(f"{c}_std") for c in FEATURES]).first()
    assert stats is not None
    features = labelled.select(
        "id",
        *[((F.col(c) - stats[f"{c}_mean"]) / (stats[f"{c}_std"] or 1.0)).cast("float").alias(c) for c in FEATURES],
        "label",
    )
    features.repartition(2).write.mode("overwrite").parquet(out)
    rate = features.agg(F.mean("label")).first()[0]  # type: ignore[index]
    print(f"rows={features.count()} churn_rate={rate:.3f} out={out}")


if __name__ == "__main__":
    main()

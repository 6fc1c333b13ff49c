"""Stacks: built-ins resolve through extends, projects may extend them, mistakes are located."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfconf.core.errors import FindingsError
from kfconf.spec.stacks import builtin_stacks, load_stack


def test_builtin_stacks_resolve() -> None:
    names = builtin_stacks()
    assert {"kubeflow-latest", "kubeflow-26.03", "kubeflow-legacy", "local"} <= set(names)
    for name in names:
        assert load_stack(name).name == name


def test_platform_release_differs_where_upstream_differs() -> None:
    latest, platform = load_stack("kubeflow-latest"), load_stack("kubeflow-26.03")
    assert latest.component("trainer")["version"] == "v2.3.0"
    assert platform.component("trainer")["version"] == "v2.1.0"
    assert "jax-distributed" in latest.runtimes["training"]
    assert "jax-distributed" not in platform.runtimes["training"]  # Trainer 2.1 did not ship it
    assert platform.component("katib") == latest.component("katib")  # inherited unchanged


def test_legacy_stack_targets_pytorchjob() -> None:
    assert load_stack("kubeflow-legacy").component("trainer")["target"] == "pytorchjob"


def test_project_stack_extends_a_builtin(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "acme.yaml").write_text(
        "apiVersion: kfconf.dev/v1alpha1\nkind: Stack\nmetadata: {name: acme}\nextends: kubeflow-latest\n"
        "images: {spark: registry.acme/spark:4.0.4}\n")
    st = load_stack("./stacks/acme.yaml", tmp_path)
    assert st.name == "acme" and st.images["spark"] == "registry.acme/spark:4.0.4"
    assert st.component("trainer")["version"] == "v2.3.0"


def test_unknown_stack_suggests_the_closest() -> None:
    with pytest.raises(FindingsError) as e:
        load_stack("kubeflow-lastest")
    [d] = e.value.diagnostics
    assert d.code == "KF303" and d.hint == "did you mean 'kubeflow-latest'?"


def test_stack_file_outside_the_project_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FindingsError) as e:
        load_stack("../other/stack.yaml", tmp_path)
    assert e.value.diagnostics[0].code == "KF207"


def test_stack_extends_cycle(tmp_path: Path) -> None:
    for a, b in (("a", "b"), ("b", "a")):
        (tmp_path / f"{a}.yaml").write_text(f"apiVersion: kfconf.dev/v1alpha1\nkind: Stack\nmetadata: {{name: {a}}}\n"
                                           f"extends: ./{b}.yaml\n")
    with pytest.raises(FindingsError) as e:
        load_stack("./a.yaml", tmp_path)
    assert e.value.diagnostics[0].code == "KF302"

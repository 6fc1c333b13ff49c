"""The MLProject v1alpha1 root model, assembled from the component registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, create_model

from kfconf.components import REGISTRY
from kfconf.spec.types import Email, Model, Name

API_VERSION = "kfconf.dev/v1alpha1"


class Metadata(Model):
    name: Name
    owner: Email | None = None
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class Source(Model):
    path: str = "."
    image_workdir: str = Field("/app", alias="imageWorkdir", pattern=r"^/")


class SpecBase(Model):
    stack: str = "kubeflow-latest"
    """A built-in stack name, or a path to the project's own stack file (./stacks/NAME.yaml)."""
    source: Source = Field(default_factory=Source)
    images: dict[str, str] = Field(default_factory=dict)
    """Named images; entries refer to them by name (`image: trainer`) or give a full reference."""

    if TYPE_CHECKING:  # the component sections are added from the registry below; the profile is always there
        from kfconf.components.profile.spec import ProfileSpec

        profile: ProfileSpec


def _section_field(c: Any) -> tuple[Any, Any]:
    if not c.many:
        return (c.model, ...) if c.required else (c.model | None, None)
    return (list[c.model], Field(default_factory=list))


ProjectSpec: type[SpecBase] = create_model(  # type: ignore[call-overload]
    "ProjectSpec", __base__=SpecBase, **{c.key: _section_field(c) for c in REGISTRY}
)


class MLProject(Model):
    api_version: Literal["kfconf.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["MLProject"]
    metadata: Metadata
    if TYPE_CHECKING:
        spec: SpecBase
    else:
        spec: ProjectSpec

    def section(self, key: str) -> Any:
        return getattr(self.spec, key)

    def entries(self, key: str) -> list[Any]:
        value = getattr(self.spec, key)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else [value]

"""Images: names pointing at a target descriptor in the content store."""

from __future__ import annotations

from dataclasses import dataclass, field

# media types (OCI image-spec and Docker's schema2)
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)
LAYER_TYPES = (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, DOCKER_LAYER, DOCKER_LAYER_GZIP,
               "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")

# the label upstream's image name annotation carries (OCI layouts, ctr import)
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"


@dataclass
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: dict[str, str] | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"mediaType": self.media_type, "digest": self.digest,
                                  "size": self.size}
        if self.annotations:
            out["annotations"] = self.annotations
        if self.platform:
            out["platform"] = self.platform
        return out

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Descriptor:
        ann = d.get("annotations") or {}
        plat = d.get("platform")
        return cls(media_type=str(d.get("mediaType", "")), digest=str(d.get("digest", "")),
                   size=int(d.get("size", 0)),  # type: ignore[call-overload]
                   annotations={str(k): str(v) for k, v in ann.items()}  # type: ignore[attr-defined]
                   if isinstance(ann, dict) else {},
                   platform={str(k): str(v) for k, v in plat.items()}
                   if isinstance(plat, dict) else None)

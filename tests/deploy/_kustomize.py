"""A small Kustomize renderer limited to the features deploy/k8s uses.

Why: the tests must render the overlays on machines without a `kustomize`/`kubectl` binary
(CI installs only the uv workspace). This module implements exactly the subset of
Kustomize v5 that deploy/k8s relies on and refuses anything else, so a manifest that
starts using another feature fails loudly here instead of being rendered wrongly:

- `resources`: YAML files inside the kustomization directory, or directories holding a
  kustomization (bases, built recursively);
- `patches`: strategic-merge patches from `path`, optionally with a `target` selecting
  by `kind`, `name` and `labelSelector` (`k=v[,k=v]`). Lists under a pod spec merge by
  their Kubernetes merge key (containers/initContainers/volumes/env by name, volumeMounts
  by mountPath, ports by containerPort); a `null` deletes a field; other lists replace;
- `configMapGenerator` / `secretGenerator` with `literals`, `envs`, `files` and
  `behavior: create|merge`, named with Kustomize's content-hash suffix, and the rewriting
  of references to them in pod specs (envFrom, env valueFrom, volumes);
- `images` (`name`, `newName`, `newTag`);
- `labels` (`pairs`, `includeTemplates`; `includeSelectors` must stay false);
- `namespace` (set on every namespaced resource).

Files referenced by a kustomization must lie inside its directory, as with Kustomize's
default load restrictor. When a real `kustomize` or `kubectl` is on PATH,
tests/deploy/test_kustomize.py checks that this renderer's output equals the real one.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "patches",
    "configMapGenerator",
    "secretGenerator",
    "images",
    "labels",
    "namespace",
}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
# strategic-merge keys of the pod-spec lists the patches touch
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}


class UnsupportedKustomization(ValueError):
    """The kustomization uses something this renderer does not implement."""


def render(directory: Path) -> list[Resource]:
    """Build the kustomization in `directory` like `kustomize build` does."""
    resources, generated = _build(Path(directory).resolve())
    _apply_hash_suffixes(resources, generated)
    for resource in resources:
        resource.pop("__generated__", None)
    return resources


# ------------------------------------------------------------------------------ build


def _build(root: Path) -> tuple[list[Resource], dict[tuple[str, str], Resource]]:
    kustomization = _load_kustomization(root)
    resources: list[Resource] = []
    generated: dict[tuple[str, str], Resource] = {}

    for entry in kustomization.get("resources", []):
        path = (root / entry).resolve()
        if path.is_dir():
            sub_resources, sub_generated = _build(path)
            resources += sub_resources
            generated.update(sub_generated)
        else:
            _inside(root, path)
            resources += _load_yaml_documents(path)

    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for spec in kustomization.get(key, []):
            _generate(root, kind, spec, resources, generated)

    for patch in kustomization.get("patches", []):
        _apply_patch(root, patch, resources)
    if "namespace" in kustomization:
        _set_namespace(kustomization["namespace"], resources)
    for label_spec in kustomization.get("labels", []):
        _apply_labels(label_spec, resources)
    for image in kustomization.get("images", []):
        _apply_image(image, resources)
    return resources, generated


def _load_kustomization(root: Path) -> dict[str, Any]:
    path = root / "kustomization.yaml"
    if not path.is_file():
        raise UnsupportedKustomization(f"{root} has no kustomization.yaml")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = set(data) - SUPPORTED_FIELDS
    if unknown:
        raise UnsupportedKustomization(f"{path}: unsupported fields {sorted(unknown)}")
    return data


def _inside(root: Path, path: Path) -> Path:
    if not path.is_relative_to(root):
        raise UnsupportedKustomization(f"{path} is outside the kustomization root {root}")
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def _load_yaml_documents(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


# ------------------------------------------------------------------------- generators


def _generate(
    root: Path,
    kind: str,
    spec: dict[str, Any],
    resources: list[Resource],
    generated: dict[tuple[str, str], Resource],
) -> None:
    unknown = set(spec) - {"name", "behavior", "literals", "envs", "files"}
    if unknown:
        raise UnsupportedKustomization(f"{kind} generator: unsupported fields {sorted(unknown)}")
    name = spec["name"]
    data: dict[str, str] = {}

    def put(key: str, value: str) -> None:
        if key in data:
            raise ValueError(f"{kind} {name}: key {key} given twice")
        data[key] = value

    for literal in spec.get("literals", []):
        put(*_split_pair(literal))
    for env_file in spec.get("envs", []):
        for line in _inside(root, (root / env_file).resolve()).read_text().splitlines():
            stripped = line.lstrip()
            if stripped and not stripped.startswith("#"):
                put(*_split_pair(stripped))
    for file_spec in spec.get("files", []):
        key, _, file_path = file_spec.rpartition("=")
        path = _inside(root, (root / file_path).resolve())
        put(key or path.name, path.read_text())

    behavior = spec.get("behavior", "create")
    existing = generated.get((kind, name))
    if behavior == "merge":
        if existing is None:
            raise ValueError(f"{kind} {name}: behavior merge but no such generated resource")
        existing.setdefault("data", {}).update(data)
        return
    if behavior != "create":
        raise UnsupportedKustomization(f"{kind} {name}: behavior {behavior}")
    if existing is not None:
        raise ValueError(f"{kind} {name} generated twice")
    resource: Resource = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    resource["data"] = data
    if kind == "Secret":
        resource["type"] = "Opaque"
    resource["__generated__"] = name
    generated[(kind, name)] = resource
    resources.append(resource)


def _split_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _base64(value: str) -> str:
    """Base64 as Kustomize writes Secret data: lines of 70 characters, each ending in a
    newline once the value needs more than one line (kyaml encodeBase64)."""
    encoded = base64.b64encode(value.encode()).decode()
    if len(encoded) < 70:
        return encoded
    return "".join(encoded[i : i + 70] + "\n" for i in range(0, len(encoded), 70))


def _hash_suffix(resource: Resource) -> str:
    """Kustomize's name hash: sha256 of Go's JSON encoding of {kind, name, data[, type]}.

    `name` is always "": Kustomize's hasher looks the name up with a "metadata/name" path
    that its Lookup does not split, so the name never enters the hash (api/hasher).
    """
    encoded: dict[str, Any] = {"kind": resource["kind"], "name": "", "data": resource["data"]}
    if resource["kind"] == "Secret":
        encoded["type"] = resource["type"]
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Go's encoding/json escapes these for HTML safety
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _apply_hash_suffixes(
    resources: list[Resource], generated: dict[tuple[str, str], Resource]
) -> None:
    renamed: dict[tuple[str, str], str] = {}
    for (kind, name), resource in generated.items():
        if kind == "Secret":
            resource["data"] = {key: _base64(value) for key, value in resource["data"].items()}
        new_name = f"{name}-{_hash_suffix(resource)}"
        resource["metadata"]["name"] = new_name
        renamed[(kind, name)] = new_name
    for resource in resources:
        for pod_spec in _pod_specs(resource):
            _rename_references(pod_spec, renamed)


def _rename_references(pod_spec: dict[str, Any], renamed: dict[tuple[str, str], str]) -> None:
    def fix(ref: dict[str, Any] | None, kind: str, field: str = "name") -> None:
        if ref and (kind, ref.get(field)) in renamed:
            ref[field] = renamed[(kind, ref[field])]

    for container in pod_spec.get("containers", []) + pod_spec.get("initContainers", []):
        for source in container.get("envFrom", []):
            fix(source.get("configMapRef"), "ConfigMap")
            fix(source.get("secretRef"), "Secret")
        for env in container.get("env", []):
            value_from = env.get("valueFrom", {})
            fix(value_from.get("configMapKeyRef"), "ConfigMap")
            fix(value_from.get("secretKeyRef"), "Secret")
    for volume in pod_spec.get("volumes", []):
        fix(volume.get("configMap"), "ConfigMap")
        fix(volume.get("secret"), "Secret", "secretName")
        if "projected" in volume:
            raise UnsupportedKustomization("projected volumes")


# ----------------------------------------------------------------------- transformers


def _pod_specs(resource: Resource) -> list[dict[str, Any]]:
    if resource.get("kind") in POD_TEMPLATE_KINDS:
        return [resource["spec"]["template"]["spec"]]
    if resource.get("kind") == "CronJob":
        return [resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if resource.get("kind") == "Pod":
        return [resource["spec"]]
    return []


def _apply_patch(root: Path, patch: dict[str, Any], resources: list[Resource]) -> None:
    unknown = set(patch) - {"path", "target"}
    if unknown:
        raise UnsupportedKustomization(f"patch fields {sorted(unknown)} (only path, target)")
    body = yaml.safe_load(_inside(root, (root / patch["path"]).resolve()).read_text())
    if not isinstance(body, dict) or "kind" not in body:
        raise UnsupportedKustomization(f"{patch['path']}: only strategic-merge patches")
    target = patch.get("target") or {"kind": body["kind"], "name": body["metadata"]["name"]}
    unknown = set(target) - {"kind", "name", "labelSelector"}
    if unknown:
        raise UnsupportedKustomization(f"patch target fields {sorted(unknown)}")
    wanted_labels = dict(
        _split_pair(pair) for pair in target.get("labelSelector", "").split(",") if pair
    )
    body = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
    body["metadata"] = {k: v for k, v in body.get("metadata", {}).items() if k != "name"}
    if not body["metadata"]:
        del body["metadata"]
    matched = False
    for resource in resources:
        labels = resource["metadata"].get("labels", {})
        if (
            resource["kind"] == target.get("kind", resource["kind"])
            and resource["metadata"]["name"] == target.get("name", resource["metadata"]["name"])
            and all(labels.get(k) == v for k, v in wanted_labels.items())
        ):
            _strategic_merge(resource, body)
            matched = True
    if not matched:
        raise ValueError(f"patch {patch['path']} matched no resource")


def _strategic_merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if key.startswith("$"):
            raise UnsupportedKustomization(f"patch directive {key}")
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _strategic_merge(into[key], value)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(into.get(key), list):
            # As kustomize (kyaml) orders an associative list: the patch's items first (merged
            # with the original item of the same key), then the original items it did not name.
            merge_key = MERGE_KEYS[key]
            by_key = {item[merge_key]: item for item in into[key]}
            merged = []
            for item in value:
                if item[merge_key] in by_key:
                    _strategic_merge(by_key[item[merge_key]], item)
                    merged.append(by_key[item[merge_key]])
                else:
                    merged.append(copy.deepcopy(item))
            named = {item[merge_key] for item in value}
            into[key] = merged + [item for item in into[key] if item[merge_key] not in named]
        else:
            into[key] = copy.deepcopy(value)


def _set_namespace(namespace: str, resources: list[Resource]) -> None:
    for resource in resources:
        if resource["kind"] == "Namespace":
            if resource["metadata"]["name"] != namespace:
                raise UnsupportedKustomization("a Namespace resource named unlike `namespace`")
        elif resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = namespace


def _apply_labels(spec: dict[str, Any], resources: list[Resource]) -> None:
    unknown = set(spec) - {"pairs", "includeTemplates", "includeSelectors"}
    if unknown or spec.get("includeSelectors"):
        raise UnsupportedKustomization("labels: only pairs and includeTemplates")
    pairs = spec["pairs"]
    for resource in resources:
        resource["metadata"].setdefault("labels", {}).update(pairs)
        if spec.get("includeTemplates") and resource["kind"] in POD_TEMPLATE_KINDS:
            template_meta = resource["spec"]["template"].setdefault("metadata", {})
            template_meta.setdefault("labels", {}).update(pairs)
        elif spec.get("includeTemplates") and resource["kind"] == "CronJob":
            raise UnsupportedKustomization("labels on CronJob templates")


def _apply_image(spec: dict[str, Any], resources: list[Resource]) -> None:
    unknown = set(spec) - {"name", "newName", "newTag"}
    if unknown:
        raise UnsupportedKustomization(f"images fields {sorted(unknown)}")
    for resource in resources:
        for pod_spec in _pod_specs(resource):
            for container in pod_spec.get("containers", []) + pod_spec.get("initContainers", []):
                name, tag = _split_image(container["image"])
                if name == spec["name"]:
                    name = spec.get("newName", name)
                    tag = spec.get("newTag", tag)
                    container["image"] = f"{name}:{tag}" if tag else name


def _split_image(image: str) -> tuple[str, str]:
    if "@" in image:
        raise UnsupportedKustomization(f"image digests ({image})")
    last_part = image.rsplit("/", 1)[-1]
    if ":" in last_part:
        name, _, tag = image.rpartition(":")
        return name, tag
    return image, ""

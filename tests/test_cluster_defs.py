"""The cluster definitions shipped in ``cluster/``: launcher YAMLs and the KubeRay RayJob.

The launcher files are checked against the JSON schema inside the installed ``ray``
package (the one ``ray up`` validates with); the RayJob against the structure KubeRay's
``ray.io/v1`` API requires, since no Kubernetes API server is at hand.
"""

from __future__ import annotations

import json
import re
import shlex
from importlib import metadata, resources
from importlib.util import find_spec
from pathlib import Path

import jsonschema
import pytest
import yaml

RAY_VERSION = metadata.version("ray")
CLUSTER_FILES = resources.files("cluster")
ROOT = Path(__file__).resolve().parent.parent


def load(name: str) -> dict:
    return yaml.safe_load((CLUSTER_FILES / name).read_text())


def ray_schema() -> dict:
    (ray_dir,) = find_spec("ray").submodule_search_locations
    return json.loads((Path(ray_dir) / "autoscaler" / "ray-schema.json").read_text())


@pytest.fixture(params=["aws.yaml", "gcp.yaml"])
def launcher(request) -> tuple[str, dict]:
    return request.param, load(request.param)


def test_shipped_as_package_data():
    names = {p.name for p in CLUSTER_FILES.iterdir()}
    assert {"aws.yaml", "gcp.yaml", "kuberay-rayjob.yaml"} <= names


def test_launcher_matches_rays_schema(launcher):
    name, config = launcher
    jsonschema.validate(config, ray_schema())
    assert config["provider"]["type"] == name.removesuffix(".yaml")


def test_launcher_has_cpu_head_and_autoscaling_gpu_workers(launcher):
    _, config = launcher
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("CPU") == 0, "the head runs the driver, not trials"
    assert "--num-cpus=0" in " ".join(config["head_start_ray_commands"])
    workers = [t for name, t in types.items() if name != config["head_node_type"]]
    assert workers
    for w in workers:
        assert 0 <= w["min_workers"] <= w["max_workers"] <= config["max_workers"]
        node = w["node_config"]
        if config["provider"]["type"] == "aws":
            # Ray reads AWS resources from the instance type: g5 carries NVIDIA A10G GPUs.
            assert re.match(r"^(g4dn|g5|g6|p3|p4d|p5)\.", node["InstanceType"])
        else:
            assert w["resources"]["GPU"] >= 1
            accel = node["guestAccelerators"][0]
            assert accel["acceleratorCount"] == w["resources"]["GPU"]
            assert accel["acceleratorType"].startswith("nvidia-")


def test_launcher_installs_this_project_and_pins_ray(launcher):
    _, config = launcher
    setup = " ".join(config["setup_commands"])
    assert f'"ray[default,tune]=={RAY_VERSION}"' in setup
    mounts = config["file_mounts"]
    project_on_node = next(remote for remote, local in mounts.items() if local == ".")
    assert f"pip install {project_on_node}" in setup
    docker = config["docker"]
    for image in (docker["head_image"], docker["worker_image"]):
        assert image.startswith(f"rayproject/ray:{RAY_VERSION}-")
    assert docker["worker_image"].endswith("-gpu")
    for excluded in (".venv", ".git", "biril-results", "data"):
        assert excluded in config["rsync_exclude"]


def test_launcher_turns_token_auth_on_everywhere(launcher):
    _, config = launcher
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = [c for c in config[key] if "ray start" in c]
        assert start and all("RAY_AUTH_MODE=token" in c for c in start)
    assert config["file_mounts"]["/home/ray/.ray/auth_token"] == "~/.ray/auth_token"


# ----------------------------------------------------------------------------- KubeRay


def containers(pod_template: dict) -> list[dict]:
    return pod_template["spec"]["containers"]


def test_rayjob_structure():
    job = load("kuberay-rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1"
    assert job["kind"] == "RayJob"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", job["metadata"]["name"])
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == RAY_VERSION
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    (head_container,) = containers(head["template"])
    groups = cluster["workerGroupSpecs"]
    assert groups
    for g in groups:
        assert g["groupName"]
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        (worker,) = containers(g["template"])
        assert worker["image"] == head_container["image"], "one image for the whole cluster"
        limits = worker["resources"]["limits"]
        assert int(limits["nvidia.com/gpu"]) >= 1
        assert worker["resources"]["requests"]["nvidia.com/gpu"] == limits["nvidia.com/gpu"]


def test_rayjob_entrypoint_runs_a_shipped_sweep_on_shared_storage():
    from sweeps.spec import shipped_specs

    job = load("kuberay-rayjob.yaml")
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:4] == ["python", "-m", "birilcli", "sweep"]
    assert argv[4] in shipped_specs()
    storage = argv[argv.index("--storage") + 1]
    cluster = job["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]] + [
        g["template"] for g in cluster["workerGroupSpecs"]
    ]
    for pod in pods:
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        mounts = {m["mountPath"]: m["name"] for c in containers(pod) for m in c["volumeMounts"]}
        assert storage in mounts, "every pod must see the results root at the same path"
        assert "persistentVolumeClaim" in volumes[mounts[storage]]


def test_rayjob_token_auth_from_a_secret_on_every_container():
    job = load("kuberay-rayjob.yaml")
    cluster = job["spec"]["rayClusterSpec"]
    pods = [job["spec"]["submitterPodTemplate"], cluster["headGroupSpec"]["template"]]
    pods += [g["template"] for g in cluster["workerGroupSpecs"]]
    for pod in pods:
        for c in containers(pod):
            env = {e["name"]: e for e in c["env"]}
            assert env["RAY_AUTH_MODE"]["value"] == "token"
            secret = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
            assert secret["name"] and secret["key"]


def test_dockerfile_copies_every_shipped_package_and_pins_ray():
    text = (ROOT / "cluster" / "Dockerfile").read_text()
    assert f"FROM rayproject/ray:{RAY_VERSION}-" in text
    assert f'"ray[default,tune]=={RAY_VERSION}"' in text
    copied = {
        src for line in text.splitlines() if line.startswith("COPY")
        for src in line.split()[2:-1]
    }
    # What ``pip install .`` in the image needs: every package of the tree, pyproject.toml
    # and the readme it names.
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages | {"pyproject.toml", "README.md"} <= copied
    assert all((ROOT / src).exists() for src in copied), copied


def test_a_submitted_job_ships_every_package_of_the_tree():
    from cluster.submit import SHIPPED_PACKAGES

    # The job runs ``python -m birilcli``, which imports the rest: a package left out would
    # run the cluster's installed copy, or fail to import.
    assert set(SHIPPED_PACKAGES) == {p.parent.name for p in ROOT.glob("*/__init__.py")}

"""The deploy/ files keep the promises the README's "Scale-out" section makes about them."""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MOUNT = "/data/artifacts"


def _docs(name: str) -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d}


def _pods(cluster: dict) -> dict[str, dict]:
    spec = cluster["spec"]
    return {"head": spec["headGroupSpec"], **{g["groupName"]: g for g in spec["workerGroupSpecs"]}}


def test_every_ray_pod_mounts_the_shared_volume_at_the_artifacts_path():
    docs = _docs("raycluster.yaml")
    claim = docs["PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    app = _docs("app.yaml")["Deployment"]["spec"]["template"]["spec"]
    for name, group in {**_pods(docs["RayCluster"]), "app": {"template": {"spec": app}}}.items():
        spec = group["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        (container,) = spec["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert volumes[mounts[MOUNT]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"], name
        assert {"name": "BAYES_ARTIFACTS_DIR", "value": MOUNT} in container["env"], name


def test_gpu_jobs_have_a_gpu_group_and_cpu_jobs_stay_off_the_head():
    pods = _pods(_docs("raycluster.yaml")["RayCluster"])
    gpu = pods["gpu"]
    assert gpu["rayStartParams"]["num-gpus"] == "1" and gpu["minReplicas"] >= 1
    (container,) = gpu["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1 and container["image"].endswith("-gpu")
    assert pods["head"]["rayStartParams"]["num-cpus"] == "0"
    assert all("nvidia.com/gpu" not in pods[g]["template"]["spec"]["containers"][0]["resources"]["limits"]
               for g in ("head", "cpu"))


def test_token_authentication_from_one_secret_for_the_cluster_and_the_app():
    cluster = _docs("raycluster.yaml")["RayCluster"]
    assert cluster["spec"]["authOptions"] == {"mode": "token", "secretName": "bayes-ray-token"}
    assert cluster["spec"]["rayVersion"] == "2.60.0"
    env = {e["name"]: e for e in _docs("app.yaml")["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "bayes-ray-token", "key": "auth_token"}
    assert env["BAYES_JOB_RUNNER"]["value"] == "ray"
    assert env["RAY_ADDRESS"]["value"] == f"http://{cluster['metadata']['name']}-head-svc:8265"
    requirements = (DEPLOY.parent / "requirements.txt").read_text()
    assert "ray[default]==2.60.0" in requirements  # the app's client and the cluster run the same Ray

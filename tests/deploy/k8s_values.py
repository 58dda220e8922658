#!/usr/bin/python3
"""k8s_values.py SKIPSERVE MODELS K8S.yaml [HPA-VARIANT.yaml...] — do the
values in the manifests agree with each other, with docker/Dockerfile and
with the server itself? Starts the real server (loopback, port 0) with the
Deployment's environment to check that it accepts it and serves the probe
and metric paths the manifests name. Prints "ok"/"FAIL" lines; exit 1 on any
failure."""
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import yaml

FAILS = []
# skipserve's --auth-open default (server/config.c)
DEFAULT_AUTH_OPEN = "/healthz,/readyz,/v2/health/live,/v2/health/ready"


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)
    return cond


def seconds(dur):
    """skipserve's DUR syntax: 30, 30s or 500ms."""
    m = re.fullmatch(r"(\d+)(ms|s)?", dur)
    if not m:
        return None
    return int(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def cpus(q):
    m = re.fullmatch(r"(\d+)(m?)", str(q))
    return int(m.group(1)) / (1000 if m.group(2) else 1) if m else None


def subset(small, big):
    return bool(small) and all(big.get(k) == v for k, v in small.items())


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def main(binary, models_dir, manifest, *variants):
    docs = {d["kind"]: d for d in yaml.safe_load_all(open(manifest)) if d}
    dep, svc, pdb = docs["Deployment"], docs["Service"], docs["PodDisruptionBudget"]
    hpas = [docs["HorizontalPodAutoscaler"]] + [
        d for f in variants for d in yaml.safe_load_all(open(f)) if d and d["kind"] == "HorizontalPodAutoscaler"]
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    c = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c.get("env", [])}
    ports = {p.get("name"): p["containerPort"] for p in c["ports"]}
    dockerfile = open(os.path.join(os.path.dirname(manifest), "Dockerfile")).read()

    # --- resources against the thread counts ---------------------------------------
    lim, req = c["resources"]["limits"], c["resources"]["requests"]
    ncpu = cpus(lim["cpu"])
    check(lim == req, f"requests = limits ({req}): Guaranteed QoS, whole CPUs for the engine threads")
    check(ncpu is not None and ncpu == int(ncpu) and int(env.get("SKIPSERVE_THREADS", -1)) == ncpu,
          f"SKIPSERVE_THREADS ({env.get('SKIPSERVE_THREADS')}) = the CPU limit ({lim['cpu']})")
    for k in ("SKIPSERVE_PREP_THREADS", "SKIPSERVE_HTTP_THREADS"):
        check(k in env and 1 <= int(env[k]) <= ncpu,
              f"{k} ({env.get(k)}) set and within the CPU limit (its default counts the node's CPUs)")

    # --- shutdown: grace >= preStop + drain + the 2 s answer flush ------------------
    pre = c["lifecycle"]["preStop"]["exec"]["command"]
    sleep = float(pre[1]) if len(pre) == 2 and pre[0] == "sleep" else None
    drain = seconds(env.get("SKIPSERVE_DRAIN_TIMEOUT", "30s"))
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    check(sleep is not None and drain is not None and grace >= sleep + drain + 2,
          f"terminationGracePeriodSeconds {grace} >= preStop sleep {sleep} + drain {drain} + 2 s flush")

    # --- names that must agree ------------------------------------------------------
    m = re.search(r"SKIPSERVE_PORT=(\d+)", dockerfile)
    check(m and ports.get("http") == int(m.group(1)),
          f"containerPort {ports.get('http')} = the image's SKIPSERVE_PORT {m and m.group(1)}")
    m = re.search(r"^USER (\d+)", dockerfile, re.M)
    check(m and pod["spec"]["securityContext"].get("runAsUser") == int(m.group(1)),
          f"runAsUser = the image's USER {m and m.group(1)}")
    ann = pod["metadata"].get("annotations", {})
    check(int(ann.get("prometheus.io/port", 0)) == ports.get("http"), "prometheus.io/port = containerPort")
    check(subset(dep["spec"]["selector"]["matchLabels"], labels), "Deployment selector matches its pod labels")
    check(subset(svc["spec"]["selector"], labels), "Service selector matches the pod labels")
    check(all(p["targetPort"] in ports or p["targetPort"] in ports.values() for p in svc["spec"]["ports"]),
          "Service targetPort names a container port")
    check(subset(pdb["spec"]["selector"]["matchLabels"], labels), "PodDisruptionBudget selector matches the pod labels")
    probes = {k: c[k] for k in ("startupProbe", "livenessProbe", "readinessProbe") if k in c}
    check(len(probes) == 3 and all(p["httpGet"]["port"] in ports for p in probes.values()),
          "startup, liveness and readiness probes on a named container port")
    for h in hpas:
        ref = h["spec"]["scaleTargetRef"]
        check(ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"],
              f"HPA ({h['spec']['metrics'][0]['type']}) targets the Deployment")
        mn = h["spec"].get("minReplicas", 1)
        pu = pdb["spec"]
        evictable = pu["maxUnavailable"] >= 1 if "maxUnavailable" in pu else mn - pu["minAvailable"] >= 1
        check(2 <= mn <= h["spec"]["maxReplicas"] and evictable,
              f"HPA minReplicas {mn}: 2 or more, and the PDB lets a node drain evict one of them")

    # --- API keys: the kubelet's probes and the scrape carry no key ------------------
    if "SKIPSERVE_API_KEYS" in env:
        open_paths = set(env.get("SKIPSERVE_AUTH_OPEN", DEFAULT_AUTH_OPEN).split(","))
        need = {p["httpGet"]["path"] for p in probes.values()} | {ann.get("prometheus.io/path", "/metrics")}
        check(need <= open_paths, f"with API keys, the probe and scrape paths are open: {sorted(need - open_paths) or 'yes'}")

    # --- the server: the manifest's environment, probe paths, metrics, SIGTERM ------------
    out = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    known = set(re.findall(r"\[(SKIPSERVE_[A-Z_]+)\]", out))
    check(set(env) <= known, f"every env name is a skipserve option: {sorted(set(env) - known) or 'yes'}")
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("SKIPSERVE_")}
    run_env.update(env)
    if "SKIPSERVE_API_KEYS" in env:  # the Secret's file, here: one generated key
        keys = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"k8s-values-keys.{os.getpid()}")
        with open(keys, "w") as f:
            f.write(os.urandom(24).hex() + "\n")
        run_env["SKIPSERVE_API_KEYS"] = keys
    p = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", "0", "--models", models_dir],
                         env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = None
    for line in p.stderr:
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if not check(port, "skipserve starts with the Deployment's environment"):
        p.kill()
        return 1
    base = f"http://127.0.0.1:{port}"
    live = {k: v["httpGet"]["path"] for k, v in probes.items()}
    # liveness must answer while models still load, or a slow load restarts the pod
    st = get(base + live["livenessProbe"])[0]
    check(st == 200, f"liveness {live['livenessProbe']} answers 200 from the start ({st})")
    ready = 0
    for _ in range(600):
        ready = get(base + live["readinessProbe"])[0]
        if ready in (200, 404):  # 404: no such path, waiting will not help
            break
        time.sleep(0.1)
    check(ready == 200, f"readiness {live['readinessProbe']} turns 200 once the models are warm")
    check(get(base + live["startupProbe"])[0] == 200, f"startup {live['startupProbe']} answers 200")
    st, metrics = get(base + ann.get("prometheus.io/path", "/metrics"))
    check(st == 200 and "# TYPE skipserve_requests_total counter" in metrics,
          f"prometheus.io/path {ann.get('prometheus.io/path')} serves Prometheus text")
    for h in hpas:
        for mt in h["spec"]["metrics"]:
            if mt["type"] == "Pods":
                name = mt["pods"]["metric"]["name"]
                check(re.search(rf"^# TYPE {name} gauge$", metrics, re.M) is not None,
                      f"custom metric {name} is a gauge in /metrics")
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=drain + 5)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "killed"
    check(rc == 0, f"SIGTERM: exit 0 in {time.time() - t0:.2f} s (within the drain timeout)")
    if "SKIPSERVE_API_KEYS" in env:
        os.unlink(run_env["SKIPSERVE_API_KEYS"])
    print(f"k8s_values: {len(FAILS)} failed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

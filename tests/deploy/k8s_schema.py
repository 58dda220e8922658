#!/usr/bin/python3
"""k8s_schema.py FILE... — check Kubernetes manifests against the API's own
types, offline, with the models of Debian's python3-kubernetes (generated
from the Kubernetes OpenAPI spec). Per document: apiVersion/kind name a known
type; every field exists at its place (a typo like `replica:` or a probe's
`path` one level too high fails: the API server would drop or reject it);
scalars have the spec's type; required fields are present.
autoscaling/v2 is checked against the v2beta2 models (python3-kubernetes 22
predates v2's promotion, which kept the schema unchanged).
Stricter than the API server in one way: quantities must be quoted strings.
Prints one line per document; exit 1 on any error."""
import re
import sys

import yaml
from kubernetes import client
from kubernetes.client import models

# versions whose schema an older generated client has under another name
ALIASES = {"V2HorizontalPodAutoscaler": "V2beta2HorizontalPodAutoscaler"}


def model_for(api_version, kind):
    ver = api_version.split("/")[-1]
    name = ver[0].upper() + ver[1:] + kind
    name = name if hasattr(models, name) else ALIASES.get(name, name)
    return getattr(models, name, None) and name


def walk(value, typ, path, errs):
    """Check `value` against the client's type string `typ`."""
    m = re.fullmatch(r"list\[(.+)\]", typ)
    if m:
        if not isinstance(value, list):
            errs.append(f"{path}: a list expected, got {type(value).__name__}")
            return
        for i, v in enumerate(value):
            walk(v, m.group(1), f"{path}[{i}]", errs)
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", typ)
    if m:
        if not isinstance(value, dict):
            errs.append(f"{path}: a map expected")
            return
        for k, v in value.items():
            walk(v, m.group(1), f"{path}.{k}", errs)
        return
    if typ == "object":  # IntOrString and free-form fields
        return
    scalars = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str}
    if typ in scalars:
        ok = isinstance(value, scalars[typ]) and not (typ == "int" and isinstance(value, bool))
        if not ok:
            errs.append(f"{path}: {typ} expected, got {value!r}")
        return
    cls = getattr(models, typ)
    if not isinstance(value, dict):
        errs.append(f"{path}: an object ({typ}) expected")
        return
    by_json = {j: a for a, j in cls.attribute_map.items()}
    for k, v in value.items():
        if k not in by_json:
            errs.append(f"{path}.{k}: no such field in {typ}")
        else:
            walk(v, cls.openapi_types[by_json[k]], f"{path}.{k}", errs)


def main(files):
    api = client.ApiClient()
    bad = 0
    for f in files:
        for i, doc in enumerate(d for d in yaml.safe_load_all(open(f)) if d):
            where = f"{f}#{i} {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            name = model_for(doc.get("apiVersion", ""), doc.get("kind", ""))
            errs = []
            if not name:
                errs.append(f"unknown apiVersion/kind {doc.get('apiVersion')} {doc.get('kind')}")
            else:
                walk(doc, name, doc["kind"], errs)
                try:  # the generated constructors enforce required fields
                    api._ApiClient__deserialize(doc, name)
                except (ValueError, TypeError) as e:
                    errs.append(f"{e}")
            for e in errs:
                print(f"k8s_schema: {where}: {e}")
            if not errs:
                print(f"k8s_schema: {where}: fits {name}")
            bad += bool(errs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

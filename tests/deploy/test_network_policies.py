"""NetworkPolicies allow exactly the contract's flows (docs/contracts.md, plus DNS and the stores'
own traffic).

The rendered policies are evaluated the way Kubernetes does: a connection is allowed when the
source's egress and the destination's ingress both allow it (a side that no policy selects, or
a peer outside the namespace, is not restricted here). The expected set is written down below
independently of the manifests, and checked against the table in docs/contracts.md.
"""

import itertools
import re
from dataclasses import dataclass

from tests.support.deploy_lib import REPO, pod_template

CONTRACT_PORTS = {
    "frontend": [3000], "backend": [8000], "orchestrator": [8001], "dataflow": [8002],
    "kafkaflow": [9094], "mongodb": [27017], "weaviate": [8080, 50051], "redis": [6379],
    "kafka": [9092], "inference": [8090],
}  # fmt: skip
# docs/contracts.md, column "talks to".
CONTRACT_TALKS_TO = {
    "frontend": {"backend"},
    "backend": {"kafka", "redis", "mongodb", "orchestrator", "dataflow", "kafkaflow"},
    "orchestrator": {"kafka", "redis", "mongodb", "weaviate", "inference"},
    "dataflow": {"kafka", "mongodb", "weaviate"},
    "kafkaflow": {"kafka"},
}
# Flows the contract implies but does not list: who reaches the edge, the stores among themselves,
# the Jobs/CronJobs that serve them, and scraping/scaling by the cluster's operators.
OTHER_FLOWS = {
    ("ingress-nginx", "frontend", 3000), ("ingress-nginx", "backend", 8000),
    ("kafka", "kafka", 9092), ("kafka", "kafka", 9093),
    ("mongodb", "mongodb", 27017),
    *{("weaviate", "weaviate", p) for p in (7100, 7101, 8300, 8301)},
    ("mongodb-init", "mongodb", 27017),
    ("backup-mongodb", "mongodb", 27017), ("backup-redis", "redis", 6379),
    ("backup-weaviate", "weaviate", 8080),
    ("kafka-exporter", "kafka", 9092), ("keda", "kafka", 9092),
    ("prometheus", "backend", 8000), ("prometheus", "orchestrator", 8001), ("prometheus", "dataflow", 8002),
    ("prometheus", "kafkaflow", 9094), ("prometheus", "weaviate", 2112), ("prometheus", "inference", 8090),
    ("prometheus", "kafka-exporter", 9308),
    ("weaviate", "internet", 443),  # backup-s3 module → object storage
    ("backend", "internet", 443),  # single sign-on → the OpenID Connect provider
}  # fmt: skip


@dataclass(frozen=True)
class Peer:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    internal: bool  # in the alice namespace, so subject to its policies

    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


EXTERNAL = [
    Peer("ingress-nginx", "ingress-nginx", (("app.kubernetes.io/name", "ingress-nginx"),), False),
    Peer("prometheus", "monitoring", (("app.kubernetes.io/name", "prometheus"),), False),
    Peer("keda", "keda", (("app", "keda-operator"),), False),
    Peer("kube-dns", "kube-system", (("k8s-app", "kube-dns"),), False),
    Peer("internet", "", (), False),
]


def peers_of(variant) -> list[Peer]:
    internal = {
        pod_template(w)["metadata"]["labels"]["app"]: tuple(
            sorted(pod_template(w)["metadata"]["labels"].items())
        )
        for w in variant.workloads()
    }
    return [
        Peer(app.removeprefix("alice-"), "alice", labels, True) for app, labels in internal.items()
    ] + EXTERNAL


def selects(selector: dict, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"evaluator does not handle {selector}"
    return selector.get("matchLabels", {}).items() <= labels.items()


def peer_matches(rule_peer: dict, peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        return peer.name == "internet"  # pod and service IPs are private ranges, all excepted
    if peer.name == "internet":
        return False
    namespace_ok = (
        selects(rule_peer["namespaceSelector"], {"kubernetes.io/metadata.name": peer.namespace})
        if "namespaceSelector" in rule_peer
        else peer.namespace == "alice"
    )
    return namespace_ok and selects(rule_peer.get("podSelector", {}), peer.label_dict())


def rule_allows(rule: dict, peer_key: str, peer: Peer, port: int, protocol: str) -> bool:
    peers = rule.get(peer_key)
    if peers is not None and not any(peer_matches(p, peer) for p in peers):
        return False
    ports = rule.get("ports")
    return ports is None or any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports)


def direction_allows(
    policies: list[dict], subject: Peer, other: Peer, port: int, protocol: str, kind: str
) -> bool:
    if not subject.internal:
        return True
    applying = [
        p
        for p in policies
        if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], subject.label_dict())
    ]
    assert applying, f"no {kind} policy selects {subject.name}: the default deny is missing"
    peer_key = "to" if kind == "Egress" else "from"
    return any(
        rule_allows(r, peer_key, other, port, protocol)
        for p in applying
        for r in p["spec"].get(kind.lower(), [])
    )


def allowed_flows(variant) -> set[tuple[str, str, int, str]]:
    policies = variant.of_kind("NetworkPolicy")
    peers = peers_of(variant)
    candidate_ports = {53, 443} | {
        p["port"]
        for pol in policies
        for kind in ("ingress", "egress")
        for r in pol["spec"].get(kind, [])
        for p in r.get("ports", [])
    }
    flows = set()
    for src, dst in itertools.product(peers, peers):
        if not (src.internal or dst.internal):
            continue
        for port, protocol in itertools.product(sorted(candidate_ports), ("TCP", "UDP")):
            if direction_allows(policies, src, dst, port, protocol, "Egress") and direction_allows(
                policies, dst, src, port, protocol, "Ingress"
            ):
                flows.add((src.name, dst.name, port, protocol))
    return flows


def design_flows() -> set[tuple[str, str, int, str]]:
    flows = {
        (src, dst, port, "TCP")
        for src, dsts in CONTRACT_TALKS_TO.items()
        for dst in dsts
        for port in CONTRACT_PORTS[dst]
    }
    return flows | {(src, dst, port, "TCP") for src, dst, port in OTHER_FLOWS}


def expected_flows(variant) -> set[tuple[str, str, int, str]]:
    """The design's flows between the peers the variant runs (dev has no backups or kafka-exporter)."""
    peers = peers_of(variant)
    names = {peer.name for peer in peers}
    expected = {f for f in design_flows() if f[0] in names and f[1] in names}
    for peer in peers:
        if peer.internal:
            expected |= {(peer.name, "kube-dns", 53, "UDP"), (peer.name, "kube-dns", 53, "TCP")}
    return expected


def test_prod_runs_every_peer_of_the_design_flows(rendered) -> None:
    names = {peer.name for peer in peers_of(rendered["prod"])}
    assert {name for flow in design_flows() for name in flow[:2]} <= names


def test_network_policies_allow_exactly_the_design_flows(variant) -> None:
    allowed = allowed_flows(variant)
    expected = expected_flows(variant)
    assert not (expected - allowed), f"blocked but needed: {sorted(expected - allowed)}"
    assert not (allowed - expected), f"allowed but not in docs/contracts.md: {sorted(allowed - expected)}"


def test_default_deny_selects_every_pod(variant) -> None:
    deny = [
        p
        for p in variant.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1


def test_evaluator_notices_a_missing_flow(rendered) -> None:
    """The policy check can fail: dropping the orchestrator's Weaviate egress is detected."""
    import copy

    variant = copy.deepcopy(rendered["prod"])
    for policy in variant.of_kind("NetworkPolicy"):
        if policy["metadata"]["name"] == "orchestrator-egress":
            policy["spec"]["egress"] = [
                r
                for r in policy["spec"]["egress"]
                if r["to"][0]["podSelector"]["matchLabels"]["app"] != "alice-weaviate"
            ]
    allowed = allowed_flows(variant)
    assert ("orchestrator", "weaviate", 8080, "TCP") not in allowed
    assert ("orchestrator", "redis", 6379, "TCP") in allowed


def contract_table() -> dict[str, set[str]]:
    names = {"MongoDB": "mongodb", "Redis": "redis", "Kafka": "kafka", "Weaviate": "weaviate"}
    table = {}
    for line in (REPO / "docs" / "contracts.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in CONTRACT_TALKS_TO:
            talks = re.sub(r"\([^)]*\)", "", cells[3])
            table[cells[0]] = {names.get(t.strip(), t.strip()) for t in talks.split(",") if t.strip()}
    return table


def test_expected_flows_are_the_contract() -> None:
    assert contract_table() == CONTRACT_TALKS_TO

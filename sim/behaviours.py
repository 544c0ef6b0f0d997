"""Agent behaviours: what each simulated node does with its (real) core.

Theory of operation: a behaviour is a named, parameterised policy for the
*agent* and its *router*, never for the protocol. Honest and dishonest agents
all run the same `node.core.Core`; they differ in which tokens they choose to
issue (a liar does not fulfil, a false fulfiller fulfils what it did not keep,
a bad-mouther issues false `assess` tokens, sybils praise each other), and in
what their network layer does with the core's outputs (a silent node sends
nothing; a free rider relays nothing and answers no sync request).
Equivocation is produced by a lost write on the node's own durable log (the
core restarts without its last token and signs the same seq again), forgery
by tampering bytes on the wire: the core itself is never modified.
sim/world.py reads these declarations.

Labels: `honest` agents are the positives of the trust-separation metric,
`malicious` ones the negatives; `selfish` (silent, free rider) are neither.
`faithful` nodes run the protocol fully and must converge after the last heal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .spec import Spec, spec

__all__ = ["Behaviour", "BEHAVIOURS"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Behaviour:
    name: str
    doc: str
    label: str  # honest | malicious | selfish
    faithful: bool = True  # runs the protocol fully (relays, serves sync, converges)
    issues: bool = True  # makes promises / fulfilments / assessments
    relays: bool = True  # its router forwards others' gossip
    serves: bool = True  # answers sync requests (Frontier, Tokens)
    sends: bool = True  # sends anything at all
    params: dict[str, Spec] = field(default_factory=dict)


def _keep(default: float) -> Spec:
    return spec(float, default, "Probability a promise is fulfilled on time.", 0.0, 1.0)


_PRAISE = spec(float, 1.0, "Probability of assessing a fellow group member's promise `kept`, "
               "whatever happened.", 0.0, 1.0)
_BADMOUTH = spec(float, 0.5, "Probability of assessing an outsider's promise `broken`, "
                 "whatever happened.", 0.0, 1.0)
_RATE = spec(float, 1.0, "Multiplier on workload.promise_rate_per_s.", 0.0, 1000.0)

BEHAVIOURS: dict[str, Behaviour] = {b.name: b for b in [
    Behaviour(name="honest", label="honest",
              doc="Keeps promises with probability keep_prob; assesses truthfully.",
              params={"keep_prob": _keep(0.95), "rate_mult": _RATE}),
    Behaviour(name="liar", label="malicious",
              doc="Makes promises and mostly does not keep them; assesses truthfully.",
              params={"keep_prob": _keep(0.1), "rate_mult": _RATE}),
    Behaviour(name="false_fulfiller", label="malicious",
              doc="Keeps promises with keep_prob but issues a `fulfil` for the ones it did "
                  "not keep too (with false_claim_prob): a claim its promisee may deny.",
              params={"keep_prob": _keep(0.2), "rate_mult": _RATE,
                      "false_claim_prob": spec(float, 1.0, "Probability of fulfilling a "
                                               "promise it did not keep.", 0.0, 1.0)}),
    Behaviour(name="badmouther", label="malicious",
              doc="Keeps its own promises, but assesses others' promises `broken` "
                  "(with badmouth_prob) regardless of the facts.",
              params={"keep_prob": _keep(0.95), "badmouth_prob": _BADMOUTH,
                      "rate_mult": _RATE}),
    # Not `faithful`: after a lost write its own view lacks the token it lost,
    # and anti-entropy does not re-sync forks below a chain's head (docs/sim.md).
    Behaviour(name="equivocator", label="malicious", faithful=False,
              doc="Every fork_every_s loses its last own token from its log (a lost write), "
                  "restarts and signs that seq again: two tokens, one seq.",
              params={"keep_prob": _keep(0.95), "rate_mult": _RATE,
                      "fork_every_s": spec(float, 120.0, "Period of lost-write restarts.",
                                           1.0, 1e7)}),
    Behaviour(name="sybil", label="malicious",
              doc="A group of fresh identities that make cheap promises, keep them, and "
                  "praise each other's (assess `kept`); may bad-mouth outsiders.",
              params={"keep_prob": _keep(1.0), "praise_prob": _PRAISE,
                      "badmouth_prob": spec(float, 0.0, _BADMOUTH.doc, 0.0, 1.0),
                      "rate_mult": spec(float, 2.0, _RATE.doc, 0.0, 1000.0)}),
    Behaviour(name="colluder", label="malicious",
              doc="Liars who vouch for each other (praise) and bad-mouth outsiders.",
              params={"keep_prob": _keep(0.2), "praise_prob": _PRAISE,
                      "badmouth_prob": spec(float, 0.3, _BADMOUTH.doc, 0.0, 1.0),
                      "rate_mult": _RATE}),
    Behaviour(name="silent", label="selfish", faithful=False, issues=False, relays=False,
              serves=False, sends=False,
              doc="Listens and sends nothing: no tokens, no relaying, no sync."),
    Behaviour(name="freerider", label="selfish", faithful=False, relays=False, serves=False,
              doc="Issues and pulls like an honest node but relays no gossip and answers "
                  "no sync request.",
              params={"keep_prob": _keep(0.95), "rate_mult": _RATE}),
    Behaviour(name="forger", label="malicious",
              doc="Every forge_every_s sends its mesh a tampered copy of a token it holds "
                  "(one flipped byte: signature or claims). No node may accept one.",
              params={"keep_prob": _keep(0.95), "rate_mult": _RATE,
                      "forge_every_s": spec(float, 20.0, "Period of forgeries.", 0.01, 1e7)}),
]}

"""troth's deterministic network simulator (docs/sim.md; docs/design.md, "Simulator").

One real `node.core.Core` per simulated node, driven by a seeded discrete-event
loop under virtual time, with a modelled network, faults and adversaries;
invariants checked while it runs. Entry points: `troth sim run|sweep|replay`
(sim/cli.py), or `load_scenario` + `run_one` from Python.
"""

from .checks import InvariantViolation
from .runner import Outcome, run_one
from .scenario import Scenario
from .scenario_file import ScenarioError, load_scenario, scenario_names
from .world import World

__all__ = ["World", "Scenario", "ScenarioError", "load_scenario", "scenario_names", "run_one",
           "Outcome", "InvariantViolation"]

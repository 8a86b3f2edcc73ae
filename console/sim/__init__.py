"""A Mandrill API simulator for the demo, the tests and anyone developing against mailops."""

from console.sim.clock import ManualClock, ScenarioClock
from console.sim.scenario import SCENARIOS, Scenario, scenario_named
from console.sim.server import DEMO_KEY, Knobs, SimServer, Simulator

__all__ = [
    "DEMO_KEY",
    "SCENARIOS",
    "Knobs",
    "ManualClock",
    "Scenario",
    "ScenarioClock",
    "SimServer",
    "Simulator",
    "scenario_named",
]

"""A local WeCom (企业微信) server for tests, benches and demos: same paths, shapes, error codes and limits.

sim = Simulator(SimConfig(seed=7))
company = sim.add_company(employees=200, customers=100_000)
base_url = sim.start()          # http://127.0.0.1:<port>; WeCom's API under /cgi-bin/, control under /sim/
"""

from .company import Company
from .config import SimConfig
from .emitter import Emitter, Scenario
from .simulator import Simulator

__all__ = ["Company", "Emitter", "Scenario", "SimConfig", "Simulator"]

"""A local emulator of the OpenAI organization Usage and Costs API.

It answers all twelve endpoints like the service (the official ``openai`` SDK parses
every page it serves), the directory routes that name their IDs (projects, users, a
project's API keys and service accounts), and the organization's and projects' hard
spend limits and spend alerts, from a deterministic synthetic organization, with fault
injection and counters for tests. Start it with
``python -m openai_usage_async.emulator``, ``async with run_emulator(...) as base_url``,
``serve_in_thread(...)``, or the pytest fixture in
:mod:`openai_usage_async.emulator.pytest_plugin`. See ``docs/emulator.md``.
"""

from .app import UNKNOWN_RESULT_OBJECT as UNKNOWN_RESULT_OBJECT
from .app import Emulator as Emulator
from .data import PRICES as PRICES
from .data import Organization as Organization
from .faults import Fault as Fault
from .faults import FaultKind as FaultKind
from .runner import run_emulator as run_emulator
from .runner import serve_in_thread as serve_in_thread
from .stats import EmulatorStatistics as EmulatorStatistics
from .stats import ReceivedRequest as ReceivedRequest

__all__ = (
    "PRICES",
    "UNKNOWN_RESULT_OBJECT",
    "Emulator",
    "EmulatorStatistics",
    "Fault",
    "FaultKind",
    "Organization",
    "ReceivedRequest",
    "run_emulator",
    "serve_in_thread",
)

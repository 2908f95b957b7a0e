"""Local Amazon Bedrock runtime emulator: wire-faithful bedrock-runtime over real sockets for tests and runs."""

from evals.emulator.options import EmulatorOptions, FaultOptions
from evals.emulator.process import EmulatorProcess

Emulator = EmulatorProcess

__all__ = ["Emulator", "EmulatorOptions", "EmulatorProcess", "FaultOptions"]

"""The GPU hardware a deployment can run on: RunComfy's SKU names, and what an instance of each reports.

The SKU names are the service's own (``TURING_16`` ... ``HOPPER_141``: architecture and VRAM in GB). The GPU
model shown for each is the emulator's stand-in for ``system_stats`` (the service does not say which card a
SKU is). What an SKU costs is :mod:`~runcomfy.emulator.billing`'s, the one place that knows money. This
module is data only: it knows nothing of HTTP, deployments or time.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class Hardware:
    """One SKU: the GPU an instance of it shows, and its memory."""

    sku: str
    gpu: str
    vram_gb: int

    @property
    def vram_bytes(self) -> int:
        """VRAM as ``system_stats`` reports it."""
        return self.vram_gb * GIB


HARDWARE: dict[str, Hardware] = {
    hardware.sku: hardware
    for hardware in (
        Hardware("TURING_16", "NVIDIA T4", 16),
        Hardware("AMPERE_24", "NVIDIA A10G", 24),
        Hardware("AMPERE_48", "NVIDIA RTX A6000", 48),
        Hardware("ADA_48_PLUS", "NVIDIA L40S", 48),
        Hardware("AMPERE_80", "NVIDIA A100 80GB PCIe", 80),
        Hardware("ADA_80_PLUS", "NVIDIA H100 80GB HBM3", 80),
        Hardware("HOPPER_141", "NVIDIA H200", 141),
    )
}
SKUS = tuple(HARDWARE)
DEFAULT_SKU = "AMPERE_48"  # the official CLI's default, and the service's "instant deploy" hardware

"""Built-in GPU types. Every figure cites its source and the date it was read.

Conventions: memory in GiB (2**30 B) as the driver reports it; bandwidths in GB/s
(10**9 B/s); TFLOPS are *dense* (no 2:4 sparsity) tensor-core peaks. Where a vendor
sheet gives only sparse figures, the dense figure is half and the note says so.

Abbreviations for sources:
  AIC  = aiconfigurator-core 0.12.0 (PyPI, Apache-2.0), systems/<gpu>.yaml: NVIDIA's
         own spec figures used by its performance model; read 2026-11-27.
  DS   = the vendor's product datasheet named beside it.
"""

from __future__ import annotations

from boute.engine.catalog import GPUType
from boute.gpus.calibration import calibration_for

__all__ = ["gpu_types"]

_READ = "2026-11-27"


def _gpu(**kw) -> GPUType:
    return GPUType(calibration=calibration_for(kw["name"], kw["architecture"]), source_date=_READ, **kw)


def gpu_types() -> list[GPUType]:
    """Entry point ``boute.gpus:builtin``."""
    return [
        _gpu(
            name="H100-SXM",
            aliases=("H100", "H100-SXM5", "h100_sxm"),
            architecture="hopper",
            memory_gib=80.0,
            hbm_bandwidth_gb_per_s=3350.0,
            bf16_tflops=989.0,
            fp8_tflops=1978.0,
            intra_node_link="nvlink",
            intra_node_bandwidth_gb_per_s=450.0,
            p2p=True,
            inter_node_bandwidth_gb_per_s=50.0,
            gpus_per_node=8,
            source="AIC h100_sxm.yaml (mem_capacity 80 GiB, mem_bw 3350 GB/s, bf16 989 / fp8 1978 TFLOPS, "
            "NVLink 450 GB/s per direction, 400 Gb/s NDR per GPU); DS NVIDIA H100 Tensor Core GPU datasheet",
        ),
        _gpu(
            name="H100-PCIe",
            aliases=("h100_pcie",),
            architecture="hopper",
            memory_gib=80.0,
            hbm_bandwidth_gb_per_s=2000.0,
            bf16_tflops=756.5,
            fp8_tflops=1513.0,
            intra_node_link="pcie",
            intra_node_bandwidth_gb_per_s=64.0,
            p2p=True,
            inter_node_bandwidth_gb_per_s=50.0,
            gpus_per_node=8,
            source="AIC h100_pcie.yaml (80 GiB, 2000 GB/s, bf16 756.5 / fp8 1513 TFLOPS dense, PCIe Gen5 x16 "
            "64 GB/s without NVLink bridge); DS NVIDIA H100 datasheet (PCIe column, sparse figures halved)",
        ),
        _gpu(
            name="H200",
            aliases=("H200-SXM", "h200_sxm"),
            architecture="hopper",
            memory_gib=141.0,
            hbm_bandwidth_gb_per_s=4800.0,
            bf16_tflops=989.0,
            fp8_tflops=1978.0,
            intra_node_link="nvlink",
            intra_node_bandwidth_gb_per_s=450.0,
            p2p=True,
            inter_node_bandwidth_gb_per_s=50.0,
            gpus_per_node=8,
            source="AIC h200_sxm.yaml (mem_capacity 141 GiB, 4800 GB/s, bf16 989 / fp8 1978 TFLOPS, NVLink "
            "450 GB/s per direction); DS NVIDIA H200 Tensor Core GPU datasheet",
        ),
        _gpu(
            name="A100-80GB-SXM",
            aliases=("A100", "A100-SXM", "a100_sxm"),
            architecture="ampere",
            memory_gib=80.0,
            hbm_bandwidth_gb_per_s=2039.0,
            bf16_tflops=312.0,
            fp8_tflops=None,
            intra_node_link="nvlink",
            intra_node_bandwidth_gb_per_s=300.0,
            p2p=True,
            inter_node_bandwidth_gb_per_s=25.0,
            gpus_per_node=8,
            source="AIC a100_sxm.yaml (80 GiB, 2039 GB/s, bf16 312 TFLOPS, NVLink 300 GB/s per direction, "
            "200 Gb/s HDR per GPU); DS NVIDIA A100 datasheet (80GB SXM column); no FP8 on Ampere",
        ),
        _gpu(
            name="L40S",
            aliases=("l40s",),
            architecture="ada",
            memory_gib=44.99,
            hbm_bandwidth_gb_per_s=864.0,
            bf16_tflops=362.05,
            fp8_tflops=733.0,
            intra_node_link="pcie",
            intra_node_bandwidth_gb_per_s=32.0,
            p2p=True,
            inter_node_bandwidth_gb_per_s=50.0,
            gpus_per_node=8,
            source="AIC l40s.yaml (46068 MiB, 864 GB/s, bf16 362.05 / fp8 733 TFLOPS dense, PCIe Gen4 32 GB/s); "
            "DS NVIDIA L40S datasheet (48 GB GDDR6 with ECC)",
        ),
        _gpu(
            name="RTX-PRO-6000",
            aliases=("RTX-PRO-6000-Blackwell", "RTXPRO6000", "rtx_pro_6000_server"),
            architecture="blackwell",
            memory_gib=95.59,
            hbm_bandwidth_gb_per_s=1792.0,
            bf16_tflops=467.8,
            fp8_tflops=935.6,
            intra_node_link="pcie",
            intra_node_bandwidth_gb_per_s=64.0,
            p2p=True,
            inter_node_bandwidth_gb_per_s=50.0,
            gpus_per_node=8,
            source="AIC rtx_pro_6000_server.yaml (97887 MiB by nvidia-smi, 1792 GB/s GDDR7, bf16 467.8 / fp8 "
            "935.6 TFLOPS dense at 2430 MHz, PCIe Gen5 x16 64 GB/s, 8 per node observed 2026-07-25); "
            "DS NVIDIA RTX PRO 6000 Blackwell Server Edition datasheet (96 GB GDDR7)",
        ),
        _gpu(
            name="RTX-5090",
            aliases=("RTX5090", "5090"),
            architecture="blackwell",
            memory_gib=31.84,
            hbm_bandwidth_gb_per_s=1792.0,
            bf16_tflops=209.5,
            fp8_tflops=419.0,
            intra_node_link="pcie",
            intra_node_bandwidth_gb_per_s=64.0,
            p2p=False,
            inter_node_bandwidth_gb_per_s=12.5,
            gpus_per_node=8,
            source="DS NVIDIA RTX Blackwell GPU architecture whitepaper v1.0 (2025-01), GeForce RTX 5090: 32 GB "
            "GDDR7 (32607 MiB reported), 1792 GB/s, FP16/BF16 tensor 209.5 TFLOPS dense with FP32 accumulate, "
            "FP8 419 TFLOPS dense; PCIe Gen5 x16; GeForce driver disables P2P; 100 Gb/s Ethernet assumed "
            "between marketplace hosts",
        ),
        _gpu(
            name="RTX-4090",
            aliases=("RTX4090", "4090"),
            architecture="ada",
            memory_gib=23.99,
            hbm_bandwidth_gb_per_s=1008.0,
            bf16_tflops=165.2,
            fp8_tflops=330.3,
            intra_node_link="pcie",
            intra_node_bandwidth_gb_per_s=32.0,
            p2p=False,
            inter_node_bandwidth_gb_per_s=12.5,
            gpus_per_node=8,
            source="DS NVIDIA Ada Lovelace architecture whitepaper v1.1 (2023), GeForce RTX 4090: 24 GB GDDR6X "
            "(24564 MiB reported), 1008 GB/s, FP16/BF16 tensor 165.2 TFLOPS dense with FP32 accumulate, FP8 "
            "330.3 TFLOPS dense; PCIe Gen4 x16; GeForce driver disables P2P; 100 Gb/s Ethernet assumed",
        ),
        _gpu(
            name="A10G",
            aliases=("a10g",),
            architecture="ampere",
            memory_gib=22.49,
            hbm_bandwidth_gb_per_s=600.0,
            bf16_tflops=70.0,
            fp8_tflops=None,
            intra_node_link="pcie",
            intra_node_bandwidth_gb_per_s=32.0,
            p2p=True,
            inter_node_bandwidth_gb_per_s=12.5,
            gpus_per_node=8,
            source="AWS EC2 G5 instance page (A10G: 24 GB GDDR6, 8 per g5.48xlarge, 100 Gb/s network); 600 GB/s "
            "and about 70 TFLOPS dense FP16/BF16 tensor are the commonly reported figures (NVIDIA publishes no "
            "A10G sheet; the A10 datasheet gives 125 TFLOPS at a higher clock): treat as approximate; "
            "23028 MiB usable as reported by nvidia-smi",
        ),
        _gpu(
            name="L4",
            aliases=("l4",),
            architecture="ada",
            memory_gib=22.49,
            hbm_bandwidth_gb_per_s=300.0,
            bf16_tflops=121.0,
            fp8_tflops=242.0,
            intra_node_link="pcie",
            intra_node_bandwidth_gb_per_s=32.0,
            p2p=True,
            inter_node_bandwidth_gb_per_s=12.5,
            gpus_per_node=8,
            source="AIC l4.yaml (300 GB/s, bf16 121 / fp8 242 TFLOPS dense, PCIe Gen4 32 GB/s); DS NVIDIA L4 "
            "datasheet (24 GB GDDR6; 23034 MiB usable by nvidia-smi); 8 per AWS g6.48xlarge",
        ),
        _gpu(
            name="T4",
            aliases=("t4",),
            architecture="turing",
            memory_gib=15.0,
            hbm_bandwidth_gb_per_s=320.0,
            bf16_tflops=65.0,
            fp8_tflops=None,
            intra_node_link="pcie",
            intra_node_bandwidth_gb_per_s=16.0,
            p2p=True,
            inter_node_bandwidth_gb_per_s=12.5,
            gpus_per_node=8,
            source="DS NVIDIA T4 datasheet (16 GB GDDR6, 15360 MiB usable, 320 GB/s, 65 TFLOPS FP16 mixed "
            "precision; Turing has no BF16, so models run in FP16 at this rate; PCIe Gen3 x16 16 GB/s); "
            "8 per AWS g4dn.metal",
        ),
    ]

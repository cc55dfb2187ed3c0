"""FlashAttention's forward tile per head dim, as its launch code picks it, and how many of
its CTAs an SM holds at once (issue #17/#14).

A fused-attention kernel's tile (query rows ``block_m`` x keys per main-loop iteration
``block_n``) and warps are chosen by the library per head dim (and per GPU); the shared
memory and registers one CTA holds decide how many CTAs share an SM. Both tables below are
read from Dao-AILab/flash-attention at commit 0251105a2fb19d2957484b7f023cd8c115286ced
(2026-08-15):

- FlashAttention-2: csrc/flash_attn/src/flash_fwd_launch_template.h ``run_mha_fwd_hdim*``
  (no dropout), the head dim rounded up as csrc/flash_attn/src/static_switch.h
  ``HEADDIM_SWITCH`` does (32, 64, 96, 128, 192, 256). The head-dim 256 rule and its
  comment ("For H100 we want to run with 64 x 64 (96KB smem) since then we can get 2 CTAs
  per SM") are unchanged since the FlashAttention-2 release (4f285b35, 2023-07-17), so
  the FA2 the FA3 paper measured runs the same tiles; PyTorch vendors this launcher for
  its SDPA flash backend (the gpu-h200 measured rows), its copy not read here [M].
  Shared memory per CTA: kernel_traits.h ``kSmemSize = kSmemQSize + kSmemKVSize``, Q one
  tile, K and V one tile each: ``(block_m + 2 block_n) x D x 2`` bytes.
- FlashAttention-3: hopper/tile_size.h ``tile_size_fwd_sm90`` (16-bit elements, head dim
  of V equal to that of Q/K); warps: one producer warpgroup plus ``block_m / 64`` MMA
  warpgroups (hopper/flash_fwd_kernel_sm90.h ``NumMmaWarpGroups``, ``MaxThreadsPerBlock``);
  registers: ``LoadRegisterRequirement`` / ``MmaRegisterRequirement`` there (setmaxnreg
  hands the MMA warpgroups the register file); shared memory Q plus ``kStages = 2``
  stages of K and V (hopper/flash_fwd_launch_template.h). The head-dim 128 and 256 tiles
  and the causal head-dim 64 one equal those of the FA3 paper's code (74b0761f,
  2024-07-14: 128 x 176 / 128 x 128 causal, 128 x 80, 192 x 128).

vLLM runs FA3 from its fork, vllm-project/flash-attention (hopper/tile_size.h at 617264c1,
2026-08-06): its causal tiles are these (head dim 64: 192 x 128, 128: 128 x 128, 256:
128 x 80, also with its paged KV cache, ``paged_kv_non_TMA``); it differs only for
non-causal head dim 128 (128 x 160), head dim 192 (128 x 96) and its decode tiles
(``use_one_mma_wg``: 64 rows), which this table does not model.

cuDNN and Triton publish no such table: their ``block_m`` x ``block_n`` stay the
configured ones (``AttentionImpl.tiles = "fixed"``) at ``AttentionImpl.ctas_per_sm``.
"""

from __future__ import annotations

from dataclasses import dataclass

from codesign.errors import CodesignError

TILE_TABLES = ("fa2", "fa3", "fixed")
FA_MAX_HEAD_DIM = 256  # both tables end at 256 (HEADDIM_SWITCH; tile_size_fwd_sm90)
# FA2's forward kernels are declared without __launch_bounds__ (flash_fwd_launch_template.h
# DEFINE_FLASH_FORWARD_KERNEL), so ptxas may give each thread its 255-register cap; the
# O and S accumulators alone take block_m x (D + block_n) / (32 x warps) FP32 registers
# (160-192 at the tiles below), so the kernels sit at that cap. [M] assumption
FA2_REGS_PER_THREAD = 255
FA2_HEAD_DIMS = (32, 64, 96, 128, 192, 256)  # static_switch.h HEADDIM_SWITCH
FA3_STAGES = 2  # hopper/flash_fwd_launch_template.h: kStages = 2 on sm90


@dataclass(frozen=True)
class AttentionTile:
    """One fused-attention CTA: its tile, its warps and what it holds of an SM."""

    block_m: int
    block_n: int
    warps: int
    smem_bytes: int
    registers: int  # 32-bit registers of the whole CTA

    def ctas_per_sm(self, smem_kb: float, registers: int, max_ctas: int) -> int:
        """CTAs resident on one SM: as many as its shared memory, its register file and
        its CTA slots each hold (at least one: the library launches the tile anyway)."""
        by_smem = int(smem_kb * 1024 // self.smem_bytes) if self.smem_bytes else max_ctas
        by_regs = registers // self.registers if self.registers else max_ctas
        return max(1, min(max_ctas, by_smem, by_regs))


def _fa2_tile(D: int, causal: bool, arch: str, smem_kb: float) -> AttentionTile:
    """flash_fwd_launch_template.h run_mha_fwd_hdim{32..256}, Is_dropout = false.
    ``is_sm8x`` there is compute capability 8.x with a minor version (sm86, sm89): ``ada``
    here. The head-dim 256 rule compares the device's shared memory (per block and per SM,
    both ``smem_kb`` here) against 128 x 64 at 8 warps and two 64 x 64 CTAs."""
    hd = next(h for h in FA2_HEAD_DIMS if h >= D)
    sm8x = arch == "ada"
    if hd <= 64:
        bm, bn, warps = 128, 128, 4
    elif hd == 96:
        bm, bn, warps = (64, 64, 4) if sm8x and causal else (128, 64, 4)
    elif hd == 128:
        if sm8x:
            bm, bn, warps = (64, 64, 4) if causal else (128, 32, 4)
        else:
            bm, bn, warps = 128, 64, 4
    elif hd == 192:
        bm, bn, warps = 128, 64, 8
    else:  # 256
        smem = smem_kb * 1024
        if smem >= 2 * hd * (128 + 2 * 64) and smem < 4 * hd * (64 + 2 * 64):
            bm, bn, warps = 128, 64, 8  # A100: one 128 KiB CTA
        else:
            bm, bn, warps = 64, 64, 4  # H100 (and sm8x): two 96 KiB CTAs
    return AttentionTile(bm, bn, warps, (bm + 2 * bn) * hd * 2,
                         warps * 32 * FA2_REGS_PER_THREAD)


def _fa3_tile(D: int, causal: bool, local: bool) -> AttentionTile:
    """hopper/tile_size.h tile_size_fwd_sm90, element_size 2, headdim_v = headdim, no
    paged KV (non-TMA), no softcap."""
    if D <= 64:
        bm, bn = 192, (128 if causal or local else 192)
    elif D <= 96:
        bm, bn = 192, (128 if local else 144)
    elif D <= 128:
        bm, bn = 128, (128 if causal or local else 176)
    elif D <= 192:
        bm, bn = 128, (96 if local else 112)  # headdim_v = 192 > 128: 112
    else:
        bm, bn = 128, (64 if local else 80)
    mma_wgs = bm // 64
    load_regs = {1: 56, 2: 24, 3: 32}[mma_wgs]  # Use_TMA_KV
    mma_regs = {1: 256, 2: 240, 3: 160}[mma_wgs]
    smem = (bm * D + FA3_STAGES * bn * 2 * D) * 2
    return AttentionTile(bm, bn, 4 * (mma_wgs + 1), smem, 128 * (load_regs + mma_wgs * mma_regs))


def check_tiles(tiles: str) -> None:
    """One error line unless ``tiles`` names a :data:`TILE_TABLES` table."""
    if tiles not in TILE_TABLES:
        raise CodesignError(f"attention tiles {tiles!r} is not one of: {', '.join(TILE_TABLES)}")


def attention_tile(tiles: str, D: int, causal: bool, window: int, arch: str,
                   smem_kb: float, block_m: int, block_n: int) -> AttentionTile:
    """The tile ``tiles`` (a :data:`TILE_TABLES` name) runs at head dim ``D``; "fixed" is
    ``block_m`` x ``block_n`` with no shared-memory or register footprint stated."""
    if tiles == "fixed":
        return AttentionTile(block_m, block_n, 4, 0, 0)
    check_tiles(tiles)
    if D > FA_MAX_HEAD_DIM:
        raise CodesignError(f"head dim {D} is past FlashAttention's largest, "
                            f"{FA_MAX_HEAD_DIM}: choose attention.implementation standard")
    if tiles == "fa2":
        return _fa2_tile(D, causal, arch, smem_kb)
    return _fa3_tile(D, causal, window > 0)

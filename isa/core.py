"""The core shape a kernel generator targets (what the kernel writer tunes for)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from isa.errors import IsaError
from isa.timing import TimingParams

DTYPES = ("bf16", "fp32")
# Kernel libraries: the careful kernels of this package (``ideal``), or llama.cpp's ggml
# CPU kernels as the project expresses them (``llamacpp``: isa.kernels.ggml), the software
# that produced the published measurements of real RISC-V chips, or the Snitch cluster's
# DNN kernels (``snitch``: isa.kernels.snitch, scalar softmax with a libm expf: VEXP's
# baseline), or Ara's matrix multiply (``ara``: isa.kernels.ara, apps/fmatmul's blocked
# FP GEMM, the kernel of Ara's published utilisation).
LIBRARIES = ("ideal", "llamacpp", "snitch", "ara")
# Versions of llama.cpp's SpacemiT backend (ggml/src/ggml-cpu/spacemit/ime.cpp) whose IME
# GEMM split the ``llamacpp`` library models (isa.kernels.ime ``ggml_task_rows``):
# ``pr15288``: as first merged (PR #15288, commit 6f8d979, 2025-08/09), ``forward_mul_mat_q4``
# in tasks of 128 rows; ``pr22863``: as rewritten with IME2 support (PR #22863, reviewed
# 2026-05), ``forward_mul_mat``'s task split (the path of a core without TCM, as the K1's
# X60: ime_env.cpp gives TCM to IME2 cores only) in tasks of 16 rows unless N / M > 64.
SPACEMIT_BACKENDS = ("pr15288", "pr22863")
# ggml-cpu's simd_gemm (simd-gemm.h) in the tiled flash attention (isa.kernels.ggml_fa_tiled):
# ``rvv``: its RVV kernel (PR #20627); ``scalar``: the plain C triple loop that RISC-V builds
# compiled before it (the header's GGML_SIMD branch excluded __riscv_v_intrinsic)
FA_SIMD_GEMMS = ("rvv", "scalar")


@dataclass(frozen=True)
class Core:
    """Vector core shape seen by kernels.

    vlen/dlen: register and datapath bits (riscv.md 4.1 X280: 512/256).
    dtype: activation/storage dtype of the op (bf16 or fp32); kernels compute in FP32.
    lmul: LMUL of FP32 streaming (element-wise) loops; long vectors amortise issue.
    gemm_mr: rows of C held in registers by the GEMM micro-kernel (register blocking).
    gemm_kc: K depth of a GEMM cache block (BLIS ``kc``): the micro-kernel's A and B
        micro-panels (rows x kc and kc x cols BF16) stay in L1 across the N loop, C partial
        sums (FP32) go through memory once per kc.
    gemm_nc: N width of a GEMM cache block (BLIS ``nc``): the kc x nc B panel stays in L2
        across all M blocks (kc*nc*2 B = 256 KiB, a quarter of a 1 MiB private L2,
        riscv.md 3.1 C950 "private L2"), so B leaves DRAM once per op, A once per panel.
    weight_group: weights along K that share one scale in the ``int4`` weight format
        (isa.kernels.quant); 128 is the GPTQ / AWQ default group size.
    attn_bc: keys per FlashAttention tile (columns of S held in registers).
    decode_splits: split-KV partitions of decode attention.
    library: the kernel library the GEMMs (llamacpp, ara) or the softmax (snitch) come from
        (:data:`LIBRARIES`).
    flash_attn: with library ``llamacpp``, whether llama.cpp ran with flash attention
        (llama-bench ``-fa 1``): attention is then ggml's FLASH_ATTN_EXT
        (:mod:`isa.kernels.ggml_attention`); without (``-fa 0``) ggml's KQ mul_mat,
        soft_max_ext and KQV mul_mat over the transposed V cache (:mod:`isa.kernels.ggml_kq`).
    spacemit: with library ``llamacpp``, the version of llama.cpp's SpacemiT backend whose
        IME GEMM split is modelled (:data:`SPACEMIT_BACKENDS`).
    fa_simd_gemm: with library ``llamacpp``, the ``simd_gemm`` the tiled flash attention's
        build had (:data:`FA_SIMD_GEMMS`).
    """

    vlen: int = 512
    dlen: int = 0  # 0: min(256, vlen)
    dtype: str = "bf16"
    lmul: int = 4
    gemm_mr: int = 7
    gemm_kc: int = 1024
    gemm_nc: int = 128
    weight_group: int = 128
    attn_bc: int = 8
    decode_splits: int = 4
    library: str = "ideal"
    flash_attn: bool = True
    spacemit: str = SPACEMIT_BACKENDS[0]
    fa_simd_gemm: str = FA_SIMD_GEMMS[0]

    def __post_init__(self) -> None:
        if not self.dlen:
            object.__setattr__(self, "dlen", min(256, self.vlen))
        if self.vlen < 64 or self.vlen & (self.vlen - 1):
            raise IsaError(f"VLEN must be a power of two >= 64, got {self.vlen}")
        if self.dlen < 32 or self.dlen > self.vlen or self.dlen & (self.dlen - 1):
            raise IsaError(f"DLEN must be a power of two in 32..VLEN, got {self.dlen}")
        if self.dtype not in DTYPES:
            raise IsaError(f"unknown dtype {self.dtype!r}; valid: {', '.join(DTYPES)}")
        if self.gemm_kc < 1 or self.gemm_nc < 1:
            raise IsaError(f"gemm_kc and gemm_nc must be >= 1, got {self.gemm_kc}, "
                           f"{self.gemm_nc}")
        if self.weight_group < 2 or self.weight_group % 2:
            raise IsaError(f"weight_group must be an even number >= 2, got "
                           f"{self.weight_group}")
        if self.library not in LIBRARIES:
            raise IsaError(f"unknown kernel library {self.library!r}; valid: "
                           f"{', '.join(LIBRARIES)}")
        if self.spacemit not in SPACEMIT_BACKENDS:
            raise IsaError(f"unknown SpacemiT backend version {self.spacemit!r}; valid: "
                           f"{', '.join(SPACEMIT_BACKENDS)}")
        if self.lmul not in (1, 2, 4, 8):
            raise IsaError(f"LMUL must be 1, 2, 4 or 8, got {self.lmul}")

    @property
    def esize(self) -> int:
        """Bits of a stored element."""
        return 16 if self.dtype == "bf16" else 32

    def vlmax(self, sew: int, lmul: int) -> int:
        return lmul * self.vlen // sew

    def timing(self) -> TimingParams:
        return TimingParams(vlen=self.vlen, dlen=self.dlen)

    def with_(self, **kw) -> Core:
        return replace(self, **kw)

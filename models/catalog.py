"""Built-in LLM architectures, each from the model's Hugging Face ``config.json``.

Every entry cites the repository it was read from (files read 2026-11-27 from the
authors' knowledge of those configs; re-check against the live config before relying
on a new entry). ``published_params_b`` is the size the publisher states (model card
or the safetensors index total); the derived count must be within 1 % of it.
"""

from __future__ import annotations

from boute.engine.catalog import LLMSpec, QuantizedCheckpoint

__all__ = ["llm_specs"]

_READ = "2026-11-27"

# INT4 weight-only (W4A16) checkpoints: the Neural Magic (now Red Hat AI) GPTQ checkpoints
# whose accuracy Kurtic et al. evaluated ("Give Me BF16 or Give Me Death? Accuracy-Performance
# Trade-Offs in LLM Quantization", arXiv 2411.02355, ACL 2025; authors from Neural Magic /
# Red Hat AI and ISTA). Ids read 2026-11-29 from the Hugging Face collection
# huggingface.co/collections/neuralmagic/llama-31-quantization-66a3f907f48d07feabb8f300
# and the model cards; the recoveries are the five the model cards state in their summary
# line (Arena-Hard, OpenLLM v1 with Meta's prompting, OpenLLM v2, HumanEval pass@1,
# HumanEval+ pass@1), the evaluation the paper reports. The repositories now also answer as
# RedHatAI/<same name> (Hugging Face redirects renamed repositories). vLLM reads the
# quantization from each checkpoint's config and runs it with its (GPTQ-)Marlin kernels on
# Ampere and newer; no --quantization flag is needed. Scales: the 8B card states symmetric
# groups of 128 weights; the 70B and 405B cards say per-channel, but the 70B weights file
# (39.8 GB, repository file list) matches 128-weight group scales (0.5 + 2/128 bytes per
# quantized weight plus BF16 embeddings: 39.5 GB), which is what engine/engines.py assumes.
_W4A16_READ = "2026-11-29"
_W4A16_QUALITY = "Kurtic et al., arXiv 2411.02355 (2024), as summarised on the checkpoint's Hugging Face model card"


def _w4a16(size: str, recoveries: tuple[tuple[str, float], ...]) -> QuantizedCheckpoint:
    repo = f"neuralmagic/Meta-Llama-3.1-{size}-Instruct-quantized.w4a16"
    return QuantizedCheckpoint(
        weight_dtype="int4",
        hf_id=repo,
        scheme="GPTQ INT4 weights, BF16 activations (W4A16), symmetric, linear layers of the transformer blocks only "
        "(embeddings and LM head BF16)",
        recovery_pct=recoveries,
        quality_source=_W4A16_QUALITY,
        source=f"huggingface.co/{repo} model card; listed in the neuralmagic 'Llama 3.1 Quantization' collection",
        source_date=_W4A16_READ,
    )


def llm_specs() -> list[LLMSpec]:
    """Entry point ``boute.models:builtin``."""
    return [
        LLMSpec(
            name="Llama-3.1-8B",
            aliases=("llama3.1-8b", "Llama-3.1-8B-Instruct", "llama-8b"),
            hf_id="meta-llama/Llama-3.1-8B-Instruct",
            quantized_checkpoints=(
                _w4a16(
                    "8B",
                    (
                        ("Arena-Hard", 93.0),
                        ("OpenLLM v1", 98.9),
                        ("OpenLLM v2", 96.1),
                        ("HumanEval pass@1", 99.7),
                        ("HumanEval+ pass@1", 97.4),
                    ),
                ),
            ),
            num_layers=32,
            hidden_size=4096,
            num_attention_heads=32,
            num_kv_heads=8,
            head_dim=128,
            intermediate_size=14336,
            vocab_size=128256,
            tied_embeddings=False,
            max_context_tokens=131072,
            published_params_b=8.03,
            source="huggingface.co/meta-llama/Llama-3.1-8B-Instruct config.json; 8.03 B from the model card",
            source_date=_READ,
        ),
        LLMSpec(
            name="Llama-3.1-70B",
            aliases=("llama3.1-70b", "Llama-3.1-70B-Instruct", "llama-70b"),
            hf_id="meta-llama/Llama-3.1-70B-Instruct",
            quantized_checkpoints=(
                _w4a16(
                    "70B",
                    (
                        ("Arena-Hard", 100.0),
                        ("OpenLLM v1", 99.4),
                        ("OpenLLM v2", 97.4),
                        ("HumanEval pass@1", 101.0),
                        ("HumanEval+ pass@1", 99.2),
                    ),
                ),
            ),
            num_layers=80,
            hidden_size=8192,
            num_attention_heads=64,
            num_kv_heads=8,
            head_dim=128,
            intermediate_size=28672,
            vocab_size=128256,
            tied_embeddings=False,
            max_context_tokens=131072,
            published_params_b=70.55,
            source="huggingface.co/meta-llama/Llama-3.1-70B-Instruct config.json; 70.55 B from the model card",
            source_date=_READ,
        ),
        LLMSpec(
            # The third Llama-3.1 size, so that routing over three models has a real top
            # rung. Dimensions from the config.json of meta-llama/Llama-3.1-405B-Instruct
            # (hidden 16384, intermediate 53248, 126 layers, 128 heads, 8 KV heads, vocab
            # 128256, untied, 131072 positions); "405B" from Meta's model card (2024-07).
            # Its weights are about 811 GB in BF16 and 406 GB in FP8 (Meta also publishes
            # an FP8 checkpoint, meta-llama/Llama-3.1-405B-Instruct-FP8, for one 8-GPU
            # H100/H200 node): the replica model decides where it fits.
            name="Llama-3.1-405B",
            aliases=("llama3.1-405b", "Llama-3.1-405B-Instruct", "llama-405b"),
            hf_id="meta-llama/Llama-3.1-405B-Instruct",
            quantized_checkpoints=(
                _w4a16(
                    "405B",
                    (
                        ("Arena-Hard", 98.7),
                        ("OpenLLM v1", 100.0),
                        ("OpenLLM v2", 99.0),
                        ("HumanEval pass@1", 98.0),
                        ("HumanEval+ pass@1", 98.5),
                    ),
                ),
            ),
            num_layers=126,
            hidden_size=16384,
            num_attention_heads=128,
            num_kv_heads=8,
            head_dim=128,
            intermediate_size=53248,
            vocab_size=128256,
            tied_embeddings=False,
            max_context_tokens=131072,
            published_params_b=405.0,
            source="huggingface.co/meta-llama/Llama-3.1-405B-Instruct config.json; 405 B from Meta's Llama 3.1 model card "
            "(github.com/meta-llama/llama-models/blob/main/models/llama3_1/MODEL_CARD.md)",
            source_date=_READ,
        ),
        LLMSpec(
            name="Qwen2.5-7B",
            aliases=("qwen2.5-7b-instruct",),
            hf_id="Qwen/Qwen2.5-7B-Instruct",
            num_layers=28,
            hidden_size=3584,
            num_attention_heads=28,
            num_kv_heads=4,
            head_dim=128,
            intermediate_size=18944,
            vocab_size=152064,
            tied_embeddings=False,
            qkv_bias=True,
            max_context_tokens=32768,
            published_params_b=7.61,
            source="huggingface.co/Qwen/Qwen2.5-7B-Instruct config.json (32768 native context); 7.61 B model card",
            source_date=_READ,
        ),
        LLMSpec(
            name="Qwen2.5-72B",
            aliases=("qwen2.5-72b-instruct",),
            hf_id="Qwen/Qwen2.5-72B-Instruct",
            num_layers=80,
            hidden_size=8192,
            num_attention_heads=64,
            num_kv_heads=8,
            head_dim=128,
            intermediate_size=29568,
            vocab_size=152064,
            tied_embeddings=False,
            qkv_bias=True,
            max_context_tokens=32768,
            published_params_b=72.7,
            source="huggingface.co/Qwen/Qwen2.5-72B-Instruct config.json (32768 native context); 72.7 B model card",
            source_date=_READ,
        ),
        LLMSpec(
            name="Mistral-7B",
            aliases=("mistral-7b-instruct", "Mistral-7B-v0.3"),
            hf_id="mistralai/Mistral-7B-Instruct-v0.3",
            num_layers=32,
            hidden_size=4096,
            num_attention_heads=32,
            num_kv_heads=8,
            head_dim=128,
            intermediate_size=14336,
            vocab_size=32768,
            tied_embeddings=False,
            max_context_tokens=32768,
            published_params_b=7.25,
            source="huggingface.co/mistralai/Mistral-7B-Instruct-v0.3 config.json; 7.25 B safetensors total",
            source_date=_READ,
        ),
        LLMSpec(
            name="Mixtral-8x7B",
            aliases=("mixtral", "Mixtral-8x7B-Instruct"),
            hf_id="mistralai/Mixtral-8x7B-Instruct-v0.1",
            num_layers=32,
            hidden_size=4096,
            num_attention_heads=32,
            num_kv_heads=8,
            head_dim=128,
            intermediate_size=14336,
            vocab_size=32000,
            tied_embeddings=False,
            num_experts=8,
            experts_per_token=2,
            max_context_tokens=32768,
            published_params_b=46.7,
            source="huggingface.co/mistralai/Mixtral-8x7B-Instruct-v0.1 config.json; 46.7 B total / 12.9 B active "
            "(Mistral AI, 'Mixtral of experts', 2023-12)",
            source_date=_READ,
        ),
        LLMSpec(
            name="Qwen3-8B",
            aliases=("qwen3-8b",),
            hf_id="Qwen/Qwen3-8B",
            num_layers=36,
            hidden_size=4096,
            num_attention_heads=32,
            num_kv_heads=8,
            head_dim=128,
            intermediate_size=12288,
            vocab_size=151936,
            tied_embeddings=False,
            qk_norm=True,
            max_context_tokens=40960,
            published_params_b=8.19,
            source="huggingface.co/Qwen/Qwen3-8B config.json; 8.2 B model card (8.19 B safetensors total)",
            source_date=_READ,
        ),
        LLMSpec(
            name="Qwen3-32B",
            aliases=("qwen3-32b",),
            hf_id="Qwen/Qwen3-32B",
            num_layers=64,
            hidden_size=5120,
            num_attention_heads=64,
            num_kv_heads=8,
            head_dim=128,
            intermediate_size=25600,
            vocab_size=151936,
            tied_embeddings=False,
            qk_norm=True,
            max_context_tokens=40960,
            published_params_b=32.8,
            source="huggingface.co/Qwen/Qwen3-32B config.json; 32.8 B model card",
            source_date=_READ,
        ),
    ]

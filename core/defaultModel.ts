// The model ThinK Lens uses when the user has not picked one, for the CLI and the extension alike.
//
// Qwen2.5-Coder-0.5B-Instruct (Apache-2.0, Qwen2ForCausalLM): a code model, so questions about a
// codebase get answers rather than stories, and at 0.5B parameters (1 GB of BF16 weights, tied
// embeddings) it loads and decodes on a laptop CPU. Its 32k-token context is more than a CPU can
// read in a reasonable time, hence a default prompt cap: prefill runs at a few hundred tokens per
// second on two cores (README, "Performance"), so 8k tokens are read in well under a minute.
export const DEFAULT_HUB_MODEL = 'Qwen/Qwen2.5-Coder-0.5B-Instruct';

/** Prompt tokens (workspace files + question) read by default; the memory budget and the model's context can lower it. */
export const DEFAULT_CONTEXT_TOKENS = 8192;

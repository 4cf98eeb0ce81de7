// Chat-style token accounting (`CompletionUsage`), shared by chat completions and the /v1/stream socket's `done`.
import type { PromptUsage } from '../model/engine-types.ts';
import type { CompletionUsage } from './api-types.generated.ts';

/** Prompt tokens (text and input images) and generated tokens, which are visual tokens for image output. */
export function completionUsage(
  prompt: PromptUsage,
  completionTokens: number,
  output: 'text' | 'image',
): CompletionUsage {
  return {
    prompt_tokens: prompt.tokens,
    completion_tokens: completionTokens,
    total_tokens: prompt.tokens + completionTokens,
    prompt_tokens_details: {
      text_tokens: prompt.tokens - prompt.imageTokens,
      image_tokens: prompt.imageTokens,
    },
    completion_tokens_details:
      output === 'text'
        ? { text_tokens: completionTokens, image_tokens: 0 }
        : { text_tokens: 0, image_tokens: completionTokens },
  };
}

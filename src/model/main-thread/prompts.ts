// Prompt formats of the released model (unitok/convert/bundle_config.py is the Python twin; the templates
// themselves come from the bundle's config.json):
//   chat / VQA: vicuna_v1, "{system} USER: <image>\n{question} ASSISTANT:", previous answers closed by "</s>";
//   text to image: "{prompt} Generate an image based on this description." + boi, and "<unconditional>" + boi.
import type { ChatTemplate } from '../bundle.ts';
import { type ChatMessage, InvalidRequestError } from '../engine-types.ts';
import type { Segment } from '../protocol/steps.ts';
import type { LlamaTokenizer, PromptSegment } from './text-tokenizer.ts';

/** An input image and where it came from (for error messages naming messages[i].content[j]). */
export interface PromptImage {
  data: Buffer;
  messageIndex: number;
  partIndex: number;
}

/**
 * The conversation as vicuna_v1 text (conv_vicuna_v1.get_prompt()), ending with "ASSISTANT:" for the reply.
 * An image part becomes the placeholder, and a message's image parts come first, in their order, then its text
 * parts, all joined with "\n": [image, text] and [text, image] both give the released "<image>\n{question}".
 * That is where the released training put every image (LLaVA's preprocess_multimodal moves "<image>" to the
 * front of its message), so the answer does not depend on the order a client lists the parts in (OpenAI's
 * examples put the text first). System messages replace the template's system line.
 */
export function renderChat(
  template: ChatTemplate,
  messages: ChatMessage[],
): { text: string; images: PromptImage[] } {
  const images: PromptImage[] = [];
  const system: string[] = [];
  let text = '';
  messages.forEach((message, messageIndex) => {
    const ordered = message.content
      .map((part, partIndex) => ({ part, partIndex }))
      .sort((a, b) => Number(b.part.type === 'image') - Number(a.part.type === 'image'));
    const parts = ordered.map(({ part, partIndex }) => {
      if (part.type === 'image') {
        if (message.role === 'system') {
          throw new InvalidRequestError(
            `messages[${messageIndex}]: images are accepted in user and assistant messages only`,
            'messages',
          );
        }
        images.push({ data: part.data, messageIndex, partIndex });
        return template.imagePlaceholder;
      }
      if (part.text.includes(template.imagePlaceholder)) {
        throw new InvalidRequestError(
          `messages[${messageIndex}].content[${partIndex}]: the text contains '${template.imagePlaceholder}', which this model reserves for images; send the image as an image part`,
          'messages',
        );
      }
      return part.text;
    });
    if (message.role === 'system') system.push(parts.join('\n'));
    else if (message.role === 'user') text += `${template.roles[0]}: ${parts.join('\n')}${template.sep}`;
    else text += `${template.roles[1]}: ${parts.join('\n')}${template.sep2}`;
  });
  const head = system.length > 0 ? system.join('\n') : template.system;
  return { text: `${head}${template.sep}${text}${template.roles[1]}:`, images };
}

/**
 * The released tokenizer_image_token output (LlamaTokenizer.encodePrompt) with image i's codes [K, N] in place of
 * the i-th image placeholder.
 */
export function withImages(parts: PromptSegment[], codes: Int32Array[]): Segment[] {
  let image = 0;
  const segments = parts.map(
    (s): Segment => (s.type === 'text' ? { ids: s.ids } : { codes: codes[image++] }),
  );
  if (image !== codes.length)
    throw new Error(`prompt has ${image} image placeholders for ${codes.length} images`);
  return segments;
}

/** Conditional and unconditional text-to-image prompts, tokenized with BOS and the boi id appended. */
export function textToImageIds(
  tokenizer: LlamaTokenizer,
  template: { suffix: string; unconditional: string; appendIds: number[] },
  prompt: string,
): { cond: number[]; uncond: number[] } {
  return {
    cond: [...tokenizer.encode(prompt + template.suffix, { addBos: true }), ...template.appendIds],
    uncond: [...tokenizer.encode(template.unconditional, { addBos: true }), ...template.appendIds],
  };
}

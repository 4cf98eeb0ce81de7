// POST /v1/responses, the request side: fields this server refuses, the choice between a text answer and a drawing,
// and `input` turned into chat messages whose errors still name `input[i].content[j]`.
import { ContextLengthError, InvalidImageError } from '../../model/engine-types.ts';
import type {
  ChatCompletionRequestMessage,
  ChatCompletionRequestMessageContentPart,
  CreateResponseRequest,
  ImageGenerationTool,
  ResponseInputMessage,
} from '../api-types.generated.ts';
import type { ServerContext } from '../context.ts';
import { ApiError, invalidRequest } from '../errors.ts';
import { checkSize, servedModel } from '../generation.ts';
import { type ImageOutput, imageOutput } from '../image-output.ts';

const unsupported = (message: string, param: string) =>
  invalidRequest(message, param, 'unsupported_parameter');

/** Fields of the OpenAI request this model or server cannot honour: a 400 naming the field, never a silent drop. */
export function refuseUnsupported(body: CreateResponseRequest): void {
  if (body.previous_response_id != null) {
    throw unsupported(
      "'previous_response_id' is not supported: this server stores no responses; send the whole conversation in 'input'",
      'previous_response_id',
    );
  }
  if (body.conversation != null) {
    throw unsupported("'conversation' is not supported: this server stores no conversations", 'conversation');
  }
  if (body.prompt != null) {
    throw unsupported("'prompt' is not supported: this server has no stored prompt templates", 'prompt');
  }
  if (body.background === true) {
    throw unsupported("'background' mode is not supported; use 'stream' to follow progress", 'background');
  }
  if (body.truncation === 'auto') {
    throw unsupported(
      "truncation 'auto' is not supported: an input over the context size is an error, not silently shortened",
      'truncation',
    );
  }
  if (body.include && body.include.length > 0) {
    throw unsupported(`'include' is not supported (got ${JSON.stringify(body.include[0])})`, 'include');
  }
  if (body.top_logprobs != null && body.top_logprobs > 0) {
    throw unsupported('Log probabilities are not supported', 'top_logprobs');
  }
  const format = body.text?.format?.type;
  if (format !== undefined && format !== 'text') {
    throw unsupported(
      `text.format '${format}' is not supported: this model answers in plain text only`,
      'text.format',
    );
  }
  const reasoning = body.reasoning as { effort?: string | null; summary?: string | null } | null | undefined;
  if ((reasoning?.effort != null && reasoning.effort !== 'none') || reasoning?.summary != null) {
    throw unsupported(
      "'reasoning' is not supported: this model does not reason before answering",
      'reasoning',
    );
  }
}

/** The image_generation tool's options, checked (`param`s name `tools[i].…`). */
export interface ImageTool {
  output: ImageOutput;
  size: string;
  partialImages: number;
}

function checkTool(ctx: ServerContext, tool: ImageGenerationTool, index: number): ImageTool {
  const at = `tools[${index}].`;
  if (tool.model !== undefined && tool.model !== servedModel(ctx)) {
    throw invalidRequest(
      `Invalid value for '${at}model': this server draws with the served model '${servedModel(ctx)}'`,
      `${at}model`,
      'model_not_found',
    );
  }
  if (tool.action === 'edit' || tool.input_image_mask !== undefined || tool.input_fidelity != null) {
    const param =
      tool.action === 'edit' ? 'action' : tool.input_image_mask ? 'input_image_mask' : 'input_fidelity';
    throw unsupported('Image edits are not supported: this model draws from text only', `${at}${param}`);
  }
  return {
    output: imageOutput(tool, at),
    size: checkSize(ctx.engine.info(), tool.size, `${at}size`),
    partialImages: tool.partial_images ?? 0,
  };
}

export type Mode = { kind: 'text' } | { kind: 'image'; tool: ImageTool; caption: string };

const contentOf = (item: ResponseInputMessage) =>
  typeof item.content === 'string' ? [{ type: 'input_text' as const, text: item.content }] : item.content;

/**
 * Text or image. The released model never calls tools: its output mode is chosen by the prompt template, so the
 * server chooses from the request: a drawing when the image_generation tool is offered and either forced by
 * `tool_choice` or, for `auto`, when no input message holds an image (text to image takes only text; an image
 * in the input makes the turn a question about it). `none` or no tool: text.
 */
export function decideMode(
  ctx: ServerContext,
  body: CreateResponseRequest,
  input: ResponseInputMessage[],
): Mode {
  const tools = body.tools ?? [];
  const index = tools.findIndex((t) => t.type === 'image_generation');
  const tool = index >= 0 ? checkTool(ctx, tools[index], index) : null;
  const choice = body.tool_choice ?? 'auto';
  const forced = choice === 'required' || typeof choice === 'object';
  if (forced && !tool) {
    throw invalidRequest(
      "tool_choice asks for the image_generation tool, but 'tools' does not offer it",
      'tool_choice',
      'tool_not_offered',
    );
  }
  if (!tool || choice === 'none') return { kind: 'text' };
  const imageAt = input.findIndex((item) => contentOf(item).some((p) => p.type === 'input_image'));
  if (imageAt >= 0) {
    if (!forced) return { kind: 'text' };
    throw invalidRequest(
      `This model cannot draw from an input image (input[${imageAt}]); remove the image or let tool_choice be 'auto' for a text answer about it`,
      `input[${imageAt}]`,
      'unsupported_input',
    );
  }
  const last = input.findLastIndex((item) => item.role === 'user');
  const caption =
    last < 0
      ? ''
      : contentOf(input[last])
          .map((p) => (p.type === 'input_image' ? '' : p.text))
          .join(' ')
          .trim();
  if (caption === '') {
    throw invalidRequest(
      'A drawing needs a user message whose text is the caption',
      last < 0 ? 'input' : `input[${last}]`,
    );
  }
  return { kind: 'image', tool, caption };
}

/** `input` as a list of message items (a string is one user message). */
export function inputItems(body: CreateResponseRequest): ResponseInputMessage[] {
  return typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : body.input;
}

/** Chat messages for the engine, with `instructions` first as the system message. */
export function toChatMessages(
  instructions: string | null | undefined,
  input: ResponseInputMessage[],
): ChatCompletionRequestMessage[] {
  const messages: ChatCompletionRequestMessage[] = instructions
    ? [{ role: 'system', content: instructions }]
    : [];
  input.forEach((item, i) => {
    if (typeof item.content === 'string') {
      messages.push({ role: item.role, content: item.content });
      return;
    }
    const parts = item.content.map((part, j): ChatCompletionRequestMessageContentPart => {
      if (part.type !== 'input_image') return { type: 'text', text: part.text };
      if (part.file_id != null) {
        throw unsupported(
          "'file_id' is not supported (no Files API); send the image as 'image_url'",
          `input[${i}].content[${j}].file_id`,
        );
      }
      if (part.image_url == null) {
        throw invalidRequest(
          `Missing required parameter 'input[${i}].content[${j}].image_url'`,
          `input[${i}].content[${j}].image_url`,
          'missing_required_parameter',
        );
      }
      return { type: 'image_url', image_url: { url: part.image_url } };
    });
    messages.push({ role: item.role, content: parts });
  });
  return messages;
}

/** Where engine message `m`, part `p` came from in the request (instructions shift the indices by one). */
export function inputParam(hasInstructions: boolean) {
  const offset = hasInstructions ? 1 : 0;
  return (m: number, p: number) => `input[${m - offset}].content[${p}].image_url`;
}

/** Engine errors whose `param` names chat `messages`, renamed for this request's `input`. */
export function renameEngineError(err: unknown, param: (m: number, p: number) => string): unknown {
  if (err instanceof InvalidImageError) {
    const where = param(err.messageIndex, err.partIndex);
    return invalidRequest(`Invalid image at '${where}': ${err.message}`, where, 'invalid_image');
  }
  if (err instanceof ContextLengthError) {
    // The prompt fits and the requested output does not: name the cap this API calls max_output_tokens.
    const cap = err.maxTokens !== null;
    const message = cap ? err.message.replaceAll('max_tokens', 'max_output_tokens') : err.message;
    const param = cap ? 'max_output_tokens' : 'input';
    return new ApiError(400, message, 'exceed_context_size_error', param, 'context_length_exceeded');
  }
  return err;
}

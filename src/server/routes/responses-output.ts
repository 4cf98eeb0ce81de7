// POST /v1/responses, the output side: the Response object and OpenAI's streamed event sequence, produced from the
// engine's events by one routine per output kind, so the streamed and the plain response cannot drift apart.
// Each routine reports through `Emit`; the plain route passes a no-op and keeps only the final Response.
import { randomBytes } from 'node:crypto';
import type { ChatEvent, ImageEvent, PromptUsage } from '../../model/engine-types.ts';
import type {
  CreateResponseRequest,
  ImageGenerationCall,
  ResponseObject,
  ResponseOutputMessage,
  ResponseOutputText,
  ResponseStatus,
  ResponseStreamEvent,
  ResponseUsage,
} from '../api-types.generated.ts';
import type { ApiError } from '../errors.ts';
import { nowSeconds } from '../generation.ts';
import { encodeImage } from '../image-output.ts';
import type { ImageTool } from './responses-input.ts';

/** A stream event before the writer numbers it. */
export type UnnumberedEvent = ResponseStreamEvent extends infer E
  ? E extends { sequence_number: number }
    ? Omit<E, 'sequence_number'>
    : never
  : never;
export type Emit = (event: UnnumberedEvent) => Promise<void>;

const itemId = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

function usage(prompt: PromptUsage, output: number, kind: 'text' | 'image'): ResponseUsage {
  return {
    input_tokens: prompt.tokens,
    input_tokens_details: {
      cached_tokens: 0,
      text_tokens: prompt.tokens - prompt.imageTokens,
      image_tokens: prompt.imageTokens,
    },
    output_tokens: output,
    output_tokens_details: {
      reasoning_tokens: 0,
      text_tokens: kind === 'text' ? output : 0,
      image_tokens: kind === 'image' ? output : 0,
    },
    total_tokens: prompt.tokens + output,
  };
}

/** The Response object at each stage of one request; fields echo the request as OpenAI does. */
export class ResponseState {
  readonly createdAt = nowSeconds();
  status: ResponseStatus = 'in_progress';
  output: ResponseObject['output'] = [];
  usage: ResponseUsage | null = null;
  error: ApiError | null = null;

  constructor(
    readonly id: string,
    readonly model: string,
    private readonly body: CreateResponseRequest,
  ) {}

  snapshot(): ResponseObject {
    const body = this.body;
    const done = this.status !== 'in_progress';
    return {
      id: this.id,
      object: 'response',
      created_at: this.createdAt,
      completed_at: this.status === 'completed' ? nowSeconds() : null,
      status: this.status,
      error: this.error ? { code: this.error.code, message: this.error.message } : null,
      incomplete_details: this.status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      model: this.model,
      output: done ? structuredClone(this.output) : [],
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      previous_response_id: null,
      store: false,
      temperature: body.temperature ?? null,
      top_p: body.top_p ?? null,
      tool_choice: body.tool_choice ?? 'auto',
      tools: body.tools ?? [],
      text: { format: { type: 'text' } },
      truncation: 'disabled',
      usage: this.usage,
      metadata: body.metadata ?? {},
    };
  }
}

/** Text answer: message item, one output_text part, deltas; `max_output_tokens` reached makes it incomplete. */
export async function textOutput(
  state: ResponseState,
  prompt: PromptUsage,
  events: AsyncIterable<ChatEvent>,
  emit: Emit,
): Promise<void> {
  const message: ResponseOutputMessage = {
    id: itemId('msg'),
    type: 'message',
    role: 'assistant',
    status: 'in_progress',
    content: [],
  };
  const at = { item_id: message.id, output_index: 0, content_index: 0 };
  await emit({ type: 'response.output_item.added', output_index: 0, item: structuredClone(message) });
  const part: ResponseOutputText = { type: 'output_text', text: '', annotations: [] };
  await emit({ type: 'response.content_part.added', ...at, part: { ...part } });
  let tokens = 0;
  let reason = 'stop';
  for await (const e of events) {
    if (e.type === 'finish') {
      tokens = e.completionTokens;
      reason = e.reason;
    } else if (e.text !== '') {
      part.text += e.text;
      await emit({ type: 'response.output_text.delta', ...at, delta: e.text, logprobs: [] });
    }
  }
  await emit({ type: 'response.output_text.done', ...at, text: part.text, logprobs: [] });
  await emit({ type: 'response.content_part.done', ...at, part: { ...part } });
  message.content.push(part);
  message.status = reason === 'length' ? 'incomplete' : 'completed';
  await emit({ type: 'response.output_item.done', output_index: 0, item: structuredClone(message) });
  state.output = [message];
  state.usage = usage(prompt, tokens, 'text');
  state.status = message.status;
}

/** Drawing: one image_generation_call item, its status events and partial images, the result encoded as asked. */
export async function imageCallOutput(
  state: ResponseState,
  prompt: PromptUsage,
  events: AsyncIterable<ImageEvent>,
  tool: ImageTool,
  caption: string,
  emit: Emit,
): Promise<void> {
  const call: ImageGenerationCall = {
    id: itemId('ig'),
    type: 'image_generation_call',
    status: 'in_progress',
    result: null,
    revised_prompt: caption,
    output_format: tool.output.format,
    size: tool.size,
    quality: 'auto',
    background: 'opaque',
  };
  const at = { item_id: call.id, output_index: 0 };
  await emit({ type: 'response.output_item.added', output_index: 0, item: structuredClone(call) });
  await emit({ type: 'response.image_generation_call.in_progress', ...at });
  let visualTokens = 0;
  let partials = 0;
  for await (const e of events) {
    if (e.type === 'codes') {
      if (visualTokens++ === 0) {
        call.status = 'generating';
        await emit({ type: 'response.image_generation_call.generating', ...at });
      }
    } else if (e.type === 'preview') {
      const b64 = (await encodeImage(e.png, tool.output)).toString('base64');
      await emit({
        type: 'response.image_generation_call.partial_image',
        ...at,
        partial_image_index: partials++,
        partial_image_b64: b64,
      });
    } else {
      call.result = (await encodeImage(e.png, tool.output)).toString('base64');
    }
  }
  call.status = 'completed';
  await emit({ type: 'response.image_generation_call.completed', ...at });
  await emit({ type: 'response.output_item.done', output_index: 0, item: structuredClone(call) });
  state.output = [call];
  state.usage = usage(prompt, visualTokens, 'image');
  state.status = 'completed';
}

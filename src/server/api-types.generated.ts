// Generated from openapi.yaml by scripts/gen-api-types.mjs (`npm run gen:api`). Do not edit.

export interface paths {
    "/v1/chat/completions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Chat, visual question answering, or an image as the assistant's reply.
         * @description Text chat and VQA: send `image_url` parts (data: URLs; http(s) URLs only for hosts on the server's
         *     allow-list). With `stream: true` the reply is Server-Sent Events: `data: <CreateChatCompletionStreamResponse>`
         *     chunks, a usage chunk (empty `choices`) when `stream_options.include_usage` is set, then `data: [DONE]`.
         *     An error after the stream started is sent as `data: {"error":{...}}` and the stream ends without `[DONE]`.
         *     Lines starting with `:` are keep-alive comments.
         *
         *     Image generation in a chat turn: `modalities: ["text","image"]` (or `["image"]`) makes the assistant reply
         *     with a generated image. The text of the last user message is the caption (earlier turns are context the
         *     model cannot use for images; image inputs are rejected). Each choice's `message.content` is then an array
         *     of `image_url` parts holding `data:image/png;base64,...` URLs, as vLLM-Omni does; when streaming, the image
         *     arrives as one chunk whose `delta.content` is that array. `usage.completion_tokens` counts visual tokens
         *     and `completion_tokens_details.image_tokens` repeats them.
         */
        post: operations["createChatCompletion"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/responses": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * The OpenAI Responses API, a text answer or an image through the `image_generation` tool.
         * @description `input` is a string or a list of `message` items (`role` user, assistant, system or developer) whose content
         *     is a string or `input_text` / `input_image` parts (`output_text` parts for earlier assistant turns).
         *     `instructions` become the system message. Nothing is stored (`store` is reported as `false`), so
         *     `previous_response_id` is refused: send the conversation in `input`.
         *
         *     **Text or image.** The model answers in text unless the `image_generation` tool is offered in `tools` and:
         *     * `tool_choice` is `required` or `{"type":"image_generation"}`: it draws (an input image is then a 400,
         *       as the model cannot draw from an image);
         *     * `tool_choice` is `auto` (the default): it draws when no message of `input` holds an image, and answers
         *       in text otherwise. The released model never calls tools itself; its two output modes are selected by
         *       the prompt template (text to image: caption in, image out; understanding: image in, text out), so the
         *       server decides from the inputs, deterministically. Send `tool_choice: "none"` for a text answer to a
         *       text-only input while the tool stays offered.
         *     * `tool_choice` is `none`: text.
         *     A drawing uses the text of the last user message as the caption, reported as the call's `revised_prompt`;
         *     `instructions` and earlier turns do not reach the text-to-image template.
         *
         *     The output holds one item: a `message` with one `output_text` part, or an `image_generation_call` whose
         *     `result` is the base64 image in the tool's `output_format`. `usage.output_tokens` counts text tokens or
         *     visual tokens. `max_output_tokens` reached gives `status: incomplete` with
         *     `incomplete_details.reason: max_output_tokens`.
         *
         *     With `stream: true` the reply is Server-Sent Events, each `event: <type>` with a JSON `data` that carries
         *     `type` and an increasing `sequence_number`: `response.created`, `response.in_progress`,
         *     `response.output_item.added`, then for text `response.content_part.added`, `response.output_text.delta`...,
         *     `response.output_text.done`, `response.content_part.done`, or for an image
         *     `response.image_generation_call.in_progress`, `.generating`, `.partial_image` (`partial_images` previews,
         *     evenly spaced over the visual tokens), `.completed`; then `response.output_item.done` and
         *     `response.completed` (or `response.incomplete`). There is no `[DONE]` line. An error after the stream
         *     started is an `error` event followed by `response.failed` (status `cancelled` after a cancel).
         */
        post: operations["createResponse"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images/generations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Generate images from a prompt.
         * @description Each image is `visual_tokens_per_image` visual tokens (see `/v1/models`), each a group of codes sampled
         *     one after another, then rendered by the UniTok decoder. The model has one output size; `size` must be
         *     that size or `auto`. Only `response_format: b64_json` exists. `output_format` `png` (default), `jpeg` or `webp`
         *     (with `output_compression`) re-encodes the decoder's image; `background: transparent` is refused. `usage`
         *     counts the prompt's tokens as input and the visual tokens as output.
         *
         *     With `stream: true` the reply is Server-Sent Events named as in the OpenAI Images API:
         *     `event: image_generation.partial_image` (`partial_images` previews of the partly generated code grid, evenly
         *     spaced) and `event: image_generation.completed` (one per image). There is no `[DONE]` line. With `n > 1`,
         *     events carry the extension field `image_index`. An error after the stream started is sent as
         *     `event: error` with `data: {"error":{...}}`.
         */
        post: operations["createImage"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * WebSocket image generation with per-token codes, progress and previews.
         * @description Upgrade to a WebSocket (`ws://host:port/v1/images/stream`, with `Authorization: Bearer <key>` when the
         *     server has an API key). Browsers, which cannot set headers on an upgrade, offer the key as a subprotocol
         *     instead: `new WebSocket(url, ["unitok", "bearer." + base64url(key)])` (unpadded base64url of the UTF-8
         *     key). The server selects the first offered subprotocol, so list `unitok` first to keep the key out of the
         *     response. Every message is a JSON text frame.
         *
         *     Client to server (`ImageStreamClientMessage`):
         *     * `{"type":"generate", "prompt": "...", ...}`: start one job (`n` images). Optional: `n`, `size`,
         *       `guidance_scale`, `best_of`, `temperature`, `top_k`, `top_p`, `seed`, `preview_every` (render a preview every that
         *       many visual tokens; 0 = none; default set by the server's `--preview-every`, none with `best_of` above 1), `send_codes` (default true).
         *       One job at a time per connection.
         *     * `{"type":"cancel"}`: stop the running job.
         *
         *     Server to client (`ImageStreamServerMessage`), in order for a job:
         *     * `started` `{id, n, total, codes_per_token, size}`: admitted; `total` = visual tokens per image.
         *     * per visual token: `codes` `{id, image, index, codes}` (if `send_codes`), then `progress` `{id, image, done, total}`.
         *     * `preview` `{id, image, index, done, png_b64}` at the requested cadence (`index` counts previews).
         *     * `completed` `{id, image, png_b64, usage}` once per image; the job ends after `n` of them.
         *     * `cancelled` `{id}` after a cancel; `error` `{id, error}` for a bad message or a failed job (the
         *       connection stays open; `error.code` is e.g. `queue_full` with `retry_after_seconds`).
         *     Closing the socket cancels the running job.
         */
        get: operations["streamImages"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One WebSocket for a whole conversation, text and images, with cancel.
         * @description Upgrade to a WebSocket (authentication as for `/v1/images/stream`). Every message is a JSON text frame;
         *     docs/websocket.md has the full protocol with examples. Several jobs may run at once (at most 4 per
         *     connection); each has an `id`, chosen by the client or assigned by the server, that every message about it
         *     carries and that `POST /v1/requests/{request_id}/cancel` also accepts.
         *
         *     Client to server (`StreamClientMessage`):
         *     * `{"type":"chat", "messages":[...], ...}`: a chat or VQA turn, `messages` as in `/v1/chat/completions`.
         *     * `{"type":"image", "prompt":"...", ...}`: text to image, options as `/v1/images/stream`'s `generate`.
         *     * `{"type":"cancel", "id":"..."}`: stop that job; without `id`, every job of this connection.
         *
         *     Server to client (`StreamServerMessage`), for each job: `started` `{id, kind, n, prompt_tokens, ...}`; for chat,
         *     `delta` `{id, index, text}` and `finish` `{id, index, finish_reason}`; for images, `codes`, `progress`,
         *     `preview` and `completed` exactly as on `/v1/images/stream`; then `done` `{id, usage}`. A stopped job ends
         *     with `cancelled` `{id}`, a failed one with `error` `{id, error}` (also sent, with `id` null or the message's
         *     id, for a message that started nothing). Closing the socket cancels every job.
         */
        get: operations["openStream"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/embeddings": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * CLIP embeddings of texts and images.
         * @description OpenAI's embeddings endpoint over UniTok's CLIP side. `input` is a string, an array of strings, or an array
         *     whose items may also be image parts `{"type": "image_url", "image_url": {"url": ...}}` (the URL rules and
         *     limits of chat images). A text gets the CLIP text embedding, an image the CLIP image embedding (computed,
         *     as the release does, from the image's quantised UniTok codes); both are L2-normalised and live in one space,
         *     so a dot product is a cosine similarity. Texts are tokenised with the text tokenizer the model bundle
         *     declares (open_clip's BPE for the released model); a text longer than the text tower's context (77 ids for
         *     the released model, start and end of text included) is refused, not cut. A model without a text tokenizer
         *     answers 400 `text_input_unsupported` for text inputs. Inputs of one kind are embedded in one batched run.
         *     `usage.prompt_tokens` counts text ids and visual tokens.
         */
        post: operations["createEmbedding"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/zero-shot-image-classification": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Score an image against text labels (CLIP zero-shot).
         * @description The Hugging Face zero-shot-image-classification pipeline's request names. Each label is put into
         *     `hypothesis_template` (default: the model's, `a photo of a {}.` for the released model) and embedded; the
         *     scores are the softmax over the labels of the model's logit scale times the cosine similarity between the
         *     image and label embeddings, sorted from the highest.
         */
        post: operations["createZeroShotImageClassification"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images/tokenize": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * An image -> its UniTok codes.
         * @description The image counterpart of llama.cpp's `/tokenize`: the image is padded to a square with the model's pad
         *     colour, resized to the model's size and encoded by the UniTok tokenizer. `codes[k][n]` is codebook `k`'s
         *     code for visual token `n` (tokens row-major over a `grid` x `grid` raster). `/v1/images/detokenize` turns
         *     them back into an image.
         */
        post: operations["tokenizeImage"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images/detokenize": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * UniTok codes -> a PNG image.
         * @description The image counterpart of llama.cpp's `/detokenize`: `codes` as `/v1/images/tokenize` returns them
         *     (`[codebooks][tokens]`), rendered by the UniTok decoder at the model's size. A wrong number of rows or codes,
         *     or a code outside `0..codebook_size-1`, is a 400 naming the place (`codes[k]`, `codes[k][n]`).
         */
        post: operations["detokenizeImage"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/requests/{request_id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Cancel an in-flight chat or image request by id.
         * @description The request's stream ends with an error of code `request_cancelled`; a non-streamed request answers 499.
         */
        post: operations["cancelRequest"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/models": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The served model, with its modalities and image geometry. */
        get: operations["listModels"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/models/{model}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One model by id. */
        get: operations["retrieveModel"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The model is loaded and the server is not draining (kept for compatibility; `/health/ready` adds a worker round trip). Public (no API key). */
        get: operations["getHealth"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/health/live": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Liveness probe. Public (no API key).
         * @description 200 while the process and its engine workers answer (a round trip through every worker thread), also
         *     while the model loads or the server drains. 503 (`engine_lost`) when a worker thread died or did not
         *     answer in time: the process cannot serve any more and should be restarted.
         */
        get: operations["getLiveness"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/health/ready": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Readiness probe. Public (no API key).
         * @description 200 when the model is loaded, the server is not draining and a round trip through the engine's workers
         *     succeeds. 503 with Retry-After otherwise: `model_loading`, `model_failed`, `server_draining` (after
         *     SIGTERM) or `engine_lost`. Load balancers send traffic only to ready replicas.
         */
        get: operations["getReadiness"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Prometheus metrics. Public (no API key).
         * @description Prometheus text exposition format 0.0.4 (prom-client). Serving families, vLLM's set under the `unitok_`
         *     prefix: `unitok_requests_waiting`, `unitok_requests_running`, `unitok_kv_slots_usage_perc`,
         *     `unitok_model_ready`, `unitok_draining` (gauges); `unitok_requests_total{kind,outcome}`,
         *     `unitok_prompt_tokens_total`, `unitok_generated_tokens_total{modality}` (counters);
         *     `unitok_generated_tokens_per_second{modality}` (gauge over a sliding window); histograms
         *     `unitok_time_to_first_token_seconds{modality}`, `unitok_inter_token_latency_seconds{modality}` (TPOT),
         *     `unitok_e2e_request_latency_seconds{kind}`, `unitok_request_queue_time_seconds{modality}`,
         *     `unitok_request_prompt_tokens`, `unitok_request_generation_tokens{modality}` and
         *     `unitok_image_generation_seconds`; plus the process's own (`process_*`, `nodejs_*`).
         */
        get: operations["getMetrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        Error: {
            message: string;
            /** @description invalid_request_error, exceed_context_size_error, authentication_error, not_found_error, rate_limit_error, unavailable_error, cancelled_error, timeout_error or server_error. */
            type: string;
            /** @description The request field at fault, in dotted/bracket form, e.g. `messages[0].content[1].image_url.url`. */
            param: string | null;
            /** @description Machine-readable reason, e.g. invalid_value, missing_required_parameter, model_not_found, queue_full, request_cancelled. */
            code: string | null;
        };
        ErrorResponse: {
            error: components["schemas"]["Error"];
        };
        RequestId: string;
        /** @description Sampling temperature; 0 is greedy. Default (absent or null) is the served model's, as `GET /v1/models/{model}` shows in `defaults` (the default model: text 0, visual codes 0.6). */
        Temperature: number | null;
        /** @description Nucleus sampling mass; 1 disables it. Default is the served model's (`defaults` in `GET /v1/models/{model}`). */
        TopP: number | null;
        /** @description Extension (as vLLM, llama.cpp). Keep the k most likely tokens; 0 disables it. Default is the served model's (`defaults` in `GET /v1/models/{model}`). */
        TopK: number | null;
        /** @description Per-request RNG seed for best-effort determinism. Output i of n uses its own stream derived from it. */
        Seed: number | null;
        /** @description Extension. Classifier-free guidance scale for visual codes; 1 disables CFG. Default is the served model's, as `GET /v1/models/{model}` shows in `defaults` (the default model: 1.5; the released model's scripts: 7). */
        GuidanceScale: number | null;
        /** @description Extension. Each image is drawn this many times (seeds seed + i * best_of + j) and the drawing whose UniTok CLIP image embedding, computed from its codes, is nearest the CLIP text embedding of the prompt is returned: best_of times the compute for one image, usage counts the returned image only. Previews show one drawing as it is made, so a request with previews (partial_images, preview_every) and no best_of draws one, and setting both is an error. Default is the served model's, as `GET /v1/models/{model}` shows in `defaults` (the default model: 4; converted checkpoints: 1). */
        BestOf: number | null;
        ChatCompletionRequestMessageContentPartText: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "text";
            text: string;
        };
        ChatCompletionRequestMessageContentPartImage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "image_url";
            image_url: {
                /** @description A `data:image/...;base64,` URL, or an http(s) URL whose host is on the server's `--allowed-image-hosts`. */
                url: string;
                /**
                 * @description Accepted for compatibility; every image is encoded at the tokenizer's resolution.
                 * @enum {string}
                 */
                detail?: "auto" | "low" | "high";
            };
        };
        ChatCompletionRequestMessageContentPart: components["schemas"]["ChatCompletionRequestMessageContentPartText"] | components["schemas"]["ChatCompletionRequestMessageContentPartImage"];
        ChatCompletionRequestMessage: {
            /**
             * @description `developer` is treated as `system`.
             * @enum {string}
             */
            role: "system" | "developer" | "user" | "assistant";
            content: string | components["schemas"]["ChatCompletionRequestMessageContentPart"][];
            /** @description Accepted and ignored. */
            name?: string;
        };
        /** @description Up to 4 sequences where generation stops; the returned text does not contain them. */
        StopConfiguration: null | string | string[];
        ChatCompletionStreamOptions: {
            /** @description Send a final chunk with `usage` and empty `choices` before `data:[DONE]`; other chunks carry `usage:null`. */
            include_usage?: boolean;
        } | null;
        /** @enum {string} */
        ResponseModality: "text" | "image";
        CreateChatCompletionRequest: {
            /** @description The served model id (see `/v1/models`). */
            model: string;
            messages: components["schemas"]["ChatCompletionRequestMessage"][];
            /** @default false */
            stream: boolean | null;
            stream_options?: components["schemas"]["ChatCompletionStreamOptions"];
            stop?: components["schemas"]["StopConfiguration"];
            /** @description Upper bound on generated tokens per choice. Default is the served model's `defaults.text.max_tokens` (its bundle's `max_new_tokens`); always at most what the context leaves after the prompt. */
            max_completion_tokens?: number | null;
            /**
             * @deprecated
             * @description Older name of `max_completion_tokens`; used when that is absent.
             */
            max_tokens?: number | null;
            temperature?: components["schemas"]["Temperature"];
            top_p?: components["schemas"]["TopP"];
            top_k?: components["schemas"]["TopK"];
            seed?: components["schemas"]["Seed"];
            /**
             * @description Choices to generate (the engine may allow fewer; it answers 400 naming `n`).
             * @default 1
             */
            n: number | null;
            /** @description `["text"]` (default) answers in text; `["text","image"]` or `["image"]` answers with a generated image (see the operation description). */
            modalities?: components["schemas"]["ResponseModality"][] | null;
            guidance_scale?: components["schemas"]["GuidanceScale"];
            best_of?: components["schemas"]["BestOf"];
            /**
             * @description vLLM's extension: keep generating past the end-of-sequence token until `max_completion_tokens` (or a stop string), so every choice has the same length; for benchmarks. The end-of-sequence token then counts as a generated token and is not shown in the text.
             * @default false
             */
            ignore_eos: boolean | null;
            /**
             * @description Log probabilities are not supported.
             * @enum {boolean|null}
             */
            logprobs?: false | null;
            /** @description Accepted and ignored. */
            user?: string;
        };
        CompletionUsage: {
            prompt_tokens: number;
            completion_tokens: number;
            total_tokens: number;
            prompt_tokens_details?: {
                text_tokens: number;
                /** @description Visual tokens of the input images. */
                image_tokens: number;
            };
            completion_tokens_details?: {
                text_tokens: number;
                /** @description Extension. Visual tokens generated for image replies. */
                image_tokens: number;
            };
        };
        ChatCompletionResponseContentPartImage: {
            /** @constant */
            type: "image_url";
            image_url: {
                /** @description `data:image/png;base64,...` */
                url: string;
            };
        };
        ChatCompletionResponseMessage: {
            /** @constant */
            role: "assistant";
            /** @description Text, or image parts when the request asked for the image modality. */
            content: string | components["schemas"]["ChatCompletionResponseContentPartImage"][];
            refusal: null;
        };
        /** @enum {string} */
        FinishReason: "stop" | "length";
        ChatCompletionChoice: {
            index: number;
            message: components["schemas"]["ChatCompletionResponseMessage"];
            logprobs: null;
            finish_reason: components["schemas"]["FinishReason"];
        };
        CreateChatCompletionResponse: {
            id: string;
            /** @constant */
            object: "chat.completion";
            created: number;
            model: string;
            choices: components["schemas"]["ChatCompletionChoice"][];
            usage: components["schemas"]["CompletionUsage"];
        };
        ChatCompletionStreamDelta: {
            /** @constant */
            role?: "assistant";
            content?: string | components["schemas"]["ChatCompletionResponseContentPartImage"][];
        };
        ChatCompletionChunkChoice: {
            index: number;
            delta: components["schemas"]["ChatCompletionStreamDelta"];
            logprobs: null;
            finish_reason: components["schemas"]["FinishReason"] | null;
        };
        CreateChatCompletionStreamResponse: {
            id: string;
            /** @constant */
            object: "chat.completion.chunk";
            created: number;
            model: string;
            choices: components["schemas"]["ChatCompletionChunkChoice"][];
            /** @description Present (null, or the totals on the last chunk) only with `stream_options.include_usage`. */
            usage?: components["schemas"]["CompletionUsage"] | null;
        };
        /** @description `auto` or the model's own `WxH` (e.g. `256x256`); other sizes are rejected. */
        ImageSize: string;
        CreateImageRequest: {
            prompt: string;
            /** @description Defaults to the served model. */
            model?: string;
            /** @default 1 */
            n: number | null;
            size?: components["schemas"]["ImageSize"];
            /**
             * @description Only `b64_json`. `url` is listed so that it gets a specific 400 (the server stores no images to link to).
             * @default b64_json
             * @enum {string|null}
             */
            response_format: "b64_json" | "url" | null;
            /**
             * @description Encoding of the returned images and partial images.
             * @default png
             * @enum {string|null}
             */
            output_format: "png" | "jpeg" | "webp" | null;
            output_compression?: components["schemas"]["OutputCompression"];
            quality?: components["schemas"]["ImageQualityRequest"];
            background?: components["schemas"]["ImageBackgroundRequest"];
            /** @default false */
            stream: boolean | null;
            /**
             * @description Previews of the partly generated grid to stream before each final image (evenly spaced).
             * @default 0
             */
            partial_images: number | null;
            guidance_scale?: components["schemas"]["GuidanceScale"];
            best_of?: components["schemas"]["BestOf"];
            temperature?: components["schemas"]["Temperature"];
            top_k?: components["schemas"]["TopK"];
            top_p?: components["schemas"]["TopP"];
            seed?: components["schemas"]["Seed"];
            /** @description Accepted and ignored. */
            user?: string;
        };
        Image: {
            /** @description The base64 image, encoded as `output_format`. */
            b64_json: string;
        };
        ImagesUsage: {
            total_tokens: number;
            input_tokens: number;
            /** @description Visual tokens generated. */
            output_tokens: number;
            input_tokens_details: {
                text_tokens: number;
                image_tokens: number;
            };
        };
        /**
         * @description Quality of `jpeg` and `webp` output, 0-100 (default 100, least loss); passed to the encoder (sharp) as its
         *     `quality`. With `png`, which is lossless, only 100 is accepted.
         */
        OutputCompression: number | null;
        /**
         * @description Accepted; the model has one quality (a fixed grid of visual tokens), so every value gives the same image and
         *     responses report `auto`.
         * @enum {string|null}
         */
        ImageQualityRequest: "auto" | "low" | "medium" | "high" | "standard" | "hd" | null;
        /**
         * @description `auto` and `opaque` give the model's opaque images; `transparent` is refused (400 naming `background`): the model draws no alpha channel.
         * @enum {string|null}
         */
        ImageBackgroundRequest: "auto" | "opaque" | "transparent" | null;
        /** @constant */
        ImageQuality: "auto";
        /** @constant */
        ImageBackground: "opaque";
        /** @enum {string} */
        ImageOutputFormat: "png" | "jpeg" | "webp";
        ImagesResponse: {
            created: number;
            data: components["schemas"]["Image"][];
            output_format: components["schemas"]["ImageOutputFormat"];
            size: string;
            quality: components["schemas"]["ImageQuality"];
            background: components["schemas"]["ImageBackground"];
            usage: components["schemas"]["ImagesUsage"];
        };
        ImageGenPartialImageEvent: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "image_generation.partial_image";
            b64_json: string;
            created_at: number;
            size: string;
            quality: components["schemas"]["ImageQuality"];
            background: components["schemas"]["ImageBackground"];
            output_format: components["schemas"]["ImageOutputFormat"];
            /** @description 0-based, per image. */
            partial_image_index: number;
            /** @description Extension. Which of the `n` images. */
            image_index: number;
        };
        ImageGenCompletedEvent: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "image_generation.completed";
            b64_json: string;
            created_at: number;
            size: string;
            quality: components["schemas"]["ImageQuality"];
            background: components["schemas"]["ImageBackground"];
            output_format: components["schemas"]["ImageOutputFormat"];
            usage: components["schemas"]["ImagesUsage"];
            /** @description Extension. Which of the `n` images. */
            image_index: number;
        };
        ImageGenStreamEvent: components["schemas"]["ImageGenPartialImageEvent"] | components["schemas"]["ImageGenCompletedEvent"];
        ResponseInputText: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "input_text";
            text: string;
        };
        ResponseInputImage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "input_image";
            /** @description A `data:image/...;base64,` URL, or an http(s) URL whose host is on the server's `--allowed-image-hosts`. */
            image_url?: string | null;
            /** @description Refused (there is no Files API); send `image_url`. */
            file_id?: string | null;
            /**
             * @description Accepted; every image is encoded at the tokenizer's resolution.
             * @enum {string|null}
             */
            detail?: "auto" | "low" | "high" | "original" | null;
        };
        /** @description An earlier assistant answer, as `output_text` parts of a `message` item from an earlier response. */
        ResponseInputOutputText: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "output_text";
            text: string;
            annotations?: unknown[];
        };
        ResponseInputContent: components["schemas"]["ResponseInputText"] | components["schemas"]["ResponseInputImage"] | components["schemas"]["ResponseInputOutputText"];
        /** @description A `message` item. Other item types (tool calls and their outputs, item references) are refused. */
        ResponseInputMessage: {
            /** @constant */
            type?: "message";
        } & components["schemas"]["ResponseInputMessageFields"];
        ResponseInputMessageFields: {
            /**
             * @description `developer` is treated as `system`.
             * @enum {string}
             */
            role: "user" | "assistant" | "system" | "developer";
            content: string | components["schemas"]["ResponseInputContent"][];
            /** @description Accepted and ignored. */
            id?: string;
            /** @description Accepted and ignored. */
            status?: string;
        };
        ResponseInput: string | components["schemas"]["ResponseInputMessage"][];
        ImageGenerationTool: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "image_generation";
            /** @description Must be the served model when given. */
            model?: string;
            /** @description Previews streamed before the image (`response.image_generation_call.partial_image`), evenly spaced. */
            partial_images?: number;
            /** @enum {string} */
            output_format?: "png" | "jpeg" | "webp";
            output_compression?: components["schemas"]["OutputCompression"];
            size?: components["schemas"]["ImageSize"];
            quality?: components["schemas"]["ImageQualityRequest"];
            background?: components["schemas"]["ImageBackgroundRequest"];
            /**
             * @description Accepted; this server runs no moderation.
             * @enum {string}
             */
            moderation?: "auto" | "low";
            /**
             * @description `edit` is refused: the model cannot draw from an input image.
             * @enum {string}
             */
            action?: "auto" | "generate" | "edit";
            /**
             * @description Refused when set (image edits are not supported).
             * @enum {string|null}
             */
            input_fidelity?: "high" | "low" | null;
            /** @description Refused (image edits are not supported). */
            input_image_mask?: Record<string, never>;
        };
        /** @description Only the `image_generation` tool exists on this server. */
        ResponseTool: components["schemas"]["ImageGenerationTool"];
        /** @description `auto` (default), `none`, `required`, or `{"type":"image_generation"}`; see the operation for what each does. */
        ResponseToolChoice: ("none" | "auto" | "required") | {
            /** @constant */
            type: "image_generation";
        };
        ResponseTextConfig: {
            format?: {
                /**
                 * @description Only `text`; the others are refused.
                 * @enum {string}
                 */
                type: "text" | "json_schema" | "json_object";
            };
            /** @description Accepted and ignored. */
            verbosity?: string | null;
        };
        CreateResponseRequest: {
            /** @description Defaults to the served model. */
            model?: string;
            input: components["schemas"]["ResponseInput"];
            /** @description The system message. */
            instructions?: string | null;
            /** @description Upper bound on generated text tokens (not on visual tokens, whose number is fixed). */
            max_output_tokens?: number | null;
            temperature?: components["schemas"]["Temperature"];
            top_p?: components["schemas"]["TopP"];
            top_k?: components["schemas"]["TopK"];
            seed?: components["schemas"]["Seed"];
            guidance_scale?: components["schemas"]["GuidanceScale"];
            best_of?: components["schemas"]["BestOf"];
            /** @default false */
            stream: boolean | null;
            /** @description Accepted and ignored (no obfuscation field is sent). */
            stream_options?: Record<string, never> | null;
            /** @description Accepted; nothing is ever stored, and responses report `store:false`. */
            store?: boolean | null;
            /** @description Refused when set (nothing is stored); send the whole conversation in `input`. */
            previous_response_id?: string | null;
            /** @description Refused when set (nothing is stored). */
            conversation?: unknown;
            /** @description Refused when set (no stored prompt templates). */
            prompt?: unknown;
            tools?: components["schemas"]["ResponseTool"][] | null;
            tool_choice?: components["schemas"]["ResponseToolChoice"];
            /** @description Accepted; at most one tool call is made. */
            parallel_tool_calls?: boolean | null;
            /** @description Accepted; at most one tool call is made. */
            max_tool_calls?: number | null;
            text?: components["schemas"]["ResponseTextConfig"];
            /** @description Refused when `effort` or `summary` is set (the model does not reason). */
            reasoning?: Record<string, never> | null;
            /**
             * @description `disabled` (default); `auto` is refused: an input over the context is a 400.
             * @enum {string|null}
             */
            truncation?: "disabled" | "auto" | null;
            /** @description Refused when not empty (no logprobs, no stored inputs). */
            include?: string[] | null;
            /** @description Only 0 (log probabilities are not supported). */
            top_logprobs?: number | null;
            /** @description Only `false` (no background mode). */
            background?: boolean | null;
            /** @description Echoed in the response. */
            metadata?: {
                [key: string]: string;
            } | null;
            /** @description Accepted and ignored. */
            service_tier?: string | null;
            /** @description Accepted and ignored. */
            user?: string;
            /** @description Accepted and ignored. */
            safety_identifier?: string | null;
            /** @description Accepted and ignored. */
            prompt_cache_key?: string | null;
        };
        ResponseOutputText: {
            /** @constant */
            type: "output_text";
            text: string;
            annotations: unknown[];
        };
        ResponseOutputMessage: {
            id: string;
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "message";
            /** @constant */
            role: "assistant";
            /** @enum {string} */
            status: "in_progress" | "completed" | "incomplete";
            content: components["schemas"]["ResponseOutputText"][];
        };
        ImageGenerationCall: {
            id: string;
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "image_generation_call";
            /** @enum {string} */
            status: "in_progress" | "generating" | "completed" | "failed";
            /** @description The base64 image in `output_format`; null until completed. */
            result: string | null;
            /** @description The caption the model drew from (the last user message's text). */
            revised_prompt: string | null;
            output_format: components["schemas"]["ImageOutputFormat"];
            size: string;
            quality: components["schemas"]["ImageQuality"];
            background: components["schemas"]["ImageBackground"];
        };
        ResponseOutputItem: components["schemas"]["ResponseOutputMessage"] | components["schemas"]["ImageGenerationCall"];
        ResponseUsage: {
            input_tokens: number;
            input_tokens_details: {
                /** @description Always 0 (no prompt cache across requests). */
                cached_tokens: number;
                /** @description Extension. */
                text_tokens: number;
                /** @description Extension. Visual tokens of the input images. */
                image_tokens: number;
            };
            output_tokens: number;
            output_tokens_details: {
                /** @description Always 0. */
                reasoning_tokens: number;
                /** @description Extension. */
                text_tokens: number;
                /** @description Extension. Visual tokens generated. */
                image_tokens: number;
            };
            total_tokens: number;
        };
        ResponseErrorObject: {
            code: string | null;
            message: string;
        };
        /** @enum {string} */
        ResponseStatus: "in_progress" | "completed" | "incomplete" | "failed" | "cancelled";
        ResponseObject: {
            /** @description The request id (`x-request-id`), so `POST /v1/requests/{request_id}/cancel` takes it. */
            id: string;
            /** @constant */
            object: "response";
            created_at: number;
            completed_at?: number | null;
            status: components["schemas"]["ResponseStatus"];
            error: components["schemas"]["ResponseErrorObject"] | null;
            incomplete_details: {
                /** @constant */
                reason: "max_output_tokens";
            } | null;
            instructions: string | null;
            max_output_tokens: number | null;
            model: string;
            output: components["schemas"]["ResponseOutputItem"][];
            parallel_tool_calls: boolean;
            previous_response_id: null;
            /** @constant */
            store: false;
            /** @description As sent; null = the model's default. */
            temperature: number | null;
            /** @description As sent; null = the model's default. */
            top_p: number | null;
            tool_choice: components["schemas"]["ResponseToolChoice"];
            tools: components["schemas"]["ResponseTool"][];
            text: {
                format: {
                    /** @constant */
                    type: "text";
                };
            };
            /** @constant */
            truncation: "disabled";
            usage: components["schemas"]["ResponseUsage"] | null;
            metadata: {
                [key: string]: string;
            };
        };
        ResponseLifecycleEvent: {
            /** @enum {string} */
            type: "response.created" | "response.in_progress" | "response.completed" | "response.incomplete" | "response.failed";
            sequence_number: number;
            response: components["schemas"]["ResponseObject"];
        };
        ResponseOutputItemEvent: {
            /** @enum {string} */
            type: "response.output_item.added" | "response.output_item.done";
            sequence_number: number;
            output_index: number;
            item: components["schemas"]["ResponseOutputItem"];
        };
        ResponseContentPartEvent: {
            /** @enum {string} */
            type: "response.content_part.added" | "response.content_part.done";
            sequence_number: number;
            item_id: string;
            output_index: number;
            content_index: number;
            part: components["schemas"]["ResponseOutputText"];
        };
        ResponseTextDeltaEvent: {
            /** @constant */
            type: "response.output_text.delta";
            sequence_number: number;
            item_id: string;
            output_index: number;
            content_index: number;
            delta: string;
            logprobs: unknown[];
        };
        ResponseTextDoneEvent: {
            /** @constant */
            type: "response.output_text.done";
            sequence_number: number;
            item_id: string;
            output_index: number;
            content_index: number;
            text: string;
            logprobs: unknown[];
        };
        ResponseImageGenCallEvent: {
            /** @enum {string} */
            type: "response.image_generation_call.in_progress" | "response.image_generation_call.generating" | "response.image_generation_call.completed";
            sequence_number: number;
            item_id: string;
            output_index: number;
        };
        ResponseImageGenCallPartialImageEvent: {
            /** @constant */
            type: "response.image_generation_call.partial_image";
            sequence_number: number;
            item_id: string;
            output_index: number;
            /** @description 0-based. */
            partial_image_index: number;
            /** @description The preview, base64, in the tool's `output_format`. */
            partial_image_b64: string;
        };
        ResponseErrorEvent: {
            /** @constant */
            type: "error";
            sequence_number: number;
            code: string | null;
            message: string;
            param: string | null;
        };
        ResponseStreamEvent: components["schemas"]["ResponseLifecycleEvent"] | components["schemas"]["ResponseOutputItemEvent"] | components["schemas"]["ResponseContentPartEvent"] | components["schemas"]["ResponseTextDeltaEvent"] | components["schemas"]["ResponseTextDoneEvent"] | components["schemas"]["ResponseImageGenCallEvent"] | components["schemas"]["ResponseImageGenCallPartialImageEvent"] | components["schemas"]["ResponseErrorEvent"];
        ImageStreamGenerateMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "generate";
            prompt: string;
            model?: string;
            /** @default 1 */
            n: number;
            size?: components["schemas"]["ImageSize"];
            guidance_scale?: components["schemas"]["GuidanceScale"];
            best_of?: components["schemas"]["BestOf"];
            temperature?: components["schemas"]["Temperature"];
            top_k?: components["schemas"]["TopK"];
            top_p?: components["schemas"]["TopP"];
            seed?: components["schemas"]["Seed"];
            /** @description Render a preview every this many visual tokens; 0 = none. Default set by the server. */
            preview_every?: number;
            /**
             * @description Send a `codes` message per visual token.
             * @default true
             */
            send_codes: boolean;
        };
        ImageStreamCancelMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "cancel";
        };
        ImageStreamClientMessage: components["schemas"]["ImageStreamGenerateMessage"] | components["schemas"]["ImageStreamCancelMessage"];
        ImageStreamStartedMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "started";
            id: string;
            n: number;
            /** @description Visual tokens per image. */
            total: number;
            codes_per_token: number;
            size: string;
        };
        ImageStreamCodesMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "codes";
            id: string;
            image: number;
            /** @description Visual token index, row-major. */
            index: number;
            codes: number[];
        };
        ImageStreamProgressMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "progress";
            id: string;
            image: number;
            done: number;
            total: number;
        };
        ImageStreamPreviewMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "preview";
            id: string;
            image: number;
            /** @description 0-based preview number for this image. */
            index: number;
            /** @description Visual tokens generated when the preview was rendered. */
            done: number;
            png_b64: string;
        };
        ImageStreamCompletedMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "completed";
            id: string;
            image: number;
            png_b64: string;
            usage: components["schemas"]["ImagesUsage"];
        };
        ImageStreamCancelledMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "cancelled";
            id: string;
        };
        ImageStreamErrorMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "error";
            /** @description The job the error belongs to; for a message that started none, null (on `/v1/stream`, the message's `id` when it had one). */
            id: string | null;
            error: components["schemas"]["Error"];
            /** @description Present when the queue is full or the model is loading. */
            retry_after_seconds?: number;
        };
        ImageStreamServerMessage: components["schemas"]["ImageStreamStartedMessage"] | components["schemas"]["ImageStreamCodesMessage"] | components["schemas"]["ImageStreamProgressMessage"] | components["schemas"]["ImageStreamPreviewMessage"] | components["schemas"]["ImageStreamCompletedMessage"] | components["schemas"]["ImageStreamCancelledMessage"] | components["schemas"]["ImageStreamErrorMessage"];
        StreamChatMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "chat";
            id?: components["schemas"]["RequestId"];
            model?: string;
            messages: components["schemas"]["ChatCompletionRequestMessage"][];
            /** @default 1 */
            n: number;
            /** @description Upper bound on generated tokens per choice. */
            max_tokens?: number;
            stop?: components["schemas"]["StopConfiguration"];
            temperature?: components["schemas"]["Temperature"];
            top_k?: components["schemas"]["TopK"];
            top_p?: components["schemas"]["TopP"];
            seed?: components["schemas"]["Seed"];
        };
        StreamImageMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "image";
            id?: components["schemas"]["RequestId"];
            prompt: string;
            model?: string;
            /** @default 1 */
            n: number;
            size?: components["schemas"]["ImageSize"];
            guidance_scale?: components["schemas"]["GuidanceScale"];
            best_of?: components["schemas"]["BestOf"];
            temperature?: components["schemas"]["Temperature"];
            top_k?: components["schemas"]["TopK"];
            top_p?: components["schemas"]["TopP"];
            seed?: components["schemas"]["Seed"];
            /** @description Render a preview every this many visual tokens; 0 = none. Default set by the server. */
            preview_every?: number;
            /**
             * @description Send a `codes` message per visual token.
             * @default true
             */
            send_codes: boolean;
        };
        StreamCancelMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "cancel";
            id?: components["schemas"]["RequestId"];
        };
        StreamClientMessage: components["schemas"]["StreamChatMessage"] | components["schemas"]["StreamImageMessage"] | components["schemas"]["StreamCancelMessage"];
        StreamStartedMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "started";
            id: string;
            /** @enum {string} */
            kind: "chat" | "image";
            n: number;
            prompt_tokens: number;
            /** @description Image jobs. Visual tokens per image. */
            total?: number;
            /** @description Image jobs. */
            codes_per_token?: number;
            /** @description Image jobs. */
            size?: string;
        };
        StreamDeltaMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "delta";
            id: string;
            /** @description Which of the `n` choices. */
            index: number;
            text: string;
        };
        StreamFinishMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "finish";
            id: string;
            index: number;
            finish_reason: components["schemas"]["FinishReason"];
        };
        StreamDoneMessage: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "done";
            id: string;
            usage: components["schemas"]["CompletionUsage"];
        };
        StreamServerMessage: components["schemas"]["StreamStartedMessage"] | components["schemas"]["StreamDeltaMessage"] | components["schemas"]["StreamFinishMessage"] | components["schemas"]["ImageStreamCodesMessage"] | components["schemas"]["ImageStreamProgressMessage"] | components["schemas"]["ImageStreamPreviewMessage"] | components["schemas"]["ImageStreamCompletedMessage"] | components["schemas"]["StreamDoneMessage"] | components["schemas"]["ImageStreamCancelledMessage"] | components["schemas"]["ImageStreamErrorMessage"];
        CancelResponse: {
            id: string;
            /** @constant */
            object: "request.cancel";
            /** @constant */
            cancelled: true;
        };
        /** @description A `data:image/...;base64,` URL, or an http(s) URL whose host is on the server's `--allowed-image-hosts`. */
        ImageUrlString: string;
        EmbeddingInputItem: string | components["schemas"]["ChatCompletionRequestMessageContentPartImage"];
        CreateEmbeddingRequest: {
            /** @description A text, or an array of texts and image parts (at most 2048 items). */
            input: string | components["schemas"]["EmbeddingInputItem"][];
            /** @description Defaults to the served model. */
            model?: string;
            /**
             * @description `base64`: the little-endian float32 bytes of each vector, base64-encoded (what the OpenAI SDKs request).
             * @default float
             * @enum {string}
             */
            encoding_format: "float" | "base64";
            /** @description Must equal the model's embedding size if given (CLIP embeddings are not truncatable). */
            dimensions?: number;
            /** @description Accepted and ignored. */
            user?: string;
        };
        Embedding: {
            /** @constant */
            object: "embedding";
            index: number;
            /** @description The vector, or its base64 float32 bytes with `encoding_format: base64`. */
            embedding: number[] | string;
        };
        EmbeddingUsage: {
            /** @description Text ids (start and end of text included) plus visual tokens of the images. */
            prompt_tokens: number;
            total_tokens: number;
        };
        CreateEmbeddingResponse: {
            /** @constant */
            object: "list";
            data: components["schemas"]["Embedding"][];
            model: string;
            usage: components["schemas"]["EmbeddingUsage"];
        };
        ZeroShotImageClassificationRequest: {
            /** @description Defaults to the served model. */
            model?: string;
            image: components["schemas"]["ImageUrlString"];
            candidate_labels: string[];
            /** @description The text each label is put into, `{}` marking where; default the model's zero-shot template. */
            hypothesis_template?: string;
        };
        ZeroShotLabelScore: {
            label: string;
            score: number;
        };
        ZeroShotImageClassificationResponse: {
            /** @constant */
            object: "list";
            data: components["schemas"]["ZeroShotLabelScore"][];
            model: string;
            usage: components["schemas"]["EmbeddingUsage"];
        };
        ImageTokenizeRequest: {
            /** @description Defaults to the served model. */
            model?: string;
            image: components["schemas"]["ImageUrlString"];
        };
        /** @description `[codebooks][tokens]`: row `k` holds codebook `k`'s code for every visual token (row-major). */
        ImageCodes: number[][];
        ImageTokenizeResponse: {
            /** @constant */
            object: "image.codes";
            model: string;
            codes: components["schemas"]["ImageCodes"];
            /** @description `[codebooks, tokens]`. */
            shape: number[];
            /** @description `[rows, columns]` of visual tokens. */
            grid: number[];
            /** @description Codes are in `0..codebook_size-1`. */
            codebook_size: number;
            /** @description `WxH` of the image the codes stand for (the model's size). */
            size: string;
        };
        ImageDetokenizeRequest: {
            /** @description Defaults to the served model. */
            model?: string;
            codes: components["schemas"]["ImageCodes"];
        };
        ImageDetokenizeResponse: {
            /** @constant */
            object: "image";
            model: string;
            /** @description Base64 PNG. */
            b64_json: string;
            output_format: components["schemas"]["ImageOutputFormat"];
            size: string;
        };
        /** @enum {string} */
        Modality: "text" | "image";
        Model: {
            id: string;
            /** @constant */
            object: "model";
            created: number;
            owned_by: string;
            context_length: number;
            architecture: {
                input_modalities: components["schemas"]["Modality"][];
                output_modalities: components["schemas"]["Modality"][];
            };
            /** @description Extension. Geometry of generated images. */
            image: {
                size: string;
                visual_tokens_per_image: number;
                codes_per_visual_token: number;
            };
            defaults: components["schemas"]["ModelDefaults"];
            embeddings?: components["schemas"]["ModelEmbeddings"];
        };
        /** @description Extension. The CLIP side behind `/v1/embeddings` and `/v1/zero-shot-image-classification`. */
        ModelEmbeddings: {
            /** @description Length of every embedding, text or image. */
            dimensions: number;
            /**
             * @description `clip-bpe` (open_clip's, the released model), `words` (a closed word list, the demo model), or null: this model cannot embed text.
             * @enum {string|null}
             */
            text_tokenizer: "clip-bpe" | "words" | null;
            /** @description Most text ids per input, start and end of text included; longer texts are refused. */
            text_context_length: number;
            /** @description The hypothesis a zero-shot request without `hypothesis_template` gets. */
            zero_shot_template: string;
        };
        /** @description Extension. What a request that leaves a setting out (or sends null) gets from this model (its bundle's `sampling` in config.json). */
        ModelDefaults: {
            text: {
                temperature: number;
                top_p: number;
                top_k: number;
                /** @description Generated tokens per choice when the request sets neither max_completion_tokens nor max_tokens. */
                max_tokens: number;
            };
            image: {
                temperature: number;
                top_p: number;
                top_k: number;
                guidance_scale: number;
                best_of: number;
            };
        };
        ListModelsResponse: {
            /** @constant */
            object: "list";
            data: components["schemas"]["Model"][];
        };
        HealthResponse: {
            /** @constant */
            status: "ok";
        };
    };
    responses: {
        /** @description Malformed JSON, a schema violation, an unsupported value, an invalid or oversized image, or a prompt over the context size (`type` `exceed_context_size_error`). */
        BadRequest: {
            headers: {
                "x-should-retry": components["headers"]["ShouldRetry"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description Missing or wrong API key. */
        Unauthorized: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description Unknown model, route or request id. */
        NotFound: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description The `x-request-id` is already in use by an in-flight request. */
        Conflict: {
            headers: {
                "x-should-retry": components["headers"]["ShouldRetry"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description The request body exceeds the server's limit. */
        PayloadTooLarge: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description The engine queue is full. */
        TooManyRequests: {
            headers: {
                "Retry-After": components["headers"]["RetryAfter"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description The request was cancelled with `POST /v1/requests/{request_id}/cancel` (499 as in gRPC's CANCELLED mapping). */
        Cancelled: {
            headers: {
                "x-should-retry": components["headers"]["ShouldRetry"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description Unexpected server or engine failure. */
        InternalError: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description The model is loading (or failed to load), or the server is draining after SIGTERM (`server_draining`, retry on another replica). */
        ServiceUnavailable: {
            headers: {
                "Retry-After": components["headers"]["RetryAfter"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description The generation ran past the server's `--request-timeout`. */
        Timeout: {
            headers: {
                "x-should-retry": components["headers"]["ShouldRetry"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
    };
    parameters: {
        /** @description Choose the request id (to cancel a non-streamed request from elsewhere). Must be unique among in-flight requests. */
        RequestIdHeader: components["schemas"]["RequestId"];
    };
    requestBodies: never;
    headers: {
        /** @description The id to pass to `POST /v1/requests/{request_id}/cancel`. */
        RequestId: components["schemas"]["RequestId"];
        /** @description Seconds to wait before retrying. */
        RetryAfter: number;
        /** @description `false` on errors a retry cannot fix (the OpenAI SDKs honour it). */
        ShouldRetry: string;
    };
    pathItems: never;
}
export type Error = components['schemas']['Error'];
export type ErrorResponse = components['schemas']['ErrorResponse'];
export type RequestId = components['schemas']['RequestId'];
export type Temperature = components['schemas']['Temperature'];
export type TopP = components['schemas']['TopP'];
export type TopK = components['schemas']['TopK'];
export type Seed = components['schemas']['Seed'];
export type GuidanceScale = components['schemas']['GuidanceScale'];
export type BestOf = components['schemas']['BestOf'];
export type ChatCompletionRequestMessageContentPartText = components['schemas']['ChatCompletionRequestMessageContentPartText'];
export type ChatCompletionRequestMessageContentPartImage = components['schemas']['ChatCompletionRequestMessageContentPartImage'];
export type ChatCompletionRequestMessageContentPart = components['schemas']['ChatCompletionRequestMessageContentPart'];
export type ChatCompletionRequestMessage = components['schemas']['ChatCompletionRequestMessage'];
export type StopConfiguration = components['schemas']['StopConfiguration'];
export type ChatCompletionStreamOptions = components['schemas']['ChatCompletionStreamOptions'];
export type ResponseModality = components['schemas']['ResponseModality'];
export type CreateChatCompletionRequest = components['schemas']['CreateChatCompletionRequest'];
export type CompletionUsage = components['schemas']['CompletionUsage'];
export type ChatCompletionResponseContentPartImage = components['schemas']['ChatCompletionResponseContentPartImage'];
export type ChatCompletionResponseMessage = components['schemas']['ChatCompletionResponseMessage'];
export type FinishReason = components['schemas']['FinishReason'];
export type ChatCompletionChoice = components['schemas']['ChatCompletionChoice'];
export type CreateChatCompletionResponse = components['schemas']['CreateChatCompletionResponse'];
export type ChatCompletionStreamDelta = components['schemas']['ChatCompletionStreamDelta'];
export type ChatCompletionChunkChoice = components['schemas']['ChatCompletionChunkChoice'];
export type CreateChatCompletionStreamResponse = components['schemas']['CreateChatCompletionStreamResponse'];
export type ImageSize = components['schemas']['ImageSize'];
export type CreateImageRequest = components['schemas']['CreateImageRequest'];
export type Image = components['schemas']['Image'];
export type ImagesUsage = components['schemas']['ImagesUsage'];
export type OutputCompression = components['schemas']['OutputCompression'];
export type ImageQualityRequest = components['schemas']['ImageQualityRequest'];
export type ImageBackgroundRequest = components['schemas']['ImageBackgroundRequest'];
export type ImageQuality = components['schemas']['ImageQuality'];
export type ImageBackground = components['schemas']['ImageBackground'];
export type ImageOutputFormat = components['schemas']['ImageOutputFormat'];
export type ImagesResponse = components['schemas']['ImagesResponse'];
export type ImageGenPartialImageEvent = components['schemas']['ImageGenPartialImageEvent'];
export type ImageGenCompletedEvent = components['schemas']['ImageGenCompletedEvent'];
export type ImageGenStreamEvent = components['schemas']['ImageGenStreamEvent'];
export type ResponseInputText = components['schemas']['ResponseInputText'];
export type ResponseInputImage = components['schemas']['ResponseInputImage'];
export type ResponseInputOutputText = components['schemas']['ResponseInputOutputText'];
export type ResponseInputContent = components['schemas']['ResponseInputContent'];
export type ResponseInputMessage = components['schemas']['ResponseInputMessage'];
export type ResponseInputMessageFields = components['schemas']['ResponseInputMessageFields'];
export type ResponseInput = components['schemas']['ResponseInput'];
export type ImageGenerationTool = components['schemas']['ImageGenerationTool'];
export type ResponseTool = components['schemas']['ResponseTool'];
export type ResponseToolChoice = components['schemas']['ResponseToolChoice'];
export type ResponseTextConfig = components['schemas']['ResponseTextConfig'];
export type CreateResponseRequest = components['schemas']['CreateResponseRequest'];
export type ResponseOutputText = components['schemas']['ResponseOutputText'];
export type ResponseOutputMessage = components['schemas']['ResponseOutputMessage'];
export type ImageGenerationCall = components['schemas']['ImageGenerationCall'];
export type ResponseOutputItem = components['schemas']['ResponseOutputItem'];
export type ResponseUsage = components['schemas']['ResponseUsage'];
export type ResponseErrorObject = components['schemas']['ResponseErrorObject'];
export type ResponseStatus = components['schemas']['ResponseStatus'];
export type ResponseObject = components['schemas']['ResponseObject'];
export type ResponseLifecycleEvent = components['schemas']['ResponseLifecycleEvent'];
export type ResponseOutputItemEvent = components['schemas']['ResponseOutputItemEvent'];
export type ResponseContentPartEvent = components['schemas']['ResponseContentPartEvent'];
export type ResponseTextDeltaEvent = components['schemas']['ResponseTextDeltaEvent'];
export type ResponseTextDoneEvent = components['schemas']['ResponseTextDoneEvent'];
export type ResponseImageGenCallEvent = components['schemas']['ResponseImageGenCallEvent'];
export type ResponseImageGenCallPartialImageEvent = components['schemas']['ResponseImageGenCallPartialImageEvent'];
export type ResponseErrorEvent = components['schemas']['ResponseErrorEvent'];
export type ResponseStreamEvent = components['schemas']['ResponseStreamEvent'];
export type ImageStreamGenerateMessage = components['schemas']['ImageStreamGenerateMessage'];
export type ImageStreamCancelMessage = components['schemas']['ImageStreamCancelMessage'];
export type ImageStreamClientMessage = components['schemas']['ImageStreamClientMessage'];
export type ImageStreamStartedMessage = components['schemas']['ImageStreamStartedMessage'];
export type ImageStreamCodesMessage = components['schemas']['ImageStreamCodesMessage'];
export type ImageStreamProgressMessage = components['schemas']['ImageStreamProgressMessage'];
export type ImageStreamPreviewMessage = components['schemas']['ImageStreamPreviewMessage'];
export type ImageStreamCompletedMessage = components['schemas']['ImageStreamCompletedMessage'];
export type ImageStreamCancelledMessage = components['schemas']['ImageStreamCancelledMessage'];
export type ImageStreamErrorMessage = components['schemas']['ImageStreamErrorMessage'];
export type ImageStreamServerMessage = components['schemas']['ImageStreamServerMessage'];
export type StreamChatMessage = components['schemas']['StreamChatMessage'];
export type StreamImageMessage = components['schemas']['StreamImageMessage'];
export type StreamCancelMessage = components['schemas']['StreamCancelMessage'];
export type StreamClientMessage = components['schemas']['StreamClientMessage'];
export type StreamStartedMessage = components['schemas']['StreamStartedMessage'];
export type StreamDeltaMessage = components['schemas']['StreamDeltaMessage'];
export type StreamFinishMessage = components['schemas']['StreamFinishMessage'];
export type StreamDoneMessage = components['schemas']['StreamDoneMessage'];
export type StreamServerMessage = components['schemas']['StreamServerMessage'];
export type CancelResponse = components['schemas']['CancelResponse'];
export type ImageUrlString = components['schemas']['ImageUrlString'];
export type EmbeddingInputItem = components['schemas']['EmbeddingInputItem'];
export type CreateEmbeddingRequest = components['schemas']['CreateEmbeddingRequest'];
export type Embedding = components['schemas']['Embedding'];
export type EmbeddingUsage = components['schemas']['EmbeddingUsage'];
export type CreateEmbeddingResponse = components['schemas']['CreateEmbeddingResponse'];
export type ZeroShotImageClassificationRequest = components['schemas']['ZeroShotImageClassificationRequest'];
export type ZeroShotLabelScore = components['schemas']['ZeroShotLabelScore'];
export type ZeroShotImageClassificationResponse = components['schemas']['ZeroShotImageClassificationResponse'];
export type ImageTokenizeRequest = components['schemas']['ImageTokenizeRequest'];
export type ImageCodes = components['schemas']['ImageCodes'];
export type ImageTokenizeResponse = components['schemas']['ImageTokenizeResponse'];
export type ImageDetokenizeRequest = components['schemas']['ImageDetokenizeRequest'];
export type ImageDetokenizeResponse = components['schemas']['ImageDetokenizeResponse'];
export type Modality = components['schemas']['Modality'];
export type Model = components['schemas']['Model'];
export type ModelEmbeddings = components['schemas']['ModelEmbeddings'];
export type ModelDefaults = components['schemas']['ModelDefaults'];
export type ListModelsResponse = components['schemas']['ListModelsResponse'];
export type HealthResponse = components['schemas']['HealthResponse'];
export type ResponseBadRequest = components['responses']['BadRequest'];
export type ResponseUnauthorized = components['responses']['Unauthorized'];
export type ResponseNotFound = components['responses']['NotFound'];
export type ResponseConflict = components['responses']['Conflict'];
export type ResponsePayloadTooLarge = components['responses']['PayloadTooLarge'];
export type ResponseTooManyRequests = components['responses']['TooManyRequests'];
export type ResponseCancelled = components['responses']['Cancelled'];
export type ResponseInternalError = components['responses']['InternalError'];
export type ResponseServiceUnavailable = components['responses']['ServiceUnavailable'];
export type ResponseTimeout = components['responses']['Timeout'];
export type ParameterRequestIdHeader = components['parameters']['RequestIdHeader'];
export type HeaderRequestId = components['headers']['RequestId'];
export type HeaderRetryAfter = components['headers']['RetryAfter'];
export type HeaderShouldRetry = components['headers']['ShouldRetry'];
export type $defs = Record<string, never>;
export interface operations {
    createChatCompletion: {
        parameters: {
            query?: never;
            header?: {
                /** @description Choose the request id (to cancel a non-streamed request from elsewhere). Must be unique among in-flight requests. */
                "x-request-id"?: components["parameters"]["RequestIdHeader"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateChatCompletionRequest"];
            };
        };
        responses: {
            /** @description A completion, or an SSE stream of chunks when `stream` is true. */
            200: {
                headers: {
                    "x-request-id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CreateChatCompletionResponse"];
                    "text/event-stream": components["schemas"]["CreateChatCompletionStreamResponse"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
            413: components["responses"]["PayloadTooLarge"];
            429: components["responses"]["TooManyRequests"];
            499: components["responses"]["Cancelled"];
            500: components["responses"]["InternalError"];
            503: components["responses"]["ServiceUnavailable"];
            504: components["responses"]["Timeout"];
        };
    };
    createResponse: {
        parameters: {
            query?: never;
            header?: {
                /** @description Choose the request id (to cancel a non-streamed request from elsewhere). Must be unique among in-flight requests. */
                "x-request-id"?: components["parameters"]["RequestIdHeader"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateResponseRequest"];
            };
        };
        responses: {
            /** @description The response, or an SSE stream of response events when `stream` is true. */
            200: {
                headers: {
                    "x-request-id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ResponseObject"];
                    "text/event-stream": components["schemas"]["ResponseStreamEvent"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
            413: components["responses"]["PayloadTooLarge"];
            429: components["responses"]["TooManyRequests"];
            499: components["responses"]["Cancelled"];
            500: components["responses"]["InternalError"];
            503: components["responses"]["ServiceUnavailable"];
            504: components["responses"]["Timeout"];
        };
    };
    createImage: {
        parameters: {
            query?: never;
            header?: {
                /** @description Choose the request id (to cancel a non-streamed request from elsewhere). Must be unique among in-flight requests. */
                "x-request-id"?: components["parameters"]["RequestIdHeader"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateImageRequest"];
            };
        };
        responses: {
            /** @description The images, or an SSE stream of image events when `stream` is true. */
            200: {
                headers: {
                    "x-request-id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ImagesResponse"];
                    "text/event-stream": components["schemas"]["ImageGenStreamEvent"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
            413: components["responses"]["PayloadTooLarge"];
            429: components["responses"]["TooManyRequests"];
            499: components["responses"]["Cancelled"];
            500: components["responses"]["InternalError"];
            503: components["responses"]["ServiceUnavailable"];
            504: components["responses"]["Timeout"];
        };
    };
    streamImages: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Switching protocols; messages follow the protocol above. */
            101: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            401: components["responses"]["Unauthorized"];
            /** @description The request was not a WebSocket upgrade. */
            426: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    openStream: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Switching protocols; messages follow the protocol above. */
            101: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            401: components["responses"]["Unauthorized"];
            /** @description The request was not a WebSocket upgrade. */
            426: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    createEmbedding: {
        parameters: {
            query?: never;
            header?: {
                /** @description Choose the request id (to cancel a non-streamed request from elsewhere). Must be unique among in-flight requests. */
                "x-request-id"?: components["parameters"]["RequestIdHeader"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateEmbeddingRequest"];
            };
        };
        responses: {
            /** @description One embedding per input, in input order. */
            200: {
                headers: {
                    "x-request-id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CreateEmbeddingResponse"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
            413: components["responses"]["PayloadTooLarge"];
            499: components["responses"]["Cancelled"];
            500: components["responses"]["InternalError"];
            503: components["responses"]["ServiceUnavailable"];
            504: components["responses"]["Timeout"];
        };
    };
    createZeroShotImageClassification: {
        parameters: {
            query?: never;
            header?: {
                /** @description Choose the request id (to cancel a non-streamed request from elsewhere). Must be unique among in-flight requests. */
                "x-request-id"?: components["parameters"]["RequestIdHeader"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ZeroShotImageClassificationRequest"];
            };
        };
        responses: {
            /** @description Every label with its score, highest first. */
            200: {
                headers: {
                    "x-request-id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ZeroShotImageClassificationResponse"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
            413: components["responses"]["PayloadTooLarge"];
            499: components["responses"]["Cancelled"];
            500: components["responses"]["InternalError"];
            503: components["responses"]["ServiceUnavailable"];
            504: components["responses"]["Timeout"];
        };
    };
    tokenizeImage: {
        parameters: {
            query?: never;
            header?: {
                /** @description Choose the request id (to cancel a non-streamed request from elsewhere). Must be unique among in-flight requests. */
                "x-request-id"?: components["parameters"]["RequestIdHeader"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ImageTokenizeRequest"];
            };
        };
        responses: {
            /** @description The image's codes and their layout. */
            200: {
                headers: {
                    "x-request-id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ImageTokenizeResponse"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
            413: components["responses"]["PayloadTooLarge"];
            499: components["responses"]["Cancelled"];
            500: components["responses"]["InternalError"];
            503: components["responses"]["ServiceUnavailable"];
            504: components["responses"]["Timeout"];
        };
    };
    detokenizeImage: {
        parameters: {
            query?: never;
            header?: {
                /** @description Choose the request id (to cancel a non-streamed request from elsewhere). Must be unique among in-flight requests. */
                "x-request-id"?: components["parameters"]["RequestIdHeader"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ImageDetokenizeRequest"];
            };
        };
        responses: {
            /** @description The rendered image. */
            200: {
                headers: {
                    "x-request-id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ImageDetokenizeResponse"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
            413: components["responses"]["PayloadTooLarge"];
            499: components["responses"]["Cancelled"];
            500: components["responses"]["InternalError"];
            503: components["responses"]["ServiceUnavailable"];
            504: components["responses"]["Timeout"];
        };
    };
    cancelRequest: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The `x-request-id` of the request (for chat, also its completion `id`). */
                request_id: components["schemas"]["RequestId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The request was in flight and is being stopped. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CancelResponse"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    listModels: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The model list. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ListModelsResponse"];
                };
            };
            401: components["responses"]["Unauthorized"];
        };
    };
    retrieveModel: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                model: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The model. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Model"];
                };
            };
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    getHealth: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The model is loaded and serving. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HealthResponse"];
                };
            };
            503: components["responses"]["ServiceUnavailable"];
        };
    };
    getLiveness: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The process and its workers answer. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HealthResponse"];
                };
            };
            503: components["responses"]["ServiceUnavailable"];
        };
    };
    getReadiness: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Ready to take requests. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HealthResponse"];
                };
            };
            503: components["responses"]["ServiceUnavailable"];
        };
    };
    getMetrics: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Metrics. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
        };
    };
}

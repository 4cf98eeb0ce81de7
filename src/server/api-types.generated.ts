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
         *     that size or `auto`. Only `response_format: b64_json` and `output_format: png` exist.
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
         *       `guidance_scale`, `temperature`, `top_k`, `top_p`, `seed`, `preview_every` (render a preview every that
         *       many visual tokens; 0 = none; default set by the server's `--preview-every`), `send_codes` (default true).
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
        /** Readiness. Public (no API key). */
        get: operations["getHealth"];
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
         * @description Text exposition format 0.0.4. Families: `unitok_requests_waiting`, `unitok_requests_running` (gauges),
         *     `unitok_requests_total{kind,outcome}`, `unitok_prompt_tokens_total`,
         *     `unitok_generated_tokens_total{modality}` (counters), `unitok_generated_tokens_per_second{modality}`
         *     (gauge over a sliding window), `unitok_time_to_first_token_seconds{modality}` (histogram) and
         *     `unitok_model_ready` (gauge).
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
             * @default png
             * @enum {string|null}
             */
            output_format: "png" | null;
            /**
             * @description Accepted and ignored; reported as `auto`.
             * @enum {string|null}
             */
            quality?: "auto" | "low" | "medium" | "high" | "standard" | "hd" | null;
            /**
             * @description Images are opaque; `transparent` is not supported.
             * @enum {string|null}
             */
            background?: "auto" | "opaque" | null;
            /** @default false */
            stream: boolean | null;
            /**
             * @description Previews of the partly generated grid to stream before each final image (evenly spaced).
             * @default 0
             */
            partial_images: number | null;
            guidance_scale?: components["schemas"]["GuidanceScale"];
            temperature?: components["schemas"]["Temperature"];
            top_k?: components["schemas"]["TopK"];
            top_p?: components["schemas"]["TopP"];
            seed?: components["schemas"]["Seed"];
            /** @description Accepted and ignored. */
            user?: string;
        };
        Image: {
            /** @description Base64 PNG. */
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
        /** @constant */
        ImageQuality: "auto";
        /** @constant */
        ImageBackground: "opaque";
        /** @constant */
        ImageOutputFormat: "png";
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
            /** @description The job the error belongs to; null for a message that started none. */
            id: string | null;
            error: components["schemas"]["Error"];
            /** @description Present when the queue is full or the model is loading. */
            retry_after_seconds?: number;
        };
        ImageStreamServerMessage: components["schemas"]["ImageStreamStartedMessage"] | components["schemas"]["ImageStreamCodesMessage"] | components["schemas"]["ImageStreamProgressMessage"] | components["schemas"]["ImageStreamPreviewMessage"] | components["schemas"]["ImageStreamCompletedMessage"] | components["schemas"]["ImageStreamCancelledMessage"] | components["schemas"]["ImageStreamErrorMessage"];
        CancelResponse: {
            id: string;
            /** @constant */
            object: "request.cancel";
            /** @constant */
            cancelled: true;
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
        /** @description The model is loading (or failed to load). */
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
export type ImageQuality = components['schemas']['ImageQuality'];
export type ImageBackground = components['schemas']['ImageBackground'];
export type ImageOutputFormat = components['schemas']['ImageOutputFormat'];
export type ImagesResponse = components['schemas']['ImagesResponse'];
export type ImageGenPartialImageEvent = components['schemas']['ImageGenPartialImageEvent'];
export type ImageGenCompletedEvent = components['schemas']['ImageGenCompletedEvent'];
export type ImageGenStreamEvent = components['schemas']['ImageGenStreamEvent'];
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
export type CancelResponse = components['schemas']['CancelResponse'];
export type Modality = components['schemas']['Modality'];
export type Model = components['schemas']['Model'];
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

# syntax=docker/dockerfile:1
# UniTok server image: multi-stage, runs as the unprivileged `node` user, CPU onnxruntime.
# The demo bundle is baked in (/opt/unitok/models/demo) so the image serves out of the box; real weights are a
# volume: mount them and set UNITOK_MODEL (deploy/kubernetes/deployment.yaml mounts /models read-only).
#
#   docker build -t unitok-server .
#   docker run --rm -p 8000:8000 unitok-server
#   docker run --rm -p 8000:8000 -v /srv/unitok-mllm:/models/unitok-mllm:ro -e UNITOK_MODEL=/models/unitok-mllm unitok-server

FROM node:20-bookworm-slim AS deps
WORKDIR /opt/unitok
# .npmrc skips onnxruntime-node's CUDA download: the npm package already carries the CPU binaries.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    UNITOK_MODEL=/opt/unitok/models/demo
WORKDIR /opt/unitok
COPY --from=deps /opt/unitok/node_modules ./node_modules
COPY package.json openapi.yaml ./
COPY src ./src
COPY web ./web
COPY assets ./assets
COPY models/demo ./models/demo
USER node
EXPOSE 8000
# SIGTERM drains (--shutdown-timeout-seconds, default 30 s); give `docker stop -t` more than that.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=10s --start-period=120s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.PORT+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--import", "tsx", "src/main.ts"]

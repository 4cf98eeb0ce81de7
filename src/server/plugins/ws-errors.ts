// WebSocket protocol errors are the client's doing (a message over the limit, a bad frame): ws closes the socket
// with the matching code (1009, 1002...); they are logged as client errors, not with a stack at error level.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';

export function wsErrorHandler(
  error: Error & { code?: string },
  socket: WebSocket,
  request: FastifyRequest,
  _reply: FastifyReply,
): void {
  if (error.code?.startsWith('WS_ERR_')) {
    request.log.info({ code: error.code }, `WebSocket closed: ${error.message}`);
    return; // ws has already sent the close frame
  }
  request.log.error({ err: error }, 'WebSocket handler failed');
  socket.terminate();
}

/**
 * ws closes an over-long message with 1009 and no reason; give the client one that says the limit. ws calls the
 * instance's close(), so shadowing it per socket is enough.
 */
export function explainMessageTooBig(socket: WebSocket, maxBytes: number): void {
  const close = socket.close.bind(socket);
  socket.close = (code?: number, reason?: string | Buffer) =>
    close(code, reason ?? (code === 1009 ? `message too big: the limit is ${maxBytes} bytes` : undefined));
}

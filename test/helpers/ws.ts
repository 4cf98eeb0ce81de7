// A WebSocket test client that queues every server message, each checked against an openapi.yaml schema.
import WebSocket from 'ws';
import { assertSchema } from './server.ts';

export class WsClient<Msg extends { type: string }> {
  readonly received: Msg[] = [];
  private waiters: (() => void)[] = [];
  constructor(
    readonly ws: WebSocket,
    schema: string,
  ) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as Msg;
      assertSchema(schema, msg);
      this.received.push(msg);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open<Msg extends { type: string }>(
    url: string,
    schema: string,
    headers: Record<string, string> = {},
  ): Promise<WsClient<Msg>> {
    const ws = new WebSocket(url, { headers });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new WsClient<Msg>(ws, schema);
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Waits for the first message of `type` (and matching `where`) not yet taken, and returns it. */
  async next<T extends Msg['type']>(
    type: T,
    where: (m: Extract<Msg, { type: T }>) => boolean = () => true,
    ms = 3000,
  ): Promise<Extract<Msg, { type: T }>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.received.findIndex((m) => m.type === type && where(m as Extract<Msg, { type: T }>));
      if (index >= 0) return this.received.splice(index, 1)[0] as Extract<Msg, { type: T }>;
      if (Date.now() > deadline)
        throw new Error(`no '${type}' message; got ${JSON.stringify(this.received.map((m) => m.type))}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  close(): void {
    this.ws.close();
  }
}

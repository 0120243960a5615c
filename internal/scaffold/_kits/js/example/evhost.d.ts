// Types of what evhost's JavaScript engine (../engine) gives a handler: the
// event it passes to handle, and the global evhost object.

export interface EvhostEvent {
  id: string;
  source: string;
  type: string;
  specversion: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  dataschema?: string;
  /** Parsed JSON when datacontenttype is JSON, else the data as a string. */
  data?: any;
  extensions: Record<string, string>;
}

export interface EmitOptions {
  id?: string;
  subject?: string;
  datacontenttype?: string;
  dataschema?: string;
  extensions?: Record<string, string>;
}

export interface HttpRequest {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

export interface HttpResponse {
  status: number;
  /** By lower-case name. */
  headers: Record<string, string>;
  body: string;
}

export interface Evhost {
  /** Emits an event: a string or bytes as is, any other value as JSON. */
  emit(type: string, data?: unknown, opts?: EmitOptions): void;
  log: { debug(msg: string): void; info(msg: string): void; warn(msg: string): void; error(msg: string): void };
  /** The plugin's config value, or null. */
  config(key: string): string | null;
  kv: { get(key: string): string | null; set(key: string, value: string | Uint8Array): void; delete(key: string): void };
  http(req: HttpRequest): HttpResponse;
  /** throw evhost.retry(reason): the event is retried with backoff. */
  retry(reason?: string): Error;
  /** throw evhost.reject(reason): the event is dead-lettered now. */
  reject(reason?: string): Error;
  /** What the functions above throw on a host error; code is the ABI's (-1 ... -5). */
  EvhostError: new (op: string, code: number) => Error & { code: number };
}

declare global {
  const evhost: Evhost;
}

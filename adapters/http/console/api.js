// Calls to the Focal API with the operator's bearer token.

// ApiError is an answer with Focal's error body.
export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "HTTP_" + status;
    this.details = err.details || [];
  }
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  headers(extra = {}) {
    return { Authorization: "Bearer " + this.token, ...extra };
  }

  // get answers the JSON body of a GET, or throws ApiError.
  async get(path) {
    const res = await fetch(path, { headers: this.headers({ Accept: "application/json" }) });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(res.status, body);
    return body;
  }

  // all follows next_cursor through every page of a listing.
  async all(path) {
    const items = [];
    let cursor = "";
    do {
      const sep = path.includes("?") ? "&" : "?";
      const page = await this.get(path + sep + "limit=100" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      items.push(...page.items);
      cursor = page.next_cursor || "";
    } while (cursor);
    return items;
  }

  // stream posts a chat turn to /v1/chat/stream and yields its events as
  // {event, id, data} with data parsed. EventSource cannot POST or send a
  // token, so the response body is read and framed here.
  async *stream(body, signal) {
    const res = await fetch("/v1/chat/stream", {
      method: "POST",
      headers: this.headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify(body),
      signal,
    });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const frames = new SSEFrames();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const ev of frames.push(value)) yield ev;
    }
  }
}

// SSEFrames turns chunks of an event stream into events, following the
// WHATWG rules: any line ending, a blank line dispatches, ":" starts a
// comment, one space after the colon is dropped, data lines join with "\n".
class SSEFrames {
  constructor() {
    this.buffer = "";
    this.reset();
  }

  reset() {
    this.event = "message";
    this.id = "";
    this.data = [];
  }

  *push(chunk) {
    this.buffer += chunk;
    // A chunk that ends in "\r" may be half of "\r\n": keep it back.
    const held = this.buffer.endsWith("\r") ? "\r" : "";
    const lines = this.buffer.slice(0, this.buffer.length - held.length).split(/\r\n|\r|\n/);
    this.buffer = lines.pop() + held; // an unfinished line waits for the next chunk
    for (const line of lines) {
      if (line === "") {
        if (this.data.length) {
          const raw = this.data.join("\n");
          let data = raw;
          try { data = JSON.parse(raw); } catch { /* not JSON: keep the text */ }
          yield { event: this.event, id: this.id, data };
        }
        this.reset();
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.event = value;
      else if (field === "id") this.id = value;
      else if (field === "data") this.data.push(value);
    }
  }
}

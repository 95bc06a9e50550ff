// The websocket stream (contract 3) with automatic reconnect: after a drop the display reconnects
// with ?since=<last seq> and so misses nothing; the server answers with the missed deltas, or a
// fresh snapshot when it cannot.
import { wsProtocols } from "./auth.js";

export class Stream {
  constructor({ onSnapshot, onDelta, onHeartbeat, onState }) {
    this.onSnapshot = onSnapshot;
    this.onDelta = onDelta;
    this.onHeartbeat = onHeartbeat;
    this.onState = onState;
    this.seq = null;
    this.socket = null;
    this.attempt = 0;
    this.retryAt = 0;
    this.lastMessage = 0;
    this.timer = null;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const since = this.seq === null ? "" : `?since=${this.seq}`;
    return `${scheme}//${location.host}/api/v1/situation/stream${since}`;
  }

  connect() {
    this.timer = null;
    this.onState("connecting");
    let socket;
    try {
      socket = new WebSocket(this.url(), wsProtocols());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", () => {
      if (this.socket === socket) {
        this.socket = null;
        this.scheduleReconnect();
      }
    });
    // errors are followed by close; nothing to do here (and nothing to log to the console)
    socket.addEventListener("error", () => {});
  }

  receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    this.lastMessage = Date.now();
    this.attempt = 0;
    this.onState("live");
    if (message.type === "snapshot") {
      this.seq = message.seq;
      this.onSnapshot(message.picture, message.seq);
    } else if (message.type === "delta") {
      this.onDelta(message.changes ?? [], message.seq);
      this.seq = Math.max(this.seq ?? 0, message.seq);
    } else if (message.type === "heartbeat") {
      this.onHeartbeat(message);
    }
  }

  scheduleReconnect() {
    if (this.timer !== null) return;
    this.attempt += 1;
    // 0.5 s, 1 s, 2 s … up to 5 s: a restarted server is found again within seconds
    const delay = Math.min(5000, 500 * 2 ** Math.min(this.attempt - 1, 4));
    this.retryAt = Date.now() + delay;
    this.onState("offline");
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Watchdog: a socket silent for much longer than the heartbeat interval is dead. */
  checkAlive(maxSilenceMs) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN && this.lastMessage &&
        Date.now() - this.lastMessage > maxSilenceMs) {
      this.socket.close();
    }
  }
}
